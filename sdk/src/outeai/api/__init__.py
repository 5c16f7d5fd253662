"""The legacy API (outeai 0.2): `from outeai.api.v1 import TTSClient`."""
