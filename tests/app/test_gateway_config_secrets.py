"""Static upstream headers, child environments and the `{env: NAME}` / `{file: PATH}`
references they may use: every problem located, no secret value ever in a message."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.app.test_gateway_config_support import at, load, only_error

SECRET = "s3cr3t-value"


def url_server(headers: str) -> str:
    return (
        "servers:\n  gh:\n    url: https://h.example/mcp\n"
        f"    headers: {headers}\n    policy: policy.yaml\n"
    )


def command_server(env: str) -> str:
    return f"servers:\n  c:\n    command: srv\n    env: {env}\n    policy: policy.yaml\n"


@pytest.mark.parametrize(
    ("headers", "needle", "path", "fragment"),
    [
        ("{'Bad Header': x}", "'Bad", "servers.gh.headers", "not a valid HTTP header name"),
        ("{'X:Y': x}", "'X:Y'", "servers.gh.headers", "not a valid HTTP header name"),
        ("{Host: x}", "Host", "servers.gh.headers", "set by the gateway"),
        ("{mcp-session-id: x}", "mcp-session", "servers.gh.headers", "set by the gateway"),
        ("{Mcp-Param-Region: x}", "Mcp-Param", "servers.gh.headers", "set by the gateway"),
        ("{Content-Length: '1'}", "Content", "servers.gh.headers", "set by the gateway"),
        ("{X-A: a, x-a: b}", "x-a", "servers.gh.headers", 'duplicate header "x-a"'),
        ("{1: a}", "1:", "servers.gh.headers", "header names must be strings"),
        ('{X-A: "a\\nb"}', '"a', "servers.gh.headers.X-A", "the value contains a line break"),
        ('{X-A: "a\\rb"}', '"a', "servers.gh.headers.X-A", "the value contains a line break"),
        ('{X-A: "a\\x01b"}', '"a', "servers.gh.headers.X-A", "a control character"),
        ("{X-A: ''}", "''", "servers.gh.headers.X-A", "the value is empty"),
        ("{X-A: ' a'}", "' a'", "servers.gh.headers.X-A", "leading or trailing whitespace"),
        ("{X-A: 42}", "42", "servers.gh.headers.X-A", "got an integer (quote it"),
        ("{X-A: [a]}", "[a]", "servers.gh.headers.X-A", "must be a string, {env: NAME}"),
        ("{X-A: {}}", "{}", "servers.gh.headers.X-A", "exactly one of env and file (neither"),
        ("{X-A: {prefix: 'Bearer '}}", "{prefix", "servers.gh.headers.X-A", "(neither given)"),
        ("{X-A: {env: A, file: b}}", "{env", "servers.gh.headers.X-A", "(both given)"),
        ("{X-A: {evn: A}}", "evn", "servers.gh.headers.X-A", 'did you mean "env"'),
        ("{X-A: {env: 7}}", "7}", "servers.gh.headers.X-A", "env must be a string"),
        ("{X-A: {env: ''}}", "''", "servers.gh.headers.X-A", "env must not be empty"),
        ("{X-A: {env: UNSET}}", "UNSET", "servers.gh.headers.X-A", '"UNSET" is not set'),
        ("{X-A: {env: EMPTY}}", "EMPTY", "servers.gh.headers.X-A", '"EMPTY" is empty'),
        ("{X-A: {env: NEWLINE}}", "NEWLINE", "servers.gh.headers.X-A", "contains a line break"),
        ("{X-A: {file: nowhere}}", "nowhere", "servers.gh.headers.X-A", "cannot read secret"),
        ("{X-A: {file: big}}", "big", "servers.gh.headers.X-A", "larger than 65536 bytes"),
        ("{X-A: {file: binary}}", "binary", "servers.gh.headers.X-A", "is not UTF-8 text"),
        ("{X-A: {file: blank}}", "blank", "servers.gh.headers.X-A", "is empty"),
        ("{X-A: {file: .}}", ".}", "servers.gh.headers.X-A", "cannot read secret"),
        ("[a]", "[a]", "servers.gh", "headers must be a mapping, got a list"),
    ],
)
def test_header_problems_are_located_and_never_show_the_secret(
    tmp_path: Path, headers: str, needle: str, path: str, fragment: str
) -> None:
    (tmp_path / "big").write_text("x" * (64 * 1024 + 1))
    (tmp_path / "binary").write_bytes(b"\xff\xfe" + SECRET.encode())
    (tmp_path / "blank").write_text("\n")
    environ = {"EMPTY": "", "NEWLINE": f"{SECRET}\r\nInjected: 1"}
    text = url_server(headers)
    line, column, found_path, message = only_error(tmp_path, text, environ)
    assert (line, column) == at(text, needle), (line, column, message)
    assert found_path == path and fragment in message, (found_path, message)
    assert SECRET not in message


def test_header_values_come_from_the_environment_and_files_with_a_prefix(
    tmp_path: Path,
) -> None:
    (tmp_path / "key").write_text(f"{SECRET}\n")
    headers = (
        "{Authorization: {env: TOKEN, prefix: 'Bearer '}, X-Api-Key: {file: key, prefix: k-}, "
        "Cookie: {env: COOKIE}}"
    )
    config = load(tmp_path, url_server(headers), {"TOKEN": "t0k", "COOKIE": "sid=1"})
    assert config.servers["gh"].headers == {
        "Authorization": "Bearer t0k",
        "X-Api-Key": f"k-{SECRET}",
        "Cookie": "sid=1",
    }
    assert config.warnings == ()  # nothing literal, https upstream


@pytest.mark.parametrize(
    ("env", "needle", "path", "fragment"),
    [
        ("{1A: x}", "1A", "servers.c.env", "must be letters, digits"),
        ("{A-B: x}", "A-B", "servers.c.env", "must be letters, digits"),
        ("{A: x, A: y}", "A: y", "servers.c.env", 'duplicate variable "A"'),
        ("{A: 8080}", "8080", "servers.c.env.A", "got an integer (quote it"),
        ("{A: true}", "true", "servers.c.env.A", "got a boolean (quote it"),
        ("{A: null}", "null", "servers.c.env.A", "got null"),
        ('{A: "a\\0b"}', '"a', "servers.c.env.A", "contains a NUL character"),
        ("{A: {env: MISSING}}", "MISSING", "servers.c.env.A", '"MISSING" is not set'),
        ("[A]", "[A]", "servers.c", "env must be a mapping, got a list"),
    ],
)
def test_child_environment_problems_are_located(
    tmp_path: Path, env: str, needle: str, path: str, fragment: str
) -> None:
    text = command_server(env)
    line, column, found_path, message = only_error(tmp_path, text, {})
    assert (line, column) == at(text, needle), (line, column, message)
    assert found_path == path and fragment in message, (found_path, message)


def test_child_environment_values_may_be_empty_literals_or_references(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("hunter2")
    config = load(
        tmp_path, command_server("{EMPTY: '', KEY: {env: K}, PW: {file: pw}}"), {"K": "v"}
    )
    assert config.servers["c"].env == {"EMPTY": "", "KEY": "v", "PW": "hunter2"}


def test_an_absolute_secret_file_path_is_used_as_is(tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere" / "token"
    secret.parent.mkdir()
    secret.write_text("abc")
    conf = tmp_path / "conf"
    conf.mkdir()
    config = load(conf, url_server(f"{{X-Token: {{file: '{secret}'}}}}"))
    assert config.servers["gh"].headers == {"X-Token": "abc"}
