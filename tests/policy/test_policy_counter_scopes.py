"""Counter scopes (`global | identity | session`) and keys (`key: args.symbol`), golden tables."""

from __future__ import annotations

import pytest

from tests.policy.policy_cases import errors_of, policy
from tests.quota.gate import gate
from toolgate.policy.counter_scope import key_text

pytestmark = pytest.mark.anyio

PER_SYMBOL = """
tools:
  t:
    rules:
      - rate_limit: {max: 2, window: minute, key: args.symbol}
"""
PER_IDENTITY = """
tools:
  t:
    rules:
      - rate_limit: {max: 1, window: minute, scope: identity}
"""
PER_SESSION = """
tools:
  t:
    rules:
      - rate_limit: {max: 1, window: hour, scope: session}
"""
STATE_PER_IDENTITY_AND_SYMBOL = """
tools:
  t:
    rules:
      - name: per desk per symbol
        conditions: [{path: state.t.orders, op: lte, value: 2}]
        state: {counter: orders, window: day, scope: identity, key: args.symbol}
"""


async def test_a_keyed_rate_limit_counts_each_argument_value_separately() -> None:
    g = gate(PER_SYMBOL)
    assert await g.calls(3, arguments={"symbol": "BTC"}) == ["allow", "allow", "limit"]
    assert await g.calls(3, arguments={"symbol": "ETH"}) == ["allow", "allow", "limit"]


@pytest.mark.parametrize(
    ("first", "second"),
    [(1, "1"), (1, 1.0), ("1.50", 1.5), (True, "true")],
    ids=["int-vs-string", "int-vs-float", "string-vs-float", "bool-vs-string"],
)
async def test_values_that_mean_the_same_number_share_one_keyed_counter(
    first: object, second: object
) -> None:
    g = gate(PER_SYMBOL)
    assert await g.call(arguments={"symbol": first}) == "allow"
    assert await g.call(arguments={"symbol": second}) == "allow"
    assert await g.call(arguments={"symbol": first}) == "limit"


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({}, "args.symbol, which is missing"),
        ({"symbol": None}, "args.symbol, which is null"),
        ({"symbol": ["BTC"]}, "args.symbol, which is a list"),
        ({"symbol": {"s": "BTC"}}, "args.symbol, which is a mapping"),
    ],
    ids=["missing", "null", "list", "mapping"],
)
async def test_a_missing_or_non_scalar_key_value_fails_closed(
    arguments: dict[str, object], problem: str
) -> None:
    g = gate(PER_SYMBOL)
    assert await g.call(arguments=arguments) == "invalid_call"
    assert problem in g.last_message
    assert g.last is not None and g.last.charges == ()


async def test_an_identity_scoped_counter_is_one_counter_per_identity() -> None:
    g = gate(PER_IDENTITY)
    assert await g.call(identity="alice") == "allow"
    assert await g.call(identity="alice") == "limit"
    assert await g.call(identity="bob") == "allow"


async def test_an_identity_scoped_counter_without_an_identity_fails_closed() -> None:
    g = gate(PER_IDENTITY)
    assert await g.call(identity=None) == "invalid_call"
    assert "--identity" in g.last_message
    assert await g.call(identity="") == "invalid_call"


async def test_a_session_scoped_counter_is_one_counter_per_session() -> None:
    g = gate(PER_SESSION)
    assert await g.call(session="s1") == "allow"
    assert await g.call(session="s1") == "limit"
    assert await g.call(session="s2") == "allow"
    assert await g.call(session=None) == "invalid_call"


async def test_a_scoped_keyed_state_counter_is_read_and_charged_per_identity_and_value() -> None:
    g = gate(STATE_PER_IDENTITY_AND_SYMBOL)
    btc, eth = {"symbol": "BTC"}, {"symbol": "ETH"}
    runs = [await g.call(arguments=btc, identity="a") for _ in range(3)]
    assert runs == ["allow", "allow", "limit"]
    assert await g.call(arguments=eth, identity="a") == "allow"
    assert await g.call(arguments=btc, identity="b") == "allow"


async def test_a_global_counter_stays_shared_by_every_identity() -> None:
    g = gate("tools:\n  t:\n    rules:\n      - rate_limit: 1/minute\n")
    assert await g.call(identity="alice") == "allow"
    assert await g.call(identity="bob") == "limit"


@pytest.mark.parametrize(
    ("value", "key"),
    [("BTC", "BTC"), (7, "7"), (7.0, "7"), ("0.50", "0.5"), (False, "false"), ("", "")],
)
def test_key_values_have_one_canonical_text(value: object, key: str) -> None:
    assert key_text(value) == key


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{rate_limit: {max: 2, window: minute, scope: team}}", "scope must be one of"),
        ("{rate_limit: {max: 2, window: minute, key: symbol}}", 'must start with "args."'),
        ("{rate_limit: {max: 2, window: minute, key: 'args.o[*].s'}}", "not [*]"),
        ("{rate_limit: {max: 0, window: minute}}", "max must be a positive integer"),
        ("{rate_limit: {window: minute}}", 'missing required key "max"'),
        ("{rate_limit: {max: 1, window: minute, per: x}}", 'unknown key "per"'),
    ],
)
def test_invalid_scopes_and_keys_are_located_errors(rule: str, message: str) -> None:
    errors = errors_of(f"tools:\n  t:\n    rules:\n      - {rule}\n")
    assert any(message in error.message for error in errors), errors


def test_a_condition_may_read_a_scoped_counter_declared_further_down() -> None:
    compiled = policy(
        """
        tools:
          u:
            rules:
              - name: reads
                conditions: [{path: state.t.orders, op: lt, value: 5}]
          t:
            rules:
              - name: counts
                conditions: [{path: args.x, op: eq, value: 1}]
                state: {counter: orders, window: day, scope: session, key: args.symbol}
        """
    )
    (reader,) = compiled.tools["u"]
    assert [(ref.scope, ref.key_path) for ref in reader.scoped] == [("session", "args.symbol")]
