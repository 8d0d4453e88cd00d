"""Human names for a Dialect A policy's rule ids, so the demo table says "order size cap"
rather than `tools.place_order.rules[3]`."""

from __future__ import annotations

from collections.abc import Mapping

import yaml


def rule_names(policy_text: str) -> dict[str, str]:
    """`tools.<tool>.rules[<i>]` -> the rule's `name`, for every named rule of the policy."""
    try:
        policy = yaml.safe_load(policy_text)
    except yaml.YAMLError:
        return {}
    tools = policy.get("tools") if isinstance(policy, dict) else None
    names: dict[str, str] = {}
    for tool, entry in (tools or {}).items():
        rules = entry.get("rules") if isinstance(entry, dict) else None
        for index, rule in enumerate(rules or []):
            if isinstance(rule, dict) and isinstance(rule.get("name"), str):
                names[f"tools.{tool}.rules[{index}]"] = rule["name"]
    return names


def rule_label(rule_id: str, names: Mapping[str, str]) -> str:
    """The rule's name when the policy has one, else the id as the gateway gave it."""
    return names.get(rule_id, rule_id)
