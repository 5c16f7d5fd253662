import shutil
import subprocess
import time
from urllib.parse import urlparse

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.utils import OperationalError

from core.redis import redis_ping

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


class Command(BaseCommand):
    help = "Checks what the stack needs (ffmpeg, the database, Redis); starts a local Redis if none answers."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--start-redis", action="store_true", help="start redis-server if none answers")

    def handle(self, *args, start_redis: bool = False, **options) -> None:
        if not shutil.which("ffmpeg"):
            raise CommandError("ffmpeg is missing. Install it: sudo apt-get install ffmpeg (or brew install ffmpeg)")
        self.stdout.write("ffmpeg: ok")

        try:
            connection.ensure_connection()
        except OperationalError as error:
            name = settings.DATABASES["default"]["NAME"]
            raise CommandError(f"The database does not answer ({name}): {error}") from error
        self.stdout.write(f"database: ok ({connection.vendor})")

        if not redis_ping():
            if not start_redis:
                raise CommandError(f"Redis does not answer at {settings.REDIS_URL}")
            self._start_local_redis()
        self.stdout.write("redis: ok")

    def _start_local_redis(self) -> None:
        url = urlparse(settings.REDIS_URL)
        if url.hostname not in LOCAL_HOSTS:
            raise CommandError(f"Redis does not answer at {settings.REDIS_URL}, and it is not on this machine")
        server = shutil.which("redis-server")
        if not server:
            raise CommandError("Redis does not answer and redis-server is missing: sudo apt-get install redis-server")
        self.stdout.write(f"redis: starting a local redis-server on port {url.port or 6379}")
        subprocess.run(
            [
                server,
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                str(url.port or 6379),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=True,
        )
        for _ in range(50):
            if redis_ping():
                return
            time.sleep(0.1)
        raise CommandError("redis-server started but does not answer")
