"""The demo policy is a valid Dialect A policy that fits the exchange and the script."""

from __future__ import annotations

import importlib.resources
import importlib.util
import re
from typing import Any

import yaml

from toolgate.demo.exchange_catalog import TOOL_NAMES
from toolgate.demo.script import SCRIPT

TOP_KEYS = {"version", "description", "default", "hide", "approvals", "tools"}
RULE_KEYS = {"name", "action", "conditions", "on_deny", "state", "rate_limit", "approval_timeout"}
STATE_KEYS = {"counter", "window", "increment", "increment_from"}
OPERATORS = {"eq", "neq", "in", "not_in", "lt", "lte", "gt", "gte", "regex", "contains", "exists"}
NUMERIC = {"lt", "lte", "gt", "gte"}
RATE = re.compile(r"[1-9][0-9]*/(minute|hour|day)")


def _policy_text() -> str:
    return importlib.resources.files("toolgate.demo").joinpath("policy.yaml").read_text()


def _check_condition(where: str, condition: dict[str, Any]) -> None:
    assert set(condition) == {"path", "op", "value"}, where
    assert condition["op"] in OPERATORS, where
    assert condition["path"].startswith(("args.", "state.")), where
    if condition["op"] in NUMERIC:
        assert isinstance(condition["value"], int | float), where
    if condition["op"] in {"in", "not_in"}:
        assert isinstance(condition["value"], list), where
    if condition["op"] == "regex":
        re.compile(condition["value"])


def _check_rule(where: str, rule: dict[str, Any]) -> None:
    assert set(rule) <= RULE_KEYS, where
    assert rule.get("name"), where
    if "rate_limit" in rule:
        assert RATE.fullmatch(rule["rate_limit"]), where
        assert not {"conditions", "state", "action"} & set(rule), where
        return
    if rule.get("action") == "deny":
        assert "conditions" not in rule, where
        return
    assert rule.get("action", "evaluate") == "evaluate", where
    assert rule["conditions"], where
    for index, condition in enumerate(rule["conditions"]):
        _check_condition(f"{where}.conditions[{index}]", condition)
    assert set(rule.get("state", {})) <= STATE_KEYS, where


def test_the_demo_policy_uses_only_dialect_a_features() -> None:
    policy = yaml.safe_load(_policy_text())
    assert set(policy) <= TOP_KEYS
    assert policy["version"] == "1"
    assert policy["default"] == "deny"
    assert policy["hide"] == ["reset_api_keys"]
    for tool, entry in policy["tools"].items():
        assert set(entry) == {"rules"}, tool
        for index, rule in enumerate(entry["rules"]):
            _check_rule(f"tools.{tool}.rules[{index}]", rule)


def test_the_demo_policy_names_only_tools_the_exchange_has() -> None:
    policy = yaml.safe_load(_policy_text())
    assert set(policy["tools"]) - {"*"} <= set(TOOL_NAMES)
    assert set(policy["hide"]) <= set(TOOL_NAMES)
    assert {call.tool for call in SCRIPT} <= set(TOOL_NAMES)


def test_the_demo_policy_loads_with_toolgates_own_loader_when_there_is_one() -> None:
    if importlib.util.find_spec("toolgate.policy.loader") is None:
        return  # the loader is not built yet; the structural checks above still ran
    from toolgate.policy import loader  # noqa: PLC0415 - optional until the loader exists

    resource = importlib.resources.files("toolgate.demo").joinpath("policy.yaml")
    with importlib.resources.as_file(resource) as path:
        policy = loader.load_policy(path)
    assert policy.default_deny
    assert "reset_api_keys" in policy.hidden
