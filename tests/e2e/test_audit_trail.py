"""The decision log end to end: `toolgate run` writes a chained log that `toolgate audit verify`
proves intact, across rotation and restarts, and that fails, naming the line, once tampered."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.e2e.support import WAIT, raw_client, stub_server, toolgate
from toolgate.audit.rotation import log_files

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

POLICY = """
version: "1"
default: allow
tools:
  echo:
    rules:
      - name: short messages
        conditions: [{path: args.message, op: len_lte, value: 5}]
"""


def audit(*args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"TOOLGATE_AUDIT_KEY": key} if key else {}
    return subprocess.run(
        [sys.executable, "-m", "toolgate", "audit", *args],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
        env={**_base_env(), **env},
    )


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "TOOLGATE_AUDIT_KEY"}


async def run_calls(command: list[str], messages: list[str], env: dict[str, str]) -> None:
    async with raw_client(command, env=env) as client:
        await client.initialize()
        for msg_id, message in enumerate(messages, start=1):
            arguments = {"message": message}
            await client.request(msg_id, "tools/call", {"name": "echo", "arguments": arguments})


async def test_a_run_writes_a_chain_that_verifies_and_breaks_where_it_is_tampered(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(POLICY)
    log = home / "audit.jsonl"
    rotate = ["--audit-max-bytes", "4096", "--audit-keep", "5"]
    command = toolgate(policy, stub_server(), home, *rotate)
    env = {"TOOLGATE_AUDIT_KEY": "e2e-key"}
    await run_calls(command, ["hi", "far too long", "ok"] * 4, env)
    await run_calls(command, ["hi", "again and again"] * 3, env)  # a restart resumes the chain
    files = log_files(home / "audit.jsonl")
    assert len(files) >= 2  # rotated by size
    ok = audit("verify", "--audit-log", str(log), key="e2e-key")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # 18 decisions, and startup, policy_load and shutdown for each of the two runs
    assert ok.stdout.strip().endswith(f"ok: 24 events in {len(files)} files, chain intact")
    assert audit("verify", "--audit-log", str(log)).returncode == 1  # without the key

    denied = audit("query", "--audit-log", str(log), "--denied", "--format", "json")
    assert len(orjson.loads(denied.stdout)) == 7

    lines = log.read_bytes().split(b"\n")
    # the first of two decision lines in a row (lifecycle events sit between the runs' calls)
    at = next(
        i for i in range(len(lines) - 1) if all(b'"type":"decision"' in x for x in lines[i : i + 2])
    )
    target = orjson.loads(lines[at])
    lines[at] = lines[at].replace(b'"session":"', b'"session":"x', 1)  # one edited field
    log.write_bytes(b"\n".join(lines))
    broken = audit("verify", "--audit-log", str(log), key="e2e-key")
    assert broken.returncode == 1
    second = orjson.loads(lines[at + 1])
    assert f"{log}:{at + 2}: link broken" in broken.stdout
    assert second["decision_id"] in broken.stdout
    assert target["decision_id"] != second["decision_id"]
