"""Settings for `make test`: the real PostgreSQL and Redis of the machine, isolated names."""

import os
import tempfile
from pathlib import Path

# The processes of a test stack (harness/processes.py `stack_env`) are given their services
# explicitly and keep them. pytest's own process never takes a service from the developer's shell:
# `make run`'s ENGINE_URL, a DATABASE_URL or REDIS_URL exported for the developer's own stack, a
# CELERY_QUEUE its workers read. The machine's services for the tests are OUTEAI_TEST_DATABASE_URL
# and OUTEAI_TEST_REDIS_URL; a test that needs an engine starts its own.
STACK_CHILD = os.environ.get("OUTEAI_TEST_STACK") == "1"
if not STACK_CHILD:
    # VOICE_FIT_QUEUE then follows the run's own CELERY_QUEUE (base.py), as does a private stack's.
    for _name in ("ENGINE_URLS", "PORT", "WEB_PORT", "ENGINE_PORT", "VOICE_FIT_QUEUE"):
        os.environ.pop(_name, None)
    # pytest-django makes and drops its own database (test_outeai_<run>) beside this one.
    os.environ["DATABASE_URL"] = os.environ.get(
        "OUTEAI_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
    )
    os.environ["REDIS_URL"] = os.environ.get("OUTEAI_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
    # Port 9 (discard): nothing answers there, so code that reaches for an engine no test started
    # fails instead of finding the developer's.
    os.environ["ENGINE_URL"] = "http://127.0.0.1:9"
# The test runner creates and drops its database; a pool's kept connections would hold it open.
os.environ.setdefault("DATABASE_POOL", "false")
# Each run keeps to its own database, queue and Redis keys, so two runs on one machine (a
# developer's and CI's, say) never take each other's work. The stack's processes inherit them.
_run = os.environ.setdefault("OUTEAI_TEST_RUN", str(os.getpid()))
# Each pytest-xdist worker (`make test-fast` runs two or more) is a run of its own.
if not STACK_CHILD and (_worker := os.environ.get("PYTEST_XDIST_WORKER")):
    _run = f"{_run}_{_worker}"
_own = {
    "TEST_DATABASE_NAME": f"test_outeai_{_run}",
    "CHANNELS_PREFIX": f"outeai-test-{_run}",
    "CELERY_QUEUE": f"outeai-test-{_run}",
    "REDIS_KEY_PREFIX": f"outeai-test-{_run}",
}
for _name, _value in _own.items():
    if STACK_CHILD:
        os.environ.setdefault(_name, _value)
    else:
        os.environ[_name] = _value

from config.settings.base import *  # noqa: E402,F403
from config.settings.base import BASE_DIR  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / ".test-media"))
STORAGES["audio"]["OPTIONS"]["location"] = MEDIA_ROOT / "audio"  # noqa: F405
# Connections kept open by finished threads would stop the test database from being dropped.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# The stack's processes write their mails (allauth's verification links among them) to files of
# this run, where the tests read them; pytest's own process keeps Django's in-memory outbox.
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ.setdefault("EMAIL_FILE_PATH", f"{tempfile.gettempdir()}/outeai-test-mail-{_run}")
