"""Shadow mode and identity through the enforcement interceptor (memory store, fake clock)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.interceptors.rig import Rig
from tests.interceptors.rig import build as build_rig

from toolgate.pipeline.types import Respond

pytestmark = pytest.mark.anyio

POLICY = """
version: "1"
tools:
  order:
    rules:
      - name: small orders
        mode: shadow
        conditions: [{path: args.qty, op: lte, value: 5}]
        on_deny: orders above 5 would be refused
      - name: burst
        mode: shadow
        rate_limit: 2/minute
      - name: enforced
        rate_limit: 3/hour
  whoami:
    rules:
      - name: alice only
        conditions: [{path: identity.name, op: eq, value: alice}]
"""


def build(tmp_path: Path, identity: str | None = None) -> Rig:
    return build_rig(tmp_path, POLICY, identity=identity)


async def test_a_shadow_denial_is_forwarded_and_logged_as_would_deny(tmp_path: Path) -> None:
    rig = build(tmp_path)
    event = await rig.settle(await rig.call("order", {"qty": 9}), {"content": []})
    assert (event.outcome, event.mode) == ("allowed", "shadow")
    assert event.would == {
        "effect": "deny",
        "reason": "condition_failed",
        "rule": "tools.order.rules[0]",
        "message": "orders above 5 would be refused",
    }


async def test_a_shadow_limit_never_blocks_but_the_enforced_limit_does(tmp_path: Path) -> None:
    rig = build(tmp_path)
    events = [await rig.settle(await rig.call("order", {"qty": 1}), {"content": []})]
    events.append(await rig.settle(await rig.call("order", {"qty": 1}), {"content": []}))
    events.append(await rig.settle(await rig.call("order", {"qty": 1}), {"content": []}))
    assert [e.mode for e in events] == ["enforce", "enforce", "shadow"]
    assert events[2].would is not None and events[2].would["reason"] == "limit"
    assert events[2].would["rule"] == "tools.order.rules[1]"
    refused = await rig.call("order", {"qty": 1})
    assert isinstance(refused, Respond)  # the fourth call meets the enforced 3/hour


async def test_a_failed_call_rolls_back_shadow_counters_too(tmp_path: Path) -> None:
    rig = build(tmp_path)
    for _ in range(3):
        event = await rig.settle(await rig.call("order", {"qty": 1}), {"isError": True})
        assert event.would is None  # nothing was counted, so the shadow limit never fills


async def test_the_configured_identity_is_readable_in_conditions_and_logged(
    tmp_path: Path,
) -> None:
    alice = build(tmp_path, identity="alice")
    event = await alice.settle(await alice.call("whoami", {}), {"content": []})
    assert (event.outcome, event.identity) == ("allowed", "alice")
    nobody = build(tmp_path)
    assert isinstance(await nobody.call("whoami", {}), Respond)
    assert nobody.sink.events[-1].outcome == "denied"
