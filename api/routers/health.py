import asyncio

from django.http import HttpRequest
from ninja import Router

from api import API_VERSION
from api.errors import ok
from api.schemas import HealthOut
from core.engines import engines_health

router = Router(tags=["health"])


@router.get("/health", auth=None, response={200: HealthOut}, summary="Service health")
async def health(request: HttpRequest) -> dict:
    # Read from what the process last heard (no request waits on an engine); in a thread all the
    # same, as a process's first call waits for the first answers.
    engine = await asyncio.to_thread(engines_health)
    return ok({"status": "ok", "api_version": API_VERSION, "engine": engine})
