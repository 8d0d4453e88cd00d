"""Approvals through `toolgate serve` (Streamable HTTP), both protocol eras: the SDK client's user
answers inline (the handshake-era question travels on the POST's event stream, its answer comes
as a separate POST), a raw 2026-07-28 client cannot replay or reuse an answer, a queued call is
approved with the CLI, and of 20 simultaneous retries of one approved call exactly one reaches
the upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp.client.session import ClientRequestContext

from mcp import Client, StdioServerParameters, types
from tests.e2e.approvals_support import (
    ACCEPT,
    APPROVAL_REQUIRED,
    DENIED,
    MODERN_ELICITING_META,
    approval_events,
    approval_id_of,
    approval_policy,
    approve,
    assert_conforming,
    changes,
    deny,
    listed,
    result_of,
    tee_server,
    text_of,
    upstream_calls,
)
from tests.e2e.http_gateway import (
    Gateway,
    HandshakeSession,
    answer,
    modern_request,
    running_gateway,
    write_gateway,
)
from tests.e2e.http_servers import Recorded, recording_server
from tests.e2e.support import WAIT, everything_server, time_server

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

CONVERT = {"source_timezone": "UTC", "time": "09:30", "target_timezone": "Asia/Tokyo"}
RACERS = 20


@asynccontextmanager
async def serving(
    tmp: Path, name: str, upstream: dict[str, Any], policy: str
) -> AsyncIterator[tuple[Gateway, Path]]:
    home = tmp / "home"
    home.mkdir()
    config = write_gateway(tmp, {name: {**upstream, "policy": policy}})
    async with running_gateway(config, home) as gateway:
        yield gateway, home


def comparable(result: types.CallToolResult) -> dict[str, Any]:
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


async def sdk_call(
    server: str | StdioServerParameters,
    mode: str,
    tool: str,
    arguments: dict[str, Any],
    reply: types.ElicitResult | None = None,
) -> tuple[dict[str, Any], list[str]]:
    questions: list[str] = []

    async def elicit(
        context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        questions.append(params.message)
        assert reply is not None, "a direct call asked a question"
        return reply

    async with Client(
        server,
        mode=mode,
        read_timeout_seconds=30,
        elicitation_callback=elicit,
    ) as client:
        result = comparable(await client.call_tool(tool, arguments))
    return result, questions


def stdio(command: Sequence[str]) -> StdioServerParameters:
    return StdioServerParameters(command=command[0], args=list(command[1:]))


ACCEPTED = types.ElicitResult(action="accept", content={"approve": True})
DECLINED = types.ElicitResult(action="decline")


@pytest.mark.parametrize("reply", ["accept", "decline"])
async def test_handshake_era_sdk_client_over_http_answers_the_question_on_the_call_stream(
    reply: str, tmp_path: Path
) -> None:
    log = tmp_path / "upstream.jsonl"
    upstream = {"command": tee_server(log, everything_server())}
    arguments = {"message": "rotate keys"}
    direct, _ = await sdk_call(stdio(everything_server()), "legacy", "echo", arguments)
    async with serving(tmp_path, "everything", upstream, approval_policy("echo")) as (gw, home):
        answer_ = ACCEPTED if reply == "accept" else DECLINED
        gated, questions = await sdk_call(
            gw.urls["everything"], "legacy", "echo", arguments, answer_
        )
    assert len(questions) == 1 and "rotate keys" in questions[0]
    if reply == "accept":
        assert gated == direct
        assert upstream_calls(log, "echo") == 1
        assert changes(home) == ["requested", "approved", "consumed"]
    else:
        assert gated["content"][0]["text"] == f"{DENIED} the user declined this call"
        assert upstream_calls(log, "echo") == 0
        assert changes(home) == ["requested", "denied"]
    assert {e.get("server_name") for e in assert_conforming(home)} == {"everything"}


async def test_2026_era_sdk_client_over_http_is_asked_and_its_retry_forwarded_once(
    tmp_path: Path,
) -> None:
    log = tmp_path / "upstream.jsonl"
    upstream = {"command": tee_server(log, time_server())}
    direct, _ = await sdk_call(stdio(time_server()), "auto", "convert_time", CONVERT)
    policy = approval_policy("convert_time")
    async with serving(tmp_path, "time", upstream, policy) as (gw, home):
        gated, questions = await sdk_call(
            gw.urls["time"], "auto", "convert_time", CONVERT, ACCEPTED
        )
    assert len(questions) == 1 and "Asia/Tokyo" in questions[0]
    assert gated == direct
    assert upstream_calls(log, "convert_time") == 1
    assert changes(home) == ["requested", "approved", "consumed"]


async def post_modern(
    client: httpx.AsyncClient, url: str, msg_id: int, params: dict[str, Any]
) -> dict[str, Any]:
    body, headers = modern_request(msg_id, "tools/call", params)
    body["params"]["_meta"] = {**body["params"]["_meta"], **params.get("_meta", {})}
    response = await client.post(url, json=body, headers=headers)
    assert response.status_code == 200, response.text
    return result_of(answer(response))


def eliciting(arguments: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "convert_time",
        "arguments": arguments,
        "_meta": MODERN_ELICITING_META,
        **extra,
    }


async def test_a_2026_era_answer_over_http_cannot_be_replayed_or_moved_to_other_arguments(
    tmp_path: Path,
) -> None:
    log = tmp_path / "upstream.jsonl"
    upstream = {"command": tee_server(log, time_server())}
    other = {**CONVERT, "target_timezone": "Europe/Paris"}
    policy = approval_policy("convert_time")
    async with (
        serving(tmp_path, "time", upstream, policy) as (gw, home),
        httpx.AsyncClient(timeout=WAIT) as client,
    ):
        url = gw.urls["time"]
        asked = await post_modern(client, url, 1, eliciting(CONVERT))
        assert asked["resultType"] == "input_required"
        state = asked["requestState"]
        moved = await post_modern(
            client, url, 2, eliciting(other, inputResponses=ACCEPT, requestState=state)
        )
        assert text_of(moved).startswith(f"{DENIED} this retry differs from the call")
        retry = eliciting(CONVERT, inputResponses=ACCEPT, requestState=state)
        done = await post_modern(client, url, 3, retry)
        assert done.get("isError") is not True and "Asia/Tokyo" in text_of(done)
        replayed = await post_modern(client, url, 4, retry)
        assert text_of(replayed) == (
            f"{DENIED} this approval answer was already used; a new one is needed"
        )
    assert upstream_calls(log, "convert_time") == 1
    assert changes(home) == ["requested", "approved", "consumed"]


async def test_a_queued_call_over_http_is_forwarded_once_after_cli_approval(
    tmp_path: Path,
) -> None:
    log = tmp_path / "upstream.jsonl"
    upstream = {"command": tee_server(log, everything_server())}
    policy = approval_policy("echo", mode="queue")
    arguments = {"message": "grant admin to bob"}
    async with (
        serving(tmp_path, "everything", upstream, policy) as (gw, home),
        httpx.AsyncClient(timeout=WAIT) as client,
    ):
        session = HandshakeSession(client, gw.urls["everything"], {})
        assert (await session.open()).status_code == 200
        asked = result_of(answer(await session.call_tool("echo", arguments)))
        approval_id = approval_id_of(asked)
        assert [a["id"] for a in await listed(home)] == [approval_id]
        await approve(home, approval_id)
        done = result_of(answer(await session.call_tool("echo", arguments)))
        assert text_of(done) == "Echo: grant admin to bob"
        again = result_of(answer(await session.call_tool("echo", arguments)))
        assert approval_id_of(again) != approval_id

        refused_id = approval_id_of(again)
        await deny(home, refused_id, "--reason", "not on a Friday")
        refused = result_of(answer(await session.call_tool("echo", arguments)))
        assert text_of(refused).startswith(f"{DENIED} approval {refused_id} was denied")
        assert "not on a Friday" in text_of(refused)
    assert upstream_calls(log, "echo") == 1
    assert changes(home, approval_id) == ["requested", "approved", "consumed"]
    assert changes(home, refused_id) == ["requested", "denied"]
    assert_conforming(home)


def queued(message: str) -> dict[str, Any]:
    """A 2026-07-28 tools/call of the recording server's echo, from a client that cannot elicit."""
    return {"name": "echo", "arguments": {"message": message}}


def calls_recorded(recorded: Recorded) -> int:
    return sum(1 for r in recorded.requests() if r["headers"].get("mcp-method") == "tools/call")


async def test_of_twenty_simultaneous_retries_of_one_approved_call_exactly_one_is_forwarded(
    tmp_path: Path,
) -> None:
    policy = approval_policy("echo", mode="queue")
    async with (
        recording_server() as (url, recorded),
        serving(tmp_path, "rec", {"url": url}, policy) as (gw, home),
        httpx.AsyncClient(timeout=WAIT) as client,
    ):
        target = gw.urls["rec"]
        approval_id = approval_id_of(await post_modern(client, target, 1, queued("once")))
        await approve(home, approval_id)
        before = calls_recorded(recorded)
        answers: dict[int, dict[str, Any]] = {}

        async def retry(n: int) -> None:
            answers[n] = await post_modern(client, target, 100 + n, queued("once"))

        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                for n in range(RACERS):
                    tg.start_soon(retry, n)
        forwarded = [a for a in answers.values() if a.get("isError") is not True]
        refused = [a for a in answers.values() if a.get("isError") is True]
        assert len(answers) == RACERS
        assert [text_of(a) for a in forwarded] == ["once"]
        assert calls_recorded(recorded) - before == 1
        for other in refused:
            text = text_of(other)
            # a retry that met the approval before it was used is told so; one that came after
            # finds it consumed and is asked for a new approval
            used = text.startswith(f"{DENIED} approval {approval_id} was already used")
            asks_again = text.startswith(APPROVAL_REQUIRED) and approval_id not in text
            assert used or asks_again, text
    consumed = [e for e in approval_events(home) if e["change"] == "consumed"]
    assert [e["approval_id"] for e in consumed] == [approval_id]
    assert_conforming(home)


async def test_simultaneous_identical_calls_share_one_approval(tmp_path: Path) -> None:
    policy = approval_policy("echo", mode="queue", dedupe="10m")
    async with (
        recording_server() as (url, recorded),
        serving(tmp_path, "rec", {"url": url}, policy) as (gw, home),
        httpx.AsyncClient(timeout=WAIT) as client,
    ):
        answers: list[dict[str, Any]] = []

        async def call(n: int) -> None:
            answers.append(await post_modern(client, gw.urls["rec"], n, queued("same")))

        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                for n in range(10):
                    tg.start_soon(call, n)
        ids = {approval_id_of(a) for a in answers}
        assert len(ids) == 1
        (approval_id,) = ids
        stored = await listed(home, "all")
        assert [a["id"] for a in stored] == [approval_id]
        fresh = sum(1 for a in answers if "was requested" in text_of(a))
        assert stored[0]["joined"] == fresh - 1
    assert calls_recorded(recorded) == 0
    assert changes(home, approval_id) == ["requested"] + ["joined"] * (fresh - 1)
    assert_conforming(home)
