"""OpenAI's speech API at /v1/ (POST /v1/audio/speech, GET /v1/models, GET /v1/audio/voices), for
the `openai` package and every client written for it: its own NinjaAPI, since OpenAI's error shape
is not the seeds' envelope. Generations go the same way as every other (studio.services)."""
