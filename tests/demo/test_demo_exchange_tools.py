"""The simulated exchange's behaviour, in process: orders move balances, refusals are isError."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from toolgate.demo.exchange_catalog import TOOLS
from toolgate.demo.exchange_server import ExchangeServer
from toolgate.demo.exchange_state import LISTEN_KEY, Exchange
from toolgate.demo.exchange_tools import UnknownToolError, call_tool


def _data(exchange: Exchange, tool: str, **arguments: Any) -> dict[str, Any]:
    result = call_tool(exchange, tool, arguments)
    assert result["isError"] is False, result
    data: dict[str, Any] = result["structuredContent"]
    return data


def _refusal(exchange: Exchange, tool: str, **arguments: Any) -> str:
    result = call_tool(exchange, tool, arguments)
    assert result["isError"] is True
    text: str = result["content"][0]["text"]
    return text


def _free(exchange: Exchange, asset: str) -> str:
    rows = _data(exchange, "get_balances")["balances"]
    return next(row["free"] for row in rows if row["asset"] == asset)


def test_every_tool_has_an_object_schema_and_annotations() -> None:
    for tool in TOOLS:
        assert tool["inputSchema"]["type"] == "object"
        assert set(tool["annotations"]) >= {"readOnlyHint", "destructiveHint"}
    by_name = {tool["name"]: tool for tool in TOOLS}
    assert by_name["get_price"]["annotations"]["readOnlyHint"] is True
    assert by_name["withdraw"]["annotations"]["destructiveHint"] is True


def test_quantity_and_price_are_accepted_as_numbers_or_decimal_strings() -> None:
    exchange = Exchange()
    as_numbers = _data(
        exchange,
        "place_order",
        symbol="BTCUSDT",
        side="buy",
        type="limit",
        quantity=0.1,
        price=60000,
    )
    as_text = _data(
        exchange,
        "place_order",
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        quantity="0.1",
        price="60000.00",
    )
    assert as_numbers["quantity"] == as_text["quantity"] == "0.1"
    assert (as_numbers["orderId"], as_text["orderId"]) == (10001, 10002)


@pytest.mark.parametrize("quantity", ["1e3", "-1", "0", "abc", True, None, [1]])
def test_a_quantity_that_is_not_a_positive_decimal_is_refused(quantity: object) -> None:
    text = _refusal(
        Exchange(), "place_order", symbol="BTCUSDT", side="buy", type="market", quantity=quantity
    )
    assert "quantity" in text


def test_a_resting_limit_buy_locks_funds_until_it_is_cancelled() -> None:
    exchange = Exchange()
    order = _data(
        exchange, "place_order", symbol="BTCUSDT", side="buy", type="limit", quantity=1, price=60000
    )
    assert order["status"] == "NEW"
    assert _free(exchange, "USDT") == "190000"
    assert _data(exchange, "list_open_orders")["orders"][0]["orderId"] == order["orderId"]
    _data(exchange, "cancel_order", symbol="BTCUSDT", order_id=str(order["orderId"]))
    assert _free(exchange, "USDT") == "250000"
    assert _data(exchange, "list_open_orders")["orders"] == []
    assert "Unknown order" in _refusal(
        exchange, "cancel_order", symbol="BTCUSDT", order_id=order["orderId"]
    )


def test_a_market_sell_fills_at_the_fixed_price() -> None:
    exchange = Exchange()
    order = _data(
        exchange, "place_order", symbol="SOLUSDT", side="sell", type="market", quantity=10
    )
    assert (order["status"], order["price"]) == ("FILLED", "142.1")
    assert _free(exchange, "SOL") == "290"
    assert _free(exchange, "USDT") == "251421"


def test_withdrawals_and_transfers_spend_the_balance_and_overdrafts_are_refused() -> None:
    exchange = Exchange()
    assert _data(exchange, "withdraw", asset="USDT", amount=1000, address="0xabc")["id"] == (
        "wd-000001"
    )
    assert (
        _data(exchange, "transfer_to_subaccount", asset="USDT", amount="500.5", subaccount="a@b.c")[
            "amount"
        ]
        == "500.5"
    )
    assert _free(exchange, "USDT") == "248499.5"
    assert "insufficient balance" in _refusal(
        exchange, "withdraw", asset="BTC", amount=2, address="0xabc"
    )


def test_listen_keys_can_be_kept_alive_until_the_api_keys_are_reset() -> None:
    exchange = Exchange()
    _data(exchange, "keepalive_listen_key", listen_key=LISTEN_KEY)
    _data(exchange, "reset_api_keys")
    assert "does not exist" in _refusal(exchange, "keepalive_listen_key", listen_key=LISTEN_KEY)
    assert "does not exist" in _refusal(exchange, "close_listen_key", listen_key=LISTEN_KEY)


def test_unexpected_and_missing_arguments_are_named() -> None:
    text = _refusal(Exchange(), "get_price", ticker="BTCUSDT")
    assert text == (
        "Invalid arguments for get_price: unexpected argument 'ticker'; missing argument 'symbol'"
    )


def test_an_unknown_symbol_is_refused() -> None:
    assert "Invalid symbol" in _refusal(Exchange(), "get_price", symbol="DOGEUSDT")


def test_an_unknown_tool_raises() -> None:
    with pytest.raises(UnknownToolError):
        call_tool(Exchange(), "launch_rocket", {})


def test_notifications_and_blank_lines_get_no_answer() -> None:
    server = ExchangeServer()
    assert server.handle_line(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n') is None
    assert server.handle_line(b"\n") is None
    assert server.handle_line(b'{"jsonrpc":"2.0","id":7,"result":{}}\n') is None


def test_a_request_without_a_usable_id_or_method_is_invalid() -> None:
    server = ExchangeServer()
    for line in (b'{"jsonrpc":"2.0","id":null,"method":"ping"}', b'{"jsonrpc":"2.0","id":1}'):
        answer = server.handle_line(line)
        assert answer is not None
        assert orjson.loads(answer)["error"]["code"] == -32600


def test_tools_call_params_that_do_not_parse_are_32602() -> None:
    params = {"name": "get_price", "arguments": [1]}
    line = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
    answer = ExchangeServer().handle_line(line)
    assert answer is not None
    assert orjson.loads(answer)["error"]["code"] == -32602
