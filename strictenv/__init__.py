"""Strict readers for settings from environment variables, for the web (config.settings) and the
engine (engine/settings.py) alike. It imports nothing of the project or of Django.

Each one fails loudly with the variable's name when the value cannot be used, so a typo in a
deployment stops the process at start instead of running with a silently wrong setting.
"""

import os
from urllib.parse import urlparse


class ImproperlyConfiguredEnv(ValueError):
    """A setting that cannot be used. Not Django's ImproperlyConfigured: the engine, which has no
    Django, reads its settings with these readers too."""


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None or value.strip() == "" else value.strip()


def env_str(name: str, default: str) -> str:
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfiguredEnv(f"{name}={value!r} is not a boolean (use true or false)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfiguredEnv(f"{name}={value!r} is not a whole number") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfiguredEnv(f"{name}={number} is below its minimum of {minimum}")
    return number


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfiguredEnv(f"{name}={value!r} is not a number") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfiguredEnv(f"{name}={number} is below its minimum of {minimum}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_url(name: str, default: str, *, schemes: set[str]) -> str:
    return _url_checked(name, env_str(name, default), schemes)


def env_url_list(name: str, default: list[str], *, schemes: set[str]) -> list[str]:
    return [_url_checked(name, value, schemes) for value in env_list(name, default)]


def _url_checked(name: str, value: str, schemes: set[str]) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
        allowed = ", ".join(sorted(schemes))
        raise ImproperlyConfiguredEnv(f"{name}={value!r} is not a URL with scheme {allowed}")
    return value


def env_choice(name: str, default: str, *, choices: set[str]) -> str:
    value = env_str(name, default)
    if value not in choices:
        raise ImproperlyConfiguredEnv(f"{name}={value!r} is not one of {', '.join(sorted(choices))}")
    return value
