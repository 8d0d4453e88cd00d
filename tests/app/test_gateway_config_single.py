"""`one_server_config`: the one-server gateway `toolgate run --listen` builds from its flags,
with `--header "Name: value"` strings parsed and checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.app.test_gateway_config_support import write_policy

from toolgate.app.gateway_config import AuthConfig, HttpLimits
from toolgate.app.gateway_config_single import one_server_config, parse_header_flags
from toolgate.errors import ConfigError, PolicyValidationError

SECRET = "s3cr3t"


def test_a_command_becomes_the_server_named_default(tmp_path: Path) -> None:
    policy = write_policy(tmp_path)
    config = one_server_config(
        policy, ["npx", "srv"], None, [], "127.0.0.1:0", environ={"TOOLGATE_HOME": str(tmp_path)}
    )
    (server,) = config.servers.values()
    assert (server.name, server.path) == ("default", "/mcp/default")
    assert server.command == ("npx", "srv") and server.transport == "stdio"
    assert server.policy == policy.resolve() and server.namespace == "server:default"
    assert config.listen.port == 0 and config.listen.loopback
    assert config.home == tmp_path and config.auth.grants
    assert config.auth.grants_db == tmp_path / "state" / "grants.sqlite3"
    assert config.audit.log == tmp_path / "audit" / "decisions.jsonl"
    assert config.state.dsn == f"sqlite:///{tmp_path / 'state' / 'counters.sqlite3'}"


def test_an_upstream_url_takes_headers_with_environment_references(tmp_path: Path) -> None:
    config = one_server_config(
        write_policy(tmp_path),
        None,
        "https://api.example/mcp",
        ["Authorization: Bearer ${TOKEN}", "X-Price:  $$5 ", "X-Empty-Ref: a${A}b"],
        "[::1]:8080",
        name="github",
        transport="sse",
        environ={"TOKEN": SECRET, "A": ""},
    )
    server = config.servers["github"]
    assert server.url == "https://api.example/mcp" and server.transport == "sse"
    assert server.headers == {
        "Authorization": f"Bearer {SECRET}",
        "X-Price": "$5",
        "X-Empty-Ref": "ab",
    }


@pytest.mark.parametrize(
    ("flag", "fragment"),
    [
        ("NoColon", "--header #1 must look like 'Name: value'"),
        (": value", "--header #1 must look like 'Name: value'"),
        ("Bad Name: x", "not a valid HTTP header name"),
        ("Host: x", "set by the gateway"),
        ("X-A:", '--header "X-A": the value is empty'),
        ("X-A: ${UNSET}", 'environment variable "UNSET" is not set'),
        ("X-A: ${}", "names no environment variable"),
        ("X-A: ${NEWLINE}", '--header "X-A": the value contains a line break'),
    ],
)
def test_malformed_header_flags_name_the_header_not_the_value(flag: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_header_flags([flag], {"NEWLINE": f"{SECRET}\nX: y"})
    assert fragment in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_header_given_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match='"x-a" is given twice'):
        parse_header_flags(["X-A: 1", "x-a: 2"], {})


@pytest.mark.parametrize(
    ("command", "url", "headers", "listen", "extra", "fragment"),
    [
        (None, None, [], "127.0.0.1:1", {}, "either as a command after -- or as --upstream"),
        (["a"], "https://h/mcp", [], "127.0.0.1:1", {}, "either as a command"),
        ([], None, [], "127.0.0.1:1", {}, "either as a command"),
        ([""], None, [], "127.0.0.1:1", {}, "must not start with an empty word"),
        (["a"], None, ["X: y"], "127.0.0.1:1", {}, "--header applies to an --upstream URL"),
        (None, "ftp://h", [], "127.0.0.1:1", {}, "http:// or https:// URL"),
        (None, "https://h", [], "127.0.0.1:1", {"transport": "ws"}, "--transport must be one"),
        (["a"], None, [], "localhost", {}, "expected HOST:PORT"),
        (["a"], None, [], "127.0.0.1:1", {"name": "Bad"}, "must be 1-63 characters"),
        (["a"], None, [], "127.0.0.1:1", {"log_level": "loud"}, "--log-level must be one"),
        (["a"], None, [], "127.0.0.1:1", {"namespace": " "}, "--namespace must be non-empty"),
        (["a"], None, [], "10.1.1.1:80", {"no_auth": True}, "clients must authenticate"),
        (["a"], None, [], "0.0.0.0:80", {}, "binds every interface"),
    ],
)
def test_bad_flags_are_refused_with_the_flag_named(
    tmp_path: Path,
    command: list[str] | None,
    url: str | None,
    headers: list[str],
    listen: str,
    extra: dict[str, object],
    fragment: str,
) -> None:
    options = dict(extra)
    if options.pop("no_auth", False):
        options["auth"] = AuthConfig(grants_db=tmp_path / "g.db", grants=False)
    with pytest.raises(ConfigError) as caught:
        one_server_config(
            write_policy(tmp_path),
            command,
            url,
            headers,
            listen,
            environ={},
            **options,  # type: ignore[arg-type]
        )
    assert fragment in str(caught.value)


def test_a_public_bind_is_allowed_with_explicit_opt_outs_or_host_names(tmp_path: Path) -> None:
    policy = write_policy(tmp_path)
    open_auth = AuthConfig(grants_db=tmp_path / "g.db", grants=False, insecure_no_auth=True)
    config = one_server_config(
        policy,
        ["a"],
        None,
        [],
        "0.0.0.0:80",
        auth=open_auth,
        http=HttpLimits(allowed_hosts=("gw.internal",)),
        environ={},
    )
    assert config.auth.insecure_no_auth and config.host_allow_list() == ("gw.internal",)


def test_an_invalid_policy_fails_with_its_own_located_errors(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("version: '1'\ntools: [x]\n")
    with pytest.raises(PolicyValidationError):
        one_server_config(policy, ["a"], None, [], "127.0.0.1:1", environ={})
