"""The simulated exchange's books: fixed prices, balances, orders, listen keys, all in memory.

Deterministic on purpose (no clock, no randomness): order ids and withdrawal ids count up from
fixed starting points, so the demo prints the same thing on every run. Business failures raise
`ExchangeError`, whose message the server returns as an `isError: true` tool result.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

QUOTE: Final = "USDT"
PRICES: Final = {
    "BTCUSDT": Decimal("64250.50"),
    "ETHUSDT": Decimal("3180.25"),
    "SOLUSDT": Decimal("142.10"),
}
START_BALANCES: Final = {
    "USDT": Decimal("250000"),
    "BTC": Decimal("1.5"),
    "ETH": Decimal("12"),
    "SOL": Decimal("300"),
}
# A fixed user-data-stream listen key, shaped like Binance's 60-character keys.
LISTEN_KEY: Final = hashlib.sha256(b"toolgate-demo-listen-key").hexdigest()[:60]
FIRST_ORDER_ID: Final = 10001


class ExchangeError(Exception):
    """A request the exchange refuses (unknown symbol, insufficient balance, ...)."""


@dataclass(slots=True)
class Balance:
    free: Decimal
    locked: Decimal = Decimal(0)


@dataclass(slots=True)
class Order:
    order_id: int
    symbol: str
    side: str  # BUY | SELL
    type: str  # LIMIT | MARKET
    quantity: Decimal
    price: Decimal  # the limit price, or the fill price of a market order
    status: str  # NEW | FILLED | CANCELED

    def as_dict(self) -> dict[str, object]:
        return {
            "orderId": self.order_id,
            "symbol": self.symbol,
            "side": self.side,
            "type": self.type,
            "quantity": fmt(self.quantity),
            "price": fmt(self.price),
            "status": self.status,
        }


def fmt(amount: Decimal) -> str:
    """A decimal as plain text without trailing zeros: 600.00 -> "600", 1E+5 -> "100000"."""
    return format(amount.normalize(), "f")


def base_asset(symbol: str) -> str:
    if symbol not in PRICES:
        raise ExchangeError(f"Invalid symbol: {symbol}")
    return symbol.removesuffix(QUOTE)


class Exchange:
    """One account on the exchange."""

    def __init__(self) -> None:
        self.balances = {asset: Balance(amount) for asset, amount in START_BALANCES.items()}
        self.orders: dict[int, Order] = {}
        self.listen_keys = {LISTEN_KEY}
        self.subaccounts: dict[str, dict[str, Decimal]] = {}
        self.withdrawals = 0
        self.transfers = 0
        self.key_generation = 1
        self._next_order_id = FIRST_ORDER_ID

    def price(self, symbol: str) -> Decimal:
        base_asset(symbol)
        return PRICES[symbol]

    def _debit(self, asset: str, amount: Decimal, *, lock: bool = False) -> None:
        balance = self.balances.setdefault(asset, Balance(Decimal(0)))
        if balance.free < amount:
            raise ExchangeError(f"Account has insufficient balance for requested action ({asset}).")
        balance.free -= amount
        if lock:
            balance.locked += amount

    def _credit(self, asset: str, amount: Decimal) -> None:
        self.balances.setdefault(asset, Balance(Decimal(0))).free += amount

    def place_order(
        self, symbol: str, side: str, type_: str, quantity: Decimal, price: Decimal | None
    ) -> Order:
        base = base_asset(symbol)
        market = PRICES[symbol]
        if type_ == "LIMIT" and price is None:
            raise ExchangeError("A LIMIT order needs a price.")
        limit = market if price is None else price
        crosses = type_ == "MARKET" or (limit >= market if side == "BUY" else limit <= market)
        fill = market if crosses else limit
        if side == "BUY":
            self._debit(QUOTE, quantity * fill, lock=not crosses)
        else:
            self._debit(base, quantity, lock=not crosses)
        if crosses and side == "BUY":
            self._credit(base, quantity)
        elif crosses:
            self._credit(QUOTE, quantity * fill)
        order = Order(
            self._next_order_id, symbol, side, type_, quantity, fill, "FILLED" if crosses else "NEW"
        )
        self._next_order_id += 1
        self.orders[order.order_id] = order
        return order

    def cancel_order(self, symbol: str, order_id: int) -> Order:
        order = self.orders.get(order_id)
        if order is None or order.symbol != symbol or order.status != "NEW":
            raise ExchangeError("Unknown order sent.")
        asset, amount = (
            (QUOTE, order.quantity * order.price)
            if order.side == "BUY"
            else (base_asset(symbol), order.quantity)
        )
        self.balances[asset].locked -= amount
        self.balances[asset].free += amount
        order.status = "CANCELED"
        return order

    def open_orders(self, symbol: str | None) -> list[Order]:
        if symbol is not None:
            base_asset(symbol)
        return [
            o
            for o in self.orders.values()
            if o.status == "NEW" and (symbol is None or o.symbol == symbol)
        ]

    def withdraw(self, asset: str, amount: Decimal, address: str) -> str:
        self._debit(asset, amount)
        self.withdrawals += 1
        return f"wd-{self.withdrawals:06d}"

    def transfer(self, asset: str, amount: Decimal, subaccount: str) -> str:
        self._debit(asset, amount)
        held = self.subaccounts.setdefault(subaccount, {})
        held[asset] = held.get(asset, Decimal(0)) + amount
        self.transfers += 1
        return f"tr-{self.transfers:06d}"

    def keepalive(self, listen_key: str) -> None:
        if listen_key not in self.listen_keys:
            raise ExchangeError("This listenKey does not exist.")

    def close_listen_key(self, listen_key: str) -> None:
        self.keepalive(listen_key)
        self.listen_keys.discard(listen_key)

    def reset_api_keys(self) -> int:
        self.key_generation += 1
        self.listen_keys.clear()
        return self.key_generation
