"""Running one exchange tool call: argument checking, the exchange operation, the MCP result.

`call_tool` returns the `tools/call` result for a known tool (an `isError: true` result when the
arguments are bad or the exchange refuses) and raises `UnknownToolError` for any other name, which
the server turns into JSON-RPC error -32602.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from toolgate.demo.exchange_catalog import TOOLS
from toolgate.demo.exchange_state import Exchange, ExchangeError, fmt

_DECIMAL_TEXT: Final = re.compile(r"[0-9]+(\.[0-9]+)?")
_ALLOWED: Final = {
    tool["name"]: (set(tool["inputSchema"]["properties"]), set(tool["inputSchema"]["required"]))
    for tool in TOOLS
}


class UnknownToolError(Exception):
    """The exchange has no tool of that name."""


class Args:
    """Typed access to a call's arguments; every failure is an `ExchangeError`."""

    def __init__(self, tool: str, arguments: Mapping[str, Any]) -> None:
        allowed, required = _ALLOWED[tool]
        unexpected = sorted(set(arguments) - allowed)
        missing = sorted(required - set(arguments))
        if unexpected or missing:
            problems = [f"unexpected argument {name!r}" for name in unexpected]
            problems += [f"missing argument {name!r}" for name in missing]
            raise ExchangeError(f"Invalid arguments for {tool}: " + "; ".join(problems))
        self._tool = tool
        self._arguments = arguments

    def _bad(self, name: str, expected: str) -> ExchangeError:
        return ExchangeError(f"Invalid arguments for {self._tool}: {name} must be {expected}")

    def text(self, name: str) -> str:
        value = self._arguments.get(name)
        if not isinstance(value, str) or not value:
            raise self._bad(name, "a non-empty string")
        return value

    def optional_text(self, name: str) -> str | None:
        return self.text(name) if name in self._arguments else None

    def choice(self, name: str, *options: str) -> str:
        value = self.text(name).upper()
        if value not in options:
            raise self._bad(name, " or ".join(o.lower() for o in options))
        return value

    def decimal(self, name: str) -> Decimal:
        value = self._arguments.get(name)
        try:
            if isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value):
                amount = Decimal(value)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                amount = Decimal(str(value))
            else:
                raise InvalidOperation
        except InvalidOperation:
            raise self._bad(name, "a number or a decimal string") from None
        if not amount.is_finite() or amount <= 0:
            raise self._bad(name, "positive")
        return amount

    def optional_decimal(self, name: str) -> Decimal | None:
        return self.decimal(name) if name in self._arguments else None

    def integer(self, name: str) -> int:
        value = self._arguments.get(name)
        if isinstance(value, str) and value.isdigit():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise self._bad(name, "an integer")


Handler = Callable[[Exchange, Args], tuple[str, dict[str, Any]]]


def _get_price(ex: Exchange, a: Args) -> tuple[str, dict[str, Any]]:
    symbol = a.text("symbol")
    price = ex.price(symbol)
    return f"{symbol} {fmt(price)}", {"symbol": symbol, "price": fmt(price)}


def _get_balances(ex: Exchange, a: Args) -> tuple[str, dict[str, Any]]:
    rows = [
        {"asset": asset, "free": fmt(b.free), "locked": fmt(b.locked)}
        for asset, b in ex.balances.items()
    ]
    return ", ".join(f"{r['asset']} {r['free']}" for r in rows), {"balances": rows}


def _place_order(ex: Exchange, a: Args) -> tuple[str, dict[str, Any]]:
    order = ex.place_order(
        a.text("symbol"),
        a.choice("side", "BUY", "SELL"),
        a.choice("type", "LIMIT", "MARKET"),
        a.decimal("quantity"),
        a.optional_decimal("price"),
    )
    text = (
        f"order {order.order_id} {order.status}: {order.side} {fmt(order.quantity)} "
        f"{order.symbol} @ {fmt(order.price)}"
    )
    return text, order.as_dict()


def _cancel_order(ex: Exchange, a: Args) -> tuple[str, dict[str, Any]]:
    order = ex.cancel_order(a.text("symbol"), a.integer("order_id"))
    return f"order {order.order_id} CANCELED", order.as_dict()


def _list_open_orders(ex: Exchange, a: Args) -> tuple[str, dict[str, Any]]:
    orders = [o.as_dict() for o in ex.open_orders(a.optional_text("symbol"))]
    ids = ", ".join(str(o["orderId"]) for o in orders) or "none"
    return f"{len(orders)} open order(s): {ids}", {"orders": orders}


def _withdraw(ex: Exchange, a: Args) -> tuple[str, dict[str, Any]]:
    asset, amount, address = a.text("asset"), a.decimal("amount"), a.text("address")
    ref = ex.withdraw(asset, amount, address)
    left = ex.balances[asset].free
    short = address if len(address) <= 12 else f"{address[:6]}…{address[-4:]}"
    text = f"{ref}: {fmt(amount)} {asset} sent to {short}; {fmt(left)} {asset} left"
    return text, {"id": ref, "asset": asset, "amount": fmt(amount), "address": address}


def _keepalive(ex: Exchange, a: Args) -> tuple[str, dict[str, Any]]:
    ex.keepalive(a.text("listen_key"))
    return "listen key extended by 60 minutes", {}


def _close_listen_key(ex: Exchange, a: Args) -> tuple[str, dict[str, Any]]:
    ex.close_listen_key(a.text("listen_key"))
    return "listen key closed", {}


def _transfer(ex: Exchange, a: Args) -> tuple[str, dict[str, Any]]:
    asset, amount, sub = a.text("asset"), a.decimal("amount"), a.text("subaccount")
    ref = ex.transfer(asset, amount, sub)
    return f"{ref}: {fmt(amount)} {asset} moved to {sub}", {"id": ref, "amount": fmt(amount)}


def _reset_api_keys(ex: Exchange, a: Args) -> tuple[str, dict[str, Any]]:
    generation = ex.reset_api_keys()
    return "all API keys and listen keys revoked", {"keyGeneration": generation}


HANDLERS: Final[dict[str, Handler]] = {
    "get_price": _get_price,
    "get_balances": _get_balances,
    "place_order": _place_order,
    "cancel_order": _cancel_order,
    "list_open_orders": _list_open_orders,
    "withdraw": _withdraw,
    "keepalive_listen_key": _keepalive,
    "close_listen_key": _close_listen_key,
    "transfer_to_subaccount": _transfer,
    "reset_api_keys": _reset_api_keys,
}


def call_tool(exchange: Exchange, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The `tools/call` result of calling `name` with `arguments` on `exchange`."""
    handler = HANDLERS.get(name)
    if handler is None:
        raise UnknownToolError(name)
    try:
        text, data = handler(exchange, Args(name, arguments))
    except ExchangeError as exc:
        return {"content": [{"type": "text", "text": str(exc)}], "isError": True}
    return {
        "content": [{"type": "text", "text": text}],
        "structuredContent": data,
        "isError": False,
    }
