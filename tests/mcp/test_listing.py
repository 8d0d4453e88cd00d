from __future__ import annotations

from typing import Any

import orjson

from toolgate.mcp.listing import filter_tools_response, tool_names


def response(tools: list[Any], **extra: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "result": {"tools": tools, **extra}}


def test_nothing_hidden_means_the_original_bytes_are_kept() -> None:
    assert filter_tools_response(response([{"name": "a"}]), lambda n: True) is None


def test_filtering_keeps_meta_cursor_and_unknown_fields_of_the_result_and_tools() -> None:
    tools = [{"name": "a", "x-extra": [1], "_meta": {"k": "v"}}, {"name": "secret"}]
    original = response(tools, nextCursor="c2", _meta={"m": 1}, ttlMs=5, unknownField=True)
    filtered = filter_tools_response(original, lambda n: n != "secret")
    assert filtered is not None
    assert orjson.loads(filtered)["result"] == {
        "tools": [{"name": "a", "x-extra": [1], "_meta": {"k": "v"}}],
        "nextCursor": "c2",
        "_meta": {"m": 1},
        "ttlMs": 5,
        "unknownField": True,
    }


def test_a_page_may_become_empty_and_keep_its_cursor() -> None:
    filtered = filter_tools_response(response([{"name": "s"}], nextCursor="n"), lambda n: False)
    assert filtered is not None
    assert orjson.loads(filtered)["result"] == {"tools": [], "nextCursor": "n"}


def test_entries_that_are_not_named_tools_are_left_for_the_client() -> None:
    weird = [{"title": "no name"}, "text", {"name": 5}]
    assert filter_tools_response(response(weird), lambda n: False) is None
    assert tool_names(response(weird)) == []


def test_non_list_results_are_untouched() -> None:
    assert filter_tools_response({"result": {"tools": "x"}}, lambda n: False) is None
    assert filter_tools_response({"error": {"code": 1}}, lambda n: False) is None
