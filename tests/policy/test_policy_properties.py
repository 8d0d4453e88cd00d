"""Property-based tests of the condition engine: every operator, path kind and `expr:` condition.

What is checked, for any JSON value an agent can send (nested lists and objects, huge and tiny
numbers, numeric and non-numeric strings; no NaN or infinity, which JSON cannot carry):

- `evaluate` never raises, and `counters_needed` never raises for an object of arguments;
- `not` inverts a condition exactly. That includes missing values: a plain condition on a path
  that does not resolve is false (except `exists: false`), so its `not` holds; an `expr:` that
  errors (a missing key, a type mismatch) is false, so its `not` holds too. `not` is boolean
  negation of the condition's outcome, not a "defined and false" test;
- `any` / `all` obey their laws: any([c]) == c, all([c]) == c, all(a, b) == all(b, a),
  any(a, b) == not all(not a, not b).

Examples are bounded so the file runs in seconds; deadlines are off (CI machines vary).
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolgate.policy import CallFacts, Effect, Policy, evaluate, load_policy_text
from toolgate.policy.decision import Decision
from toolgate.policy.evaluator import counters_needed

# TOOLGATE_PROPERTY_EXAMPLES=5000 hunts harder (randomised); CI runs a fixed, derandomised set.
HUNT = int(os.environ.get("TOOLGATE_PROPERTY_EXAMPLES", "0"))
PROPERTY_SETTINGS = settings(
    max_examples=HUNT or 120,
    deadline=None,
    derandomize=not HUNT,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- the JSON an agent may send ----------------------------------------------------------------

EDGE_NUMBERS = [0, -0.0, 1e308, -1e308, 5e-324, 2**63, -(2**63) - 1, 10**40, 0.1, 0.1 + 0.2]
EDGE_STRINGS = ["0.01", "-3", "5.0000001", "1e3", "+1", ".5", " 1", "NaN", "٣", "a", "", "a*z"]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(EDGE_NUMBERS)
    | st.sampled_from(EDGE_STRINGS)
    | st.text(max_size=12)
)
KEYS = st.sampled_from(["k", "v", "w", "0", ""]) | st.text(max_size=3)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=16,
)
ARGUMENTS = st.dictionaries(
    st.sampled_from(["v", "w", "k"]) | st.text(max_size=3), JSON, max_size=4
)
IDENTITY = st.none() | st.sampled_from(["desk", "intern"]) | st.text(max_size=6)
ATTRIBUTES = st.dictionaries(st.sampled_from(["team", "name"]), JSON, max_size=2)
NOW = st.integers(min_value=0, max_value=4_102_444_800) | st.floats(
    min_value=0, max_value=4_102_444_800, allow_nan=False
)


@st.composite
def call_facts(draw: st.DrawFn, arguments: st.SearchStrategy[Any] = ARGUMENTS) -> CallFacts:
    return CallFacts(
        "(set per tool)",
        draw(arguments),
        now=draw(NOW),
        identity=draw(IDENTITY),
        session=draw(st.none() | st.just("s1")),
        identity_attributes=draw(ATTRIBUTES),
    )


# -- conditions over every operator, path kind and CEL -------------------------------------------

OPERANDS: list[tuple[str, object]] = [
    ("eq", 5),
    ("eq", "a"),
    ("eq", None),
    ("eq", [1, "a"]),
    ("eq", {"k": 1}),
    ("neq", 5),
    ("in", [1, "a", None, True, 0.1]),
    ("not_in", [1, "a", None]),
    ("lt", 10),
    ("lte", 0.1),
    ("gt", -3),
    ("gte", 2.5),
    ("regex", "^a"),
    ("contains", "a"),
    ("contains", 1),
    ("exists", True),
    ("exists", False),
    ("starts_with", "a"),
    ("ends_with", "z"),
    ("glob", "a*[0-9]?"),
    ("not_contains", "a"),
    ("len_lte", 2),
    ("len_gte", 1),
]
ARG_PATHS = [
    "args.v",
    "args.v.k",
    "args.v[0]",
    "args.v[*]",
    "args.v[*].k",
    "args.v[0][*]",
    "args.v.k[1]",
    "args.absent",
]
FACT_PATHS = [
    "identity.name",
    "identity.team",
    "tool.category",
    "tool.risk",
    "time.hour",
    "time.minute",
    "time.weekday",
]
EXPRESSIONS = [
    "args.v > 1",
    'args.v == "a"',
    "has(args.v) && size(args.v) > 0",
    "args.v[0] == 1",
    "args.v.k == true",
    "double(args.v) <= 0.5",
    "int(args.v) + 1 > 0",
    "args.v.exists(x, x == 1)",
    'args.v in ["a", "b"]',
    'string(args.v).startsWith("a")',
    'identity.name == "desk" && time.hour < 12',
    'has(identity.team) && identity.team == "ops"',
    'has(tool.risk) && tool.risk == "low"',
    "time.weekday < 5 && time.unix > 0",
    "args.v * 2 == args.w",
]


def plain(path: str, op: str, value: object) -> dict[str, object]:
    return {"path": path, "op": op, "value": value}


CONDITIONS: list[dict[str, object]] = [
    *(plain(path, op, value) for path in ARG_PATHS for op, value in OPERANDS),
    *(plain(path, op, value) for path in FACT_PATHS for op, value in OPERANDS),
    *({"expr": text} for text in EXPRESSIONS),
]
CLASSIFY = {"c*": "read", "n*": "read", "p*": "write"}


def compile_policy(tools: Mapping[str, list[dict[str, object]]], **top: object) -> Policy:
    document = {
        "version": "1",
        "default": "deny",
        "classify": CLASSIFY,
        **top,
        "tools": {name: {"rules": [{"name": "r", "conditions": c}]} for name, c in tools.items()},
    }
    return load_policy_text(orjson.dumps(document).decode(), "properties.json")


# One tool per condition (`c<i>`) and one per negated condition (`n<i>`), compiled once.
SINGLES = compile_policy(
    {f"c{i}": [c] for i, c in enumerate(CONDITIONS)}
    | {f"n{i}": [{"not": c}] for i, c in enumerate(CONDITIONS)}
)

# Counters of every kind, keyed and scoped by values the agent controls.
COUNTED = load_policy_text(
    orjson.dumps(
        {
            "version": "1",
            "tools": {
                "spend": {
                    "rules": [
                        {
                            "name": "notional",
                            "spend": {
                                "amount": "args.v * args.w",
                                "per_call": 1000,
                                "daily": "5000.5",
                                "key": "args.k",
                                "scope": "identity",
                            },
                        }
                    ]
                },
                "state": {
                    "rules": [
                        {
                            "name": "budget",
                            "conditions": [plain("state.state.budget", "lte", 100)],
                            "state": {
                                "counter": "budget",
                                "window": "day",
                                "increment_from": "args.v",
                                "key": "args.k",
                                "scope": "session",
                            },
                        },
                        {"rate_limit": {"max": 3, "window": "minute", "key": "args.w"}},
                        {"name": "cel", "conditions": [{"expr": "state.state.budget < 50"}]},
                    ]
                },
            },
        }
    ).decode(),
    "counted.json",
)


def decide(policy: Policy, tool: str, facts: CallFacts) -> Decision:
    return evaluate(policy, CallFacts(
        tool, facts.arguments, facts.now, facts.identity, facts.session, facts.counters,
        facts.identity_attributes,
    ))  # fmt: skip


def holds(policy: Policy, tool: str, facts: CallFacts) -> bool:
    decision = decide(policy, tool, facts)
    assert decision.effect in (Effect.ALLOW, Effect.DENY), decision
    return decision.effect is Effect.ALLOW


# -- properties ---------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(call_facts(ARGUMENTS | JSON))
def test_no_exception_escapes_evaluate_for_any_json_value_at_any_path(facts: CallFacts) -> None:
    for index in range(len(CONDITIONS)):
        for prefix in ("c", "n"):
            assert isinstance(decide(SINGLES, f"{prefix}{index}", facts), Decision)


@PROPERTY_SETTINGS
@given(call_facts(ARGUMENTS | JSON), st.sampled_from([Decimal(0), Decimal("49.5"), Decimal(101)]))
def test_no_exception_escapes_counter_rules_keyed_and_charged_by_any_json_value(
    facts: CallFacts, current: Decimal
) -> None:
    for tool in ("spend", "state", "unlisted"):
        facts = CallFacts(
            tool, facts.arguments, facts.now, facts.identity, facts.session, {},
            facts.identity_attributes,
        )  # fmt: skip
        if isinstance(facts.arguments, Mapping):
            refs = counters_needed(COUNTED, facts)
            facts = facts.with_counters(dict.fromkeys(refs, current))
        decision = evaluate(COUNTED, facts)
        assert isinstance(decision, Decision)
        for charge in decision.charges:
            assert charge.amount.is_finite() and charge.amount >= 0


@PROPERTY_SETTINGS
@given(call_facts())
def test_not_inverts_every_condition_including_on_missing_values(facts: CallFacts) -> None:
    for index in range(len(CONDITIONS)):
        assert holds(SINGLES, f"c{index}", facts) is not holds(SINGLES, f"n{index}", facts), (
            CONDITIONS[index]
        )


def test_a_missing_value_makes_every_plain_condition_false_except_exists_false() -> None:
    facts = CallFacts("", {}, now=0.0)
    for index, condition in enumerate(CONDITIONS):
        if condition.get("path") != "args.absent":
            continue
        expected = condition["op"] == "exists" and condition["value"] is False
        assert holds(SINGLES, f"c{index}", facts) is expected, condition
        assert holds(SINGLES, f"n{index}", facts) is not expected, condition


def test_a_failing_expression_is_false_and_its_negation_holds() -> None:
    facts = CallFacts("", {"v": "not a number"}, now=0.0)
    index = CONDITIONS.index({"expr": "args.v > 1"})
    assert not holds(SINGLES, f"c{index}", facts)
    assert holds(SINGLES, f"n{index}", facts)


# A smaller pool for the pairwise laws: one condition per operator on the plain path, the path
# kinds on one operator, and every expression.
LAW_POOL = [
    *(plain("args.v", op, value) for op, value in OPERANDS),
    *(plain(path, "exists", True) for path in ARG_PATHS),
    *(plain(path, "eq", 1) for path in FACT_PATHS),
    *({"expr": text} for text in EXPRESSIONS),
]


@functools.cache
def law_policy(a: int, b: int) -> Policy:
    x, y = LAW_POOL[a], LAW_POOL[b]
    return compile_policy(
        {
            "p_a": [x],
            "p_b": [y],
            "p_any_a": [{"any": [x]}],
            "p_all_a": [{"all": [x]}],
            "p_all_ab": [{"all": [x, y]}],
            "p_all_ba": [{"all": [y, x]}],
            "p_any_ab": [{"any": [x, y]}],
            "p_not_all_not": [{"not": {"all": [{"not": x}, {"not": y}]}}],
            "p_list_ab": [x, y],  # a rule's conditions list is an implicit all
        }
    )


INDEX = st.integers(min_value=0, max_value=len(LAW_POOL) - 1)


@PROPERTY_SETTINGS
@given(INDEX, INDEX, call_facts())
def test_any_and_all_obey_identity_commutativity_and_de_morgan(
    a: int, b: int, facts: CallFacts
) -> None:
    policy = law_policy(a, b)
    result = {tool: holds(policy, tool, facts) for tool in policy_tools()}
    assert result["p_any_a"] is result["p_a"]
    assert result["p_all_a"] is result["p_a"]
    assert result["p_all_ab"] is result["p_all_ba"] is result["p_list_ab"]
    assert result["p_all_ab"] is (result["p_a"] and result["p_b"])
    assert result["p_any_ab"] is (result["p_a"] or result["p_b"])
    assert result["p_any_ab"] is result["p_not_all_not"]


def policy_tools() -> list[str]:
    return [
        "p_a", "p_b", "p_any_a", "p_all_a", "p_all_ab", "p_all_ba", "p_any_ab", "p_not_all_not",
        "p_list_ab",
    ]  # fmt: skip


def test_the_law_pool_covers_every_operator_and_path_kind() -> None:
    ops = {c["op"] for c in LAW_POOL if "op" in c}
    assert ops == {op for op, _ in OPERANDS}
    assert {c["path"] for c in LAW_POOL if "path" in c} >= set(ARG_PATHS) | set(FACT_PATHS)
    assert len(list(itertools.combinations(range(len(LAW_POOL)), 2))) > 100
