"""Gateway files that load: the issue's minimal file, every field, defaults under the home,
relative paths, secrets from the environment and files, JSON, and warnings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.app.test_gateway_config_support import load, write_gateway, write_policy

from toolgate.app.gateway_config import ListenAddress
from toolgate.app.gateway_config_load import load_gateway_config
from toolgate.audit.rotation import RotationPolicy

MINIMAL = """\
listen: 127.0.0.1:8080
servers:
  exchange:
    command: [python, -m, some_server]      # or  url: https://host/mcp  (+ headers from env)
    policy: policies/exchange.yaml
"""


def test_the_minimal_file_of_the_issue_loads_with_defaults_under_toolgate_home(
    tmp_path: Path,
) -> None:
    write_policy(tmp_path / "policies", "exchange.yaml")
    home = tmp_path / "home"
    config = load_gateway_config(write_gateway(tmp_path, MINIMAL), {"TOOLGATE_HOME": str(home)})
    assert config.listen == ListenAddress("127.0.0.1", 8080, loopback=True)
    server = config.servers["exchange"]
    assert server.command == ("python", "-m", "some_server")
    assert server.url is None and server.transport == "stdio"
    assert server.policy == (tmp_path / "policies" / "exchange.yaml").resolve()
    assert server.namespace == "server:exchange"
    assert server.path == "/mcp/exchange"
    assert server.cwd == tmp_path.resolve()
    assert server.timeout_seconds == 60.0
    assert config.home == home
    assert config.state.dsn == f"sqlite:///{home / 'state' / 'counters.sqlite3'}"
    assert (config.state.prefix, config.state.fail_mode) == ("toolgate", "closed")
    assert config.audit.log == home / "audit" / "decisions.jsonl"
    assert config.auth.grants and config.auth.oauth is None and not config.auth.insecure_no_auth
    assert config.auth.grants_db == home / "state" / "grants.sqlite3"
    assert config.state_dir == home / "state"
    assert config.aggregate is None
    assert config.source == (tmp_path / "gateway.yaml").resolve()
    assert config.warnings == ()


def test_without_toolgate_home_the_defaults_live_in_the_user_home(tmp_path: Path) -> None:
    config = load(tmp_path, "servers:\n  s:\n    command: srv\n    policy: policy.yaml\n", {})
    assert config.home == Path.home() / ".toolgate"


def test_listen_defaults_to_loopback_port_8080(tmp_path: Path) -> None:
    config = load(tmp_path, "servers:\n  s:\n    command: srv\n    policy: policy.yaml\n")
    assert str(config.listen) == "127.0.0.1:8080"
    assert config.listen.loopback


FULL = """\
listen: "[::1]:9000"
home: state-home
log_level: debug
state:
  dsn: {env: REDIS_DSN}
  prefix: fleet
  fail_mode: open
audit:
  log: logs/decisions.jsonl
  sinks: [jsonl, "sqlite:audit.db", stderr]
  include_args: true
  redact_paths: [args.card.number]
  redact_patterns: ['\\b\\d{16}\\b']
  rotate: {max_bytes: 1048576, daily: true, keep: 7}
  key_file: chain.key
auth:
  grants: true
  oauth:
    issuer: https://id.example
    audience: https://gw.example/mcp
    jwks_url: https://id.example/jwks
    identity_claim: email
    required_scopes: [mcp:call, mcp:list]
    leeway_seconds: 5
    authorization_servers: [https://id.example, https://id2.example]
http:
  public_url: https://GW.example/
  allowed_origins: [https://App.example, "http://localhost:3000"]
  allowed_hosts: [GW.example, "gw.example:8443", "[::1]:9000"]
  max_body_bytes: 2048
  max_header_bytes: 4096
  max_sessions: 5
  session_idle_seconds: 2.5
  upstream_timeout_seconds: 15
  shutdown_grace_seconds: 0
aggregate:
  path: /all
  servers: [github, exchange]
  separator: "."
servers:
  exchange:
    command: "python -m 'some server'"
    env:
      LITERAL: plain
      KEY: {env: EXCHANGE_KEY}
      FROM_FILE: {file: secrets/exchange}
    cwd: servers
    policy: policy.yaml
    namespace: shared
    timeout_seconds: 5
  github:
    url: https://api.example/mcp?x=1
    transport: streamable
    headers:
      Authorization: {env: GITHUB_TOKEN, prefix: "Bearer "}
      X-Team: {file: /ABS/team}
      X-Plain: hello world
    policy: policy.yaml
"""


def test_every_field_is_read_and_resolved(tmp_path: Path) -> None:
    (tmp_path / "servers").mkdir()
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "exchange").write_text("from-file\n")
    (tmp_path / "team").write_text("blue\r\n")
    (tmp_path / "chain.key").write_text("k" * 32)
    text = FULL.replace("/ABS/team", str(tmp_path / "team"))
    environ = {
        "REDIS_DSN": "redis://:pw@127.0.0.1:6379/0",
        "EXCHANGE_KEY": "ek",
        "GITHUB_TOKEN": "ghp_x",
    }
    config = load(tmp_path, text, environ)

    assert config.listen == ListenAddress("::1", 9000, loopback=True)
    assert str(config.listen) == "[::1]:9000"
    assert config.home == (tmp_path / "state-home").resolve()
    assert config.log_level == "debug"
    assert config.state.dsn == "redis://:pw@127.0.0.1:6379/0"
    assert (config.state.prefix, config.state.fail_mode) == ("fleet", "open")

    audit = config.audit
    assert audit.log == (tmp_path / "logs" / "decisions.jsonl").resolve()
    assert audit.sinks == ("jsonl", f"sqlite:{(tmp_path / 'audit.db').resolve()}", "stderr")
    assert audit.include_args
    assert audit.redact_paths == ("args.card.number",)
    assert audit.redact_patterns == (r"\b\d{16}\b",)
    assert audit.rotation == RotationPolicy(max_bytes=1048576, daily=True, keep=7)
    assert audit.key_file == (tmp_path / "chain.key").resolve()

    auth = config.auth
    assert auth.grants  # in Redis, beside the counters (a grants_db here would be refused)
    assert auth.oauth is not None
    assert auth.oauth.issuer == "https://id.example"
    assert auth.oauth.audience == "https://gw.example/mcp"
    assert auth.oauth.jwks_url == "https://id.example/jwks"
    assert auth.oauth.identity_claim == "email"
    assert auth.oauth.required_scopes == ("mcp:call", "mcp:list")
    assert auth.oauth.leeway_seconds == 5.0
    assert auth.oauth.authorization_servers == ("https://id.example", "https://id2.example")

    http = config.http
    assert http.public_url == "https://gw.example"
    assert http.allowed_origins == ("https://app.example", "http://localhost:3000")
    assert http.trusted_origins == (*http.allowed_origins, "https://gw.example")
    assert http.allowed_hosts == ("gw.example", "gw.example:8443", "[::1]:9000")
    assert config.host_allow_list() == (
        "[::1]:9000",
        "localhost:9000",
        "127.0.0.1:9000",
        "gw.example",
        "gw.example:8443",
    )
    assert (http.max_body_bytes, http.max_header_bytes, http.max_sessions) == (2048, 4096, 5)
    assert http.session_idle_seconds == 2.5
    assert (http.upstream_timeout_seconds, http.shutdown_grace_seconds) == (15.0, 0.0)

    assert config.aggregate is not None
    assert config.aggregate.path == "/all"
    assert config.aggregate.servers == ("github", "exchange")
    assert config.aggregate.separator == "."

    assert list(config.servers) == ["exchange", "github"]
    exchange = config.servers["exchange"]
    assert exchange.command == ("python", "-m", "some server")
    assert exchange.env == {"LITERAL": "plain", "KEY": "ek", "FROM_FILE": "from-file"}
    assert exchange.cwd == (tmp_path / "servers").resolve()
    assert exchange.namespace == "shared"
    assert exchange.timeout_seconds == 5.0
    github = config.servers["github"]
    assert github.command is None and github.url == "https://api.example/mcp?x=1"
    assert github.transport == "streamable"
    assert github.headers == {
        "Authorization": "Bearer ghp_x",
        "X-Team": "blue",
        "X-Plain": "hello world",
    }
    assert github.timeout_seconds == 15.0  # http.upstream_timeout_seconds
    assert github.namespace == "server:github"


def test_a_json_gateway_file_reads_like_yaml(tmp_path: Path) -> None:
    document = {
        "listen": "127.0.0.1:0",
        "servers": {"gh": {"url": "http://127.0.0.1:3001/mcp", "policy": "policy.yaml"}},
        "aggregate": {},
    }
    config = load(tmp_path, json.dumps(document), name="gateway.json")
    assert config.listen.port == 0
    assert config.servers["gh"].transport == "auto"
    assert config.aggregate is not None and config.aggregate.servers == ("gh",)
    assert (config.aggregate.path, config.aggregate.separator) == ("/mcp", "__")


def test_relative_paths_are_taken_from_the_gateway_files_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    write_policy(conf / "policies", "p.yaml")
    text = """\
    home: ../data
    state: {dsn: "sqlite://counters.db"}
    audit: {log: audit.jsonl}
    auth: {grants_db: grants.db}
    servers:
      s: {command: srv, policy: policies/p.yaml}
    """
    monkeypatch.chdir(tmp_path)  # somewhere else than the file
    config = load_gateway_config(write_gateway(conf, text), {})
    base = conf.resolve()
    assert config.home == (tmp_path / "data").resolve()
    assert config.state.dsn == f"sqlite:///{base / 'counters.db'}"
    assert config.audit.log == base / "audit.jsonl"
    assert config.auth.grants_db == base / "grants.db"
    assert config.servers["s"].policy == base / "policies" / "p.yaml"
    assert config.servers["s"].cwd == base


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("memory://", "memory://"),
        ("counters.db", "sqlite:///{base}/counters.db"),
        ("/abs/c.db", "sqlite:////abs/c.db"),
        ("sqlite:///abs/c.db", "sqlite:////abs/c.db"),
        ("rediss://h:6380/1", "rediss://h:6380/1"),
        ("unix:///run/redis.sock?db=2", "unix:///run/redis.sock?db=2"),
    ],
)
def test_state_dsn_forms_are_normalised(tmp_path: Path, dsn: str, expected: str) -> None:
    text = f"state: {{dsn: '{dsn}'}}\nservers:\n  s: {{command: srv, policy: policy.yaml}}\n"
    config = load(tmp_path, text)
    assert config.state.dsn == expected.format(base=tmp_path.resolve())


@pytest.mark.parametrize(
    ("content", "expected"),
    [("abc\n\n", "abc\n"), ("abc\r\n", "abc"), ("abc", "abc"), ("a\nb\n", "a\nb")],
)
def test_a_secret_file_loses_exactly_one_trailing_newline(
    tmp_path: Path, content: str, expected: str
) -> None:
    (tmp_path / "token").write_bytes(content.encode())
    text = """\
    servers:
      s:
        command: srv
        env: {TOKEN: {file: token}}
        policy: policy.yaml
    """
    assert load(tmp_path, text).servers["s"].env == {"TOKEN": expected}


def test_insecure_no_auth_turns_grants_off_and_allows_a_public_bind(tmp_path: Path) -> None:
    text = """\
    listen: 0.0.0.0:8080
    auth: {insecure_no_auth: true}
    http: {allowed_hosts: [gw.internal:8080]}
    servers:
      s: {command: srv, policy: policy.yaml}
    """
    config = load(tmp_path, text)
    assert not config.auth.grants and config.auth.insecure_no_auth
    assert not config.listen.loopback and config.listen.wildcard


@pytest.mark.parametrize(
    "auth",
    [
        "{}",  # grants by default
        "{grants: false, oauth: {issuer: 'https://id.example', audience: gw}}",
    ],
)
def test_a_public_bind_is_accepted_when_clients_authenticate(tmp_path: Path, auth: str) -> None:
    text = f"""\
    listen: 10.0.0.5:8443
    auth: {auth}
    http: {{public_url: "https://gw.example"}}
    servers:
      s: {{command: srv, policy: policy.yaml}}
    """
    config = load(tmp_path, text)
    assert config.auth.authenticates
    assert config.host_allow_list() == ("10.0.0.5:8443", "gw.example")


def test_the_default_host_allow_list_is_the_listen_address_and_its_localhost_forms(
    tmp_path: Path,
) -> None:
    config = load(
        tmp_path, "listen: localhost:0\nservers:\n  s: {command: srv, policy: policy.yaml}\n"
    )
    assert config.host_allow_list(bound_port=4321) == (
        "localhost:4321",
        "127.0.0.1:4321",
        "[::1]:4321",
    )


def test_literal_credentials_load_with_located_warnings(tmp_path: Path) -> None:
    text = """\
    state: {dsn: "redis://:hunter2@10.0.0.9:6379/0"}
    servers:
      gh:
        url: http://api.example/mcp
        headers: {Authorization: Bearer abc}
        policy: policy.yaml
      local:
        command: srv
        env: {API_TOKEN: abc, PORT: "8080"}
        policy: policy.yaml
    """
    config = load(tmp_path, text)
    found = [(w.location.line, w.location.column, w.path) for w in config.warnings]
    assert found == [
        (1, 14, "state.dsn"),
        (5, 30, "servers.gh.headers.Authorization"),
        (5, 30, "servers.gh.headers.Authorization"),
        (9, 22, "servers.local.env.API_TOKEN"),
    ]
    assert "literal credential" in config.warnings[0].message
    assert "plain http" in config.warnings[2].message
    assert all("hunter2" not in w.render() and "abc" not in w.message for w in config.warnings)


def test_servers_keep_the_order_of_the_file(tmp_path: Path) -> None:
    text = "servers:\n" + "".join(
        f"  {name}: {{command: srv, policy: policy.yaml}}\n" for name in ("zeta", "alpha", "m-1")
    )
    assert list(load(tmp_path, text).servers) == ["zeta", "alpha", "m-1"]


def test_null_values_read_as_their_defaults(tmp_path: Path) -> None:
    text = """\
    listen: null
    home: null
    state: {dsn: null, prefix: null, fail_mode: null}
    audit: {log: null, sinks: null, rotate: null}
    auth: {grants: null, oauth: null}
    http: {max_sessions: null, public_url: null}
    aggregate: null
    servers:
      s: {command: srv, policy: policy.yaml, namespace: null, timeout_seconds: null}
    """
    config = load(tmp_path, text)
    assert str(config.listen) == "127.0.0.1:8080" and config.state.prefix == "toolgate"
    assert config.auth.grants and config.http.max_sessions == 1000 and config.aggregate is None
    assert config.servers["s"].namespace == "server:s"
