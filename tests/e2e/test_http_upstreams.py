"""2026-07-28 (stateless) requests as raw HTTP POSTs through `toolgate serve` with a grant: to
mcp-server-time over stdio and to a dual-era Python server over HTTP. Also how the gateway
process ends on SIGTERM."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.http_gateway import (
    DENY_TEXT,
    MODERN_META,
    MODERN_VERSION,
    TIME_POLICY,
    IssuedGrant,
    answer,
    create_grant,
    modern_request,
    running_gateway,
    write_gateway,
)
from tests.e2e.http_servers import Recorded, recording_server
from tests.e2e.support import raw_client, time_server

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

RECORDING_POLICY = """
version: "1"
hide: [slow]
tools: {}
"""
ALLOWED = {"source_timezone": "UTC", "time": "09:30", "target_timezone": "Asia/Tokyo"}
DENIED = {"source_timezone": "Europe/Paris", "time": "09:30", "target_timezone": "UTC"}


@dataclass(frozen=True)
class Setup:
    urls: dict[str, str]
    home: Path
    seen: Recorded
    grants: dict[str, IssuedGrant]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def setup(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Setup]:
    tmp = tmp_path_factory.mktemp("http-upstreams")
    async with AsyncExitStack() as stack:
        upstream, seen = await stack.enter_async_context(recording_server())
        config = write_gateway(
            tmp,
            {
                "time": {"command": time_server(), "policy": TIME_POLICY},
                "rec": {"url": upstream, "policy": RECORDING_POLICY},
            },
            auth={"grants": True},
        )
        home = tmp / "home"
        home.mkdir()
        gateway = await stack.enter_async_context(running_gateway(config, home))
        grants = {name: create_grant(home, name, "agent-1") for name in ("time", "rec")}
        yield Setup(gateway.urls, home, seen, grants)


async def post_modern(
    setup: Setup, server: str, msg_id: int, method: str, params: dict[str, Any] | None = None
) -> httpx.Response:
    message, headers = modern_request(msg_id, method, params)
    headers.update(setup.grants[server].headers)
    async with httpx.AsyncClient(timeout=20) as client:
        return await client.post(setup.urls[server], content=orjson.dumps(message), headers=headers)


async def direct_time(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """The same 2026-07-28 request to mcp-server-time over stdio, without toolgate."""
    async with raw_client(time_server()) as client:
        return await client.request(1, method, {**(params or {}), "_meta": MODERN_META})


async def test_modern_discover_list_and_call_reach_the_time_server_through_the_policy(
    setup: Setup,
) -> None:
    discovered = await post_modern(setup, "time", 1, "server/discover")
    assert discovered.status_code == 200, discovered.text
    assert MODERN_VERSION in answer(discovered)["result"]["supportedVersions"]

    listed = await post_modern(setup, "time", 2, "tools/list")
    assert listed.status_code == 200, listed.text
    result = answer(listed)["result"]
    direct = (await direct_time("tools/list"))["result"]
    direct_names = [t["name"] for t in direct["tools"]]
    assert "get_current_time" in direct_names
    assert [t["name"] for t in result["tools"]] == [
        n for n in direct_names if n != "get_current_time"
    ]
    assert result["cacheScope"] == "private"

    call = {"name": "convert_time", "arguments": ALLOWED}
    allowed = await post_modern(setup, "time", 3, "tools/call", call)
    assert allowed.status_code == 200, allowed.text
    expected = (await direct_time("tools/call", call))["result"]
    got = answer(allowed)["result"]
    assert got.get("isError") is not True
    assert got["content"] == expected["content"]
    assert got.get("structuredContent") == expected.get("structuredContent")

    denied = await post_modern(
        setup, "time", 4, "tools/call", {"name": "convert_time", "arguments": DENIED}
    )
    assert denied.status_code == 200, denied.text
    refusal = answer(denied)["result"]
    assert refusal["isError"] is True
    assert refusal["content"][0]["text"] == DENY_TEXT


async def test_modern_call_of_a_hidden_tool_is_answered_as_unknown(setup: Setup) -> None:
    call = {"name": "get_current_time", "arguments": {"timezone": "UTC"}}
    response = await post_modern(setup, "time", 5, "tools/call", call)
    message = answer(response)
    text = orjson.dumps(message).decode()
    assert "get_current_time" in text
    assert message.get("error") is not None or message["result"].get("isError") is True


async def test_modern_list_from_a_dual_era_http_server_is_private_and_filtered(
    setup: Setup,
) -> None:
    listed = await post_modern(setup, "rec", 6, "tools/list")
    assert listed.status_code == 200, listed.text
    result = answer(listed)["result"]
    assert sorted(t["name"] for t in result["tools"]) == ["add", "echo"]
    assert result["cacheScope"] == "private"


async def test_modern_call_reaches_the_http_upstream_with_mirrored_headers_and_no_token(
    setup: Setup,
) -> None:
    before = len(setup.seen.requests())
    call = {"name": "echo", "arguments": {"message": "héllo"}}
    response = await post_modern(setup, "rec", 7, "tools/call", call)
    assert response.status_code == 200, response.text
    assert answer(response)["result"]["content"][0]["text"] == "héllo"
    forwarded = [r["headers"] for r in setup.seen.requests()[before:] if r["method"] == "POST"]
    assert len(forwarded) == 1, forwarded
    assert forwarded[0].get("mcp-protocol-version") == MODERN_VERSION
    assert forwarded[0].get("mcp-method") == "tools/call"
    assert forwarded[0].get("mcp-name") == "echo"
    assert "authorization" not in forwarded[0]


async def test_gateway_stops_on_sigterm_with_status_0_and_a_shutdown_event(
    tmp_path: Path,
) -> None:
    config = write_gateway(tmp_path, {"time": {"command": time_server(), "policy": TIME_POLICY}})
    home = tmp_path / "home"
    home.mkdir()
    async with running_gateway(config, home) as gateway:
        pass
    log = home / "audit" / "decisions.jsonl"
    kinds = [orjson.loads(line)["type"] for line in log.read_bytes().splitlines() if line]
    assert "startup" in kinds
    assert gateway.exit_status == 0
    assert "shutdown" in kinds
