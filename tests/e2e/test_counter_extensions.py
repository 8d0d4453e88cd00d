"""Counter extensions end to end through `toolgate run`: scopes, keys, sliding, spend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.e2e.support import RawClient, audit_events, raw_client, stub_server, toolgate

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

COUNTERS = """
version: "1"
default: deny
tools:
  echo:
    rules:
      - rate_limit: {max: 2, window: hour, scope: identity, key: args.symbol, algorithm: sliding}
      - name: notional
        spend: {amount: args.quantity * args.price, per_call: 100, daily: "150.5", key: args.symbol}
"""


async def call(client: RawClient, msg_id: int, arguments: dict[str, Any]) -> dict[str, Any]:
    return await client.request(msg_id, "tools/call", {"name": "echo", "arguments": arguments})


def denied(answer: dict[str, Any]) -> bool:
    result = answer.get("result", {})
    return result.get("isError") is True and "[POLICY" in orjson.dumps(result).decode()


def order(symbol: object, quantity: object = "1", price: object = "10") -> dict[str, Any]:
    return {"message": "m", "symbol": symbol, "quantity": quantity, "price": price}


async def test_keyed_identity_scoped_counters_and_spend_caps_decide_through_the_gateway(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(COUNTERS)
    async with raw_client(toolgate(policy, stub_server(), home, "--identity", "desk")) as client:
        await client.initialize()
        outcomes = [
            denied(await call(client, 1, order("BTC"))),
            denied(await call(client, 2, order("BTC"))),
            denied(await call(client, 3, order("BTC"))),  # third BTC call this hour
            denied(await call(client, 4, order("ETH", "2", "50.25"))),  # 100.50 > per_call
            denied(await call(client, 5, order("ETH", "2", "50"))),  # 100 of 150.5
            denied(await call(client, 6, order("ETH", "1", "50.5"))),  # 150.5: exactly the cap
            denied(await call(client, 7, order(["ETH"]))),  # a non-scalar key fails closed
            denied(await call(client, 8, order("SOL", "-1"))),  # a negative amount fails closed
        ]
    assert outcomes == [False, False, True, True, False, False, True, True]
    events = audit_events(home)
    assert [e["outcome"] for e in events] == [
        "allowed", "allowed", "denied", "denied", "allowed", "allowed", "error", "error",
    ]  # fmt: skip


async def test_an_identity_scoped_counter_without_an_identity_denies_every_call(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(COUNTERS)
    async with raw_client(toolgate(policy, stub_server(), home)) as client:
        await client.initialize()
        answer = await call(client, 1, order("BTC"))
    assert denied(answer)
    assert "--identity" in orjson.dumps(answer).decode()
