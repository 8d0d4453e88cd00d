"""Gateway files that do not load: every kind of error is reported where it is written (line,
column, path), all of them at once, and secrets never appear in a message."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.app.test_gateway_config_support import at, load, only_error

SERVER = "servers:\n  s: {command: srv, policy: policy.yaml}\n"


def located(
    tmp_path: Path,
    text: str,
    needle: str,
    environ: dict[str, str] | None = None,
    occurrence: int = 1,
) -> tuple[str, str]:
    """The single error of `text`, checked to sit where `needle` starts; (path, message)."""
    line, column, path, message = only_error(tmp_path, text, environ)
    assert (line, column) == at(text, needle, occurrence), (line, column, path, message)
    return path, message


def test_an_unknown_key_is_located_with_a_suggestion(tmp_path: Path) -> None:
    text = "lisen: 127.0.0.1:1\n" + SERVER
    assert located(tmp_path, text, "lisen") == (
        "(root)",
        'unknown key "lisen" (did you mean "listen"?)',
    )


@pytest.mark.parametrize(
    ("section", "typo", "meant"),
    [
        ("state", "fail_mod", "fail_mode"),
        ("audit", "include_arg", "include_args"),
        ("auth", "insecure_no_aut", "insecure_no_auth"),
        ("http", "max_body_byte", "max_body_bytes"),
        ("aggregate", "seperator", "separator"),
    ],
)
def test_unknown_keys_in_every_section_suggest_the_right_one(
    tmp_path: Path, section: str, typo: str, meant: str
) -> None:
    text = f"{section}:\n  {typo}: 1\n{SERVER}"
    path, message = located(tmp_path, text, typo)
    assert path == section
    assert message == f'unknown key "{typo}" (did you mean "{meant}"?)'


def test_an_unknown_server_key_is_located_with_a_suggestion(tmp_path: Path) -> None:
    text = """\
    servers:
      s:
        command: srv
        policy: policy.yaml
        namespce: x
    """
    assert located(tmp_path, text, "namespce") == (
        "servers.s",
        'unknown key "namespce" (did you mean "namespace"?)',
    )


@pytest.mark.parametrize(
    ("listen", "fragment"),
    [
        ("localhost", "expected HOST:PORT"),
        ("::1:8080", "IPv6 address in brackets"),
        ("'[::1]8080'", "expected :PORT after ']'"),
        ("'[::1:8080'", "unclosed '['"),
        ("'[fe80::zz]:80'", "is not an IPv6 address"),
        ("127.0.0.1:http", "port must be a number from 0 to 65535"),
        ("127.0.0.1:65536", "port must be a number from 0 to 65535"),
        ("256.1.1.1:80", "not a valid IPv4 address"),
        ("':8080'", "missing host"),
        ("bad_host:80", "not a valid host name"),
        ("'a b:1'", "must look like 127.0.0.1:8080"),
        ("8080", "must be a string like 127.0.0.1:8080, got an integer"),
    ],
)
def test_listen_parse_errors_are_located_at_the_value(
    tmp_path: Path, listen: str, fragment: str
) -> None:
    text = f"listen: {listen}\n{SERVER}"
    path, message = located(tmp_path, text, listen)
    assert path == "listen"
    assert fragment in message


def test_a_public_bind_without_authentication_explains_the_three_options(
    tmp_path: Path,
) -> None:
    text = "listen: 192.168.1.10:8080\nauth: {grants: false}\n" + SERVER
    path, message = located(tmp_path, text, "192.168")
    assert path == "listen"
    for option in ("auth.grants: true", "auth.oauth", "auth.insecure_no_auth: true"):
        assert option in message


def test_a_wildcard_bind_needs_the_host_names_clients_use(tmp_path: Path) -> None:
    text = "listen: 0.0.0.0:8080\n" + SERVER
    path, message = located(tmp_path, text, "0.0.0.0")
    assert "http.allowed_hosts" in message and path == "listen"


@pytest.mark.parametrize(
    ("auth", "needle", "fragment"),
    [
        ("{grants: true, insecure_no_auth: true}", "true}", "contradicts grants"),
        (
            "{insecure_no_auth: true, oauth: {issuer: 'https://i.example', audience: a}}",
            "true,",
            "contradicts oauth",
        ),
        ("{grants: yes}", "yes", "grants must be true or false, got a string"),
        ("{insecure_no_auth: 1}", "1}", "must be true or false, got an integer"),
    ],
)
def test_contradictory_or_mistyped_auth_is_located(
    tmp_path: Path, auth: str, needle: str, fragment: str
) -> None:
    path, message = located(tmp_path, f"auth: {auth}\n{SERVER}", needle)
    assert path == "auth" and fragment in message


@pytest.mark.parametrize(
    ("oauth", "needle", "fragment"),
    [
        ("{audience: a}", "{audience", 'missing required key "issuer"'),
        ("{issuer: 'https://i.example'}", "{issuer", 'missing required key "audience"'),
        ("{issuer: 'http://i.example', audience: a}", "'http", "must use https://"),
        ("{issuer: 'https://u:p@i.example', audience: a}", "'https", "must not carry"),
        (
            "{issuer: 'https://i.example', audience: a, jwks_url: ftp://x}",
            "ftp",
            "jwks_url must be an http:// or https:// URL",
        ),
        (
            "{issuer: 'https://i.example', audience: a, required_scopes: ['a b']}",
            "'a b'",
            "no spaces",
        ),
        (
            "{issuer: 'https://i.example', audience: a, leeway_seconds: 601}",
            "601",
            "leeway_seconds must be from 0 to 600 seconds",
        ),
        (
            "{issuer: 'https://i.example', audience: a, authorization_servers: ['http://as.x']}",
            "'http://as",
            "authorization server must use https://",
        ),
    ],
)
def test_oauth_settings_are_checked(tmp_path: Path, oauth: str, needle: str, fragment: str) -> None:
    text = f"auth:\n  oauth: {oauth}\n{SERVER}"
    path, message = located(tmp_path, text, needle)
    assert path.startswith("auth.oauth") and fragment in message, (path, message)


def test_oauth_over_http_is_accepted_for_a_loopback_issuer(tmp_path: Path) -> None:
    text = f"auth:\n  oauth: {{issuer: 'http://127.0.0.1:9000', audience: a}}\n{SERVER}"
    oauth = load(tmp_path, text).auth.oauth
    assert oauth is not None and oauth.authorization_servers == ("http://127.0.0.1:9000",)


@pytest.mark.parametrize(
    ("http", "needle", "fragment"),
    [
        ("{max_body_bytes: '4MB'}", "'4MB'", "max_body_bytes must be an integer, got a string"),
        ("{max_sessions: true}", "true", "max_sessions must be an integer, got a boolean"),
        ("{max_header_bytes: 10}", "10", "must be from 1024 to 1048576, got 10"),
        ("{session_idle_seconds: 0}", "0", "must be from 1 to 604800 seconds"),
        ("{upstream_timeout_seconds: .inf}", ".inf", "must be a finite number of seconds"),
        ("{shutdown_grace_seconds: [1]}", "[1]", "must be a number of seconds, got a list"),
        ("{public_url: 'https://gw.example/?a=1'}", "'https", "must not have a ?query"),
        ("{allowed_origins: ['https://a.example/']}", "'https", "with no path"),
        ("{allowed_origins: 'https://a.example'}", "'https", "must be a list, got a string"),
        ("{allowed_origins: [42]}", "42", "must be a string, got an integer"),
        ("{allowed_origins: ['https://[x']}", "'https", "not a valid URL"),
        ("{allowed_hosts: ['gw.example:x']}", "'gw", "port must be a number"),
        ("{allowed_hosts: ['gw.example:*']}", "'gw", "port must be a number"),
        ("{allowed_hosts: ['[::1']}", "'[::1'", "unclosed '['"),
    ],
)
def test_http_settings_are_checked(tmp_path: Path, http: str, needle: str, fragment: str) -> None:
    path, message = located(tmp_path, f"http: {http}\n{SERVER}", needle)
    assert path.startswith("http") and fragment in message, (path, message)


@pytest.mark.parametrize(
    ("state", "needle", "fragment"),
    [
        ("{dsn: 'postgres://u:secret@h/db'}", "'postgres", "not a counter store URL"),
        ("{dsn: 'memory://x'}", "'memory", "not a counter store URL"),
        ("{dsn: 'sqlite:///a.db?mode=ro'}", "'sqlite", "no query string"),
        ("{dsn: ''}", "''", "must not be empty"),
        ("{dsn: {env: NO_SUCH_DSN}}", "NO_SUCH_DSN", '"NO_SUCH_DSN" is not set'),
        ("{fail_mode: opne}", "opne", 'fail_mode must be one of "closed", "open"'),
        ("{prefix: ' x'}", "' x'", "prefix must be non-empty text"),
    ],
)
def test_state_settings_are_checked(tmp_path: Path, state: str, needle: str, fragment: str) -> None:
    path, message = located(tmp_path, f"state: {state}\n{SERVER}", needle, {})
    assert path.startswith("state") and fragment in message, (path, message)
    assert "secret" not in message  # the DSN's password is masked


@pytest.mark.parametrize(
    ("audit", "needle", "fragment"),
    [
        ("{sinks: [stdout]}", "stdout", "standard output is the MCP channel"),
        ("{sinks: ['sqlite']}", "'sqlite'", "sqlite needs a path"),
        ("{redact_paths: ['args..x']}", "'args", "must look like args.card.number"),
        ("{redact_patterns: ['(']}", "'('", "not a valid regular expression"),
        ("{rotate: {max_bytes: 10}}", "10", "max_bytes must be from 4096"),
        ("{rotate: {keep: -1}}", "-1", "keep must be from 0"),
        ("{rotate: {dialy: true}}", "dialy", 'did you mean "daily"'),
        ("{key_file: missing.key}", "missing.key", "cannot read audit key file"),
        ("{include_args: 'no'}", "'no'", "include_args must be true or false"),
        ("{log: ''}", "''", "log must be a non-empty path"),
    ],
)
def test_audit_settings_are_checked(tmp_path: Path, audit: str, needle: str, fragment: str) -> None:
    path, message = located(tmp_path, f"audit: {audit}\n{SERVER}", needle)
    assert path.startswith("audit") and fragment in message, (path, message)


@pytest.mark.parametrize(
    ("server", "needle", "fragment"),
    [
        ("{policy: policy.yaml}", "{policy", 'missing "command" (a child process) or "url"'),
        ("{command: a, url: 'https://h/mcp', policy: policy.yaml}", "'https", "not both"),
        ("{command: null, policy: policy.yaml}", "null", "command must not be null"),
        ("{command: [], policy: policy.yaml}", "[]", "command must not be empty"),
        ("{command: [node, 3000], policy: policy.yaml}", "3000", "got an integer (quote it)"),
        ("{command: [''], policy: policy.yaml}", "''", "must be a non-empty string"),
        ('{command: "a \'b", policy: policy.yaml}', '"a', "cannot be split into words"),
        ("{command: '', policy: policy.yaml}", "''", "command must not be empty"),
        ("{command: {a: b}, policy: policy.yaml}", "{a", "a list of strings or a string"),
        ("{url: 'ftp://h/mcp', policy: policy.yaml}", "'ftp", "http:// or https:// URL"),
        ("{url: 'https://u:p@h/mcp', policy: policy.yaml}", "'https", "must not carry"),
        ("{url: 'https://h/mcp#x', policy: policy.yaml}", "'https", "#fragment"),
        ("{url: 'https:///mcp', policy: policy.yaml}", "'https", "has no host"),
        ("{url: 'https://h:99999/mcp', policy: policy.yaml}", "'https", "invalid port"),
        ("{url: 'https://h/a b', policy: policy.yaml}", "'https", "without spaces"),
        ("{url: 'https://[h/mcp', policy: policy.yaml}", "'https", "not a valid URL"),
        ("{url: 'https://h', transport: http, policy: policy.yaml}", "http,", '"auto"'),
        ("{url: 'https://h', env: {A: b}, policy: policy.yaml}", "{A", "env applies to command"),
        ("{url: 'https://h', cwd: /tmp, policy: policy.yaml}", "/tmp", "cwd applies to command"),
        ("{command: a, headers: {A: b}, policy: policy.yaml}", "{A", "headers applies to url"),
        ("{command: a, transport: sse, policy: policy.yaml}", "sse", "transport applies to url"),
        ("{command: a, cwd: nowhere, policy: policy.yaml}", "nowhere", "is not a directory"),
        ("{command: a}", "{command", 'missing required key "policy"'),
        ("{command: a, policy: missing.yaml}", "missing.yaml", "does not exist"),
        ("{command: a, policy: policy.yaml, namespace: ''}", "''", "namespace must be non-empty"),
        ("{command: a, policy: policy.yaml, timeout_seconds: 0}", "0}", "from 0.1 to 3600"),
        ("[a, b]", "[a", "a server must be a mapping, got a list"),
    ],
)
def test_server_settings_are_checked(
    tmp_path: Path, server: str, needle: str, fragment: str
) -> None:
    text = f"servers:\n  s: {server}\n"
    path, message = located(tmp_path, text, needle)
    assert path.startswith("servers.s") and fragment in message, (path, message)


def test_a_policy_of_the_wrong_type_reports_the_policy_loaders_error(tmp_path: Path) -> None:
    (tmp_path / "policy.txt").write_text("x")
    path, message = located(
        tmp_path, "servers:\n  s: {command: a, policy: policy.txt}\n", "policy.txt"
    )
    assert path == "servers.s.policy" and "unsupported policy file type" in message


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("Exchange", "must be 1-63 characters of a-z"),
        ("-x", "must be 1-63 characters"),
        ("a" * 64, "must be 1-63 characters"),
        ("a/b", "must be 1-63 characters"),
        ("1", None),
    ],
)
def test_server_names_must_be_url_path_segments(
    tmp_path: Path, name: str, fragment: str | None
) -> None:
    text = f"servers:\n  '{name}': {{command: a, policy: policy.yaml}}\n"
    if fragment is None:
        assert list(load(tmp_path, text).servers) == [name]
        return
    path, message = located(tmp_path, text, f"'{name}'")
    assert path == "servers" and fragment in message


def test_a_duplicate_server_is_located_at_the_second_one(tmp_path: Path) -> None:
    text = """\
    servers:
      s: {command: a, policy: policy.yaml}
      s: {command: b, policy: policy.yaml}
    """
    path, message = located(tmp_path, text, "s:", occurrence=3)  # after "servers:"
    assert path == "servers" and "duplicate server" in message and "line 2" in message


@pytest.mark.parametrize(
    ("servers", "needle", "fragment"),
    [
        ("{}", "{}", "servers must name at least one server"),
        ("[a]", "[a]", "servers must be a mapping, got a list"),
        ("", "servers:", 'missing required key "servers"'),
    ],
)
def test_a_file_without_servers_is_refused(
    tmp_path: Path, servers: str, needle: str, fragment: str
) -> None:
    text = f"log_level: info\nservers: {servers}\n" if servers else "log_level: info\n"
    line, column, path, message = only_error(tmp_path, text)
    assert fragment in message
    if servers:
        assert (line, column) == at(text, needle)
    else:
        assert (line, column) == (1, 1) and path == "(root)"


TWO_SERVERS = """\
servers:
  exchange: {command: a, policy: policy.yaml}
  git_hub: {command: b, policy: policy.yaml}
"""


@pytest.mark.parametrize(
    ("aggregate", "needle", "path", "fragment"),
    [
        ("{servers: [exchang]}", "exchang]", "aggregate.servers", 'did you mean "exchange"'),
        ("{servers: [exchange, exchange]}", "exchange]", "aggregate.servers", "listed twice"),
        ("{servers: []}", "[]", "aggregate", "must name at least one server"),
        ("{servers: exchange}", "exchange}", "aggregate", "servers must be a list"),
        ("{separator: '_'}", "git_hub:", "servers.git_hub", 'contains the aggregate separator "_"'),
        ("{separator: '/'}", "'/'", "aggregate", "separator must be 1-8 characters"),
        ("{separator: ''}", "''", "aggregate", "separator must be 1-8 characters"),
        ("{path: mcp}", "mcp}", "aggregate", 'must start with "/"'),
        ("{path: /a/../b}", "/a/", "aggregate", 'no "." or ".." segments'),
        ("{path: /mcp/}", "/mcp/", "aggregate", 'no trailing "/"'),
        ("{path: /.well-known/x}", "/.well", "aggregate", "reserved"),
        ("{path: /mcp/exchange}", "/mcp/exchange", "aggregate", 'inside server "exchange"'),
        ("[exchange]", "[exchange]", "(root)", "aggregate must be a mapping, got a list"),
    ],
)
def test_aggregate_settings_are_checked(
    tmp_path: Path, aggregate: str, needle: str, path: str, fragment: str
) -> None:
    text = f"aggregate: {aggregate}\n{TWO_SERVERS}"
    found_path, message = located(tmp_path, text, needle)
    assert found_path == path and fragment in message, (found_path, message)


def test_the_default_separator_is_refused_in_a_server_name_only_when_aggregated(
    tmp_path: Path,
) -> None:
    text = "servers:\n  a__b: {command: a, policy: policy.yaml}\n"
    assert list(load(tmp_path, text).servers) == ["a__b"]  # no aggregate: fine
    text_aggregated = "aggregate: {}\n" + text
    path, message = located(tmp_path, text_aggregated, "a__b")
    assert path == "servers.a__b" and "ambiguous" in message
    listed_elsewhere = (
        "aggregate: {servers: [c]}\n" + text + "  c: {command: c, policy: policy.yaml}\n"
    )
    assert load(tmp_path, listed_elsewhere).aggregate is not None


@pytest.mark.parametrize("name", ["sse", "messages"])
def test_a_server_shadowed_by_the_aggregates_legacy_sse_paths_is_refused(
    tmp_path: Path, name: str
) -> None:
    text = f"servers:\n  {name}:\n    command: [srv]\n    policy: policy.yaml\naggregate: {{}}\n"
    path, message = located(tmp_path, text, f"{name}:")
    assert path == f"servers.{name}"
    assert "aggregated endpoint's legacy SSE transport" in message
