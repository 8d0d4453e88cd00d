"""A real 156-tool catalogue through the gateway, and counter namespaces across processes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.e2e.support import SHARED, RawClient, raw_client, require, stub_server, toolgate

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

CATALOGUE = SHARED / "fixtures" / "binance-termix-tools.json"
HIDDEN = ["BinanceDeleteOrder", "BinanceWalletBrokerWithdraw", "BinancePutUserDataStream"]


def catalogue_server() -> list[str]:
    path = require(CATALOGUE, "the shared Binance catalogue fixture")
    return [sys.executable, str(Path(__file__).with_name("catalog_server.py")), path, "40"]


async def all_pages(client: RawClient) -> list[dict[str, Any]]:
    pages, cursor, msg_id = [], None, 1
    while True:
        answer = await client.request(msg_id, "tools/list", {"cursor": cursor} if cursor else None)
        pages.append(answer["result"])
        cursor, msg_id = answer["result"].get("nextCursor"), msg_id + 1
        if cursor is None:
            return pages


async def test_every_page_of_a_real_catalogue_keeps_its_fields_and_loses_only_hidden_tools(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(f'version: "1"\nhide: {orjson.dumps(HIDDEN).decode()}\ntools: {{}}\n')
    views = {}
    for label, command in [
        ("direct", catalogue_server()),
        ("gateway", toolgate(policy, catalogue_server(), home)),
    ]:
        async with raw_client(command) as client:
            await client.initialize()
            views[label] = await all_pages(client)
    direct, gated = views["direct"], views["gateway"]
    assert len(gated) == len(direct) == 4
    for plain, filtered in zip(direct, gated, strict=True):
        assert {k: v for k, v in filtered.items() if k != "tools"} == {
            k: v for k, v in plain.items() if k != "tools"
        }
        assert filtered["tools"] == [t for t in plain["tools"] if t["name"] not in HIDDEN]
    assert sum(len(p["tools"]) for p in direct) == 156
    assert sum(len(p["tools"]) for p in gated) == 156 - len(HIDDEN)


ONE_PER_DAY = 'version: "1"\ntools:\n  echo:\n    rules:\n      - rate_limit: 1/day\n'


async def allowed_echo(command: list[str]) -> bool:
    async with raw_client(command) as client:
        await client.initialize()
        answer = await client.request(
            1, "tools/call", {"name": "echo", "arguments": {"message": "x"}}
        )
    return not answer["result"].get("isError")


async def test_processes_guarding_different_servers_never_share_a_counter(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(ONE_PER_DAY)
    # One state directory, two different servers (the stub with different arguments).
    assert await allowed_echo(toolgate(policy, stub_server("1"), home))
    assert await allowed_echo(toolgate(policy, stub_server("2"), home))
    assert not await allowed_echo(toolgate(policy, stub_server("1"), home))


async def test_an_explicit_namespace_shares_counters_on_purpose(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(ONE_PER_DAY)
    shared = ("--namespace", "fleet-a")
    assert await allowed_echo(toolgate(policy, stub_server("1"), home, *shared))
    assert not await allowed_echo(toolgate(policy, stub_server("2"), home, *shared))
