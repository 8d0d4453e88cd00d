"""The demo exchange as a real stdio process: both protocol eras, errors, and its line log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from toolgate.demo.client import StdioClient
from toolgate.demo.exchange_catalog import TOOL_NAMES

MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}

pytestmark = pytest.mark.anyio


def _modern(**params: Any) -> dict[str, Any]:
    return {**params, "_meta": MODERN_META}


async def test_initialize_echoes_a_supported_handshake_version(exchange: StdioClient) -> None:
    response = await exchange.request(
        "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {}}
    )
    result = response["result"]
    assert result["protocolVersion"] == "2025-06-18"
    assert result["capabilities"] == {"tools": {"listChanged": True}}
    assert result["serverInfo"]["name"] == "toolgate-demo-exchange"
    assert "resultType" not in result


async def test_initialize_answers_its_latest_version_to_an_unknown_one(
    exchange: StdioClient,
) -> None:
    response = await exchange.request("initialize", {"protocolVersion": "1999-01-01"})
    assert response["result"]["protocolVersion"] == "2025-11-25"


async def test_handshake_era_session_lists_tools_and_calls_one(exchange: StdioClient) -> None:
    await exchange.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}})
    await exchange.notify("notifications/initialized")
    assert (await exchange.request("ping", {}))["result"] == {}
    listed = (await exchange.request("tools/list", {}))["result"]
    assert tuple(tool["name"] for tool in listed["tools"]) == TOOL_NAMES
    assert "ttlMs" not in listed
    call = await exchange.request(
        "tools/call", {"name": "get_price", "arguments": {"symbol": "ETHUSDT"}}
    )
    assert call["result"]["isError"] is False
    assert call["result"]["structuredContent"] == {"symbol": "ETHUSDT", "price": "3180.25"}


async def test_server_discover_answers_in_the_2026_shape(exchange: StdioClient) -> None:
    result = (await exchange.request("server/discover", _modern()))["result"]
    assert result["resultType"] == "complete"
    assert result["supportedVersions"] == ["2026-07-28"]
    assert result["capabilities"] == {"tools": {"listChanged": True}}
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "toolgate-demo-exchange"


async def test_modern_requests_get_result_type_complete_on_every_result(
    exchange: StdioClient,
) -> None:
    listed = (await exchange.request("tools/list", _modern()))["result"]
    assert listed["resultType"] == "complete"
    assert listed["cacheScope"] == "public"
    call = await exchange.request("tools/call", _modern(name="get_balances", arguments={}))
    assert call["result"]["resultType"] == "complete"
    refused = await exchange.request(
        "tools/call", _modern(name="withdraw", arguments={"asset": "USDT"})
    )
    assert refused["result"]["isError"] is True
    assert refused["result"]["resultType"] == "complete"


async def test_an_unsupported_modern_version_is_refused_with_32022(exchange: StdioClient) -> None:
    meta = {"io.modelcontextprotocol/protocolVersion": "2099-01-01"}
    response = await exchange.request("tools/list", {"_meta": meta})
    assert response["error"]["code"] == -32022
    assert response["error"]["data"] == {"supported": ["2026-07-28"], "requested": "2099-01-01"}


async def test_an_unknown_tool_is_a_32602_protocol_error(exchange: StdioClient) -> None:
    response = await exchange.request("tools/call", {"name": "launch_rocket", "arguments": {}})
    assert response["error"] == {"code": -32602, "message": "Unknown tool: launch_rocket"}


async def test_an_unknown_method_is_32601(exchange: StdioClient) -> None:
    response = await exchange.request("resources/list", {})
    assert response["error"]["code"] == -32601


async def test_a_malformed_line_gets_32700_and_the_server_keeps_running(
    exchange: StdioClient,
) -> None:
    await exchange.send_raw(b'{"jsonrpc":"2.0","id":1,"method":\n')
    answer = await exchange.receive()
    assert answer == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": "Parse error"},
    }
    assert (await exchange.request("ping", {}))["result"] == {}


async def test_a_batch_is_an_invalid_request(exchange: StdioClient) -> None:
    await exchange.send_raw(b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]\n')
    assert (await exchange.receive())["error"]["code"] == -32600


async def test_bad_arguments_give_an_is_error_result_not_a_protocol_error(
    exchange: StdioClient,
) -> None:
    response = await exchange.request(
        "tools/call",
        {"name": "place_order", "arguments": {"symbol": "BTCUSDT", "side": "buy", "type": "limit"}},
    )
    assert response["result"]["isError"] is True
    assert "missing argument 'quantity'" in response["result"]["content"][0]["text"]


async def test_the_log_env_var_records_every_received_line(
    exchange: StdioClient, server_log: Path
) -> None:
    await exchange.notify("notifications/initialized")
    await exchange.send_raw(b"not json\n")
    await exchange.receive()
    await exchange.request("tools/call", {"name": "get_balances", "arguments": {}})
    lines = (await anyio.Path(server_log).read_bytes()).splitlines()
    assert lines[0] == b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
    assert lines[1] == b"not json"
    assert orjson.loads(lines[2])["params"]["name"] == "get_balances"
    assert len(lines) == 3
