"""`toolgate explain` as a process: decision and trace, counters read from a real store."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import anyio
import orjson
import pytest
from tests.e2e.support import raw_client, stub_server, toolgate

POLICY = """
version: "1"
tools:
  echo:
    rules:
      - name: short messages
        conditions: [{path: args.message, op: len_lte, value: 20}]
      - name: daily
        rate_limit: 5/day
"""


def _explain(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "toolgate", "explain", *args]
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, check=False)


async def _two_calls_through_the_gateway(policy: Path, home: Path) -> None:
    async with raw_client(toolgate(policy, stub_server(), home)) as client:
        await client.initialize()
        for msg_id in (1, 2):
            answer = await client.request(
                msg_id, "tools/call", {"name": "echo", "arguments": {"message": "hi"}}
            )
            assert "isError" not in answer["result"] or not answer["result"]["isError"]


def _digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.mark.e2e
def test_explain_reads_the_counter_a_gateway_wrote_and_leaves_the_store_unchanged(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    anyio.run(_two_calls_through_the_gateway, policy, home)
    state = home / "state"
    before = _digest(state)
    base = ["-c", str(policy), "--tool", "echo", "--args", '{"message": "hello"}']
    base += ["--state-dir", str(state)]
    result = _explain(*base, "--json", "--", *stub_server())
    assert result.returncode == 0, result.stderr
    data = orjson.loads(result.stdout)
    assert data["decision"]["effect"] == "allow"
    charge = data["decision"]["charges"][0]
    assert (charge["counter"]["name"], charge["current"], charge["amount"]) == (
        "_rate_day",
        "2",
        "1",
    )
    rules = data["trace"]["rules"]
    assert [r["rule_id"] for r in rules] == ["tools.echo.rules[0]", "tools.echo.rules[1]"]
    assert rules[0]["conditions"][0]["reads"] == [
        {"source": "args", "path": "args.message", "value": "hello"}
    ]
    table = _explain(*base, "--", *stub_server())
    assert table.returncode == 0, table.stderr
    assert "decision: ALLOW" in table.stdout and "_rate_day +1 (now 2" in table.stdout
    assert "args.message len_lte 20" in table.stdout
    assert _digest(state) == before


def test_explain_prints_a_denial_with_its_rule_and_message_as_a_tree(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    result = _explain(
        "-c", str(policy), "--tool", "echo", "--args", '{"message": "' + "x" * 30 + '"}'
    )
    assert result.returncode == 0, result.stderr
    assert "decision: DENY (condition_failed)" in result.stdout
    assert 'rule: tools.echo.rules[0] "short messages"' in result.stdout
    assert "✗ args.message len_lte 20" in result.stdout


def test_explain_without_a_store_file_reads_zero_and_creates_nothing(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    state = tmp_path / "state"
    args = ["-c", str(policy), "--tool", "echo", "--args", '{"message": "a"}']
    args += ["--state-dir", str(state), "--namespace", "n"]
    result = _explain(*args, "--json")
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout)["decision"]["charges"][0]["current"] == "0"
    assert not state.exists() and "counters read as 0" in result.stderr


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--args", "{not json"], "--args is not valid JSON"),
        (["--args", "[1, 2]"], "--args must be a JSON object"),
        (["--counter-store", "ftp://x"], "unknown scheme"),
        (["--at", "yesterday"], "--at must be an ISO 8601 time"),
    ],
)
def test_explain_refuses_garbage_input_with_one_line_and_exit_2(
    tmp_path: Path, extra: list[str], expected: str
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    result = _explain("-c", str(policy), "--tool", "echo", *extra)
    assert result.returncode == 2
    assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_explain_refuses_a_missing_policy_with_exit_2(tmp_path: Path) -> None:
    result = _explain("-c", str(tmp_path / "nope.yaml"), "--tool", "echo")
    assert result.returncode == 2 and "cannot read policy file" in result.stderr
