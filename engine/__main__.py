"""``python -m engine [--host 127.0.0.1] [--port 8001]``: run the engine under uvicorn."""

from __future__ import annotations

import argparse
import dataclasses
import logging

from engine.settings import LOG_LEVELS, Settings


def main(argv=None) -> None:
    settings = Settings.from_env()  # a bad variable stops the engine here, with its name
    p = argparse.ArgumentParser(prog="python -m engine", description="OuteAI TTS engine (Piper and Kokoro, CPU)")
    p.add_argument("--host", default=settings.host)
    p.add_argument("--port", type=int, default=settings.port)
    p.add_argument("--log-level", default=settings.log_level, choices=sorted(LOG_LEVELS))
    args = p.parse_args(argv)
    settings = dataclasses.replace(settings, host=args.host, port=args.port, log_level=args.log_level)

    import uvicorn

    from engine.app import create_app

    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False
    )


if __name__ == "__main__":
    main()
