"""Settings from the environment and flags."""

from __future__ import annotations

import pytest

from hostup_ipv6_mcp.config import DEFAULT_API_URL, ConfigError, load_settings


def test_defaults() -> None:
    settings = load_settings({})
    assert (settings.api_key, settings.api_url, settings.read_only, settings.sandbox) == (None, DEFAULT_API_URL, False, False)


def test_unfilled_bundle_settings_count_as_unset() -> None:
    env = {"HOSTUP_API_KEY": "${user_config.api_key}", "HOSTUP_API_URL": "${user_config.api_url}",
           "HOSTUP_READ_ONLY": "${user_config.read_only}", "HOSTUP_TIMEOUT": "  "}
    settings = load_settings(env)
    assert settings.api_key is None and settings.api_url == DEFAULT_API_URL and settings.read_only is False


def test_key_is_never_in_repr() -> None:
    settings = load_settings({"HOSTUP_API_KEY": "hk_secret_value"})
    assert settings.api_key == "hk_secret_value"
    assert "hk_secret_value" not in repr(settings)


def test_flags_override_environment() -> None:
    env = {"HOSTUP_API_URL": "https://a.example", "HOSTUP_TIMEOUT": "5"}
    settings = load_settings(env, api_url="https://b.example/", read_only=True, sandbox=True, timeout=7)
    assert (settings.api_url, settings.read_only, settings.sandbox, settings.timeout) == ("https://b.example", True, True, 7)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8765", "http://localhost:1", "http://[::1]:80"])
def test_plain_http_only_for_loopback(url: str) -> None:
    assert load_settings({"HOSTUP_API_URL": url}).api_url == url


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HOSTUP_API_URL": "http://cloud.hostup.se"}, "loopback"),
        ({"HOSTUP_API_URL": "ftp://x"}, "http"),
        ({"HOSTUP_TIMEOUT": "soon"}, "HOSTUP_TIMEOUT"),
        ({"HOSTUP_TIMEOUT": "0"}, "between"),
        ({"HOSTUP_READ_ONLY": "maybe"}, "HOSTUP_READ_ONLY"),
    ],
)
def test_bad_settings_are_refused_with_a_reason(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


@pytest.mark.parametrize("key", ["hk_abc\nX-Evil: 1", "hk_abc def", "hk_abcä"])
def test_a_key_that_cannot_travel_in_a_header_is_refused_without_echoing_it(key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({"HOSTUP_API_KEY": key})
    assert "hk_abc" not in str(raised.value)


def test_a_url_with_a_bad_port_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="port"):
        load_settings({"HOSTUP_API_URL": "https://cloud.hostup.se:abc"})


def test_a_bad_fault_list_stops_the_sandbox_with_a_message_not_a_traceback(tmp_path) -> None:
    import subprocess
    import sys
    from pathlib import Path

    command = [str(Path(sys.executable).with_name("hostup-ipv6-mcp")), "--sandbox"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HOSTUP_SANDBOX_FAULTS": "[{"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "HOSTUP_SANDBOX_FAULTS" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""
