"""Garbage gateway files get one clear located error, never a traceback; a file with many
problems gets all of them at once, the policies' own errors included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.app.test_gateway_config_support import POLICY, write_policy

from toolgate.app.gateway_config import GatewayConfigError
from toolgate.app.gateway_config_load import load_gateway_config


def document_error(path: Path) -> tuple[int, int, str]:
    with pytest.raises(GatewayConfigError) as caught:
        load_gateway_config(path, {})
    (error,) = caught.value.errors
    assert error.path == "(document)" and error.location.file == str(path)
    return error.location.line, error.location.column, error.message


@pytest.mark.parametrize(
    ("name", "content", "line", "column", "fragment"),
    [
        ("g.yaml", b"servers:\n  \xff\xfe\x00junk", 2, 3, "not UTF-8 text (invalid byte 0xff)"),
        ("g.yaml", b"servers:\n  a\x00b: 1\n", 2, 4, "contains a NUL character"),
        ("g.yaml", b"", 1, 1, "the gateway file is empty"),
        ("g.yaml", b"# only a comment\n\n", 1, 1, "the gateway file is empty"),
        ("g.yaml", b"~\n", 1, 1, "the gateway file is empty"),
        (
            "g.yaml",
            b"- listen: x\n- servers: {}\n",
            1,
            1,
            "must be a mapping of settings, got a list",
        ),
        ("g.yaml", b"hello\n", 1, 1, "must be a mapping of settings, got a string"),
        ("g.yaml", b"servers:\n\t- a\n", 2, 1, "tabs cannot be used for indentation"),
        ("g.yaml", b"servers: {a: [}\n", 1, 15, "YAML syntax error"),
        ("g.yaml", b"a: 1\n---\nb: 2\n", 2, 1, "a gateway file must hold a single YAML document"),
        ("g.yaml", b"a: !custom x\n", 1, 4, 'unsupported YAML tag "!custom"'),
        ("g.yaml", b"a: " + b"[" * 100 + b"]" * 100 + b"\n", 1, 67, "nesting deeper than 64"),
        ("g.json", b'{"servers": {}', 1, 15, "JSON syntax error"),
        ("g.json", b'{"servers": {}} x', 1, 17, "unexpected data after the JSON value"),
        ("g.json", b"null", 1, 1, "the gateway file is empty"),
        ("g.json", b"[1, 2]", 1, 1, "got a list"),
        ("g.toml", b"listen = 1", 1, 1, 'unsupported gateway file type ".toml"'),
        ("gateway", b"listen: x", 1, 1, 'unsupported gateway file type "gateway"'),
    ],
)
def test_garbage_files_get_one_located_error(
    tmp_path: Path, name: str, content: bytes, line: int, column: int, fragment: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    found = document_error(path)
    assert found[:2] == (line, column) and fragment in found[2], found


def test_a_ten_megabyte_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"# " + b"x" * (10 * 1024 * 1024) + b"\n")
    assert document_error(path) == (1, 1, "the file is larger than 1048576 bytes")


def test_alias_expansion_beyond_the_node_limit_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert "document too large" in document_error(path)[2]


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_an_unreadable_gateway_file_is_a_located_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "gw.yaml"
    if kind == "directory":
        path.mkdir()
    line, column, message = document_error(path)
    assert (line, column) == (1, 1) and message.startswith("cannot read the gateway file")


def test_a_byte_order_mark_is_not_content(tmp_path: Path) -> None:
    write_policy(tmp_path)
    path = tmp_path / "gw.yaml"
    path.write_bytes(b"\xef\xbb\xbfservers:\n  s: {command: a, policy: policy.yaml}\n")
    assert list(load_gateway_config(path, {}).servers) == ["s"]


MANY = """\
listen: 127.0.0.1:http
log_level: loud
state: {fail_mode: maybe}
audit: {sinks: [stdout]}
http: {max_sessions: 0}
servers:
  ok: {command: a, policy: good.yaml}
  broken: {command: b, policy: bad.yaml}
  also_broken: {url: 'https://h/mcp', policy: bad.yaml, headers: {X-K: {env: NOPE}}}
  Bad: {command: c, policy: good.yaml}
"""


def test_every_error_of_a_file_is_reported_at_once_policies_last(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(POLICY)
    (tmp_path / "bad.yaml").write_text("version: '1'\ntools:\n  t:\n    rules: [{name: x}]\n")
    gateway = tmp_path / "gw.yaml"
    gateway.write_text(MANY)
    with pytest.raises(GatewayConfigError) as caught:
        load_gateway_config(gateway, {})
    found = [(e.location.file, e.location.line, e.path) for e in caught.value.errors]
    gw, bad = str(gateway), str(tmp_path / "bad.yaml")
    assert found[:9] == [
        (gw, 1, "listen"),
        (gw, 2, "(root)"),
        (gw, 3, "state"),
        (gw, 4, "audit.sinks"),
        (gw, 5, "http"),
        (gw, 8, "servers.broken.policy"),
        (gw, 9, "servers.also_broken.policy"),  # written before the header
        (gw, 9, "servers.also_broken.headers.X-K"),
        (gw, 10, "servers"),
    ]
    policy_errors = found[9:]
    assert policy_errors and all(file == bad for file, _, _ in policy_errors)
    # the shared bad policy is loaded and reported once
    assert len(policy_errors) == len({(f, line, p) for f, line, p in policy_errors})
    rendered = str(caught.value).splitlines()
    assert len(rendered) == len(found)
    assert rendered[0].startswith(f"{gw}:1:9: listen: ")
    assert "is invalid" in caught.value.errors[5].message


def test_the_policy_loaders_errors_point_into_the_policy_file(tmp_path: Path) -> None:
    policy = tmp_path / "p.json"
    policy.write_text(json.dumps({"version": "1", "tools": {"t": {"rules": "nope"}}}))
    gateway = tmp_path / "gw.yaml"
    gateway.write_text("servers:\n  s: {command: a, policy: p.json}\n")
    with pytest.raises(GatewayConfigError) as caught:
        load_gateway_config(gateway, {})
    first, *rest = caught.value.errors
    assert (first.location.line, first.location.column) == (2, 27)
    assert first.message.endswith(f"({len(rest)} error{'s' * (len(rest) != 1)} below)")
    assert rest and rest[0].location.file == str(policy) and rest[0].path.startswith("tools.t")


SMALL = """\
listen: 127.0.0.1:8080
auth: {grants: false}
servers:
  s: {url: 'https://h/mcp', headers: {X-A: {env: A}}, policy: good.yaml}
aggregate: {servers: [s]}
"""


@pytest.mark.parametrize("replacement", ["", ":", "[", "\t", "'", "\x00", "é", "{"])
def test_every_single_character_mutation_loads_or_fails_with_located_errors(
    tmp_path: Path, replacement: str
) -> None:
    (tmp_path / "good.yaml").write_text(POLICY)
    gateway = tmp_path / "gw.yaml"
    outcomes = {"loaded": 0, "refused": 0}
    for index in range(len(SMALL)):
        gateway.write_text(SMALL[:index] + replacement + SMALL[index + 1 :])
        try:
            load_gateway_config(gateway, {"A": "x"})
        except GatewayConfigError as exc:
            assert exc.errors and all(e.location.line >= 1 for e in exc.errors)
            outcomes["refused"] += 1
        else:
            outcomes["loaded"] += 1
    assert outcomes["refused"] > 0
