"""Settings from command-line flags and HOSTUP_* environment variables (flags win)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

DEFAULT_API_URL = "https://cloud.hostup.se"
LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


class ConfigError(ValueError):
    """A setting that cannot be used; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    api_key: str | None = field(default=None, repr=False)
    api_url: str = DEFAULT_API_URL
    read_only: bool = False
    sandbox: bool = False
    # With a reconciling read after a lost write, a call stays under the 60 s many clients wait.
    timeout: float = 20.0


def env_value(env: Mapping[str, str], name: str) -> str | None:
    """The variable's value, or None when unset, blank, or an unfilled bundle setting (`${...}`)."""
    value = env.get(name, "").strip()
    return None if not value or value.startswith("${") else value


def parse_bool(name: str, value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    lowered = value.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}.")


def is_loopback_host(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_api_url(url: str) -> str:
    """Accept https anywhere and plain http only on loopback, where no key can leak on the wire."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"HOSTUP_API_URL must be an http(s) URL such as {DEFAULT_API_URL}, not {url!r}.")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ConfigError(f"HOSTUP_API_URL has an invalid port: {url!r}.") from None
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError("HOSTUP_API_URL may use plain http:// only for a loopback host; use https://.")
    return url.rstrip("/")


def load_settings(
    env: Mapping[str, str] | None = None,
    *,
    api_url: str | None = None,
    read_only: bool | None = None,
    sandbox: bool | None = None,
    timeout: float | None = None,
) -> Settings:
    """Build Settings; keyword arguments are the command-line flags and override the environment."""
    env = os.environ if env is None else env
    raw_timeout = timeout if timeout is not None else env_value(env, "HOSTUP_TIMEOUT")
    try:
        resolved_timeout = float(raw_timeout) if raw_timeout is not None else Settings.timeout
    except ValueError:
        raise ConfigError(f"HOSTUP_TIMEOUT must be a number of seconds, not {raw_timeout!r}.") from None
    if not 0 < resolved_timeout <= 300:
        raise ConfigError("HOSTUP_TIMEOUT must be between 0 and 300 seconds.")
    api_key = env_value(env, "HOSTUP_API_KEY")
    if api_key is not None and not all("\x21" <= char <= "\x7e" for char in api_key):
        # It could not travel in a header; the message must not echo it.
        raise ConfigError("HOSTUP_API_KEY holds spaces, line breaks or non-ASCII characters; paste the key again.")
    return Settings(
        api_key=api_key,
        api_url=check_api_url(api_url or env_value(env, "HOSTUP_API_URL") or DEFAULT_API_URL),
        read_only=read_only or parse_bool("HOSTUP_READ_ONLY", env_value(env, "HOSTUP_READ_ONLY")),
        sandbox=sandbox or parse_bool("HOSTUP_SANDBOX", env_value(env, "HOSTUP_SANDBOX")),
        timeout=resolved_timeout,
    )
