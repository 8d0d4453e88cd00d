"""Run settings: defaults under TOOLGATE_HOME, namespaces per server, flag validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolgate.app.settings import RunSettings, resolve_run_settings
from toolgate.errors import ConfigError


def settings(command: list[str], **overrides: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {
        "state_dir": None,
        "audit_log": None,
        "max_line": None,
        "namespace": None,
        "store_url": None,
    }
    options.update(overrides)
    return resolve_run_settings(Path("p.yaml"), command, **options)  # type: ignore[arg-type]


def test_defaults_live_under_toolgate_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLGATE_HOME", str(tmp_path))
    resolved = settings(["srv"])
    assert resolved.state_dir == tmp_path / "state"
    assert resolved.audit_log == tmp_path / "audit" / "decisions.jsonl"
    assert resolved.counter_store_url.startswith("sqlite:///")


def test_different_servers_get_different_counter_namespaces() -> None:
    assert settings(["srv", "a"]).counter_namespace != settings(["srv", "b"]).counter_namespace
    assert settings(["srv", "a"]).counter_namespace == settings(["srv", "a"]).counter_namespace
    assert settings(["srv", "a"], namespace="fleet").counter_namespace == "fleet"


@pytest.mark.parametrize(
    ("command", "overrides", "message"),
    [
        ([], {}, "no upstream server"),
        (["srv"], {"max_line": 10}, "at least"),
        (["srv"], {"namespace": "  "}, "must not be empty"),
        (["srv"], {"upstream_url": "http://127.0.0.1:1/mcp"}, "either as a command"),
        (["srv"], {"upstream_headers": ["X-Key: 1"]}, "applies to an --upstream URL"),
        ([], {"upstream_url": "ftp://host/mcp"}, "http"),
        ([], {"upstream_url": "http://user:pw@host/mcp"}, "credentials"),
        ([], {"upstream_url": "not a url"}, "URL|url"),
        (
            [],
            {"upstream_url": "http://127.0.0.1:1/mcp", "upstream_transport": "pigeon"},
            "--transport",
        ),
        (
            [],
            {"upstream_url": "http://127.0.0.1:1/mcp", "upstream_headers": ["no colon"]},
            "Name: value",
        ),
        (
            [],
            {
                "upstream_url": "http://127.0.0.1:1/mcp",
                "upstream_headers": ["X-K: ${TG_UNSET_VAR_X}"],
            },
            "not set",
        ),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(
    command: list[str], overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(command, **overrides)


def test_settings_survive_the_handover_to_the_gateway_process_unchanged() -> None:
    original = settings(["srv", "--flag", "ünï"], namespace="fleet", log_level="INFO")
    assert type(original).from_json(original.to_json()) == original
    assert original.log_level == "info"


def test_remote_upstream_settings_survive_the_handover_and_count_apart_per_url() -> None:
    remote = settings([], upstream_url="https://mcp.example/mcp", upstream_headers=["X-Key: k1"])
    assert type(remote).from_json(remote.to_json()) == remote
    assert remote.upstream_headers == (("X-Key", "k1"),)
    other = settings([], upstream_url="https://other.example/mcp")
    assert remote.counter_namespace != other.counter_namespace


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"policy": 1}', '{"command": null}'])
def test_unreadable_handover_settings_are_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="unreadable gateway settings"):
        RunSettings.from_json(text)
