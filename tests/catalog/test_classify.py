"""The tool risk classifier: tokenisation, precedence, annotations as untrusted hints, the
incumbents' known mistakes, the seed examples, evidence, and garbage input."""

from __future__ import annotations

from typing import Any

import pytest

from toolgate.catalog.classify import classify_tool, parse_override
from toolgate.catalog.model import Band, Category
from toolgate.catalog.tokens import split_identifier, strip_vendor


def tool(name: Any, description: Any = "", **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": description, **extra}


def props(*names: str) -> dict[str, Any]:
    return {"type": "object", "properties": {n: {"type": "string"} for n in names}}


def category(definition: dict[str, Any]) -> Category:
    return classify_tool(definition).category


@pytest.mark.parametrize(
    ("name", "tokens"),
    [
        ("BinancePutUserDataStream", ("binance", "put", "user", "data", "stream")),
        ("bn_close_listen_key", ("bn", "close", "listen", "key")),
        ("kv_namespace-delete.v2", ("kv", "namespace", "delete", "v2")),
        ("BinanceSpotCancelOpenTWAPOrder", ("binance", "spot", "cancel", "open", "twap", "order")),
        ("GetC2CTradeHistory", ("get", "c2c", "trade", "history")),
        ("getSolStakingQuotaDetails", ("get", "sol", "staking", "quota", "details")),
        ("", ()),
    ],
)
def test_names_split_on_case_underscores_dashes_dots_and_acronyms(
    name: str, tokens: tuple[str, ...]
) -> None:
    assert split_identifier(name) == tokens


def test_vendor_and_generator_prefixes_are_stripped_but_never_every_token() -> None:
    assert strip_vendor(split_identifier("registerBinanceGetEthStakingHistory"))[0] == (
        "get",
        "eth",
        "staking",
        "history",
    )
    assert strip_vendor(("bn", "close", "listen", "key"))[0] == ("close", "listen", "key")
    assert strip_vendor(("binance",))[0] == ("binance",)


def test_seed_put_user_data_stream_is_write_score_2_with_put_and_keep_alive_evidence() -> None:
    verdict = classify_tool(
        tool(
            "BinancePutUserDataStream",
            "Extend the validity of a user data stream listen key.",
            inputSchema=props("listenKey"),
        )
    )
    details = [e.detail for e in verdict.evidence]
    assert (verdict.category, verdict.band, verdict.score) == (Category.WRITE, Band.MEDIUM, 2)
    assert verdict.recommended_rule == "30/minute"
    assert 'name token "put"' in details
    assert any("keep-alive" in d for d in details) and any("listen key" in d for d in details)


def test_seed_closing_a_listen_key_is_a_reversible_write() -> None:
    verdict = classify_tool(tool("bn_close_listen_key", "Close/invalidate a listen key"))
    assert verdict.category is Category.WRITE and verdict.recommended_rule == "30/minute"


def test_deleting_a_listen_key_is_still_write_because_a_new_one_can_be_requested() -> None:
    described = tool(
        "BinanceDeleteUserDataStream", "Close a stream by invalidating the listen key."
    )
    assert category(described) is Category.WRITE


def test_list_charges_is_read_although_charges_are_money() -> None:
    assert category(tool("list_charges", "List all charges")) is Category.READ


def test_get_order_history_is_read_even_though_the_data_is_financial() -> None:
    assert category(tool("get_order_history", "Get past orders")) is Category.READ


def test_code_planner_is_not_financial_because_no_whole_token_is_money() -> None:
    assert category(tool("code_planner", "Plans a refactoring")) is not Category.FINANCIAL


def test_kv_namespace_delete_is_destructive_because_every_token_is_read() -> None:
    assert category(tool("kv_namespace_delete", "Removes a namespace")) is Category.DESTRUCTIVE


def test_financial_beats_write_when_a_write_verb_acts_on_money() -> None:
    verdict = classify_tool(tool("create_order", inputSchema=props("symbol", "quantity", "price")))
    assert (verdict.category, verdict.score, verdict.band) == (Category.FINANCIAL, 5, Band.CRITICAL)
    assert verdict.recommended_rule == "require approval + spend caps on quantity, price"


def test_an_amount_argument_turns_a_write_into_financial() -> None:
    assert category(tool("subscribe_product", inputSchema=props("amount"))) is Category.FINANCIAL


def test_a_verbless_money_name_is_financial() -> None:
    assert category(tool("WalletWithdraw", "Submit a withdraw request.")) is Category.FINANCIAL


def test_a_money_word_that_only_modifies_a_setting_stays_write() -> None:
    switch = tool("EnableFastWithdrawSwitch", "Enable fast withdraw switch.")
    assert category(switch) is Category.WRITE


def test_converting_time_is_not_money_but_converting_assets_is() -> None:
    assert category(tool("convert_time", "Convert time between timezones")) is Category.READ
    dust = tool("DustTransfer", "Convert dust assets to BNB.")
    assert category(dust) is Category.FINANCIAL


def test_cancelling_an_order_is_destructive_not_financial() -> None:
    assert category(tool("cancel_order", "Cancel an open order")) is Category.DESTRUCTIVE


def test_destructive_beats_write_and_read_in_the_same_name() -> None:
    assert category(tool("update_or_delete_record")) is Category.DESTRUCTIVE


def test_running_code_is_execute_with_a_raised_score() -> None:
    verdict = classify_tool(tool("run_script", inputSchema=props("command")))
    assert (verdict.category, verdict.score, verdict.band) == (Category.EXECUTE, 4, Band.HIGH)
    assert "code-argument" in verdict.signals
    assert verdict.recommended_rule == "10/minute + argument validation"


def test_a_read_named_tool_taking_sql_is_execute() -> None:
    assert category(tool("query_database", inputSchema=props("sql"))) is Category.EXECUTE


def test_opening_an_orders_listing_is_read_but_opening_a_browser_is_execute() -> None:
    assert category(tool("open_orders")) is Category.READ
    assert category(tool("open_browser")) is Category.EXECUTE


def test_a_listing_noun_makes_a_verbless_name_read() -> None:
    assert category(tool("WithdrawHistory")) is Category.READ


def test_a_money_purpose_in_the_description_beats_its_read_verb() -> None:
    resale = tool(
        "HashRateResaleRequest",
        "Retrieve a request for setting up a resale and the amount of hashrate to transfer",
    )
    assert category(resale) is Category.FINANCIAL


@pytest.mark.parametrize(
    ("arguments", "signal"),
    [
        (("apiKey",), "credentials"),
        (("path",), "path-argument"),
        (("query",), "query-argument"),
        (("url",), "url-argument"),
    ],
)
def test_a_risky_argument_raises_the_score_by_one(arguments: tuple[str, ...], signal: str) -> None:
    verdict = classify_tool(tool("update_settings", inputSchema=props(*arguments)))
    assert signal in verdict.signals and verdict.score == 3


def test_several_risk_signals_raise_the_score_only_once_and_never_past_5() -> None:
    verdict = classify_tool(tool("bulk_delete_rows", inputSchema=props("path", "apiKey")))
    assert verdict.score == 5
    assert classify_tool(tool("withdraw", inputSchema=props("amount", "password"))).score == 5


def test_reading_many_things_is_not_a_bulk_operation() -> None:
    verdict = classify_tool(tool("get_all_orders"))
    assert "bulk" not in verdict.signals and verdict.score == 1


def test_read_only_hint_confirms_a_get_tool_as_read() -> None:
    verdict = classify_tool(tool("get_weather", annotations={"readOnlyHint": True}))
    assert verdict.category is Category.READ
    assert any(e.detail == "readOnlyHint: true" for e in verdict.evidence)


def test_read_only_hint_cannot_lower_a_tool_whose_name_says_delete() -> None:
    verdict = classify_tool(tool("delete_user", annotations={"readOnlyHint": True}))
    assert verdict.category is Category.DESTRUCTIVE
    assert any("ignored" in e.detail for e in verdict.evidence)


def test_read_only_hint_lowers_when_the_name_agrees() -> None:
    raised = tool("get_records", inputSchema=props("sql"))
    assert category(raised) is Category.EXECUTE
    assert category({**raised, "annotations": {"readOnlyHint": True}}) is Category.READ


def test_read_only_hint_makes_an_unreadable_name_read() -> None:
    assert category(tool("echo", "Echoes back", annotations={"readOnlyHint": True})) is (
        Category.READ
    )


def test_destructive_hint_raises_a_write() -> None:
    hinted = tool("write_file", annotations={"readOnlyHint": False, "destructiveHint": True})
    assert category(hinted) is Category.DESTRUCTIVE


def test_destructive_hint_false_cannot_lower_a_name_that_says_purge() -> None:
    assert category(tool("purge_cache", annotations={"destructiveHint": False})) is (
        Category.DESTRUCTIVE
    )


def test_destructive_hint_false_lowers_when_only_the_description_said_destructive() -> None:
    hinted = tool("cache_tool", "Removes stale entries", annotations={"destructiveHint": False})
    assert category(tool("cache_tool", "Removes stale entries")) is Category.DESTRUCTIVE
    assert category(hinted) is Category.WRITE


def test_read_only_false_raises_an_unreadable_name_to_write() -> None:
    assert category(tool("echo", annotations={"readOnlyHint": False})) is Category.WRITE


def test_open_world_hint_with_a_url_argument_is_execute() -> None:
    fetch = tool("gzip_resource", inputSchema=props("url"), annotations={"openWorldHint": True})
    assert category(fetch) is Category.EXECUTE


def test_non_boolean_hints_are_ignored() -> None:
    assert category(tool("delete_user", annotations={"readOnlyHint": "yes"})) is (
        Category.DESTRUCTIVE
    )


def test_a_policy_override_beats_every_signal_with_full_confidence() -> None:
    verdict = classify_tool(tool("delete_everything"), override="Read")
    assert (verdict.category, verdict.confidence) == (Category.READ, 1.0)
    assert verdict.evidence[0].signal == "override"


def test_an_unknown_override_is_ignored_and_noted() -> None:
    verdict = classify_tool(tool("delete_everything"), override="harmless")
    assert verdict.category is Category.DESTRUCTIVE
    assert "ignored" in verdict.evidence[0].detail
    assert parse_override(" Financial ") is Category.FINANCIAL


@pytest.mark.parametrize(
    ("category_", "rule"),
    [
        (Category.READ, "allow (optionally 60/minute)"),
        (Category.OTHER, "60/minute"),
        (Category.DESTRUCTIVE, "deny or hide until a human approves"),
        (Category.FINANCIAL, "require approval + spend caps on amount-like arguments"),
    ],
)
def test_every_class_has_its_recommended_rule(category_: Category, rule: str) -> None:
    assert classify_tool(tool("anything"), override=category_.value).recommended_rule == rule


@pytest.mark.parametrize(
    "definition",
    [
        tool("get_weather"),
        tool("BinanceNewOrder", "Create a new order.", inputSchema=props("quantity")),
        tool("kv_namespace_delete"),
        tool("run_script", inputSchema=props("command")),
        tool("set_config"),
        tool("echo", annotations={"readOnlyHint": True}),
    ],
)
def test_every_classified_label_carries_evidence_pointing_to_it(definition: dict[str, Any]) -> None:
    verdict = classify_tool(definition)
    assert verdict.evidence
    assert any(e.points_to is verdict.category and e.weight > 0 for e in verdict.evidence)
    assert 0 < verdict.confidence <= 1


def test_agreeing_signals_give_more_confidence_than_conflicting_ones() -> None:
    agreeing = classify_tool(tool("delete_user", "Delete a user"))
    conflicting = classify_tool(tool("delete_user", annotations={"readOnlyHint": True}))
    assert agreeing.confidence > conflicting.confidence


def test_a_name_with_no_signal_is_other_with_low_confidence() -> None:
    verdict = classify_tool(tool("frobnicate"))
    assert (verdict.category, verdict.band, verdict.score) == (Category.OTHER, Band.LOW, 1)
    assert verdict.confidence <= 0.2


@pytest.mark.parametrize(
    "garbage",
    [
        {},
        {"name": None},
        {"name": 42},
        {"name": ["get"]},
        {"name": "   "},
        {"name": "thing", "description": 7, "inputSchema": [1, 2]},
        {"name": "thing", "inputSchema": {"properties": ["amount"]}},
        {"name": "thing", "inputSchema": {"properties": {1: {}, "x": "notamapping"}}},
        {"name": "thing", "annotations": "readOnly"},
        {"name": "x" * 1_000_000},
        {"name": "A" * 100_000 + "b"},
        {"name": "-_.-_." * 1000},
    ],
)
def test_garbage_tool_definitions_never_raise_and_classify_as_other(garbage: Any) -> None:
    verdict = classify_tool(garbage)
    assert verdict.category is Category.OTHER
    assert verdict.confidence <= 0.2
    assert verdict.evidence or verdict.confidence <= 0.2


def test_a_non_mapping_tool_never_raises() -> None:
    verdict = classify_tool("get_weather")  # type: ignore[arg-type]
    assert verdict.category is Category.OTHER and verdict.confidence <= 0.2


def test_classification_is_deterministic() -> None:
    definition = tool("BinanceNewOrder", "Create a new order.", inputSchema=props("price", "qty"))
    assert classify_tool(definition) == classify_tool(dict(definition))
