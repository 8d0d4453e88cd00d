"""Queued approval over stdio: a client that cannot ask its user gets `[APPROVAL REQUIRED]`, a
person decides with the real `toolgate approvals` CLI, and the agent's retry of the same call
reaches the upstream (the npm everything server behind a counting tee) once — across a restart
of the gateway too. Denial, expiry, changed arguments and a second session are covered."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.approvals_support import (
    DENIED,
    approval_events,
    approval_id_of,
    approval_policy,
    approvals_cli,
    approve,
    assert_conforming,
    changes,
    deny,
    result_of,
    schema_problems,
    show,
    tee_server,
    text_of,
    upstream_calls,
    wait_for_change,
    wait_until,
)
from tests.e2e.support import RawClient, everything_server, raw_client, toolgate

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

MESSAGE = {"message": "wire 250 to acme"}


async def echo(
    client: RawClient, msg_id: int, arguments: dict[str, Any] = MESSAGE
) -> dict[str, Any]:
    call = {"name": "echo", "arguments": arguments}
    return result_of(await client.request(msg_id, "tools/call", call))


def gated(policy: Path, home: Path, log: Path) -> list[str]:
    return toolgate(policy, tee_server(log, everything_server()), home)


async def test_an_approved_call_is_forwarded_once_and_the_next_one_needs_a_new_approval(
    home: Path, tmp_path: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(approval_policy("echo", mode="queue"))
    log = tmp_path / "upstream.jsonl"
    async with raw_client(gated(policy, home, log)) as client:
        await client.initialize({"elicitation": {}})  # queue mode: the capability is not used
        asked = await echo(client, 1)
        first = approval_id_of(asked)
        assert asked["isError"] is True
        assert "was requested" in text_of(asked)
        assert f"toolgate approvals approve {first}" in text_of(asked)
        assert asked["_meta"]["dev.toolgate/approval"]["status"] == "pending"
        assert client.server_requests == []  # no elicitation in queue mode

        early = await echo(client, 2)
        assert approval_id_of(early) == first and "is still pending" in text_of(early)
        assert upstream_calls(log) == 0

        shown = await show(home, first)
        assert (shown["status"], shown["tool"], shown["mode"]) == ("pending", "echo", "queue")
        assert shown["arguments"] == MESSAGE
        approved = await approve(home, first, "--reason", "invoice 7 checked", "--by", "alice")
        assert f"approved {first} (tool echo) as alice: invoice 7 checked" in approved.stdout

        done = await echo(client, 3)
        assert done.get("isError") is not True
        assert text_of(done) == "Echo: wire 250 to acme"
        assert upstream_calls(log) == 1

        again = await echo(client, 4)
        second = approval_id_of(again)
        assert second != first and "was requested" in text_of(again)
        assert upstream_calls(log) == 1
    assert (await show(home, first))["status"] == "consumed"
    assert changes(home, first) == ["requested", "approved", "consumed"]
    assert changes(home, second) == ["requested"]
    approved_event = next(e for e in assert_conforming(home) if e["change"] == "approved")
    assert (approved_event["by"], approved_event["reason"]) == ("alice", "invoice 7 checked")


async def test_a_denied_call_is_refused_with_who_denied_it_and_why(
    home: Path, tmp_path: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(approval_policy("echo", mode="queue"))
    log = tmp_path / "upstream.jsonl"
    async with raw_client(gated(policy, home, log)) as client:
        await client.initialize()
        approval_id = approval_id_of(await echo(client, 1))
        await deny(home, approval_id, "--reason", "unknown payee", "--by", "ops-oncall")
        refused = await echo(client, 2)
        assert refused["isError"] is True
        text = text_of(refused)
        assert text.startswith(f"{DENIED} approval {approval_id} was denied by ops-oncall")
        assert "unknown payee" in text
        assert text_of(await echo(client, 3)).startswith(f"{DENIED} approval {approval_id}")
    assert upstream_calls(log) == 0
    assert changes(home, approval_id) == ["requested", "denied"]
    assert_conforming(home)
    late = await approvals_cli(home, "approve", approval_id)
    assert late.status == 1 and "it is denied, not pending" in late.stderr


async def test_an_unanswered_approval_expires_and_a_retry_asks_again(
    home: Path, tmp_path: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(approval_policy("echo", mode="queue", timeout="2s"))
    log = tmp_path / "upstream.jsonl"
    async with raw_client(gated(policy, home, log)) as client:
        await client.initialize()
        approval_id = approval_id_of(await echo(client, 1))

        async def expired() -> bool:
            return bool((await show(home, approval_id))["status"] == "expired")

        await wait_until(expired, f"{approval_id} to expire")
        await wait_for_change(home, approval_id, "expired")  # the gateway noticed it lapse
        late = await approvals_cli(home, "approve", approval_id)
        assert late.status == 1 and "it is expired, not pending" in late.stderr

        retry = await echo(client, 2)
        assert approval_id_of(retry) != approval_id
    assert upstream_calls(log) == 0
    assert changes(home, approval_id) == ["requested", "expired"]
    assert_conforming(home)


async def test_an_approval_does_not_cover_the_same_tool_with_other_arguments(
    home: Path, tmp_path: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(approval_policy("echo", mode="queue"))
    log = tmp_path / "upstream.jsonl"
    other = {"message": "wire 9999 to mallory"}
    async with raw_client(gated(policy, home, log)) as client:
        await client.initialize()
        approval_id = approval_id_of(await echo(client, 1))
        await approve(home, approval_id)
        changed = await echo(client, 2, other)
        assert approval_id_of(changed) != approval_id
        assert upstream_calls(log) == 0
        assert text_of(await echo(client, 3)) == "Echo: wire 250 to acme"
    assert upstream_calls(log) == 1
    assert upstream_calls(log, "echo") == 1


async def test_a_client_without_elicitation_under_inline_mode_is_queued(
    home: Path, tmp_path: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(approval_policy("echo", mode="inline"))
    log = tmp_path / "upstream.jsonl"
    async with raw_client(gated(policy, home, log)) as client:
        await client.initialize()  # no elicitation capability
        approval_id = approval_id_of(await echo(client, 1))
        assert client.server_requests == []
        assert (await show(home, approval_id))["mode"] == "queue"
        await approve(home, approval_id)
        assert text_of(await echo(client, 2)) == "Echo: wire 250 to acme"
    assert upstream_calls(log) == 1
    assert changes(home, approval_id) == ["requested", "approved", "consumed"]


async def test_an_identical_call_from_another_session_shares_the_pending_approval(
    home: Path, tmp_path: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(approval_policy("echo", mode="queue", dedupe="10m"))
    log = tmp_path / "upstream.jsonl"
    async with raw_client(gated(policy, home, log)) as first:
        await first.initialize()
        approval_id = approval_id_of(await echo(first, 1))
        async with raw_client(gated(policy, home, log)) as second:
            await second.initialize()
            shared = await echo(second, 1)
            assert approval_id_of(shared) == approval_id
            assert "is still pending" in text_of(shared)
            different = approval_id_of(await echo(second, 2, {"message": "other"}))
            assert different != approval_id
    pending = {a["id"] for a in (await approvals_cli(home, "list", "--json")).json()["approvals"]}
    assert pending == {approval_id, different}


async def test_an_approval_made_while_the_gateway_was_stopped_is_honoured_after_a_restart(
    home: Path, tmp_path: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(approval_policy("echo", mode="queue"))
    log = tmp_path / "upstream.jsonl"
    async with raw_client(gated(policy, home, log)) as client:
        await client.initialize()
        approval_id = approval_id_of(await echo(client, 1))
        assert await client.close() == 0
    await approve(home, approval_id, "--by", "night-shift")
    async with raw_client(gated(policy, home, log)) as client:
        await client.initialize()
        done = await echo(client, 1)
        assert text_of(done) == "Echo: wire 250 to acme"
        assert approval_id_of(await echo(client, 2)) != approval_id
    assert upstream_calls(log) == 1
    assert changes(home, approval_id) == ["requested", "approved", "consumed"]
    assert_conforming(home)


async def run_every_change(policy: Path, home: Path, log: Path) -> None:
    """requested, approved, consumed (one call); requested, denied (another); requested,
    expired (a third, with a 2 s approval_timeout)."""
    async with raw_client(gated(policy, home, log)) as client:
        await client.initialize()
        approved = approval_id_of(await echo(client, 1))
        await approve(home, approved)
        assert text_of(await echo(client, 2)) == "Echo: wire 250 to acme"
        denied = approval_id_of(await echo(client, 3, {"message": "no"}))
        await deny(home, denied, "--reason", "no")
        assert text_of(await echo(client, 4, {"message": "no"})).startswith(DENIED)
        lapsing = approval_id_of(await echo(client, 5, {"message": "later"}))
        await wait_for_change(home, lapsing, "expired")
    assert changes(home, approved) == ["requested", "approved", "consumed"]
    # a denial lapses too (after its 2 s): the gateway may log that as well by now
    assert changes(home, denied) in (["requested", "denied"], ["requested", "denied", "expired"])
    assert changes(home, lapsing) == ["requested", "expired"]


async def test_every_approval_change_is_an_approval_event_of_the_published_shape(
    home: Path, tmp_path: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(approval_policy("echo", mode="queue", timeout="2s"))
    await run_every_change(policy, home, tmp_path / "upstream.jsonl")
    events = assert_conforming(home)
    assert {e["change"] for e in events} == {
        "requested",
        "approved",
        "denied",
        "consumed",
        "expired",
    }
    assert all(e["tool"] == "echo" and e["mode"] == "queue" for e in events)
    assert all(e["rule"] == "tools.echo.rules[0]" for e in events)


async def test_approval_events_as_written_conform_to_the_schema(
    home: Path, tmp_path: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(approval_policy("echo", mode="queue", timeout="2s"))
    await run_every_change(policy, home, tmp_path / "upstream.jsonl")
    for event in approval_events(home):
        assert schema_problems(event) == [], event


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["approve", "apr_nothex"], "APPROVAL_ID"),
        (["deny", "drop table", "--reason", "x"], "APPROVAL_ID"),
        (["list", "--status", "maybe"], "--status"),
        (["approve", "apr_0123456789abcdef", "--by", ""], "--by"),
    ],
)
async def test_garbage_cli_input_is_refused_naming_what_is_wrong(
    args: list[str], message: str, home: Path
) -> None:
    done = await approvals_cli(home, *args)
    assert done.status == 2
    assert message in done.stderr and "Traceback" not in done.stderr
