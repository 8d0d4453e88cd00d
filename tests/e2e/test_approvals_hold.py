"""Held calls and approval notices, with real processes: under `approval_mode: hold` the SDK
client's call waits while a person approves it with the CLI (or nobody does), and a policy with
`approvals.notify.webhook` posts signed notices to a receiver in this test — without ever
delaying a call when the receiver is gone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcp import Client, StdioServerParameters
from tests.e2e.approvals_support import (
    DENIED,
    SECRET,
    SECRET_ENV,
    approval_id_of,
    approval_policy,
    approve,
    changes,
    deny,
    now,
    pending_approval,
    result_of,
    show,
    tee_server,
    text_of,
    upstream_calls,
    webhook_receiver,
)
from tests.e2e.http_gateway import write_gateway
from tests.e2e.http_servers import free_port
from tests.e2e.support import WAIT, everything_server, raw_client, toolgate
from toolgate.approvals.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

MESSAGE = {"message": "deploy to production"}
PROGRESS_EVERY = 10.0  # seconds: toolgate.interceptors.approval_flow.PROGRESS_EVERY


def stdio(command: Sequence[str]) -> StdioServerParameters:
    return StdioServerParameters(command=command[0], args=list(command[1:]))


class HeldCall:
    """One SDK tools/call of `echo` that may be held; what it returned and the progress seen."""

    def __init__(self) -> None:
        self.result: dict[str, Any] | None = None
        self.progress: list[tuple[float, str | None]] = []
        self.first_progress = anyio.Event()
        self.seconds = 0.0

    async def run(self, command: Sequence[str]) -> None:
        async def progress(progress: float, total: float | None, message: str | None) -> None:
            self.progress.append((progress, message))
            self.first_progress.set()

        async with Client(stdio(command), mode="legacy", read_timeout_seconds=60) as client:
            started = time.monotonic()
            result = await client.call_tool("echo", MESSAGE, progress_callback=progress)
            self.seconds = time.monotonic() - started
        self.result = result.model_dump(mode="json", by_alias=True, exclude_none=True)


async def test_a_held_call_goes_on_as_soon_as_a_person_approves_it(
    home: Path, tmp_path: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(approval_policy("echo", rule_mode="hold", wait="30s"))
    log = tmp_path / "upstream.jsonl"
    call = HeldCall()
    with anyio.fail_after(2 * WAIT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call.run, toolgate(policy, tee_server(log, everything_server()), home))
            waiting = await pending_approval(home)
            assert (waiting["tool"], waiting["mode"], waiting["arguments"]) == (
                "echo",
                "hold",
                MESSAGE,
            )
            assert call.result is None and upstream_calls(log) == 0  # still held
            await approve(home, waiting["id"], "--by", "release-manager")
    assert call.result is not None
    assert call.result.get("isError") is not True
    assert call.result["content"][0]["text"] == "Echo: deploy to production"
    assert upstream_calls(log) == 1
    assert changes(home, waiting["id"]) == ["requested", "approved", "consumed"]
    assert (await show(home, waiting["id"]))["status"] == "consumed"
    if call.seconds < PROGRESS_EVERY:
        assert call.progress == [], "progress before the first interval passed"


async def test_a_held_call_a_person_denies_is_refused_with_the_reason(
    home: Path, tmp_path: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(approval_policy("echo", rule_mode="hold", wait="30s"))
    log = tmp_path / "upstream.jsonl"
    call = HeldCall()
    with anyio.fail_after(2 * WAIT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call.run, toolgate(policy, tee_server(log, everything_server()), home))
            waiting = await pending_approval(home)
            await deny(home, waiting["id"], "--reason", "change freeze")
    assert call.result is not None and call.result["isError"] is True
    text = call.result["content"][0]["text"]
    assert text.startswith(f"{DENIED} approval {waiting['id']} was denied")
    assert "change freeze" in text
    assert upstream_calls(log) == 0


async def test_a_held_call_nobody_answers_is_refused_when_the_wait_ends(
    home: Path, tmp_path: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(approval_policy("echo", rule_mode="hold", wait="2s"))
    log = tmp_path / "upstream.jsonl"
    call = HeldCall()
    with anyio.fail_after(WAIT):
        await call.run(toolgate(policy, tee_server(log, everything_server()), home))
    assert call.result is not None and call.result["isError"] is True
    text = call.result["content"][0]["text"]
    assert text.startswith(f"{DENIED} no human answered approval apr_")
    assert "within 2s" in text
    assert 1.5 <= call.seconds < 2 + WAIT / 2
    assert call.progress == []
    assert upstream_calls(log) == 0
    approval_id = text.split("approval ", 1)[1].split(" ", 1)[0]
    assert (await show(home, approval_id))["status"] == "pending"  # a retry can still use it
    assert changes(home, approval_id) == ["requested"]


async def test_a_long_held_call_reports_progress_while_it_waits(
    home: Path, tmp_path: Path, write_policy: Callable[[str], Path]
) -> None:
    """Slow by design: the first progress notification comes PROGRESS_EVERY seconds in."""
    policy = write_policy(approval_policy("echo", rule_mode="hold", wait="60s"))
    log = tmp_path / "upstream.jsonl"
    call = HeldCall()
    with anyio.fail_after(PROGRESS_EVERY + 2 * WAIT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call.run, toolgate(policy, tee_server(log, everything_server()), home))
            waiting = await pending_approval(home)
            with anyio.fail_after(PROGRESS_EVERY + WAIT):
                await call.first_progress.wait()
            await approve(home, waiting["id"])
    assert call.result is not None
    assert call.result["content"][0]["text"] == "Echo: deploy to production"
    assert call.progress[0][0] == 1
    assert call.progress[0][1] == f"waiting for a human to approve {waiting['id']}"
    assert len(call.progress) <= call.seconds // PROGRESS_EVERY + 1
    assert upstream_calls(log) == 1


# --- webhook notices -------------------------------------------------------------------------


def with_secret(secret: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV}
    if secret is not None:
        env[SECRET_ENV] = secret
    return env


async def test_approval_notices_are_posted_signed_when_asked_and_when_resolved(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    async with webhook_receiver() as (url, receiver):
        policy = write_policy(approval_policy("echo", mode="queue", webhook=url))
        command = toolgate(policy, everything_server(), home)
        async with raw_client(command, env=with_secret(SECRET)) as client:
            await client.initialize()
            call = {"name": "echo", "arguments": MESSAGE}
            approval_id = approval_id_of(result_of(await client.request(1, "tools/call", call)))
            asked = await receiver.wait_for("approval_requested")
            await approve(home, approval_id, "--reason", "looks fine", "--by", "carol")
            resolved = await receiver.wait_for("approval_resolved")
            done = result_of(await client.request(2, "tools/call", call))
            assert text_of(done) == "Echo: deploy to production"
    for delivery in (asked, resolved):
        stamp = delivery.headers[TIMESTAMP_HEADER.lower()]
        signature = delivery.headers[SIGNATURE_HEADER.lower()]
        assert verify_signature(SECRET.encode(), stamp, delivery.body, signature, now=now())
        assert not verify_signature(b"another secret", stamp, delivery.body, signature, now=now())
        tampered = delivery.body.replace(b"echo", b"ECHO")
        assert not verify_signature(SECRET.encode(), stamp, tampered, signature, now=now())
    assert asked.event["approval"]["id"] == resolved.event["approval"]["id"] == approval_id
    assert asked.event["approval"]["status"] == "pending"
    assert asked.event["approval"]["arguments"] == MESSAGE
    assert resolved.event["approval"]["status"] == "approved"
    assert (resolved.event["approval"]["resolved_by"], resolved.event["approval"]["reason"]) == (
        "carol",
        "looks fine",
    )
    assert len(receiver.of_kind("approval_requested")) == 1


async def answer_time(command: list[str], env: dict[str, str]) -> float:
    """Seconds from the call to its `[APPROVAL REQUIRED]` answer (after the handshake)."""
    async with raw_client(command, env=env) as client:
        await client.initialize()
        started = time.monotonic()
        call = {"name": "echo", "arguments": MESSAGE}
        approval_id_of(result_of(await client.request(1, "tools/call", call)))
        return time.monotonic() - started


async def test_a_dead_webhook_does_not_delay_the_answer(
    tmp_path: Path, write_policy: Callable[..., Path]
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hooks"  # nothing listens there
    quiet_home, dead_home = tmp_path / "quiet", tmp_path / "dead"
    quiet_home.mkdir()
    dead_home.mkdir()
    quiet = write_policy(approval_policy("echo", mode="queue"), "quiet.yaml")
    hooked = write_policy(approval_policy("echo", mode="queue", webhook=dead), "hooked.yaml")
    env = with_secret(SECRET)
    baseline = await answer_time(toolgate(quiet, everything_server(), quiet_home), env)
    with anyio.fail_after(WAIT):
        delayed = await answer_time(toolgate(hooked, everything_server(), dead_home), env)
    assert delayed < baseline + 3.0, (baseline, delayed)


def start_refused(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
        stdin=subprocess.DEVNULL,
        check=False,
    )


async def test_a_webhook_without_its_secret_in_the_environment_refuses_to_start(
    home: Path, tmp_path: Path, write_policy: Callable[[str], Path]
) -> None:
    hook = "http://127.0.0.1:9/hooks"
    policy = write_policy(approval_policy("echo", webhook=hook, secret_env="APPROVAL_HOOK_KEY"))
    env = with_secret(None) | {"TOOLGATE_HOME": str(home)}
    env.pop("APPROVAL_HOOK_KEY", None)
    ran = start_refused(toolgate(policy, everything_server(), home), env)
    assert ran.returncode != 0
    assert "APPROVAL_HOOK_KEY" in ran.stderr and "Traceback" not in ran.stderr
    config = write_gateway(
        tmp_path, {"everything": {"command": everything_server(), "policy": policy.read_text()}}
    )
    served = start_refused([sys.executable, "-m", "toolgate", "serve", "-c", str(config)], env)
    assert served.returncode != 0
    assert "APPROVAL_HOOK_KEY" in served.stderr and "Traceback" not in served.stderr


@pytest.mark.parametrize(
    ("webhook", "secret_env", "complaint"),
    [
        ("ftp://example.com/hook", None, "http:// or https://"),
        ("http://127.0.0.1:9/hook", "1-not-a-name", "secret_env"),
    ],
)
async def test_a_garbage_webhook_setting_is_refused_naming_it(
    webhook: str,
    secret_env: str | None,
    complaint: str,
    home: Path,
    write_policy: Callable[[str], Path],
) -> None:
    policy = write_policy(approval_policy("echo", webhook=webhook, secret_env=secret_env))
    ran = start_refused(toolgate(policy, everything_server(), home), with_secret(SECRET))
    assert ran.returncode != 0
    assert complaint in ran.stderr and "Traceback" not in ran.stderr
