"""The durability rule under `kill -9`: every answer the client saw has its decision on disk.

docs/audit.md ("Durability rule") promises that a decision event is written (one `write(2)`,
not fsynced) before its answer reaches the client: a denial before toolgate answers, a
forwarded call when the upstream's response arrives and before it is relayed. So a killed
gateway loses no event for an answer the client received; what it loses is the event of every
call still in flight (no `no_response` line, no shutdown event). These tests drive a burst of
calls through a real `toolgate run` in front of the npm `everything` server with a raw stdio
client, kill the gateway process with SIGKILL mid-burst, and check the log against exactly the
responses the client read — then that `toolgate audit verify` still passes, how it reports a
torn last line, and that `toolgate status` shows the dead instance as stale.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from tests.e2e.support import WAIT, RawClient, all_audit_events, everything_server, raw_client
from tests.e2e.support import toolgate as toolgate_command
from toolgate.audit.event import hash_arguments
from toolgate.mcp.results import DECISION_META_KEY

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

POLICY = """
version: "1"
default: allow
tools:
  echo:
    rules:
      - name: short messages
        conditions: [{path: args.message, op: len_lte, value: 5}]
        on_deny: "messages of 5 characters at most"
"""

BURST = 60  # calls before and after the slow one
KILL_AFTER = 30  # responses read before the gateway is killed
RELAYED_BEFORE_KILL = 10  # of which relayed from the upstream
SLOW_ID = 1000
SLOW = {"name": "trigger-long-running-operation", "arguments": {"duration": 60, "steps": 1}}


def echo_call(index: int) -> dict[str, Any]:
    """Every call has its own arguments: even ones are allowed, odd ones denied (too long)."""
    message = f"m{index}" if index % 2 == 0 else f"too long {index}"
    return {"name": "echo", "arguments": {"message": message}}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "toolgate", *args],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "TOOLGATE_AUDIT_KEY"},
    )


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(part) for part in path.read_text().split()] if path.exists() else []


def relayed(into: dict[int, dict[str, Any]]) -> int:
    """How many of the responses came from the upstream (no toolgate decision in `_meta`)."""
    return sum(1 for m in into.values() if DECISION_META_KEY not in m["result"].get("_meta", {}))


async def read_responses(client: RawClient, into: dict[int, dict[str, Any]]) -> None:
    """Read lines until KILL_AFTER responses (any order), RELAYED_BEFORE_KILL of them relayed
    from the upstream, have arrived (denials come back first: toolgate answers them itself)."""
    while len(into) < KILL_AFTER or relayed(into) < RELAYED_BEFORE_KILL:
        message = orjson.loads(await client.read_line())
        if "method" not in message and isinstance(message.get("id"), int):
            into[message["id"]] = message


async def drain(client: RawClient, into: dict[int, dict[str, Any]]) -> None:
    """Everything the dead gateway had already written to the pipe: the client received it."""
    with anyio.fail_after(WAIT):
        while True:
            try:
                line = await client.read_line()
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
            message = orjson.loads(line)
            if "method" not in message and isinstance(message.get("id"), int):
                into[message["id"]] = message


async def burst_then_kill(home: Path, policy: Path) -> tuple[dict[int, dict[str, Any]], int]:
    """Send the burst, SIGKILL the gateway after KILL_AFTER responses; the responses the client
    received (ids to messages) and the gateway's pid."""
    received: dict[int, dict[str, Any]] = {}
    async with raw_client(toolgate_command(policy, everything_server(), home)) as client:
        await client.initialize()
        pid = client.process.pid  # `toolgate run` execs the gateway: the same process
        for index in range(1, BURST + 1):
            await client.send(request(index, echo_call(index)))
        await client.send(request(SLOW_ID, SLOW))  # stays in flight until the kill
        for index in range(BURST + 1, 2 * BURST + 1):
            await client.send(request(index, echo_call(index)))
        await read_responses(client, received)
        orphans = children(pid)
        os.kill(pid, signal.SIGKILL)
        await drain(client, received)
        with anyio.fail_after(WAIT):
            assert await client.process.wait() == -signal.SIGKILL
    for child in orphans:  # the upstream the gateway started: its stdin is gone, it ends
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
    return received, pid


def request(msg_id: int, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "method": "tools/call", "params": params}


def decisions(home: Path) -> list[dict[str, Any]]:
    return [e for e in all_audit_events(home) if e.get("type") == "decision"]


async def test_every_answer_the_client_saw_before_a_kill_9_has_its_decision_on_disk(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    received, _ = await burst_then_kill(home, write_policy(POLICY))
    assert len(received) >= KILL_AFTER
    assert SLOW_ID not in received  # killed mid-burst: one call at least was still in flight
    events = decisions(home)
    by_id = {e["decision_id"]: e for e in events}
    salt = (home / "state" / "audit-salt").read_bytes()
    by_hash = {e["args_hash"]: e for e in events}
    denied = allowed = 0
    for msg_id, message in received.items():
        result = message["result"]
        meta = (result.get("_meta") or {}).get(DECISION_META_KEY)
        if meta is not None:  # answered by toolgate: matched by the decision id it carries
            event = by_id.get(meta["id"])
            assert event is not None, f"call {msg_id} was denied but its event is missing"
            assert event["outcome"] == "denied"
            assert event["upstream"] == "not_sent"
            denied += 1
        else:  # relayed: matched by the salted hash of its (unique) arguments
            assert result.get("isError") is not True, message
            arguments = echo_call(msg_id)["arguments"]
            event = by_hash.get(hash_arguments(arguments, salt))
            assert event is not None, f"call {msg_id} was answered but its event is missing"
            assert (event["outcome"], event["upstream"]) == ("allowed", "ok")
            allowed += 1
        assert event["tool"] == "echo"
    assert denied > 0 and allowed > 0
    # What the rule does not cover: a call in flight at the kill leaves no line at all (no
    # `no_response`), and there is no shutdown event.
    slow_hash = hash_arguments(SLOW["arguments"], salt)
    assert slow_hash not in by_hash
    assert not [e for e in all_audit_events(home) if e.get("type") == "shutdown"]


async def test_a_log_cut_by_kill_9_verifies_and_a_torn_last_line_is_named_as_torn(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(POLICY)
    await burst_then_kill(home, policy)
    log = home / "audit.jsonl"
    verified = cli("audit", "verify", "--audit-log", str(log))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    complete = log.read_bytes().count(b"\n")
    assert f"ok: {complete} events in 1 files, chain intact" in verified.stdout

    with log.open("ab") as out:  # what a power loss mid-write could leave
        out.write(b'{"v":1,"type":"decision","ts":"2026-')
    torn = cli("audit", "verify", "--audit-log", str(log))
    assert f"{log}:{complete + 1}: torn last line" in torn.stdout
    assert "link broken" not in torn.stdout
    assert f"FAILED: 1 problems in {complete} events in 1 files" in torn.stdout

    # The next gateway ends the fragment and links past it; verify names the fragment only.
    async with raw_client(toolgate_command(policy, everything_server(), home)) as client:
        await client.initialize()
        await client.request(1, "tools/call", echo_call(2))
    resumed = cli("audit", "verify", "--audit-log", str(log))
    problems = [line for line in resumed.stdout.splitlines() if line.startswith(str(log))]
    assert problems == [f"{log}:{complete + 1}: not a JSON event (torn or corrupted line)"]


async def test_status_shows_a_killed_gateway_as_stale_and_prune_removes_its_file(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    _, pid = await burst_then_kill(home, write_policy(POLICY))
    state = home / "state"
    shown = cli("status", "--json", "--state-dir", str(state), "--audit-log", str(home / "a.jsonl"))
    assert shown.returncode == 0, shown.stderr
    instances = orjson.loads(shown.stdout)["instances"]
    assert [(i["pid"], i["state"]) for i in instances] == [(pid, "stale")]
    assert instances[0]["stale_reason"] == f"process {pid} is not running"
    pruned = cli("status", "--json", "--prune", "--state-dir", str(state))
    assert orjson.loads(pruned.stdout)["pruned"] == [instances[0]["file"]]
    assert not list((state / "instances").glob("*.json"))
