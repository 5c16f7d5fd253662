"""Shared infrastructure: text cleaning, audio and its formats, file serving and storage, the Redis
clients, realtime groups, rate limits, the engine pool and the one application error.

It imports no app (accounts, billing, voices, studio, api) and nothing of config; the apps import
it. `strictenv` imports nothing of Django, so the engine reads its settings with it too.
"""
