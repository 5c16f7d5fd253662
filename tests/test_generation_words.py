"""A generation keeps its words' timings (Generation.words): the job's own code against a real
Piper engine, and a job going on after its worker died keeps the words it had."""

import pytest
import srt
from django.db import connection
from django.test.utils import CaptureQueriesContext

from engine.client import Word, Words
from studio.captions import captions_render
from studio.job.run import _Produced, _words_json, _words_kept, _words_recorded, generation_run
from studio.models import Generation
from studio.services import generation_create, session_create
from tests.audio_checks import wav_info

TWO = (
    "The quick brown fox jumps over the lazy dog near the river bank. "
    "After that, every child in the small village went home to sleep."
)


@pytest.mark.stack
@pytest.mark.timeout(300)
def test_a_generation_stores_each_word_when_it_is_said(user, builtin_voices, settings, engine_url, monkeypatch):
    settings.ENGINE_URLS = [engine_url]
    # The row lives in this test's transaction: the heartbeat's connection cannot see it.
    monkeypatch.setattr("studio.job.run.HEARTBEAT_EVERY", 3600.0)
    session = session_create(owner=user)
    voice = builtin_voices["EN-MALE-1-NEUTRAL"]
    generation = generation_create(user=user, session=session, text=TWO, voice_id=voice.id)
    generation_run(generation_id=generation.id)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.DONE, generation.error
    seconds = wav_info(generation.audio.read())[3]
    words = generation.words
    assert [w["text"] for w in words] == TWO.replace(",", "").replace(".", "").split()
    assert [TWO[w["char_start"] : w["char_end"]] for w in words] == [w["text"] for w in words]
    assert {w["chunk"] for w in words} == {1, 2, 3}  # Joe says the first phrase as a chunk of its own
    starts = [w["start"] for w in words]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert words[-1]["end"] <= seconds + 1e-3
    # Its captions parse as SRT, say the whole text and cover the audio.
    cues = list(srt.parse(captions_render(text=generation.text, words=words, format_name="srt")))
    assert " ".join(cue.content.replace("\n", " ") for cue in cues) == TWO
    assert cues[0].start.total_seconds() < 0.5 and seconds - 1.0 < cues[-1].end.total_seconds() <= seconds + 1e-3


@pytest.mark.stack
@pytest.mark.timeout(300)
def test_a_take_delivered_whole_says_its_first_sentence_as_one_chunk(
    user, builtin_voices, settings, engine_url, monkeypatch
):
    """tts_non_stream's and the legacy /tts's (Generation.delivery "whole"): no first audio to
    hurry, so no first phrase; each sentence is a chunk, its words in it."""
    settings.ENGINE_URLS = [engine_url]
    monkeypatch.setattr("studio.job.run.HEARTBEAT_EVERY", 3600.0)
    voice = builtin_voices["EN-MALE-1-NEUTRAL"]
    generation = generation_create(user=user, text=TWO, voice_id=voice.id, delivery=Generation.Delivery.WHOLE)
    generation_run(generation_id=generation.id)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.DONE, generation.error
    first, second = TWO.replace(",", "").split(". ")
    assert [w["text"] for w in generation.words if w["chunk"] == 1] == first.split()
    assert [w["text"] for w in generation.words if w["chunk"] == 2] == second.rstrip(".").split()


@pytest.mark.stack
@pytest.mark.timeout(300)
def test_a_chunk_costs_the_job_one_statement(user, builtin_voices, settings, engine_url, monkeypatch):
    """A verified take with words: between its claim and its end, the job's only statements are
    one UPDATE of its row per progress (a chunk's progress, checks, words and peaks together), not
    one for each, nor a read to learn whether the row was deleted. The per-chunk cost adds up at
    every level of row 3 in bench/stack.py (docs/performance.md)."""
    settings.ENGINE_URLS = [engine_url]
    monkeypatch.setattr("studio.job.run.HEARTBEAT_EVERY", 3600.0)
    session = session_create(owner=user)
    voice = builtin_voices["EN-MALE-1-NEUTRAL"]
    generation = generation_create(user=user, session=session, text=TWO, voice_id=voice.id, verify=True)
    with CaptureQueriesContext(connection) as queries:
        generation_run(generation_id=generation.id)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.DONE, generation.error
    assert generation.verification["chunks"] and generation.words  # what the statements carried
    statements = [q["sql"] for q in queries.captured_queries]
    # The claim (its UPDATE, then the row read with its voice), then the job, then the end's
    # transaction (from its savepoint on).
    end = next(i for i, sql in enumerate(statements) if sql.startswith("SAVEPOINT"))
    during = statements[2:end]
    assert all(sql.startswith('UPDATE "studio_generation" SET "stage"') for sql in during), during
    # Each of the 3 chunks' progress, and the last chunk's audio kept at the end; before them, a
    # cold engine's warming up.
    generating = [sql for sql in during if """"stage" = 'generating'""" in sql]
    assert len(generating) == generation.chunks + 1, during
    warming = [sql for sql in during if """"stage" = 'warming_up'""" in sql]
    assert len(warming) <= 1 and len(during) == len(generating) + len(warming), during


def _chunk_words(chunk: int, *spans: tuple[str, float, float]) -> Words:
    return Words(chunk, tuple(Word(t, a, b, 0, len(t)) for t, a, b in spans))


def test_words_move_to_the_takes_time_are_held_to_its_limit_and_survive_a_resume():
    produced = _Produced(pcm=bytearray(), peaks=None, limit=48000 * 2)  # 2 s
    produced.words[1] = _words_json(_chunk_words(1, ("one", 0.1, 0.5)), offset=0.0)
    # The second chunk came from a stream that began 1.2 s into the take (another engine).
    produced.words[2] = _words_json(_chunk_words(2, ("two", 0.1, 0.6), ("three", 0.9, 1.4)), offset=1.2)
    produced.words[3] = _words_json(_chunk_words(3, ("four", 0.0, 0.2)), offset=2.6)  # not kept yet
    kept = _words_kept(produced, upto=2)
    # "three" begins after the 2 s limit; "four" is of a chunk not kept yet.
    assert [(w["chunk"], w["text"], w["start"], w["end"]) for w in kept] == [(1, "one", 0.1, 0.5), (2, "two", 1.3, 1.8)]
    generation = Generation(words=kept)
    assert _words_recorded(generation, upto=1) == {1: kept[:1]}
