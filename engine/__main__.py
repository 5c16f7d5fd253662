"""``python -m engine [--host 127.0.0.1] [--port 8001]``: run the engine under uvicorn."""

from __future__ import annotations

import argparse
import logging
import os


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m engine", description="OuteAI TTS engine (Piper, CPU)")
    p.add_argument("--host", default=os.environ.get("ENGINE_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("ENGINE_PORT", "8001")))
    p.add_argument("--log-level", default=os.environ.get("ENGINE_LOG_LEVEL", "info"))
    args = p.parse_args(argv)

    import uvicorn

    from engine.app import create_app

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level=args.log_level, access_log=False)


if __name__ == "__main__":
    main()
