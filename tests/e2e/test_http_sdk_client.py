"""The official `mcp` SDK client, in both connection modes, through `toolgate serve` to real
servers of every kind: the npm everything server as a stdio child and over its own Streamable
HTTP and HTTP+SSE endpoints, a dual-era Python HTTP server, and mcp-server-time over stdio."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp.client.sse import sse_client
from mcp.types import CallToolResult

from mcp import Client, StdioServerParameters
from tests.e2e.http_gateway import DENY_TEXT, MixedGateway, Upstream, mixed_gateway

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

SERVERS = ["everything", "everything-http", "everything-sse", "recording", "time"]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def mixed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MixedGateway]:
    async with mixed_gateway(tmp_path_factory.mktemp("http-sdk")) as setup:
        yield setup


@pytest.fixture(scope="module")
def direct_views() -> dict[tuple[str, str], dict[str, Any]]:
    """Views of a direct connection, by (server, mode): each is taken once per module."""
    return {}


async def direct_view(
    cache: dict[tuple[str, str], dict[str, Any]], name: str, mode: str, upstream: Upstream
) -> dict[str, Any]:
    if (name, mode) not in cache:
        cache[name, mode] = await session_view(direct(upstream), mode, upstream)
    return cache[name, mode]


def direct(upstream: Upstream) -> Any:
    """What `Client(...)` takes to reach the upstream without toolgate."""
    if upstream.kind == "stdio":
        command = list(upstream.target)
        return StdioServerParameters(command=command[0], args=command[1:])
    assert isinstance(upstream.target, str)
    return sse_client(upstream.target) if upstream.kind == "sse" else upstream.target


def comparable(result: CallToolResult) -> Any:
    return result.model_dump(mode="json", exclude_none=True)


async def session_view(server: Any, mode: str, upstream: Upstream) -> dict[str, Any]:
    async with Client(server, mode=mode, read_timeout_seconds=20) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        allowed = await client.call_tool(*upstream.allowed)
        denied = await client.call_tool(*upstream.denied)
        try:
            hidden: Any = comparable(await client.call_tool(upstream.hidden, {}))
        except Exception as exc:  # the SDK raises for a protocol-level unknown tool
            hidden = f"{type(exc).__name__}: {exc}"
    return {"names": names, "allowed": comparable(allowed), "denied": denied, "hidden": hidden}


def assert_policy_applied(
    direct: dict[str, Any], gated: dict[str, Any], upstream: Upstream
) -> None:
    assert upstream.hidden in direct["names"]
    assert direct["denied"].is_error is not True
    assert gated["names"] == [n for n in direct["names"] if n != upstream.hidden]
    assert gated["allowed"] == direct["allowed"]
    assert gated["denied"].is_error is True
    assert gated["denied"].content[0].text == DENY_TEXT
    assert upstream.hidden in str(gated["hidden"])
    assert "Unknown tool" in str(gated["hidden"]) or "not found" in str(gated["hidden"])


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize("name", SERVERS)
async def test_sdk_client_over_streamable_http_sees_the_policy_and_otherwise_the_same_server(
    mixed: MixedGateway, direct_views: dict[tuple[str, str], dict[str, Any]], name: str, mode: str
) -> None:
    upstream = mixed.upstreams[name]
    without = await direct_view(direct_views, name, mode, upstream)
    gated = await session_view(mixed.gateway.urls[name], mode, upstream)
    assert_policy_applied(without, gated, upstream)


@pytest.mark.parametrize("name", SERVERS)
async def test_sdk_client_over_legacy_sse_sees_the_policy_and_otherwise_the_same_server(
    mixed: MixedGateway, direct_views: dict[tuple[str, str], dict[str, Any]], name: str
) -> None:
    upstream = mixed.upstreams[name]
    without = await direct_view(direct_views, name, "legacy", upstream)
    gated = await session_view(sse_client(f"{mixed.gateway.urls[name]}/sse"), "legacy", upstream)
    assert_policy_applied(without, gated, upstream)
