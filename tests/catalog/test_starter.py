"""The starter policy generator: valid Dialect A, grouped by class, spend caps on amounts only."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from tests.e2e.support import SHARED, require

from toolgate.catalog.classify import classify_tool
from toolgate.catalog.model import Band, Category, Classification, Evidence
from toolgate.catalog.scan import ServerScan
from toolgate.catalog.scan_report import ClassifiedTool, classify_all
from toolgate.catalog.starter import starter_policy
from toolgate.catalog.starter_args import amount_arguments, words
from toolgate.policy.loader import load_policy_text
from toolgate.policy.model import Action


def verdict(name: str, category: Category, detail: str = "name token") -> Classification:
    evidence = (Evidence("name", f'{detail} "{name}"', category, 0.8),)
    return Classification(name, category, Band.LOW, 2, 0.9, (), evidence, "a rule")


def tool(name: str, category: Category, schema: Mapping[str, Any] | None = None) -> ClassifiedTool:
    definition = {"name": name, "inputSchema": schema or {"type": "object"}}
    return ClassifiedTool(definition, verdict(name, category))


def order_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "symbol": {"type": "string"},
            "quantity": {"type": "number"},
            "price": {"type": ["number", "null"]},
            "quoteOrderQty": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "amountText": {"type": "string"},
            "pageSize": {"type": "integer"},
            "recvWindow": {"type": "integer"},
        },
        "required": ["symbol", "quantity"],
    }


def load(text: str) -> Any:
    return load_policy_text(text, "starter.yaml")


def test_every_class_gets_its_recommended_rule_and_the_policy_loads() -> None:
    tools = [
        tool("get_thing", Category.READ),
        tool("update_thing", Category.WRITE),
        tool("run_query", Category.EXECUTE),
        tool("delete_thing", Category.DESTRUCTIVE),
        tool("place_order", Category.FINANCIAL, order_schema()),
        tool("mystery", Category.OTHER),
    ]
    policy = load(starter_policy(tools, "demo"))
    assert policy.default_deny
    assert policy.tools["get_thing"] == ()
    assert policy.tools["update_thing"][0].rate_limit == "30/minute"
    assert policy.tools["run_query"][0].rate_limit == "10/minute"
    assert policy.tools["mystery"][0].rate_limit == "60/minute"
    assert [r.action for r in policy.tools["delete_thing"]] == [Action.REQUIRE_APPROVAL]
    assert policy.tools["place_order"][-1].action is Action.REQUIRE_APPROVAL


def test_destructive_tools_can_be_denied_instead_of_held_for_approval() -> None:
    text = starter_policy([tool("drop_table", Category.DESTRUCTIVE)], destructive="deny")
    assert [r.action for r in load(text).tools["drop_table"]] == [Action.DENY]
    with pytest.raises(ValueError, match="destructive"):
        starter_policy([], destructive="maybe")


def test_approval_rules_say_how_a_human_approves_them() -> None:
    text = starter_policy([tool("delete_thing", Category.DESTRUCTIVE)])
    assert "the client asks its user" in text
    assert "toolgate approvals list" in text


def test_tools_are_grouped_by_class_under_one_header_each() -> None:
    tools = [
        tool("b_write", Category.WRITE),
        tool("a_read", Category.READ),
        tool("c_write", Category.WRITE),
        tool("d_read", Category.READ),
    ]
    lines = starter_policy(tools).splitlines()
    keys = [line.strip().rstrip(":") for line in lines if line.startswith("  ") and ":" in line]
    keys = [k for k in keys if not k.startswith(("#", "rules", "-"))]
    assert keys == ["a_read", "d_read", "b_write", "c_write"]
    headers = [line for line in lines if line.startswith("  # ── ")]
    assert [h.split()[2] for h in headers] == ["Read:", "Write:"]
    assert "2 tools" in headers[0]


def test_each_tool_carries_a_comment_with_its_evidence() -> None:
    text = starter_policy([tool("get_thing", Category.READ)])
    assert '# get_thing: read, low risk, score 2/5, confidence 0.90: name token "get_thing"' in text


def test_financial_tools_get_a_daily_counter_per_numeric_amount_argument_only() -> None:
    text = starter_policy([tool("place_order", Category.FINANCIAL, order_schema())])
    rules = load(text).tools["place_order"]
    counters = [r.counter.ref.name for r in rules if r.counter is not None]
    assert counters == ["daily_quantity"]  # the required one is active
    assert "#   state: {counter: daily_price, window: day, increment_from: args.price}" in text
    assert "daily_quoteOrderQty" in text  # optional: written, commented out
    for not_money in ("amountText", "pageSize", "recvWindow", "symbol"):
        assert f"daily_{not_money}" not in text
    assert "SET THE CAP" in text


def test_an_uncommented_optional_counter_also_loads() -> None:
    text = starter_policy([tool("place_order", Category.FINANCIAL, order_schema())])
    text = text.replace("      # - name", "      - name").replace("      #   ", "        ")
    counters = {r.counter.ref.name for r in load(text).tools["place_order"] if r.counter}
    assert counters == {"daily_quantity", "daily_price", "daily_quoteOrderQty"}


def test_the_spend_cap_is_an_lte_condition_on_the_counters_own_path() -> None:
    text = starter_policy([tool("place_order", Category.FINANCIAL, order_schema())])
    rule = next(r for r in load(text).tools["place_order"] if r.counter is not None)
    assert rule.counter.bound is not None
    assert [c.path for c in rule.conditions] == ["state.place_order.daily_quantity"]
    assert rule.counter.increment_from.text == "args.quantity"


def test_a_financial_tool_without_amounts_is_held_for_approval_with_a_hint() -> None:
    text = starter_policy([tool("transfer", Category.FINANCIAL)])
    assert "No numeric amount-like argument found" in text
    assert [r.action for r in load(text).tools["transfer"]] == [Action.REQUIRE_APPROVAL]


ODD_NAMES = [
    "yes",
    "No",
    "null",
    "~",
    "1e3",
    "0x1F",
    "a: b",
    "#hash",
    "- dash",
    "quo\"te'single",
    "back\\slash",
    "new\nline",
    "tab\there",
    "line\u2028sep",
    "nel\x85x",
    "bom\ufeff",
    "é-accent",
    "emoji😀",
    "{brace}",
    "[bracket]",
    "&anchor",
    "*alias",
    "!tag",
    "%percent",
    "@at",
    "`tick`",
    "a,b",
    "  padded  ",
    "github.create_issue",
    "kebab-case-name",
    "<<",
    "=",
    "control\x01char",
    "del\x7f",
]


def test_odd_tool_names_are_written_so_they_read_back_exactly() -> None:
    names = [n for n in ODD_NAMES if "*" not in n]
    tools = [tool(name, Category.WRITE) for name in names]
    policy = load(starter_policy(tools))
    assert set(policy.tools) == set(names)


def test_names_a_key_cannot_spell_are_left_out_with_a_comment() -> None:
    tools = [tool(name, Category.READ) for name in ("*", "bn_*", "a?b", "", "ok", "ok")]
    text = starter_policy(tools)
    assert set(load(text).tools) == {"ok"}
    assert '# Not listed: "bn_*"' in text
    assert "listed twice" in text


def test_descriptions_cannot_break_out_of_their_comment() -> None:
    hostile = ClassifiedTool(
        {"name": "get_x"},
        verdict("get_x", Category.READ, detail='evil\nhide: ["*"]\r\ntools:\u2028x'),
    )
    text = starter_policy([hostile], server="srv\nhide: ['*']")
    document = yaml.safe_load(text)
    assert set(document) == {"version", "description", "default", "tools"}
    assert load(text).hidden == frozenset()


def test_a_scan_without_tools_gives_a_policy_that_denies_everything() -> None:
    policy = load(starter_policy([], "empty"))
    assert policy.default_deny
    assert dict(policy.tools) == {}


def test_amount_words_are_read_from_camel_snake_and_kebab_names() -> None:
    assert words("quoteOrderQty") == ("quote", "order", "qty")
    assert words("max_notional-value") == ("max", "notional", "value")
    schema = {"properties": {"a.amount": {"type": "number"}, "size": {"type": "integer"}}}
    assert [a.name for a in amount_arguments(schema)] == ["size"]
    assert amount_arguments({"properties": []}) == ()
    assert amount_arguments(None) == ()


def test_the_starter_for_the_156_tool_catalogue_lists_every_tool_and_loads() -> None:
    path = require(SHARED / "fixtures" / "binance-termix-tools.json", "the Binance fixture")
    tools = orjson.loads(Path(path).read_bytes())["tools"]
    scan = ServerScan("binance", "1", "legacy", "2025-11-25", ("binance",), tuple(tools))
    classified = classify_all(scan, classify_tool)
    policy = load(starter_policy(classified, "binance"))
    assert set(policy.tools) == {t["name"] for t in tools}
    for item in classified:
        rules = policy.tools[item.name]
        counted = {
            r.counter.increment_from.text for r in rules if r.counter and r.counter.increment_from
        }
        if item.classification.category is Category.FINANCIAL:
            assert rules[-1].action is Action.REQUIRE_APPROVAL
            required = {
                f"args.{a.name}"
                for a in amount_arguments(item.definition.get("inputSchema"))
                if a.required
            }
            assert counted == required
        else:
            assert not counted
