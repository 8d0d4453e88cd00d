"""The enforcement interceptor, driven directly with a memory store and a fake clock."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.interceptors.rig import Rig, answer, forward_unchanged
from tests.interceptors.rig import build as build_rig

from toolgate.clock import FakeClock
from toolgate.errors import StoreError
from toolgate.jsonrpc.message import Message, parse, result_response
from toolgate.pipeline.types import Forward, Respond
from toolgate.stores.base import BucketKey, ReserveItem, ReserveResult
from toolgate.stores.memory import MemoryCounterStore

pytestmark = pytest.mark.anyio

POLICY = """
version: "1"
hide: [secret]
tools:
  pay:
    rules:
      - name: cap
        conditions: [{path: state.pay.spent, op: lte, value: 10}]
        state: {counter: spent, window: day, increment_from: args.amount}
        on_deny: "spend cap reached"
  ask:
    rules:
      - {name: human, action: require_approval}
  "*":
    rules:
      - rate_limit: 100/minute
"""


class BrokenStore(MemoryCounterStore):
    async def reserve(self, items: Sequence[ReserveItem]) -> ReserveResult:
        raise StoreError("disk on fire")

    async def get(self, buckets: Sequence[BucketKey]) -> list[Decimal]:
        raise StoreError("disk on fire")


def build(tmp_path: Path, store: MemoryCounterStore | None = None) -> Rig:
    return build_rig(tmp_path, POLICY, store=store)


async def test_an_allowed_call_is_forwarded_unchanged_and_logged_when_it_settles(
    tmp_path: Path,
) -> None:
    rig = build(tmp_path)
    outcome = await rig.call("pay", {"amount": 4})
    assert isinstance(outcome, Forward)
    assert outcome.data is None
    assert rig.sink.events == []
    await rig.settle(outcome, {"content": []})
    (event,) = rig.sink.events
    assert (event.outcome, event.upstream, event.tool) == ("allowed", "ok", "pay")
    assert event.arg_keys == ["amount"]
    assert event.args_hash is not None and "4" not in event.args_hash.split(":")[0]


async def test_a_spend_cap_denies_the_call_that_would_cross_it(tmp_path: Path) -> None:
    rig = build(tmp_path)
    first = await rig.call("pay", {"amount": 6})
    await rig.settle(first, {"content": []})
    denied = answer(await rig.call("pay", {"amount": 5}))
    assert denied["result"]["content"][0]["text"] == "[POLICY DENIED] spend cap reached"
    assert denied["result"]["_meta"]["dev.toolgate/decision"]["reason"] == "limit"
    allowed = await rig.call("pay", {"amount": 4})
    assert isinstance(allowed, Forward)


async def test_an_is_error_result_gives_the_spend_back(tmp_path: Path) -> None:
    rig = build(tmp_path)
    failed = await rig.call("pay", {"amount": 10})
    await rig.settle(failed, {"content": [], "isError": True})
    again = await rig.call("pay", {"amount": 10})
    assert isinstance(again, Forward)
    assert rig.sink.events[0].upstream == "is_error"


async def test_a_negative_amount_is_refused_and_logged_as_an_error(tmp_path: Path) -> None:
    rig = build(tmp_path)
    refused = answer(await rig.call("pay", {"amount": -100}))
    assert refused["result"]["isError"] is True
    assert rig.sink.events[-1].outcome == "error"


@pytest.mark.parametrize(("name", "arguments"), [("pay", [1]), ("pay", "x"), (None, {}), (7, {})])
async def test_malformed_params_get_an_invalid_params_error(
    tmp_path: Path, name: Any, arguments: Any
) -> None:
    rig = build(tmp_path)
    refused = answer(await rig.call(name, arguments))
    assert refused["error"]["code"] == -32602
    assert rig.sink.events[-1].outcome == "error"


async def test_a_failing_store_denies_instead_of_forwarding(tmp_path: Path) -> None:
    rig = build(tmp_path, BrokenStore(FakeClock()))
    refused = answer(await rig.call("pay", {"amount": 1}))
    assert refused["result"]["isError"] is True
    assert "counter store is unavailable" in refused["result"]["content"][0]["text"]


async def test_approval_rules_deny_with_an_honest_message_in_this_build(tmp_path: Path) -> None:
    rig = build(tmp_path)
    refused = answer(await rig.call("ask", {}))
    assert "approval is not available in this build" in refused["result"]["content"][0]["text"]


async def test_modern_requests_get_modern_denials(tmp_path: Path) -> None:
    rig = build(tmp_path)
    refused = answer(await rig.call("ask", {}, modern=True))
    assert refused["result"]["resultType"] == "complete"


async def test_the_first_hidden_call_probes_with_a_name_that_cannot_exist(tmp_path: Path) -> None:
    rig = build(tmp_path)
    probe = await rig.call("secret", {"password": "hunter2"})
    assert isinstance(probe, Forward) and probe.data is not None
    sent = orjson.loads(probe.data)
    assert sent["params"]["name"].startswith("toolgate-no-such-tool-")
    assert sent["params"]["arguments"] == {}
    assert b"secret" not in probe.data and b"hunter2" not in probe.data
    assert probe.on_response is not None
    upstream = parse(
        orjson.dumps(
            {
                "jsonrpc": "2.0",
                "id": rig.next_id,
                "error": {"code": -32602, "message": f"Tool {sent['params']['name']} not found"},
            }
        )
    )
    assert isinstance(upstream, Message)
    replaced = await probe.on_response(upstream)
    assert replaced is not None
    assert orjson.loads(replaced)["error"]["message"] == "Tool secret not found"
    second = answer(await rig.call("secret", {}))
    assert second == {
        "jsonrpc": "2.0",
        "id": rig.next_id,
        "error": {"code": -32602, "message": "Tool secret not found"},
    }
    assert [e.outcome for e in rig.sink.events] == ["hidden", "hidden"]


async def test_tools_list_hides_hidden_tools(tmp_path: Path) -> None:
    rig = build(tmp_path)
    request = parse(b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}')
    assert isinstance(request, Message)

    outcome = await rig.enforcer(request, rig.session, forward_unchanged)
    assert isinstance(outcome, Forward) and outcome.on_response is not None
    listing = {"tools": [{"name": "secret"}, {"name": "pay"}], "_meta": {"k": 1}}
    response = parse(result_response(1, listing))
    assert isinstance(response, Message)
    filtered = await outcome.on_response(response)
    assert filtered is not None
    assert orjson.loads(filtered)["result"] == {"tools": [{"name": "pay"}], "_meta": {"k": 1}}
    assert rig.enforcer.seen_tools == {"secret", "pay"}


async def test_numeric_conditions_compare_every_digit_of_the_agents_number(tmp_path: Path) -> None:
    rig = build_rig(
        tmp_path,
        'version: "1"\ntools:\n  order:\n    rules:\n      - name: cap\n        conditions:\n'
        "          - {path: args.qty, op: lte, value: 0.12345678901234567890}\n",
    )

    def request(qty: bytes) -> Message:
        raw = (
            b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"order","arguments":{"qty":'
            + qty
            + b"}}}"
        )
        message = parse(raw)
        assert isinstance(message, Message)
        return message

    # As 64-bit floats these two are the same number; exactly, the second is over the cap.
    within = await rig.enforcer(request(b"0.12345678901234567890"), rig.session, forward_unchanged)
    assert isinstance(within, Forward)
    over = await rig.enforcer(request(b"0.12345678901234567891"), rig.session, forward_unchanged)
    assert isinstance(over, Respond)


async def test_a_policy_reload_keeps_the_counts_already_made(tmp_path: Path) -> None:
    rig = build(tmp_path)
    first = await rig.call("pay", {"amount": 6})
    await rig.settle(first, {"content": []})
    reworded = POLICY.replace('on_deny: "spend cap reached"', 'on_deny: "cap reached (v2)"')
    (tmp_path / "policy.yaml").write_text(reworded)
    denied = answer(await rig.call("pay", {"amount": 5}))
    assert denied["result"]["content"][0]["text"] == "[POLICY DENIED] cap reached (v2)"
    assert rig.enforcer.source.reloads == 1
