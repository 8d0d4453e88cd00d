"""The compiled model: immutable plain dataclasses, rules indexed per tool, regexes compiled."""

from __future__ import annotations

import dataclasses

import pytest

from tests.policy.policy_cases import policy
from toolgate.policy import Action, load_policy_text

TEXT = """
tools:
  a:
    rules:
      - {name: a1, conditions: [{path: args.x, op: regex, value: "^x+$"}]}
      - {name: a2, action: deny}
  b:
    rules: [{name: b1, rate_limit: 5/minute}]
  "*":
    rules: [{name: all, rate_limit: 60/minute}]
"""


def test_each_listed_tool_gets_its_own_rules_followed_by_the_star_rules() -> None:
    compiled = policy(TEXT)
    assert [r.rule_id for r in compiled.plans["a"].rules] == [
        "tools.a.rules[0]",
        "tools.a.rules[1]",
        "tools.*.rules[0]",
    ]
    assert [r.rule_id for r in compiled.plans["b"].rules] == [
        "tools.b.rules[0]",
        "tools.*.rules[0]",
    ]
    assert [r.rule_id for r in compiled.unlisted.rules] == ["tools.*.rules[0]"]
    assert "*" not in compiled.plans


def test_the_compiled_policy_is_immutable() -> None:
    compiled = policy(TEXT)
    rule = compiled.tools["a"][0]
    assert dataclasses.is_dataclass(compiled) and dataclasses.is_dataclass(rule)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.name = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        compiled.default_deny = True  # type: ignore[misc]


def test_rules_keep_their_names_actions_and_shorthand() -> None:
    compiled = policy(TEXT)
    first, second = compiled.tools["a"]
    assert (first.name, first.action, second.action) == ("a1", Action.EVALUATE, Action.DENY)
    (shorthand,) = compiled.tools["b"]
    assert shorthand.rate_limit == "5/minute"
    assert shorthand.counter is not None and shorthand.counter.ref.name == "_rate_minute"


def test_conditions_describe_themselves_as_written() -> None:
    condition = policy(TEXT).tools["a"][0].conditions[0]
    assert condition.describe() == 'args.x regex "^x+$"'


def test_a_byte_order_mark_before_json_text_is_ignored() -> None:
    text = '\ufeff{"version": "1", "tools": {}}'
    assert load_policy_text(text, "p.json").tool_count == 0


def test_yml_files_are_read_as_yaml() -> None:
    assert load_policy_text('version: "1"\ntools: {a: {rules: []}}\n', "p.yml").tool_count == 1
