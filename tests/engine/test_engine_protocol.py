"""Unit tests of the wire format and the text chunker (no engine process)."""

from __future__ import annotations

import pytest

from engine import protocol as proto
from engine.text import MAX_CHUNK_CHARS, MAX_WORD_CHARS, clean_text, split_chunks

pytestmark = pytest.mark.engine


def test_frame_layout_is_type_length_payload():
    frame = proto.audio(b"\x01\x00\x02\x00")
    assert frame == b"A\x00\x00\x00\x04\x01\x00\x02\x00"
    done = proto.done(1.5, True)
    assert done[:1] == b"D"
    assert int.from_bytes(done[1:5], "big") == len(done) - 5
    assert proto.Frame(b"D", done[5:]).json() == {"seconds": 1.5, "truncated": True}


def test_round_trip_fed_one_byte_at_a_time():
    body = b"".join(
        [
            proto.warming_up(),
            proto.generating(1, 2, 0.0),
            proto.audio(b"\x00\x01" * 100),
            proto.generating(2, 2, 0.0042),
            proto.encode_frame(b"X", b"future frame type"),
            proto.audio(b"\x10\x20" * 3),
            proto.done(0.0083, False),
        ]
    )
    dec = proto.FrameDecoder()
    frames = []
    for i in range(len(body)):
        frames.extend(dec.feed(body[i : i + 1]))
    dec.close()
    events = [proto.frame_to_event(f) for f in frames]
    assert events == [
        proto.Progress("warming_up"),
        proto.Progress("generating", 1, 2, 0.0),
        proto.Audio(b"\x00\x01" * 100),
        proto.Progress("generating", 2, 2, 0.004),
        None,  # unknown type: decoded, ignored by readers
        proto.Audio(b"\x10\x20" * 3),
        proto.Done(0.008, False),
    ]


def test_error_frame_and_decode_events():
    body = proto.generating(1, 1, 0) + proto.error("synthesis_failed", "boom")
    assert proto.decode_events(body)[-1] == proto.Error("synthesis_failed", "boom")


def test_decoder_rejects_cut_and_garbled_streams():
    body = proto.audio(b"\x00\x00" * 10)
    dec = proto.FrameDecoder()
    assert dec.feed(body[:-3]) == []
    assert dec.pending == len(body) - 3
    with pytest.raises(proto.ProtocolError):
        dec.close()
    with pytest.raises(proto.ProtocolError):
        proto.FrameDecoder().feed(b"A\xff\xff\xff\xff")  # absurd length
    with pytest.raises(proto.ProtocolError):
        proto.frame_to_event(proto.Frame(b"A", b"\x00\x00\x00"))  # odd PCM
    with pytest.raises(proto.ProtocolError):
        proto.frame_to_event(proto.Frame(b"D", b"not json"))
    with pytest.raises(ValueError):
        proto.audio(b"\x00")


def test_clean_text_removes_what_cannot_be_spoken():
    assert clean_text("Hi\x00 there\u200b 😀!\n\nNext") == "Hi there ! Next"
    assert clean_text("Para one\n\nPara two") == "Para one. Para two"
    assert "[[" not in clean_text("say [[ h ə l oʊ ]] now")
    assert clean_text("\x01\x02\x7f 🎉🎉") == ""


def test_split_chunks_sentences_and_limits():
    assert split_chunks("One. Two! Three? Four") == ["One.", "Two!", "Three?", "Four"]
    long_sentence = ", ".join(["this clause is rather long and goes on"] * 30) + "."
    chunks = split_chunks(long_sentence)
    assert len(chunks) > 3
    assert all(len(c) <= MAX_CHUNK_CHARS for c in chunks)
    assert " ".join(chunks).replace(" ", "") == long_sentence.replace(" ", "")
    no_punct = " ".join(["word"] * 400)
    assert all(len(c) <= MAX_CHUNK_CHARS for c in split_chunks(no_punct))
    giant = "x" * 1000
    pieces = split_chunks(giant)
    assert all(len(w) <= MAX_WORD_CHARS for c in pieces for w in c.split())
    assert "".join(pieces).replace(" ", "") == giant
    assert split_chunks("   \n\t ") == []
