"""Shared pieces of the approval end-to-end tests: policies that hold a call for a human, the
real `toolgate approvals` CLI as a subprocess, a stdio tee that counts what reaches the upstream,
bounded polling, a webhook receiver, and readers for results and approval audit events.

    command = toolgate(policy, tee_server(log, everything_server()), home)
    ...
    await approve(home, approval_id, "--reason", "checked")
    assert upstream_calls(log) == 1

Run as a script (`python tests/e2e/approvals_support.py LOG -- CMD ARGS...`) it is the tee
itself: it starts CMD, passes its stdin to CMD line by line while appending every line to LOG,
and lets CMD write straight to its own stdout.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import orjson

if __package__:
    from tests.e2e.support import WAIT, all_audit_events
else:  # run as the tee: only the script part below is used
    WAIT = 20.0

APPROVAL_META = "dev.toolgate/approval"
APPROVAL_REQUIRED = "[APPROVAL REQUIRED]"
DENIED = "[POLICY DENIED]"
POLL = 0.05  # seconds between two looks at a condition (always bounded by a deadline)
SECRET_ENV = "TOOLGATE_WEBHOOK_SECRET"
SECRET = "e2e-webhook-secret-0123456789abcdef"
MODERN_ELICITING_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
}
ACCEPT = {"dev.toolgate/approval": {"action": "accept", "content": {"approve": True}}}


# --- policies --------------------------------------------------------------------------------


def approval_policy(
    tool: str,
    *,
    mode: str | None = None,
    rule_mode: str | None = None,
    timeout: str | None = None,
    wait: str | None = None,
    dedupe: str | None = None,
    webhook: str | None = None,
    secret_env: str | None = None,
) -> str:
    """A policy whose one rule makes every call of `tool` need a human's approval.

    `mode`, `wait`, `dedupe` and `webhook` fill the `approvals:` block; `rule_mode` and
    `timeout` are the rule's `approval_mode` and `approval_timeout`."""
    rule = '{name: human, action: require_approval, on_deny: "a human must agree"'
    if rule_mode is not None:
        rule += f", approval_mode: {rule_mode}"
    if timeout is not None:
        rule += f", approval_timeout: {timeout}"
    rule += "}"
    lines = ['version: "1"']
    block = [
        f"  {key}: {value}"
        for key, value in (("mode", mode), ("wait", wait), ("dedupe_window", dedupe))
        if value is not None
    ]
    if webhook is not None:
        block += ["  notify:", "    webhook:", f'      url: "{webhook}"']
        if secret_env is not None:
            block.append(f"      secret_env: {secret_env}")
    if block:
        lines += ["approvals:", *block]
    lines += ["tools:", f"  {tool}:", "    rules:", f"      - {rule}"]
    return "\n".join(lines) + "\n"


# --- what reached the upstream ---------------------------------------------------------------


def tee_server(log: Path, server: Sequence[str]) -> list[str]:
    """`server`'s command wrapped so every line its stdin receives is also appended to `log`."""
    return [sys.executable, str(Path(__file__).resolve()), str(log), "--", *server]


def upstream_calls(log: Path, tool: str | None = None) -> int:
    """How many tools/call requests (of `tool`, when given) the tee'd upstream received."""
    if not log.exists():
        return 0
    count = 0
    for line in log.read_bytes().splitlines():
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(message, dict) or message.get("method") != "tools/call":
            continue
        params = message.get("params")
        if tool is None or (isinstance(params, dict) and params.get("name") == tool):
            count += 1
    return count


# --- the real CLI ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CliRun:
    status: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return orjson.loads(self.stdout)


async def approvals_cli(home: Path, *args: str) -> CliRun:
    """`python -m toolgate approvals ARGS --state-dir HOME/state` (the directory both `run`, as
    these tests start it, and `serve`, with TOOLGATE_HOME=HOME, keep approvals in)."""
    command = [sys.executable, "-m", "toolgate", "approvals", *args]
    command += ["--state-dir", str(home / "state")]
    with anyio.fail_after(WAIT):
        done = await anyio.run_process(command, check=False)
    return CliRun(done.returncode, done.stdout.decode(), done.stderr.decode())


async def approve(home: Path, approval_id: str, *extra: str) -> CliRun:
    done = await approvals_cli(home, "approve", approval_id, *extra)
    assert done.status == 0, f"approve {approval_id} failed: {done.stderr}"
    return done


async def deny(home: Path, approval_id: str, *extra: str) -> CliRun:
    done = await approvals_cli(home, "deny", approval_id, *extra)
    assert done.status == 0, f"deny {approval_id} failed: {done.stderr}"
    return done


async def show(home: Path, approval_id: str) -> dict[str, Any]:
    done = await approvals_cli(home, "show", approval_id, "--json")
    assert done.status == 0, f"show {approval_id} failed: {done.stderr}"
    shown: dict[str, Any] = done.json()
    return shown


async def listed(home: Path, status: str = "pending") -> list[dict[str, Any]]:
    """`toolgate approvals list --status STATUS --json`: [] while there is no approvals file."""
    done = await approvals_cli(home, "list", "--status", status, "--json")
    assert done.status == 0, f"list failed: {done.stderr}"
    approvals: list[dict[str, Any]] = done.json()["approvals"]
    return approvals


# --- bounded waiting -------------------------------------------------------------------------


async def wait_until(
    check: Callable[[], Awaitable[Any]], what: str, seconds: float | None = None
) -> Any:
    """Poll `check` until it returns something truthy (returned), failing after `seconds`
    (default WAIT) with `what` in the message."""
    limit = WAIT if seconds is None else seconds
    try:
        with anyio.fail_after(limit):
            while True:
                found = await check()
                if found:
                    return found
                await anyio.sleep(POLL)  # polling a condition, bounded by fail_after
    except TimeoutError:
        raise AssertionError(f"waited {limit} s for {what}") from None


async def pending_approval(home: Path) -> dict[str, Any]:
    """The one pending approval, once `toolgate approvals list --json` shows it."""

    async def one() -> dict[str, Any] | None:
        found = await listed(home)
        return found[0] if len(found) == 1 else None

    found: dict[str, Any] = await wait_until(one, "a pending approval in `approvals list`")
    return found


# --- reading results and audit events --------------------------------------------------------


def result_of(response: Mapping[str, Any]) -> dict[str, Any]:
    result = response.get("result")
    assert isinstance(result, dict), f"not a result: {response}"
    return result


def text_of(result: Mapping[str, Any]) -> str:
    content = result.get("content")
    assert isinstance(content, list) and content, f"no content: {result}"
    text = content[0].get("text")
    assert isinstance(text, str), f"no text block: {result}"
    return text


def approval_id_of(result: Mapping[str, Any]) -> str:
    """The id in `_meta["dev.toolgate/approval"]` of an `[APPROVAL REQUIRED]` answer."""
    assert text_of(result).startswith(APPROVAL_REQUIRED), result
    meta = result.get("_meta")
    assert isinstance(meta, dict) and APPROVAL_META in meta, f"no approval meta: {result}"
    approval_id = meta[APPROVAL_META]["id"]
    assert isinstance(approval_id, str) and approval_id.startswith("apr_"), meta
    assert approval_id in text_of(result)
    return approval_id


def approval_events(home: Path) -> list[dict[str, Any]]:
    """The approval events of the audit log of `run` (HOME/audit.jsonl, as `toolgate(...)`
    sets it) or else of `serve` (its default, HOME/audit/decisions.jsonl)."""
    served = home / "audit" / "decisions.jsonl"
    if not (home / "audit.jsonl").exists() and served.exists():
        lines = served.read_bytes().splitlines()
        events = [orjson.loads(line) for line in lines if line.strip()]
    else:
        events = all_audit_events(home)
    return [e for e in events if e.get("type") == "approval"]


def changes(home: Path, approval_id: str | None = None) -> list[str]:
    """The `change` of each approval event (of `approval_id`, when given), in log order."""
    return [
        e["change"]
        for e in approval_events(home)
        if approval_id is None or e["approval_id"] == approval_id
    ]


def schema_problems(event: Mapping[str, Any], *, chained: bool = True) -> list[str]:
    """How `event` breaks the published v1 schema; with `chained=False` its hash-chain link
    (`prev`) is left out first (see test_approval_events_as_written_conform_to_the_schema)."""
    from tests.audit.test_event_kinds import schema_errors  # noqa: PLC0415 - jsonschema, lazily

    checked = dict(event) if chained else {k: v for k, v in event.items() if k != "prev"}
    return schema_errors(checked)


def assert_conforming(home: Path) -> list[dict[str, Any]]:
    """Every approval event in the audit log, each checked against the published v1 schema
    (all but its hash-chain link, which the schema's approval definition lacks)."""
    events = approval_events(home)
    for event in events:
        assert schema_problems(event, chained=False) == [], event
    return events


async def wait_for_change(home: Path, approval_id: str, change: str) -> None:
    async def logged() -> bool:
        return change in changes(home, approval_id)

    await wait_until(logged, f"a {change!r} audit event for {approval_id}")


# --- a webhook receiver ----------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        decoded: dict[str, Any] = orjson.loads(self.body)
        return decoded


@dataclass
class Receiver:
    """An ASGI app that answers 204 to every POST and keeps what it got."""

    deliveries: list[Delivery] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.deliveries.append(Delivery(headers, body))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def of_kind(self, kind: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.event.get("event") == kind]

    async def wait_for(self, kind: str) -> Delivery:
        async def arrived() -> Delivery | None:
            found = self.of_kind(kind)
            return found[0] if found else None

        delivery: Delivery = await wait_until(arrived, f"a {kind} webhook delivery")
        return delivery


@asynccontextmanager
async def webhook_receiver() -> AsyncIterator[tuple[str, Receiver]]:
    """A receiver on a free loopback port; yields its URL and what it has received."""
    from tests.e2e.http_servers import asgi_server  # noqa: PLC0415 - uvicorn only when needed

    receiver = Receiver()
    async with asgi_server(receiver) as base:
        yield f"{base}/hooks/toolgate", receiver


def now() -> float:
    return time.time()


# --- the tee, when run as a script -----------------------------------------------------------


def _tee(log: Path, command: list[str]) -> int:
    child = subprocess.Popen(command, stdin=subprocess.PIPE)
    assert child.stdin is not None
    with log.open("ab", buffering=0) as sink:
        for line in sys.stdin.buffer:
            sink.write(line if line.endswith(b"\n") else line + b"\n")
            try:
                child.stdin.write(line)
                child.stdin.flush()
            except BrokenPipeError:
                break
    with suppress(BrokenPipeError):
        child.stdin.close()
    return child.wait()


if __name__ == "__main__":
    separator = sys.argv.index("--")
    sys.exit(_tee(Path(sys.argv[1]), sys.argv[separator + 1 :]))
