"""The stack `bench/stack.py` measures: started here (`--start`) or found running (`--url`).

`--start` does what the test suite does (harness/processes.py, config/settings/test.py): the CPU
engine, a Celery worker and uvicorn as real processes, PostgreSQL and Redis of the machine, with
a database, a queue, Redis keys and Channels prefix of this run's own, all removed at the end.
`--start --database sqlite` gives that stack a SQLite file instead, as `make run` starts it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from harness.processes import (
    beat_command,
    engine_command,
    free_port,
    running_process,
    stack_env,
    web_command,
    worker_command,
)

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/14"
# Enough credits for every request of a full run many times over (1 credit = 1,000,000 micro).
BENCH_MICROCREDITS = 10_000 * 1_000_000
WORKER_CONCURRENCY = 3


@dataclass
class Account:
    user: object
    token: str  # the API token's secret


@dataclass
class StackUnderTest:
    web_url: str
    engine_url: str
    main: Account | None = None  # items 1-3 (and the owner of the pages and sockets of 4 and 5)
    victim: Account | None = None  # item 6: the account whose single request is timed
    flood: Account | None = None  # item 6: the account that sends 50 at once
    django_ok: bool = False  # the bench process reaches the stack's database and Redis
    django_error: str = ""
    worker_concurrency: int | None = None
    notes: list[str] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)  # each process the bench started, by role
    created: list[object] = field(default_factory=list)  # deleted at the end (--url)


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    import django

    django.setup()


def account_create(label: str, run: str, *, credits: int = BENCH_MICROCREDITS) -> Account:
    """A user with plenty of credits and an API token, through the product's own services."""
    from accounts.models import User
    from accounts.services import token_create
    from billing.services import credits_admin_change

    user = User.objects.create_user(email=f"bench-{label}-{run}@example.com", password=uuid.uuid4().hex)
    credits_admin_change(user=user, amount=credits, actor=None, reason="bench/stack.py")
    _, secret = token_create(user=user, name=f"bench {label}")
    return Account(user, secret)


class OwnStack:
    """Engine + worker + web + a database of this run's own (`--start`)."""

    def __init__(self, *, settings: str = "config.settings.base", database: str = "postgresql") -> None:
        self.settings = settings
        self.database = database
        self.run = f"bench{os.getpid()}"
        self.db_name = f"outeai_{self.run}"
        self.prefix = f"outeai-{self.run}"
        self.media = Path(tempfile.mkdtemp(prefix="outeai-bench-media-"))
        self._exit = ExitStack()
        self.logs: dict[str, Path] = {}
        self.pids: dict[str, int] = {}

    def __enter__(self) -> StackUnderTest:
        try:
            return self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def _start(self) -> StackUnderTest:
        database_url = (
            f"sqlite:///{self.media / 'db.sqlite3'}"
            if self.database == "sqlite"
            else f"postgres://postgres@127.0.0.1:5432/{self.db_name}"
        )
        os.environ.update(
            DJANGO_SETTINGS_MODULE=self.settings,
            OUTEAI_TEST_RUN=self.run,
            DATABASE_URL=database_url,
            REDIS_URL=REDIS_URL,
            REDIS_KEY_PREFIX=self.prefix,
            CELERY_QUEUE=self.prefix,
            CHANNELS_PREFIX=self.prefix,
            MEDIA_ROOT=str(self.media),
            # The flooded account of item 6 sends 50 at once, and items 1-3 send hundreds a minute.
            TTS_RATE_LIMIT_PER_MINUTE="1000",
        )
        if self.database == "postgresql":
            import psycopg

            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.db_name}"')
            self._exit.callback(self._drop_database)
        self._exit.callback(self._redis_clean)
        self._exit.callback(shutil.rmtree, self.media, True)

        django_setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        from voices.services import voices_sync_builtin

        voices_sync_builtin()

        env = stack_env()
        engine_port, web_port = free_port(), free_port()
        engine_url, web_url = f"http://127.0.0.1:{engine_port}", f"http://127.0.0.1:{web_port}"
        env["ENGINE_URL"] = engine_url
        self._run("engine", engine_command(engine_port), env=env, ready_url=f"{engine_url}/health")
        self._run(
            "worker",
            worker_command(self.prefix, concurrency=WORKER_CONCURRENCY),
            env=env,
            ready_log="ready.",
            timeout=90,
        )
        self._run("beat", beat_command(self.prefix), env=env, ready_log="beat: Starting")
        self._run("web", web_command(web_port), env=env, ready_url=f"{web_url}/api/v1/health")
        stack = StackUnderTest(
            web_url=web_url, engine_url=engine_url, worker_concurrency=WORKER_CONCURRENCY, pids=self.pids
        )
        stack.main = account_create("main", self.run)
        stack.victim = account_create("victim", self.run)
        stack.flood = account_create("flood", self.run)
        stack.django_ok = True
        from django.conf import settings
        from django.db import connection

        stack.notes.append(
            f"started by the bench: {self.settings} on {connection.vendor} (DEBUG {settings.DEBUG}, "
            f"CONN_MAX_AGE {settings.DATABASES['default']['CONN_MAX_AGE']}), "
            f"worker --concurrency={WORKER_CONCURRENCY}, engine ENGINE_THREADS and ENGINE_CONCURRENCY as default, "
            "TTS_RATE_LIMIT_PER_MINUTE=1000"
        )
        return stack

    def _run(self, name: str, command: list[str], **options) -> None:
        started = self._exit.enter_context(running_process(name, command, **options))
        self.logs[name], self.pids[name] = started.log_path, started.pid

    def __exit__(self, *exc) -> None:
        self._exit.close()

    def _drop_database(self) -> None:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')

    def _redis_clean(self) -> None:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"*{self.prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


class RunningStack:
    """A stack someone else runs (`--url`, `--engine-url`, `--token`). Rows 4-6 need this process
    to reach the stack's database and Redis: run the bench with the web's environment
    (DJANGO_SETTINGS_MODULE, DATABASE_URL, REDIS_URL, REDIS_KEY_PREFIX, CHANNELS_PREFIX). What it
    creates there (two accounts, one session) is deleted at the end."""

    def __init__(self, web_url: str, engine_url: str, token: str) -> None:
        self.stack = StackUnderTest(web_url=web_url.rstrip("/"), engine_url=engine_url.rstrip("/"))
        self.token = token
        self.run = f"bench{os.getpid()}"

    def __enter__(self) -> StackUnderTest:
        stack = self.stack
        try:
            django_setup()
            from accounts.services import token_authenticate

            api_token = token_authenticate(self.token)
            if api_token is None:
                raise RuntimeError("--token is not an active token in this database")  # noqa: TRY301 (reported below like the others)
            stack.main = Account(api_token.user, self.token)
            stack.victim = account_create("victim", self.run)
            stack.flood = account_create("flood", self.run)
            stack.created += [stack.victim.user, stack.flood.user]
            stack.django_ok = True
        except Exception as error:
            stack.django_error = f"{type(error).__name__}: {error}"
            stack.main = stack.main or Account(None, self.token)
        stack.notes.append("a running stack: its settings, worker and engine concurrency as they are")
        return stack

    def __exit__(self, *exc) -> None:
        for obj in reversed(self.stack.created):
            with contextlib.suppress(Exception):  # best effort
                obj.delete()


def stack_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose the stack: --start, or --url with --engine-url and --token."""
    parser.add_argument("--start", action="store_true", help="start engine, worker, web and a database of its own")
    parser.add_argument(
        "--database",
        choices=("postgresql", "sqlite"),
        default="postgresql",
        help="with --start: the machine's PostgreSQL (as the tests), or a SQLite file (as `make run`)",
    )
    parser.add_argument("--url", help="the web of a running stack, e.g. http://127.0.0.1:8000")
    parser.add_argument("--engine-url", help="the engine of that stack, e.g. http://127.0.0.1:8001")
    parser.add_argument("--token", help="an API token of an account with credits on that stack")
