# ruff: noqa: E501 - policy texts and expected messages read best on one line
"""Policy lints: each with a case that triggers it and one that does not."""

from __future__ import annotations

import pytest

from toolgate.policy import load_policy_text
from toolgate.policy.lint import lint_policy
from toolgate.policy.lint_catalog import catalogue_tools, lint_catalogue
from toolgate.policy.lint_regex import regex_risk


def _lint(body: str) -> list[str]:
    policy = load_policy_text('version: "1"\n' + body, "p.yaml")
    return [f"{f.path}: {f.message}" for f in lint_policy(policy)]


def _rule(conditions: str, extra: str = "") -> str:
    return f"tools:\n  t:\n    rules:\n      - name: r\n        conditions: {conditions}\n{extra}"


def test_contradictory_bounds_on_one_path_are_reported() -> None:
    found = _lint(_rule("[{path: args.x, op: lt, value: 5}, {path: args.x, op: gt, value: 10}]"))
    assert found and "can never pass" in found[0] and "args.x" in found[0]


def test_compatible_bounds_on_one_path_are_not_reported() -> None:
    assert (
        _lint(_rule("[{path: args.x, op: gt, value: 5}, {path: args.x, op: lte, value: 10}]")) == []
    )


def test_an_approval_rule_with_two_different_eq_values_can_never_fire() -> None:
    body = _rule(
        "[{path: args.s, op: eq, value: a}, {path: args.s, op: eq, value: b}]",
        "        action: require_approval\n",
    )
    assert "can never fire" in _lint(body)[0]


def test_a_deny_if_with_contradictory_conditions_can_never_fire() -> None:
    text = '{"version": "1", "default": "allow", "tools": {"t": {"deny_if": [{"conditions": [{"path": "args.x", "op": "lt", "value": 1}, {"path": "args.x", "op": "gt", "value": 2}]}]}}}'
    found = [f.message for f in lint_policy(load_policy_text(text, "p.json"))]
    assert found and "can never fire" in found[0]


def test_a_counter_without_an_lt_or_lte_on_its_own_path_is_reported() -> None:
    body = _rule(
        "[{path: args.x, op: exists, value: true}]",
        "        state: {counter: n, window: day, increment: 1}\n",
    )
    found = _lint(body)
    assert found == [
        'tools.t.rules[0].state: counter "n" is never reserved against a limit: no lt/lte condition on its own state path in this rule, so it only counts'
    ]


def test_a_counter_bounded_by_its_own_path_is_not_reported() -> None:
    body = _rule(
        "[{path: state.t.n, op: lt, value: 5}]",
        "        state: {counter: n, window: day, increment: 1}\n",
    )
    assert _lint(body) == []


def test_rules_after_an_unconditional_deny_are_reported_as_shadowed() -> None:
    body = "tools:\n  t:\n    rules:\n      - {name: block, action: deny}\n      - {name: later, rate_limit: 1/minute}\n"
    assert _lint(body) == [
        'tools.t.rules[1]: never evaluated: rule "block" before it denies every call'
    ]


def test_a_deny_after_other_rules_shadows_nothing_before_it() -> None:
    body = "tools:\n  t:\n    rules:\n      - {name: first, rate_limit: 1/minute}\n      - {name: block, action: deny}\n"
    assert _lint(body) == []


def test_rules_of_a_hidden_tool_are_reported_as_never_evaluated() -> None:
    body = "hide: [t]\ntools:\n  t:\n    rules:\n      - {name: r, rate_limit: 1/minute}\n"
    assert "the tool is hidden" in _lint(body)[0]


@pytest.mark.parametrize("pattern", ["(a+)+$", "(a|a)*", "(.*)*", "(a|ab)*x", "(?:x*y)+"])
def test_catastrophic_regex_shapes_are_reported(pattern: str) -> None:
    assert regex_risk(pattern) is not None
    found = _lint(_rule(f"[{{path: args.s, op: regex, value: '{pattern}'}}]"))
    assert "may backtrack" in found[0] and found[0].startswith("tools.t.rules[0].conditions[0]")


@pytest.mark.parametrize(
    "pattern", ["^[A-Z]+USDT$", "(ab|cd)+", r"\d+", "^(BTC|ETH)USDT$", "(a|b)*c"]
)
def test_linear_regex_shapes_are_not_reported(pattern: str) -> None:
    assert regex_risk(pattern) is None


CATALOGUE = {
    "tools": [
        {
            "name": "order",
            "inputSchema": {"type": "object", "properties": {"qty": {}, "price": {}}},
        },
        {"name": "cancel", "inputSchema": {"type": "object", "properties": {"id": {}}}},
    ]
}


def _catalogue_lint(body: str, catalogue: object = CATALOGUE) -> list[str]:
    policy = load_policy_text('version: "1"\n' + body, "p.yaml")
    return [f"{f.path}: {f.message}" for f in lint_catalogue(policy, catalogue_tools(catalogue))]


def test_hide_entries_and_tool_keys_matching_no_catalogue_tool_are_reported() -> None:
    body = "hide: [ghost]\ntools:\n  nothing*:\n    rules: []\n  missing:\n    rules: []\n  order:\n    rules: []\n"
    found = _catalogue_lint(body)
    assert len(found) == 3
    assert (
        found[0].startswith('hide: hide entry "ghost"')
        and "nothing*" in found[1]
        and "missing" in found[2]
    )


def test_names_present_in_the_catalogue_are_not_reported() -> None:
    body = "hide: [cancel]\ntools:\n  ord*:\n    rules: []\n  order:\n    rules: []\n"
    assert _catalogue_lint(body) == []


def test_a_condition_on_an_argument_no_matching_tool_declares_is_reported() -> None:
    found = _catalogue_lint(
        _rule("[{path: args.qtty, op: lte, value: 5}]").replace("  t:", "  order:")
    )
    assert len(found) == 1 and "args.qtty" in found[0]
    assert (
        _catalogue_lint(_rule("[{path: args.qty, op: lte, value: 5}]").replace("  t:", "  order:"))
        == []
    )


def test_a_scan_report_without_schemas_checks_names_only() -> None:
    scan = {"server": {"name": "s"}, "tools": [{"name": "order", "category": "write"}]}
    body = _rule("[{path: args.anything, op: lte, value: 5}]").replace("  t:", "  order:")
    assert _catalogue_lint(body, scan) == []
