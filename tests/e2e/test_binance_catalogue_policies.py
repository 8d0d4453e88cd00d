"""Policies over the real Binance tool names, end to end through `toolgate run --identity desk`.

tests/e2e/catalog_server.py serves the shared 156-tool Binance catalogue in pages of 40; a raw
JSON-RPC client talks to it through the gateway. Skipped locally without ../shared, a failure
when TOOLGATE_REQUIRE_E2E is set.
"""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.e2e.support import SHARED, RawClient, audit_events, raw_client, require, toolgate

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

CATALOGUE = SHARED / "fixtures" / "binance-termix-tools.json"
WITHDRAWALS = "BinanceWallet*Withdraw*"
ORDER_GLOB = "Binance*Order*"
META = "dev.toolgate/decision"

# `hide` takes exact names, so the withdrawal glob is expanded over the real catalogue. Sliding
# windows remember every call for at least a whole window: no test straddles a window boundary.
POLICY = """
version: "1"
default: deny
hide: {hidden}
tools:
  BinanceTickerPrice:
  BinanceNewOrder:
    rules:
      - name: notional per symbol
        spend:
          amount: args.quantity * args.price
          per_call: 10000
          daily: 15000
          key: args.symbol
          algorithm: sliding
  "Binance*Order*":
    rules:
      - name: usdt pairs only
        conditions:
          - {{path: args.symbol, op: ends_with, value: USDT}}
  BinancePutUserDataStream:
    rules:
      - name: listen-key keep-alive
        rate_limit: {{max: 2, window: minute, scope: identity, algorithm: sliding}}
"""


def catalogue() -> list[dict[str, Any]]:
    path = require(CATALOGUE, "the shared Binance catalogue fixture")
    tools: list[dict[str, Any]] = orjson.loads(Path(path).read_bytes())["tools"]
    return tools


def catalogue_server() -> list[str]:
    path = require(CATALOGUE, "the shared Binance catalogue fixture")
    return [sys.executable, str(Path(__file__).with_name("catalog_server.py")), path, "40"]


def matching(pattern: str) -> list[str]:
    return [t["name"] for t in catalogue() if fnmatch.fnmatchcase(t["name"], pattern)]


def gateway(policy: Path, home: Path, identity: str = "desk") -> list[str]:
    return toolgate(policy, catalogue_server(), home, "--identity", identity)


@pytest.fixture
def policy(write_policy: Callable[[str], Path]) -> Path:
    hidden = orjson.dumps(matching(WITHDRAWALS)).decode()
    return write_policy(POLICY.format(hidden=hidden))


async def listed_names(client: RawClient) -> list[list[str]]:
    pages, cursor, msg_id = [], None, 100
    while True:
        answer = await client.request(msg_id, "tools/list", {"cursor": cursor} if cursor else None)
        pages.append([tool["name"] for tool in answer["result"]["tools"]])
        cursor, msg_id = answer["result"].get("nextCursor"), msg_id + 1
        if cursor is None:
            return pages


async def call(client: RawClient, msg_id: int, name: str, **arguments: object) -> dict[str, Any]:
    return await client.request(msg_id, "tools/call", {"name": name, "arguments": arguments})


def reached_server(answer: dict[str, Any], name: str) -> bool:
    result = answer.get("result", {})
    return not result.get("isError") and result["content"][0]["text"] == f"called {name}"


def denial(answer: dict[str, Any]) -> tuple[str, str]:
    result = answer["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"].startswith("[POLICY DENIED] ")
    decision = result["_meta"][META]
    return decision["rule"], decision["reason"]


def order(symbol: str, quantity: float, price: float) -> dict[str, object]:
    return {"symbol": symbol, "side": "BUY", "type": "LIMIT", "quantity": quantity, "price": price}


def test_the_globs_match_real_tool_names_of_the_catalogue() -> None:
    withdrawals = matching(WITHDRAWALS)
    assert "BinanceWalletWithdraw" in withdrawals and len(withdrawals) >= 5
    assert {"BinanceNewOrder", "BinanceGetOpenOrders"} <= set(matching(ORDER_GLOB))
    schema = next(t for t in catalogue() if t["name"] == "BinanceNewOrder")["inputSchema"]
    assert {"symbol", "quantity", "price"} <= set(schema["properties"])
    keep_alive = next(t for t in catalogue() if t["name"] == "BinancePutUserDataStream")
    assert keep_alive["inputSchema"]["required"] == ["listenKey"]


async def test_hidden_withdrawal_tools_vanish_from_every_page_and_answer_as_unknown_tools(
    home: Path, policy: Path
) -> None:
    hidden = matching(WITHDRAWALS)
    async with raw_client(catalogue_server()) as direct:
        await direct.initialize()
        direct_pages = await listed_names(direct)
        unknown = await call(direct, 1, "NoSuchBinanceTool", coin="BTC")
    async with raw_client(gateway(policy, home)) as client:
        await client.initialize()
        pages = await listed_names(client)
        answers = [await call(client, i, name, coin="BTC") for i, name in enumerate(hidden, 1)]
    assert len(pages) == len(direct_pages) == 4
    for plain, filtered in zip(direct_pages, pages, strict=True):
        assert filtered == [name for name in plain if name not in hidden]
    assert sum(map(len, pages)) == 156 - len(hidden)
    # This server "has" every name (it answers a made-up one with a result), so the gateway
    # cannot copy its unknown-tool answer and gives the protocol's own: -32602 "Unknown tool".
    assert reached_server(unknown, "NoSuchBinanceTool")
    for name, answer in zip(hidden, answers, strict=True):
        assert "result" not in answer
        assert answer["error"] == {"code": -32602, "message": f"Unknown tool: {name}"}
    assert [e["outcome"] for e in audit_events(home)] == ["hidden"] * len(hidden)


async def test_order_notional_is_capped_per_symbol_and_glob_rules_deny_with_their_rule_id(
    home: Path, policy: Path
) -> None:
    new_order, by_glob = "tools.BinanceNewOrder.rules[0]", f"tools.{ORDER_GLOB}.rules[0]"
    async with raw_client(gateway(policy, home)) as client:
        await client.initialize()
        first = await call(client, 1, "BinanceNewOrder", **order("BTCUSDT", 0.1, 60000))
        second = await call(client, 2, "BinanceNewOrder", **order("BTCUSDT", 0.15, 60000))
        over_day = await call(client, 3, "BinanceNewOrder", **order("BTCUSDT", 0.1, 60000))
        other_symbol = await call(client, 4, "BinanceNewOrder", **order("ETHUSDT", 2, 3000))
        over_call = await call(client, 5, "BinanceNewOrder", **order("ETHUSDT", 1, 10000.01))
        not_usdt = await call(client, 6, "BinanceNewOrder", **order("BTCEUR", 0.01, 50000))
        open_orders = await call(client, 7, "BinanceGetOpenOrders", symbol="BTCUSDT")
        open_eur = await call(client, 8, "BinanceGetOpenOrders", symbol="BTCEUR")
        unlisted = await call(client, 9, "BinanceKlines", symbol="BTCUSDT", interval="1m")
        listed = await call(client, 10, "BinanceTickerPrice", symbol="BTCUSDT")
    assert reached_server(first, "BinanceNewOrder")  # 6,000 of 15,000 for BTCUSDT
    assert reached_server(second, "BinanceNewOrder")  # 15,000: the cap is inclusive
    assert denial(over_day) == (new_order, "limit")
    assert reached_server(other_symbol, "BinanceNewOrder")  # its own 15,000 for ETHUSDT
    assert denial(over_call) == (new_order, "limit")
    assert denial(not_usdt) == (by_glob, "condition_failed")
    assert reached_server(open_orders, "BinanceGetOpenOrders")
    assert denial(open_eur) == (by_glob, "condition_failed")
    assert denial(unlisted) == ("(default deny)", "default_deny")
    assert reached_server(listed, "BinanceTickerPrice")
    events = audit_events(home)
    assert [e["outcome"] for e in events] == [
        "allowed", "allowed", "denied", "allowed", "denied", "denied", "allowed", "denied",
        "denied", "allowed",
    ]  # fmt: skip
    assert {e["identity"] for e in events} == {"desk"}


async def test_listen_key_keep_alive_is_rate_limited_per_identity(home: Path, policy: Path) -> None:
    rule = "tools.BinancePutUserDataStream.rules[0]"
    async with raw_client(gateway(policy, home)) as desk:
        await desk.initialize()
        answers = [
            await call(desk, i, "BinancePutUserDataStream", listenKey="k1") for i in range(1, 4)
        ]
    assert [reached_server(a, "BinancePutUserDataStream") for a in answers] == [True, True, False]
    assert denial(answers[2]) == (rule, "limit")
    # The same counter store (same state directory and server): desk stays limited, ops is not.
    async with raw_client(gateway(policy, home, "ops")) as ops:
        await ops.initialize()
        fresh = await call(ops, 1, "BinancePutUserDataStream", listenKey="k2")
    async with raw_client(gateway(policy, home)) as desk_again:
        await desk_again.initialize()
        still = await call(desk_again, 1, "BinancePutUserDataStream", listenKey="k1")
    assert reached_server(fresh, "BinancePutUserDataStream")
    assert denial(still) == (rule, "limit")
