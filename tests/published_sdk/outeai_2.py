"""Run with the published `outeai[async]==2.0.0` (its own virtualenv): every call its README shows.
Prints one JSON object with what happened, for the test to judge."""

import asyncio
import json
import sys
import tempfile
from pathlib import Path

from outeai import AsyncOuteAI, OuteAI, OuteAIAPIError

base_url, token, revoked_token = sys.argv[1:4]
out = Path(tempfile.mkdtemp())
report: dict = {}

with OuteAI(token, base_url=base_url) as client:
    report["health"] = client.health()
    voices = client.list_voices()
    report["voices"] = voices
    voice_id = next(v["voice_id"] for v in voices if v["speaker_name"] == "EN-FEMALE-1-NEUTRAL")

    audio = client.generate_speech(text="Hello, world! This is OuteAI.", voice_id=voice_id)
    audio.save(out / "hello.wav")
    report["generate"] = {"content_type": audio.content_type, "path": str(out / "hello.wav")}

    client.generate_speech_to_file(
        out / "output.wav",
        text="We will meet at the station at noon and take the train to the city.",
        voice_id=voice_id,
    )
    report["generate_to_file"] = str(out / "output.wav")

    with client.stream_speech(text="Streaming audio chunk by chunk. Then a second sentence.", voice_id=voice_id) as s:
        chunks = list(s)
    (out / "chunks.wav").write_bytes(b"".join(chunks))
    report["stream"] = {"chunks": len(chunks), "path": str(out / "chunks.wav")}

    with client.stream_speech(text="Saving a stream.", voice_id=voice_id) as s:
        s.save(out / "streamed.wav")
    client.stream_speech_to_file(out / "streamed2.wav", text="Saving a stream.", voice_id=voice_id)
    report["stream_to_file"] = [str(out / "streamed.wav"), str(out / "streamed2.wav")]

    errors = {}
    for name, call in {
        "unknown_voice": lambda: client.generate_speech(text="Hi", voice_id="3fa85f64-5717-4562-b3fc-2c963f66afa6"),
        "unknown_model": lambda: client.generate_speech(text="Hi", voice_id=voice_id, model="tts-1"),
        "too_long": lambda: client.generate_speech(text="a" * 5001, voice_id=voice_id),
        "stream_unknown_voice": lambda: client.stream_speech(text="Hi", voice_id="nope"),
    }.items():
        try:
            call()
            errors[name] = None
        except OuteAIAPIError as error:
            errors[name] = {"status": error.status_code, "code": error.code, "message": error.message}
    report["errors"] = errors

with OuteAI(revoked_token, base_url=base_url) as client:
    try:
        client.list_voices()
        report["revoked"] = None
    except OuteAIAPIError as error:
        report["revoked"] = {"status": error.status_code, "code": error.code}


async def use_async() -> dict:
    async with AsyncOuteAI(token, base_url=base_url) as client:
        voices = await client.list_voices()
        audio = await client.generate_speech(text="Hello from async!", voice_id=voices[0]["voice_id"])
        audio.save(out / "async-output.wav")
        async with client.stream_speech(text="Async streaming example.", voice_id=voices[0]["voice_id"]) as s:
            chunks = [chunk async for chunk in s]
        (out / "async-stream.wav").write_bytes(b"".join(chunks))
        await client.stream_speech_to_file(
            out / "async-file.wav", text="Async streaming to file.", voice_id=voices[1]["voice_id"]
        )
        return {
            "paths": [str(out / n) for n in ["async-output.wav", "async-stream.wav", "async-file.wav"]],
            "chunks": len(chunks),
        }


report["async"] = asyncio.run(use_async())
print(json.dumps(report))
