"""Settings for a public deployment: everything of base.py, with the web's safety switched on.

It refuses to start on what is fine on a developer's machine and unsafe on the internet: debug
mode, the development secret key, mail that never leaves the console, no host names."""

import os

os.environ.setdefault("DEBUG", "false")
# The welcome credits wait for a verified address, so that made-up addresses farm none.
os.environ.setdefault("SIGNUP_GRANT_ON", "verified")

from config.settings.base import *  # noqa: F403
from config.settings.base import DEBUG, EMAIL_BACKEND, SECRET_KEY
from strictenv import ImproperlyConfiguredEnv, env_bool, env_int, env_list, env_str

DEVELOPMENT_SECRET_KEY = "dev-only-insecure-key-change-me"  # noqa: S105 (base.py's, refused here)
# Backends that deliver nothing: no verification mail would reach anyone.
UNDELIVERED_EMAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
}

if DEBUG:
    raise ImproperlyConfiguredEnv("DEBUG must be false in production (it shows tracebacks and settings to anyone)")
if SECRET_KEY == DEVELOPMENT_SECRET_KEY or len(SECRET_KEY) < 32:
    raise ImproperlyConfiguredEnv(
        "SECRET_KEY must be a random secret of 32 characters or more, not the development key"
    )
if EMAIL_BACKEND in UNDELIVERED_EMAIL_BACKENDS:
    raise ImproperlyConfiguredEnv(
        f"EMAIL_BACKEND is {EMAIL_BACKEND}: verification and password mails would never be sent "
        "(use django.core.mail.backends.smtp.EmailBackend with EMAIL_HOST, or another real backend)"
    )
# base.py's default (the local addresses) suits a developer; a deployment names its own.
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfiguredEnv("ALLOWED_HOSTS must name the site's host names, comma-separated")

EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)

# Behind a TLS-terminating proxy (the usual deployment) the proxy says the request came over
# HTTPS; without one, that header would come from the client and must not be trusted.
if env_bool("BEHIND_TLS_PROXY", True):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
