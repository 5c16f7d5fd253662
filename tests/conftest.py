"""Fixtures for the whole suite.

Tests that need the stack get the real processes: the CPU engine, a Celery worker and the web
server under uvicorn, all against the machine's PostgreSQL test database and Redis. Such tests use
`transactional_db`, so what they write is committed and the other processes see it.
"""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import pytest
from django.conf import settings

from harness.processes import (
    LoggedProcess,
    RestartableProcess,
    beat_command,
    engine_running,
    fitter_command,
    free_port,
    running_process,
    stack_env,
    web_command,
    worker_command,
)


@dataclass
class Stack:
    engine_url: str


@pytest.fixture(scope="session", autouse=True)
def _release_test_database(django_db_setup, django_db_blocker) -> Iterator[None]:
    """Before pytest drops the test database: connections that threads of this process left open
    (Channels' and asgiref's workers) would keep it from being dropped."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture(autouse=True)
def _processes_only_when_marked(request, monkeypatch) -> None:
    """A test that starts a process of the stack says so (`stack` or `engine`), so that `make
    test-fast` (-m "not stack and not browser and not engine") never starts one."""
    if request.node.get_closest_marker("stack") or request.node.get_closest_marker("engine"):
        return

    def refuse(*args, **kwargs):
        pytest.fail(f"{request.node.nodeid} starts a process of the stack: mark it stack or engine")

    monkeypatch.setattr(LoggedProcess, "__init__", refuse)


@pytest.fixture(autouse=True)
def _credits_check_after_committed_tests(request) -> Iterator[None]:
    """After each test whose writes are committed (the stack tests), before its tables are emptied:
    `manage.py credits check` must find every wallet's held and balance matching its holds and
    ledger, whatever the test did."""
    if "transactional_db" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("transactional_db")  # set up first, so emptied after this check
    yield
    from io import StringIO

    from django.core.management import CommandError, call_command

    problems = StringIO()
    try:
        call_command("credits", "check", stdout=StringIO(), stderr=problems)
    except CommandError as error:
        pytest.fail(f"{error}:\n{problems.getvalue()}")


@pytest.fixture(scope="session")
def engine_process() -> Iterator[RestartableProcess]:
    """The real engine, started once for the whole run (cold on its first request)."""
    with engine_running("engine") as process:
        yield process


@pytest.fixture(scope="session")
def engine_url(engine_process: RestartableProcess) -> str:
    return engine_process.url


def _stack_env(engine_url: str) -> dict[str, str]:
    database = settings.DATABASES["default"]
    database_url = (
        f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
        if database["ENGINE"].endswith("postgresql")
        else f"sqlite:///{database['NAME']}"
    )
    return stack_env(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=database_url,
        ENGINE_URL=engine_url,
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        # The suite's clones keep their quick profile: a fit is minutes of CPU. The fit's own
        # tests run a stack with it on and a fitter (private_stack(fitter=True)).
        VOICE_FIT="false",
    )


@contextmanager
def private_stack(engine_url: str, *, workers: int = 1, fitter: bool = False, extra_env: dict | None = None):
    """Workers and beat (the sweep), as the Procfile runs them, and a web process on a queue and Redis
    keys of their own, for tests that break or reconfigure processes without touching the suite's
    shared ones, whose worker then never takes their jobs; with `fitter`, clones are fitted (by a
    fitter on the stack's own fit queue). Yields (web_url, worker processes)."""
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-own-{free_port()}"
    env = _stack_env(engine_url) | {"CELERY_QUEUE": queue, "REDIS_KEY_PREFIX": queue}
    if fitter:
        env |= {"VOICE_FIT": "true", "VOICE_FIT_QUEUE": f"{queue}-fits"}
    env |= extra_env or {}
    web_port = free_port()
    web_url = f"http://127.0.0.1:{web_port}"
    with ExitStack() as stack:
        started = [
            stack.enter_context(
                running_process(f"own-worker-{i}", worker_command(queue, 1), env=env, ready_log="ready.")
            )
            for i in range(workers)
        ]
        stack.enter_context(running_process("own-beat", beat_command(queue), env=env, ready_log="beat: Starting"))
        if fitter:
            started.append(
                stack.enter_context(
                    running_process(
                        "own-fitter", fitter_command(env["VOICE_FIT_QUEUE"]), env=env, ready_log="ready.", timeout=90
                    )
                )
            )
        stack.enter_context(
            running_process("own-web", web_command(web_port), env=env, ready_url=f"{web_url}/api/v1/health")
        )
        yield web_url, started


@pytest.fixture(scope="session")
def worker(django_db_setup, django_db_blocker, engine_url: str) -> Iterator[None]:
    """A real Celery worker on the test database and a queue of the tests' own."""
    with running_process(
        "worker",
        worker_command(settings.CELERY_TASK_DEFAULT_QUEUE),
        env=_stack_env(engine_url),
        ready_log="ready.",
        timeout=90,
    ):
        yield


@pytest.fixture(scope="session")
def web_url(django_db_setup, worker, engine_url: str) -> Iterator[str]:
    """The web tier under uvicorn, as `make run` starts it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running_process("web", web_command(port), env=_stack_env(engine_url), ready_url=f"{url}/api/v1/health"):
        yield url


@pytest.fixture
def stack(transactional_db, worker, engine_url: str) -> Stack:
    """Engine and worker running; the test's writes are committed for them to see."""
    return Stack(engine_url=engine_url)


@pytest.fixture
def builtin_voices(db):
    from voices.services import voices_sync_builtin

    return {voice.speaker_name: voice for voice in voices_sync_builtin()}


def account_make(email: str, password: str = "correct horse battery staple"):  # noqa: S107 (a test account)
    """An account with its signup grant, as a sign-up through the site gives it."""
    from accounts.models import User
    from billing.services import credits_signup_grant

    account = User.objects.create_user(email=email, password=password)
    credits_signup_grant(account)
    return account


@pytest.fixture
def user(db):
    return account_make("ada@example.com")


@pytest.fixture
def other_user(db):
    return account_make("mallory@example.com")


def team_join(team, *, owner, member) -> None:
    """How an account joins a team: the owner invites its address, the member has verified that
    address (as allauth's confirmation link does) and accepts the invitation."""
    from allauth.account.models import EmailAddress

    from accounts.models import Invitation
    from accounts.services import invitation_accept, team_invite

    team_invite(team=team, by=owner, email=member.email)
    EmailAddress.objects.update_or_create(user=member, email=member.email, defaults={"verified": True, "primary": True})
    invitation = Invitation.objects.get(team=team, email=member.email.lower())
    invitation_accept(user=member, invitation_id=invitation.id)


def cache_clear_this_run() -> None:
    """Empties Django's cache (allauth's rate-limit counters) of this run only. `cache.clear()`
    would FLUSHDB the Redis database that other runs' queues and caches share."""
    from django.core.cache import cache

    client = cache._cache.get_client(None, write=True)
    for key in client.scan_iter(match=f"{settings.CACHES['default']['KEY_PREFIX']}:*", count=1000):
        client.delete(key)
