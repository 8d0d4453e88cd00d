"""Golden table for richer paths: array indexes, [*], identity, tool classification and time."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.policy.policy_cases import call, errors_of, one_rule, policy
from toolgate.policy import Effect, evaluate

MONDAY_0930 = 1_767_000_000 - (1_767_000_000 % 604_800) + 4 * 86_400 + 9 * 3600 + 30 * 60


def holds(condition: str, arguments: object = None, **facts: object) -> bool:
    compiled = one_rule(f"{{name: r, conditions: [{condition}]}}")
    decision = evaluate(compiled, replace(call("t", arguments), **facts))  # type: ignore[arg-type]
    return decision.effect is Effect.ALLOW


ORDERS = {"orders": [{"qty": 1, "symbol": "BTCUSDT"}, {"qty": 50, "symbol": "ETHUSDT"}]}

CASES = [
    ("index-reads-element", "{path: 'args.orders[0].qty', op: eq, value: 1}", ORDERS, True),
    ("index-out-of-range-is-missing", "{path: 'args.orders[5].qty', op: exists, value: false}",
     ORDERS, True),
    ("index-on-object-is-missing", "{path: 'args.orders[0]', op: exists, value: false}",
     {"orders": {"0": 1}}, True),
    ("star-holds-when-any-element-does", "{path: 'args.orders[*].qty', op: gt, value: 10}",
     ORDERS, True),
    ("star-fails-when-no-element-does", "{path: 'args.orders[*].qty', op: gt, value: 100}",
     ORDERS, False),
    ("not-star-means-none", "{not: {path: 'args.orders[*].qty', op: gt, value: 10}}",
     ORDERS, False),
    ("star-over-empty-list-fails", "{path: 'args.orders[*].qty', op: gte, value: 0}",
     {"orders": []}, False),
    ("star-over-non-list-fails", "{path: 'args.orders[*]', op: exists, value: true}",
     {"orders": "x"}, False),
    ("nested-stars", "{path: 'args.a[*][*]', op: eq, value: 3}", {"a": [[1], [2, 3]]}, True),
    ("dotted-keys-still-work", "{path: args.a.b, op: eq, value: 1}", {"a": {"b": 1}}, True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("condition", "arguments", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_array_paths_read_indexes_and_any_element(
    condition: str, arguments: object, expected: bool
) -> None:
    assert holds(condition, arguments) is expected


def test_identity_name_and_attributes_come_from_the_facts() -> None:
    name = "{path: identity.name, op: eq, value: alice}"
    assert holds(name, identity="alice")
    assert not holds(name, identity="bob")
    assert not holds(name)  # no identity: missing
    assert holds("{path: identity.name, op: exists, value: false}")
    team = "{path: identity.team, op: eq, value: desk}"
    assert holds(team, identity="alice", identity_attributes={"team": "desk"})


def test_time_hour_and_weekday_are_utc_from_the_injected_clock() -> None:
    assert holds("{path: time.weekday, op: eq, value: 0}", now=float(MONDAY_0930))
    assert holds("{path: time.hour, op: eq, value: 9}", now=float(MONDAY_0930))
    assert holds("{path: time.minute, op: eq, value: 30}", now=float(MONDAY_0930))
    trading = "{path: time.weekday, op: lte, value: 4}"
    assert not holds(trading, now=float(MONDAY_0930 + 5 * 86_400))  # Saturday


CLASSIFIED = """
classify:
  bn_withdraw: financial
  "bn_get_*": read
  "bn_*": write
tools:
  "*":
    rules:
      - name: no critical tools
        conditions: [{path: tool.risk, op: neq, value: critical}]
      - name: known category
        conditions: [{path: tool.category, op: in, value: [read, write, financial]}]
"""

TOOL_CASES = [
    ("exact-classification-wins", "bn_withdraw", "deny", "tools.*.rules[0]"),
    ("first-glob-in-file-order", "bn_get_price", "allow", None),
    ("later-glob", "bn_new_order", "allow", None),
    ("unclassified-tool-has-no-category", "other", "deny", "tools.*.rules[0]"),
]


@pytest.mark.parametrize(
    ("tool", "effect", "rule"), [c[1:] for c in TOOL_CASES], ids=[c[0] for c in TOOL_CASES]
)
def test_tool_category_and_risk_come_from_the_classify_map(
    tool: str, effect: str, rule: str | None
) -> None:
    decision = evaluate(policy(CLASSIFIED), call(tool))
    assert (decision.effect.value, decision.rule_id) == (effect, rule)


ERRORS = [
    ("index-syntax", "{path: 'args.a[x]', op: exists, value: true}", "must be a key"),
    ("unknown-time-field", "{path: time.second, op: eq, value: 1}",
     'time paths must look like "time.hour|minute|weekday"'),
    ("unknown-tool-field", "{path: tool.name, op: eq, value: 1}",
     'tool paths must look like "tool.risk|category"'),
    ("bare-identity", "{path: identity, op: eq, value: 1}",
     'identity paths must look like "identity.<attribute>"'),
]  # fmt: skip


@pytest.mark.parametrize(("item", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_bad_paths_are_located_errors(item: str, message: str) -> None:
    [error] = errors_of(f"tools:\n  t:\n    rules:\n      - {{name: r, conditions: [{item}]}}\n")
    assert error.path == "tools.t.rules[0].conditions[0]"
    assert message in error.message


def test_a_bad_category_is_a_located_error() -> None:
    [error] = errors_of("classify:\n  a: dangerous\ntools: {}\n")
    assert error.path == "classify.a"
    assert error.message.startswith('category must be one of "read", "write"')


def test_increment_from_refuses_any_element_paths() -> None:
    [error] = errors_of(
        "tools:\n  t:\n    rules:\n      - name: r\n"
        "        conditions: [{path: state.t.n, op: lte, value: 5}]\n"
        "        state: {counter: n, window: day, increment_from: 'args.o[*].q'}\n"
    )
    assert error.message == "increment_from must name one value, not [*]"


COMPUTED_CASES = [
    ("computed-classification-feeds-category-and-risk", "x_transfer", ("financial", "critical"),
     "deny", "tools.*.rules[0]"),
    ("computed-read-is-allowed", "x_balance", ("read", "low"), "allow", None),
    ("classify-map-overrides-the-computed-class", "bn_get_price", ("financial", "critical"),
     "allow", None),
    ("no-computed-classification-reads-as-missing", "other", None, "deny", "tools.*.rules[0]"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("tool", "computed", "effect", "rule"),
    [c[1:] for c in COMPUTED_CASES],
    ids=[c[0] for c in COMPUTED_CASES],
)
def test_the_gateways_classification_fills_tool_facts_the_classify_map_does_not_name(
    tool: str, computed: tuple[str, str] | None, effect: str, rule: str | None
) -> None:
    facts = replace(call(tool), tool_classification=computed)
    decision = evaluate(policy(CLASSIFIED), facts)
    assert (decision.effect.value, decision.rule_id) == (effect, rule)


def test_an_expr_condition_sees_the_gateways_classification() -> None:
    compiled = one_rule("{name: r, conditions: [{expr: 'tool.category != \"financial\"'}]}")
    facts = replace(call("t"), tool_classification=("financial", "critical"))
    assert evaluate(compiled, facts).effect is Effect.DENY
    read = replace(call("t"), tool_classification=("read", "low"))
    assert evaluate(compiled, read).effect is Effect.ALLOW


def test_a_policy_reads_tool_class_only_when_a_condition_may_read_tool_facts() -> None:
    assert policy(CLASSIFIED).reads_tool_class()
    assert one_rule("{name: r, conditions: [{expr: 'args.a == 1'}]}").reads_tool_class()
    assert not one_rule(
        "{name: r, conditions: [{path: args.a, op: eq, value: 1}]}"
    ).reads_tool_class()
