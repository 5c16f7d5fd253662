"""Settings for every use, read from the environment (see README.md, "Settings").

Defaults suit a developer's machine; production.py tightens what a public deployment needs.
"""

from pathlib import Path
from typing import Any

import dj_database_url

from billing.packs import credit_packs_from_env
from strictenv import (
    ImproperlyConfiguredEnv,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_str,
    env_url,
    env_url_list,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY", "dev-only-insecure-key-change-me" if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfiguredEnv("SECRET_KEY must be set when DEBUG is false")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",  # allauth's sessions page uses it
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "ninja",
    "allauth",
    "allauth.account",
    # Lists a user's signed-in sessions so the Account page can sign out all the others.
    "allauth.usersessions",
    "accounts",
    "billing",
    "voices",
    "studio",
    "api",
]

MIDDLEWARE = [
    # First: every response, whoever made it, carries X-Request-Id (and the rate limit's headers).
    "core.request_context.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "api.middleware.ApiErrorEnvelopeMiddleware",
    "core.static_files.StaticFilesMiddleware",  # WhiteNoise, async (core/static_files.py)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "billing.context_processors.wallet",
            ],
        },
    },
]

# A SQLite file when DATABASE_URL is not set, so `make run` starts with no set-up; PostgreSQL is
# the database of record everywhere else (tests, production).
DATABASES = {
    # Kept connections are checked before use, so a database that went away and came back is
    # reconnected to instead of failing one request per stale connection.
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"), conn_max_age=60, conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_POOL", True):
    # A pool per process: ASGI runs each request's database work in a thread of its own, and
    # without a pool every request would open (and keep) a connection of its own.
    # With CONN_HEALTH_CHECKS (set above) Django has the pool check each connection it lends.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "pool": {"min_size": 2, "max_size": env_int("DATABASE_POOL_SIZE", 10, minimum=1), "timeout": 10}
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web, the worker and the engine write at once; wait for the lock instead of failing. A
    # transaction takes the write lock when it begins (IMMEDIATE): one that read first and wrote
    # later would fail at once with "database is locked" when another wrote in between (a flood of
    # requests beside running jobs did, bench.stack row 6), as SQLite cannot wait for it then.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME", "test_outeai")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-allauth: email and password only; signing up signs the user in.
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = env_choice(
    "ACCOUNT_EMAIL_VERIFICATION", "optional", choices={"none", "optional", "mandatory"}
)
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_GET = False
# A password change or reset signs out every other session: Django checks each session against
# the password's hash. The browser that changed it stays signed in.
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "studio:index"
ACCOUNT_SIGNUP_REDIRECT_URL = "studio:index"
ACCOUNT_LOGOUT_REDIRECT_URL = "home"

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "OuteAI Studio <noreply@localhost>")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# Generated audio is private: it lives in its own storage, outside any public URL, and is served
# only through a view that checks access. Any Django storage backend can take its place.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "audio": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT / "audio", "base_url": None},
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# AUDIO_STORAGE=s3 keeps audio in S3-compatible object storage (AWS S3, MinIO, R2…), private:
# it is still served only through the view that checks access, never by a public URL.
AUDIO_STORAGE = env_choice("AUDIO_STORAGE", "filesystem", choices={"filesystem", "s3"})
if AUDIO_STORAGE == "s3":
    STORAGES["audio"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("AWS_STORAGE_BUCKET_NAME", ""),
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("AWS_S3_REGION_NAME", "") or None,
            "access_key": env_str("AWS_ACCESS_KEY_ID", "") or None,
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY", "") or None,
            "location": env_str("AWS_S3_LOCATION", "audio"),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
    if not STORAGES["audio"]["OPTIONS"]["bucket_name"]:
        raise ImproperlyConfiguredEnv("AUDIO_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME")

# Redis carries the Celery queue and the Channels layer.
REDIS_URL = env_url("REDIS_URL", "redis://127.0.0.1:6379/0", schemes={"redis", "rediss", "unix"})
# Every key the product keeps in Redis starts with this (a test run uses its own).
REDIS_KEY_PREFIX = env_str("REDIS_KEY_PREFIX", "outeai")
# Django's cache (allauth's login and signup rate limits among others) is shared by every web
# process through Redis, so a limit holds across processes and restarts.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_KEY_PREFIX,
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("CHANNELS_PREFIX", "outeai")},
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django fixup closes the database connections, and with a pool the whole pool, around
# every task: the next job then waits ~6 ms for a new connection. It closes them only after this
# many tasks instead; config.celery drops broken or old connections before each task.
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "outeai")
# Jobs whose worker died are given back to the queue, and bells lost with their messages rung
# again (studio.job.sweep). Beat runs as a process of its own (Procfile `beat`).
CELERY_BEAT_SCHEDULE = {
    "generations-sweep": {"task": "studio.generations_sweep", "schedule": 10.0},
    # Fits whose worker died are ended (the clone keeps its quick profile) and their references deleted.
    "voice-fits-sweep": {"task": "voices.fits_sweep", "schedule": 30.0},
    # Idempotency keys are kept 24 h (api.idempotency); older ones are deleted every hour.
    "idempotency-keys-expire": {"task": "api.idempotency_keys_expire", "schedule": 3600.0},
}
# Every task has a time limit: soft (the task ends what it was doing) and hard 30 s later (the
# pool process is killed; a job's row is then given back by the sweep). A generation's bell runs a
# turn of claims (studio.job.run.DISPATCH_TURN_SECONDS, 60 s) and at most one job begun in it: a
# text of TTS_MAX_TEXT_CHARS (5,000) is at most ~600 s of audio (billing.pricing.speech_seconds_max),
# which Kokoro on a CPU speaks at RTF <= 0.8, verified x1.65 (docs/performance.md): ~800 s; twice
# that leaves room for a failover to another engine.
GENERATION_TASK_SOFT_TIME_LIMIT = env_int("GENERATION_TASK_SOFT_TIME_LIMIT", 1800, minimum=60)
# A fit has its own (CELERY_TASK_ANNOTATIONS, below); the rest are sweeps and a clone's preview, one
# short sentence from an engine that may first load its model (ENGINE_TIMEOUT_SECONDS, 120 s).
CELERY_TASK_SOFT_TIME_LIMIT = 300
CELERY_TASK_TIME_LIMIT = 330
# A message a worker took and never acknowledged (the whole worker died) comes back after this long.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 300, minimum=30)}

# The TTS engine (the inference service), called by the workers over HTTP.
ENGINE_URL = env_url("ENGINE_URL", "http://127.0.0.1:8001", schemes={"http", "https"})
# Several engines, comma-separated; the workers spread work over them and go round a failed one.
ENGINE_URLS = env_url_list("ENGINE_URLS", [ENGINE_URL], schemes={"http", "https"})
ENGINE_TIMEOUT_SECONDS = env_float("ENGINE_TIMEOUT_SECONDS", 120.0, minimum=1.0)

# The product's limits.
TTS_MAX_TEXT_CHARS = env_int("TTS_MAX_TEXT_CHARS", 5000, minimum=1)
TTS_MODEL_NAME = "outetts_1_pro"
# Generation requests an account may make per minute, the Studio and the API together.
TTS_RATE_LIMIT_PER_MINUTE = env_int("TTS_RATE_LIMIT_PER_MINUTE", 60, minimum=1)
# Idempotency-Key (api.idempotency): what one account's kept answers may take in the database over
# 24 hours, the largest answer kept (the longest WAV of TTS_MAX_TEXT_CHARS is about 15 MB), and how
# many keys it may hold. An answer over either size is sent but not kept (a retry is 409, never a
# second charge); a key past the count is 429 until the oldest expires.
IDEMPOTENCY_ACCOUNT_MAX_BYTES = env_int("IDEMPOTENCY_ACCOUNT_MAX_BYTES", 256 * 1024 * 1024, minimum=0)
IDEMPOTENCY_ANSWER_MAX_BYTES = env_int("IDEMPOTENCY_ANSWER_MAX_BYTES", 16 * 1024 * 1024, minimum=0)
IDEMPOTENCY_ACCOUNT_MAX_KEYS = env_int("IDEMPOTENCY_ACCOUNT_MAX_KEYS", 10_000, minimum=1)
# Generations one account may have running at once; the rest wait in the account's own queue,
# and workers serve the accounts in turn (studio.job.claim). Keep it under the workers' total
# (WORKER_CONCURRENCY times the workers), so an account arriving finds a worker free.
GENERATION_ACCOUNT_CONCURRENCY = env_int("GENERATION_ACCOUNT_CONCURRENCY", 2, minimum=1)
# Studio websockets one account may have open at once (every tab of a session holds one).
WEBSOCKETS_PER_USER_MAX = env_int("WEBSOCKETS_PER_USER_MAX", 20, minimum=1)
# Credits, in micro-credits (1 credit = 1,000,000): what every new account starts with.
SIGNUP_GRANT_MICROCREDITS = env_int("SIGNUP_GRANT_MICROCREDITS", 1_000_000, minimum=0)
# When they are given: at sign-up, or once the account has verified an address (production's
# default, so that made-up addresses farm no credits).
SIGNUP_GRANT_ON = env_choice("SIGNUP_GRANT_ON", "signup", choices={"signup", "verified"})
# Voice clones: how many an account may have, how many attempts to create one it may make an hour
# (refused ones count: each decodes an upload), how long creating one may wait for the engine, and
# whether the reference recording is kept after its fit (by default it is deleted once the fit ends).
VOICE_CLONE_LIMIT = env_int("VOICE_CLONE_LIMIT", 1000, minimum=0)
VOICE_CLONE_RATE_LIMIT_PER_HOUR = env_int("VOICE_CLONE_RATE_LIMIT_PER_HOUR", 30, minimum=1)
VOICE_CLONE_ENCODE_TIMEOUT_SECONDS = env_int("VOICE_CLONE_ENCODE_TIMEOUT_SECONDS", 90, minimum=1)
VOICE_CLONE_KEEP_REFERENCE = env_bool("VOICE_CLONE_KEEP_REFERENCE", False)
# A clone is usable at once from the engine's quick profile, then improved in the background by a
# fit of at most VOICE_FIT_SECONDS (voices.services.voice_fit), on a queue of its own that only the
# Procfile's `fitter` consumes, so speech jobs never wait behind a fit.
VOICE_FIT = env_bool("VOICE_FIT", True)
VOICE_FIT_SECONDS = env_float("VOICE_FIT_SECONDS", 120.0, minimum=1.0)
VOICE_FIT_QUEUE = env_str("VOICE_FIT_QUEUE", f"{CELERY_TASK_DEFAULT_QUEUE}-fits")
# A fit's budget covers its search only: the held-out scoring of the quick and the fitted profile
# (both spoken, heard back and judged), the models' loading and the preview come on top, and on a
# CPU shared with speech jobs (which go first) they took over two minutes in the tests. The limit
# only stops a fit gone wrong.
CELERY_TASK_ANNOTATIONS = {
    "voices.fit": {"soft_time_limit": VOICE_FIT_SECONDS + 900, "time_limit": VOICE_FIT_SECONDS + 960}
}
VOICE_CLONE_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# A JSON body may carry a 10 MB recording as base64 (4/3 of it) and a little more.
DATA_UPLOAD_MAX_MEMORY_SIZE = VOICE_CLONE_MAX_UPLOAD_BYTES * 4 // 3 + 64 * 1024
# Waveform resolution stored with each generation and sent live to the Studio.
WAVEFORM_PEAKS_PER_SECOND = env_int("WAVEFORM_PEAKS_PER_SECOND", 50, minimum=1)

# Paying for credits (billing.stripe_checkout, docs/payments.md): the packs sold, as credits:price in
# CREDIT_CURRENCY; Stripe's secret API key (without it the account page sells nothing and says so),
# the signing secret of the webhook endpoint, and where Stripe's API is (the tests' stand-in).
CREDIT_CURRENCY, CREDIT_PACKS = credit_packs_from_env()
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY", "")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "")
STRIPE_API_BASE = env_url("STRIPE_API_BASE", "https://api.stripe.com", schemes={"http", "https"})

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Each record of a request names its X-Request-Id ("-" outside a request).
    "filters": {"request_id": {"()": "core.request_context.RequestIdLogFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
