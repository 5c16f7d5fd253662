"""The TTS inference service ("the engine"): its HTTP app, wire protocol and client.

See ``engine/README.md``. The web tier only imports ``engine.client`` and
``engine.protocol`` (httpx, no model).
"""
