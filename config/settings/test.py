"""Settings for `make test`: the real PostgreSQL and Redis of the machine, isolated names."""

import os
import tempfile
from pathlib import Path

# pytest-django makes and drops its own database (test_outeai) beside this one.
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
# The test runner creates and drops its database; a pool's kept connections would hold it open.
os.environ.setdefault("DATABASE_POOL", "false")
# Each run keeps to its own database, queue and Redis keys, so two runs on one machine (a
# developer's and CI's, say) never take each other's work. The stack's processes inherit them.
_run = os.environ.setdefault("OUTEAI_TEST_RUN", str(os.getpid()))
os.environ.setdefault("TEST_DATABASE_NAME", f"test_outeai_{_run}")
os.environ.setdefault("CHANNELS_PREFIX", f"outeai-test-{_run}")
os.environ.setdefault("CELERY_QUEUE", f"outeai-test-{_run}")
os.environ.setdefault("REDIS_KEY_PREFIX", f"outeai-test-{_run}")

from config.settings.base import *  # noqa: E402,F403
from config.settings.base import BASE_DIR  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / ".test-media"))  # noqa: F405
STORAGES["audio"]["OPTIONS"]["location"] = MEDIA_ROOT / "audio"  # noqa: F405
# Connections kept open by finished threads would stop the test database from being dropped.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# The stack's processes write their mails (allauth's verification links among them) to files of
# this run, where the tests read them; pytest's own process keeps Django's in-memory outbox.
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ.setdefault("EMAIL_FILE_PATH", f"{tempfile.gettempdir()}/outeai-test-mail-{_run}")
