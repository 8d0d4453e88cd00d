"""A raw JSON-RPC client through `toolgate run` to real servers: exact bytes, refusals, limits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import orjson
import pytest

from tests.e2e.support import (
    RawClient,
    audit_events,
    everything_server,
    raw_client,
    stub_server,
    time_server,
    toolgate,
)

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

EVERYTHING_POLICY = """
version: "1"
default: allow
hide: [get-env]
tools:
  get-sum:
    rules:
      - name: small sums only
        conditions:
          - {path: args.a, op: lte, value: 100}
        on_deny: "get-sum only adds numbers up to 100"
"""

MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


async def call_line(client: RawClient, msg_id: int, name: str, arguments: object) -> bytes:
    await client.send(
        {
            "jsonrpc": "2.0",
            "id": msg_id,
            "method": "tools/call",
            "params": {"name": name, "arguments": arguments},
        }
    )
    return await client.response_line(msg_id)


async def test_allowed_calls_return_byte_identical_results_to_a_direct_connection(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(EVERYTHING_POLICY)
    calls = [("echo", {"message": "héllo ✓"}), ("get-sum", {"a": 2, "b": 40})]
    answers: dict[str, list[bytes]] = {}
    for label, command in [
        ("direct", everything_server()),
        ("gateway", toolgate(policy, everything_server(), home)),
    ]:
        async with raw_client(command) as client:
            await client.initialize()
            answers[label] = [
                await call_line(client, i + 1, name, args) for i, (name, args) in enumerate(calls)
            ]
    assert answers["gateway"] == answers["direct"]


async def test_tools_list_drops_hidden_tools_and_keeps_every_other_field(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(EVERYTHING_POLICY)
    lists = {}
    for label, command in [
        ("direct", everything_server()),
        ("gateway", toolgate(policy, everything_server(), home)),
    ]:
        async with raw_client(command) as client:
            await client.initialize()
            lists[label] = await client.request(1, "tools/list")
    direct_tools = lists["direct"]["result"]["tools"]
    gateway_tools = lists["gateway"]["result"]["tools"]
    assert "get-env" in [t["name"] for t in direct_tools]
    assert gateway_tools == [t for t in direct_tools if t["name"] != "get-env"]
    other = {k: v for k, v in lists["direct"]["result"].items() if k != "tools"}
    assert {k: v for k, v in lists["gateway"]["result"].items() if k != "tools"} == other


async def test_a_hidden_tool_answers_exactly_like_a_tool_the_server_does_not_have(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(EVERYTHING_POLICY)
    async with raw_client(everything_server()) as direct:
        await direct.initialize()
        unknown_direct = await call_line(direct, 1, "no-such-tool", {})
    async with raw_client(toolgate(policy, everything_server(), home)) as client:
        await client.initialize()
        hidden_first = await call_line(client, 1, "get-env", {})
        hidden_again = await call_line(client, 2, "get-env", {})
        unknown = await call_line(client, 3, "no-such-tool", {})
    assert hidden_first == unknown_direct.replace(b"no-such-tool", b"get-env")
    assert hidden_again == hidden_first.replace(b'"id":1', b'"id":2')
    assert unknown == unknown_direct.replace(b'"id":1', b'"id":3')
    assert [e["outcome"] for e in audit_events(home)][:2] == ["hidden", "hidden"]


async def test_a_denied_call_gets_the_denial_and_never_reaches_the_server(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(EVERYTHING_POLICY)
    async with raw_client(toolgate(policy, everything_server(), home)) as client:
        await client.initialize()
        answer = orjson.loads(await call_line(client, 1, "get-sum", {"a": 500, "b": 1}))
    result = answer["result"]
    assert result["isError"] is True
    assert result["content"] == [
        {"type": "text", "text": "[POLICY DENIED] get-sum only adds numbers up to 100"}
    ]
    decision = result["_meta"]["dev.toolgate/decision"]
    assert decision["rule"] == "tools.get-sum.rules[0]"
    event = audit_events(home)[-1]
    assert event["outcome"] == "denied"
    assert event["decision_id"] == decision["id"]
    assert event["arg_keys"] == ["a", "b"]
    assert "args" not in event
    hashes = ("args_hash", "prev", "decision_id", "session", "policy_revision")
    readable = {key: value for key, value in event.items() if key not in hashes}
    assert "500" not in orjson.dumps(readable).decode()  # (a hex hash may contain it by chance)


async def test_a_modern_era_client_gets_modern_answers_through_the_gateway(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy(
        """
version: "1"
tools:
  convert_time:
    rules:
      - {name: only from UTC, conditions: [{path: args.source_timezone, op: eq, value: UTC}]}
"""
    )
    args = {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}
    call = {"name": "convert_time", "arguments": args, "_meta": MODERN_META}
    lines = {}
    for label, command in [
        ("direct", time_server()),
        ("gateway", toolgate(policy, time_server(), home)),
    ]:
        async with raw_client(command) as client:
            await client.send({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call})
            lines[label] = await client.response_line(1)
            denied_call = {**call, "arguments": {**args, "source_timezone": "Europe/Paris"}}
            await client.send(
                {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": denied_call}
            )
            lines[label + "-denied"] = await client.response_line(2)
    assert lines["gateway"] == lines["direct"]
    denied = orjson.loads(lines["gateway-denied"])["result"]
    assert denied["resultType"] == "complete"
    assert denied["isError"] is True
    assert orjson.loads(lines["direct-denied"])["result"].get("isError") is not True


MALFORMED: list[tuple[str, bytes]] = [
    (
        "arguments as array",
        b'{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"echo","arguments":[1]}}',
    ),
    (
        "arguments as string",
        b'{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"echo","arguments":"x"}}',
    ),
    (
        "arguments null",
        b'{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"echo","arguments":null}}',
    ),
    ("missing name", b'{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"arguments":{}}}'),
    (
        "name not a string",
        b'{"jsonrpc":"2.0","id":15,"method":"tools/call","params":{"name":7,"arguments":{}}}',
    ),
    ("params not an object", b'{"jsonrpc":"2.0","id":16,"method":"tools/call","params":[]}'),
    (
        "batch array",
        b'[{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"echo","arguments":{}}}]',
    ),
    ("invalid JSON", b'{"jsonrpc":"2.0","id":18,"method":"tools/call","params":{"name":'),
    ("null id", b'{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"echo"}}'),
]


async def test_malformed_calls_are_answered_with_errors_and_none_reaches_the_server(
    home: Path, write_policy: Callable[[str], Path], tmp_path: Path
) -> None:
    server_log = tmp_path / "server.log"
    policy = write_policy('version: "1"\ntools: {}\n')
    command = toolgate(policy, stub_server(), home, "--max-line-bytes", "4096")
    env = {"TOOLGATE_DEMO_SERVER_LOG": str(server_log)}
    async with raw_client(command, env) as client:
        await client.initialize()
        for label, line in MALFORMED:
            await client.send_line(line)
            answer = orjson.loads(await client.read_line())
            assert "error" in answer, label
            assert answer["error"]["code"] in (-32700, -32600, -32602), label
        oversized = (
            b'{"jsonrpc":"2.0","id":19,"method":"tools/call","params":{"name":"echo","arguments":{"m":"'
            + b"x" * 8000
            + b'"}}}'
        )
        await client.send_line(oversized)
        answer = orjson.loads(await client.read_line())
        assert answer["id"] == 19
        assert answer["error"]["code"] == -32600
        ok = orjson.loads(await call_line(client, 20, "echo", {"message": "still here"}))
        assert "result" in ok
    seen = [orjson.loads(line) for line in server_log.read_bytes().splitlines()]
    calls = [m for m in seen if m.get("method") == "tools/call"]
    assert [m["id"] for m in calls] == [20]


async def test_fifty_concurrent_calls_against_ten_per_minute_let_exactly_ten_through(
    home: Path, write_policy: Callable[[str], Path], tmp_path: Path
) -> None:
    server_log = tmp_path / "server.log"
    policy = write_policy(
        'version: "1"\ntools:\n  echo:\n    rules:\n      - rate_limit: 10/minute\n'
    )
    env = {"TOOLGATE_DEMO_SERVER_LOG": str(server_log)}
    async with raw_client(toolgate(policy, stub_server(), home), env) as client:
        await client.initialize()
        burst = b"\n".join(
            orjson.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 100 + i,
                    "method": "tools/call",
                    "params": {"name": "echo", "arguments": {"message": str(i)}},
                }
            )
            for i in range(50)
        )
        await client.send_line(burst)
        answers = [orjson.loads(await client.response_line(100 + i)) for i in range(50)]
    denied = [a for a in answers if a["result"].get("isError")]
    assert len(denied) == 40
    calls = [
        m
        for m in map(orjson.loads, server_log.read_bytes().splitlines())
        if m.get("method") == "tools/call"
    ]
    assert len(calls) == 10


async def test_a_daily_counter_survives_a_restart(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy('version: "1"\ntools:\n  echo:\n    rules:\n      - rate_limit: 10/day\n')

    async def calls(count: int, first_id: int) -> list[bool]:
        allowed = []
        async with raw_client(toolgate(policy, stub_server(), home)) as client:
            await client.initialize()
            for i in range(count):
                answer = orjson.loads(
                    await call_line(client, first_id + i, "echo", {"message": "m"})
                )
                allowed.append(not answer["result"].get("isError"))
        return allowed

    assert await calls(7, 1) == [True] * 7
    assert await calls(4, 100) == [True, True, True, False]


async def test_a_failed_upstream_call_gives_its_counter_back(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy('version: "1"\ntools:\n  "*":\n    rules:\n      - rate_limit: 2/day\n')
    async with raw_client(toolgate(policy, everything_server(), home)) as client:
        await client.initialize()
        for i in range(4):  # the server answers these with an error: they must not count
            await call_line(client, i + 1, "no-such-tool", {})
        results = [
            orjson.loads(await call_line(client, 10 + i, "echo", {"message": "x"}))["result"]
            for i in range(3)
        ]
    assert [r.get("isError", False) for r in results] == [False, False, True]


async def test_hot_reload_applies_to_the_next_call_and_announces_the_changed_tool_list(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    policy = write_policy('version: "1"\ntools: {}\n')
    async with raw_client(toolgate(policy, everything_server(), home)) as client:
        init = await client.initialize()
        assert init["result"]["capabilities"]["tools"]["listChanged"] is True
        await client.request(1, "tools/list")
        first = orjson.loads(await call_line(client, 2, "echo", {"message": "a"}))
        assert "Echo: a" in first["result"]["content"][0]["text"]
        client.notifications.clear()
        write_policy('version: "1"\nhide: [echo]\ntools: {}\n')
        hidden = orjson.loads(await call_line(client, 3, "echo", {"message": "b"}))
        assert "not found" in orjson.dumps(hidden).decode()
        with anyio.fail_after(10):
            while not any(
                n["method"] == "notifications/tools/list_changed" for n in client.notifications
            ):
                await client.send({"jsonrpc": "2.0", "id": "p", "method": "ping"})
                await client.response_line("p")
        write_policy('version: "1"\nhide: [echo\ntools: {}\n')  # broken: the old policy stays
        still_hidden = orjson.loads(await call_line(client, 4, "echo", {"message": "c"}))
        assert "not found" in orjson.dumps(still_hidden).decode()
        listed = await client.request(5, "tools/list")
        assert "echo" not in [t["name"] for t in listed["result"]["tools"]]
