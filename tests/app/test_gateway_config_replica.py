"""The gateway's replica name (`replica:` in the gateway file, or $TOOLGATE_REPLICA, which wins):
what it accepts, and where and how it reports what it does not, for both sources and for the
one-server `toolgate run --listen` gateway."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.app.test_gateway_config_support import at, errors, load, only_error, write_policy

from toolgate.app.gateway_config_single import one_server_config
from toolgate.errors import ConfigError

SERVER = "servers:\n  s: {command: srv, policy: policy.yaml}\n"
GARBAGE_TEXT = ["-a", "A1", "gw_1", "a.b", "a b", "é", "a" * 33, "${HOST}", "x" * 5000]
GARBAGE_YAML = ['""', "1", "007", "true", "[a]", "{a: b}", "1.5", "'a.b'", "'-x'", "' a'"]


def environ(tmp_path: Path, replica: str | None = None) -> dict[str, str]:
    env = {"TOOLGATE_HOME": str(tmp_path / "home")}
    if replica is not None:
        env["TOOLGATE_REPLICA"] = replica
    return env


def test_without_a_replica_name_the_gateway_has_none(tmp_path: Path) -> None:
    assert load(tmp_path, SERVER).replica is None


def test_the_file_names_the_replica(tmp_path: Path) -> None:
    assert load(tmp_path, "replica: gw-1\n" + SERVER).replica == "gw-1"


def test_a_null_replica_is_no_replica(tmp_path: Path) -> None:
    assert load(tmp_path, "replica:\n" + SERVER).replica is None


def test_the_environment_overrides_the_file(tmp_path: Path) -> None:
    config = load(tmp_path, "replica: gw-1\n" + SERVER, environ(tmp_path, "b"))
    assert config.replica == "b"


def test_the_environment_alone_names_the_replica(tmp_path: Path) -> None:
    assert load(tmp_path, SERVER, environ(tmp_path, "7")).replica == "7"


def test_an_empty_environment_variable_is_unset(tmp_path: Path) -> None:
    config = load(tmp_path, "replica: a\n" + SERVER, environ(tmp_path, ""))
    assert config.replica == "a"


@pytest.mark.parametrize("value", GARBAGE_TEXT)
def test_a_garbage_name_in_the_file_is_located_at_its_value(tmp_path: Path, value: str) -> None:
    text = f"replica: '{value}'\n{SERVER}"
    line, column, path, message = only_error(tmp_path, text)
    assert (line, column) == at(text, "'")
    assert path == "replica"
    assert message.startswith("replica: ")
    assert "is not a replica name (1 to 32 characters of a-z, 0-9 and -" in message


@pytest.mark.parametrize("value", GARBAGE_YAML)
def test_a_garbage_yaml_value_is_located_at_the_key(tmp_path: Path, value: str) -> None:
    text = f"replica: {value}\n{SERVER}"
    line, column, path, message = only_error(tmp_path, text)
    assert (line, column) == (1, len("replica: ") + 1)
    assert path in ("replica", "(root)")
    assert "replica" in message
    assert "is not a replica name" in message or "must be a string" in message


@pytest.mark.parametrize("value", GARBAGE_TEXT)
def test_a_garbage_environment_value_is_reported_as_the_environments(
    tmp_path: Path, value: str
) -> None:
    text = "listen: 127.0.0.1:0\nreplica: a\n" + SERVER
    line, column, path, message = only_error(tmp_path, text, environ(tmp_path, value))
    assert (line, column) == (1, 1)
    assert path == "replica"
    assert message.startswith("environment variable TOOLGATE_REPLICA: ")
    assert "is not a replica name" in message
    assert len(message) < 250


def test_bad_names_in_both_sources_are_both_reported(tmp_path: Path) -> None:
    found = errors(tmp_path, "replica: A\n" + SERVER, environ(tmp_path, "B"))
    messages = [message for _, _, _, message in found]
    assert len(messages) == 2, messages
    assert any(m.startswith("environment variable TOOLGATE_REPLICA") for m in messages)
    assert any(m.startswith("replica: 'A'") for m in messages)


def test_a_replica_key_in_a_section_is_unknown_there(tmp_path: Path) -> None:
    text = "http:\n  replica: a\n" + SERVER
    _, _, path, message = only_error(tmp_path, text)
    assert (path, message) == ("http", 'unknown key "replica"')


# `toolgate run --listen`: one server from flags ------------------------------------------------


def one(tmp_path: Path, env: dict[str, str]) -> str | None:
    config = one_server_config(
        write_policy(tmp_path), ["srv"], None, [], "127.0.0.1:0", environ=env
    )
    return config.replica


def test_the_one_server_gateway_takes_the_replica_from_the_environment(tmp_path: Path) -> None:
    assert one(tmp_path, environ(tmp_path)) is None
    assert one(tmp_path, environ(tmp_path, "")) is None
    assert one(tmp_path, environ(tmp_path, "gw-3")) == "gw-3"


@pytest.mark.parametrize("value", GARBAGE_TEXT)
def test_the_one_server_gateway_refuses_a_garbage_environment_name(
    tmp_path: Path, value: str
) -> None:
    with pytest.raises(
        ConfigError, match=r"^environment variable TOOLGATE_REPLICA: .*replica name"
    ):
        one(tmp_path, environ(tmp_path, value))
