"""A client that loses a POST's event stream through `toolgate serve` and comes back with
`Last-Event-ID`: the rest of the answer is replayed from the gateway, the tool ran once, its
counter was charged once and its audit event ended — with the npm everything server's
long-running operation as the upstream (stdio)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest

from tests.e2e.http_gateway import (
    HANDSHAKE_VERSION,
    JSON_ACCEPT,
    HandshakeSession,
    answer,
    rpc,
    running_gateway,
    write_gateway,
)
from tests.e2e.support import WAIT, everything_server
from toolgate.transports.sse import SseEvent, SseParser

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

POLICY = """
version: "1"
tools:
  trigger-long-running-operation:
    rules:
      - rate_limit: 1/hour
"""
LONG = "trigger-long-running-operation"


async def events_until(
    response: httpx.Response, done: Callable[[dict[str, Any]], bool]
) -> list[SseEvent]:
    """The events of a streamed response up to and including the first whose message is
    `done`."""
    parser, found = SseParser(), list[SseEvent]()
    with anyio.fail_after(WAIT):
        async for chunk in response.aiter_bytes():
            for event in parser.feed(chunk):
                found.append(event)
                if done(orjson.loads(event.data)):
                    return found
    raise AssertionError(f"the stream ended after {len(found)} event(s) without the one awaited")


def is_progress(message: dict[str, Any]) -> bool:
    return message.get("method") == "notifications/progress"


async def test_a_lost_post_stream_is_resumed_and_the_call_counted_once(
    tmp_path: Path, home: Path
) -> None:
    config = write_gateway(tmp_path, {"every": {"command": everything_server(), "policy": POLICY}})
    async with running_gateway(config, home) as gateway, httpx.AsyncClient(timeout=WAIT) as http:
        session = HandshakeSession(http, gateway.urls["every"], {})
        assert (await session.open()).status_code == 200
        assert session.session_id is not None
        headers = {
            **JSON_ACCEPT,
            "MCP-Protocol-Version": HANDSHAKE_VERSION,
            "Mcp-Session-Id": session.session_id,
        }
        call = rpc(
            7,
            "tools/call",
            {
                "name": LONG,
                "arguments": {"duration": 1.5, "steps": 3},
                "_meta": {"progressToken": "p"},
            },
        )
        async with http.stream("POST", session.url, json=call, headers=headers) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            seen = await events_until(response, is_progress)
        # the client is gone; the operation goes on upstream
        last = seen[-1].id
        assert last is not None and last.startswith("c")
        resumed_headers = {**headers, "Last-Event-ID": last}
        async with http.stream("GET", session.url, headers=resumed_headers) as resumed:
            assert resumed.status_code == 200
            rest = await events_until(resumed, lambda message: message.get("id") == 7)
        messages: list[dict[str, Any]] = [orjson.loads(event.data) for event in rest]
        progress = [m for m in messages if is_progress(m)]
        assert len(progress) == 2  # steps 2 and 3: step 1 was read before the client left
        assert [event.id for event in seen + rest] == [
            f"{last.rsplit('-', 1)[0]}-{n}" for n in range(1, len(seen) + len(rest) + 1)
        ]
        assert "Long running operation completed" in str(messages[-1]["result"])
        again = await session.call_tool(LONG, {"duration": 0.1, "steps": 1})
        assert "rate limit" in str(answer(again)).lower()  # the first call was charged
    log = (home / "audit" / "decisions.jsonl").read_bytes().splitlines()
    calls = [e for e in map(orjson.loads, filter(None, log)) if e.get("tool") == LONG]
    assert (calls[0]["outcome"], calls[0].get("upstream")) == ("allowed", "ok")
    assert [e["outcome"] for e in calls] == ["allowed", "denied"]
