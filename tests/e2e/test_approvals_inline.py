"""Inline approval over stdio with the official SDK client's `elicitation_callback`, in both
protocol eras: the client's user approves, declines or dismisses toolgate's question, and only
an approved call reaches the real upstream (counted by a tee in front of it), once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from mcp.client.session import ClientRequestContext

from mcp import Client, StdioServerParameters, types
from tests.e2e.approvals_support import (
    ACCEPT,
    DENIED,
    MODERN_ELICITING_META,
    approval_events,
    approval_policy,
    changes,
    result_of,
    tee_server,
    text_of,
    upstream_calls,
)
from tests.e2e.support import everything_server, raw_client, time_server, toolgate

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

ANSWERS: dict[str, types.ElicitResult] = {
    "accept": types.ElicitResult(action="accept", content={"approve": True}),
    "accept-but-no": types.ElicitResult(action="accept", content={"approve": False}),
    "decline": types.ElicitResult(action="decline"),
    "cancel": types.ElicitResult(action="cancel"),
}
REFUSALS = {
    "accept-but-no": f"{DENIED} the user declined this call",
    "decline": f"{DENIED} the user declined this call",
    "cancel": f"{DENIED} the approval question was dismissed; the call was not made",
}
CONVERT = {"source_timezone": "UTC", "time": "09:30", "target_timezone": "Asia/Tokyo"}


def stdio(command: Sequence[str]) -> StdioServerParameters:
    return StdioServerParameters(command=command[0], args=list(command[1:]))


async def sdk_call(
    command: Sequence[str],
    mode: str,
    tool: str,
    arguments: dict[str, Any],
    answer: types.ElicitResult | None = None,
) -> tuple[dict[str, Any], list[str], str]:
    """One tools/call through the SDK client; returns the result, the questions its
    elicitation callback was asked and the protocol version it negotiated."""
    questions: list[str] = []

    async def elicit(
        context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        questions.append(params.message)
        assert answer is not None, "a call that needs no approval asked a question"
        return answer

    async with Client(
        stdio(command),
        mode=mode,
        read_timeout_seconds=30,
        elicitation_callback=elicit,
    ) as client:
        result = await client.call_tool(tool, arguments)
        version = client.protocol_version
    return result.model_dump(mode="json", by_alias=True, exclude_none=True), questions, version


@pytest.mark.parametrize("answer", list(ANSWERS))
async def test_handshake_era_user_answer_decides_whether_the_call_reaches_the_server(
    answer: str, home: Path, tmp_path: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(approval_policy("echo"))
    log = tmp_path / "upstream.jsonl"
    arguments = {"message": "pay 12 ✓"}
    direct, _, _ = await sdk_call(everything_server(), "legacy", "echo", arguments)
    gated, questions, version = await sdk_call(
        toolgate(policy, tee_server(log, everything_server()), home),
        "legacy",
        "echo",
        arguments,
        ANSWERS[answer],
    )
    assert version == "2025-11-25"
    assert len(questions) == 1
    assert '"echo"' in questions[0] and "pay 12 ✓" in questions[0]
    assert questions[0].startswith("a human must agree")
    if answer == "accept":
        assert gated == direct
        assert upstream_calls(log, "echo") == 1
        assert changes(home) == ["requested", "approved", "consumed"]
    else:
        assert gated["isError"] is True
        assert gated["content"][0]["text"] == REFUSALS[answer]
        assert upstream_calls(log, "echo") == 0
        assert changes(home) == ["requested", "denied"]
    assert len({e["approval_id"] for e in approval_events(home)}) == 1
    assert {e["mode"] for e in approval_events(home)} == {"inline"}


@pytest.mark.parametrize("answer", list(ANSWERS))
async def test_2026_era_user_answer_decides_whether_the_call_reaches_the_server(
    answer: str, home: Path, tmp_path: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(approval_policy("convert_time"))
    log = tmp_path / "upstream.jsonl"
    direct, _, direct_version = await sdk_call(time_server(), "auto", "convert_time", CONVERT)
    gated, questions, version = await sdk_call(
        toolgate(policy, tee_server(log, time_server()), home),
        "auto",
        "convert_time",
        CONVERT,
        ANSWERS[answer],
    )
    assert direct_version == version == "2026-07-28"
    assert len(questions) == 1 and "Asia/Tokyo" in questions[0]
    if answer == "accept":
        assert gated == direct
        assert upstream_calls(log, "convert_time") == 1
        assert changes(home) == ["requested", "approved", "consumed"]
    else:
        assert gated["isError"] is True
        assert gated["content"][0]["text"] == REFUSALS[answer]
        assert upstream_calls(log, "convert_time") == 0
        assert changes(home) == ["requested", "denied"]


def modern_call(arguments: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "convert_time", "arguments": arguments, "_meta": MODERN_ELICITING_META, **extra}


async def test_a_2026_era_answer_is_used_once_and_only_for_the_call_it_approved(
    home: Path, tmp_path: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(approval_policy("convert_time"))
    log = tmp_path / "upstream.jsonl"
    other = {**CONVERT, "target_timezone": "Europe/Paris"}
    async with raw_client(toolgate(policy, tee_server(log, time_server()), home)) as client:
        asked = result_of(await client.request(1, "tools/call", modern_call(CONVERT)))
        assert asked["resultType"] == "input_required"
        state = asked["requestState"]
        assert set(asked["inputRequests"]) == {"dev.toolgate/approval"}

        changed = modern_call(other, inputResponses=ACCEPT, requestState=state)
        refused = result_of(await client.request(2, "tools/call", changed))
        assert refused["isError"] is True
        assert text_of(refused).startswith(f"{DENIED} this retry differs from the call")
        assert upstream_calls(log) == 0

        retry = modern_call(CONVERT, inputResponses=ACCEPT, requestState=state)
        done = result_of(await client.request(3, "tools/call", retry))
        assert done.get("isError") is not True and "Asia/Tokyo" in text_of(done)
        assert upstream_calls(log) == 1

        replayed = result_of(await client.request(4, "tools/call", retry))
        assert (
            text_of(replayed)
            == f"{DENIED} this approval answer was already used; a new one is needed"
        )

        forged = state[:-4] + ("AAAA" if not state.endswith("AAAA") else "BBBB")
        tampered = modern_call(CONVERT, inputResponses=ACCEPT, requestState=forged)
        bad = result_of(await client.request(5, "tools/call", tampered))
        assert text_of(bad).startswith(f"{DENIED} the approval state of this retry is not valid")

        garbage = modern_call(CONVERT, inputResponses=ACCEPT, requestState="tgs1.%%%not-base64")
        bad = result_of(await client.request(6, "tools/call", garbage))
        assert text_of(bad) == (
            f"{DENIED} the approval state of this retry is not valid: request state is malformed"
        )

        fresh = result_of(await client.request(7, "tools/call", modern_call(CONVERT)))
        unreadable = modern_call(
            CONVERT,
            inputResponses={"dev.toolgate/approval": "yes please"},
            requestState=fresh["requestState"],
        )
        bad = result_of(await client.request(8, "tools/call", unreadable))
        assert text_of(bad) == (
            f"{DENIED} the answer to the approval question could not be read; the call was not made"
        )
    assert upstream_calls(log) == 1
    # the first question approved and used once, the second answered unreadably; the refused
    # retries changed nothing
    assert changes(home) == ["requested", "approved", "consumed", "requested", "denied"]
