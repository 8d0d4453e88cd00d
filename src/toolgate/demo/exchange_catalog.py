"""The exchange's tool definitions as `tools/list` returns them: schemas and MCP annotations."""

from __future__ import annotations

from typing import Any, Final

_DECIMAL: Final = {
    "type": ["number", "string"],
    "pattern": r"^[0-9]+(\.[0-9]+)?$",
    "exclusiveMinimum": 0,
}
_SYMBOL: Final = {
    "type": "string",
    "description": "Trading pair, e.g. BTCUSDT",
    "pattern": "^[A-Z]{2,10}USDT$",
}
_ASSET: Final = {
    "type": "string",
    "description": "Asset code, e.g. USDT",
    "pattern": "^[A-Z]{2,10}$",
}
_LISTEN_KEY: Final = {"type": "string", "description": "User-data-stream listen key"}


def _schema(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def _hints(
    *, read_only: bool, destructive: bool, idempotent: bool, open_world: bool = False
) -> dict[str, bool]:
    return {
        "readOnlyHint": read_only,
        "destructiveHint": destructive,
        "idempotentHint": idempotent,
        "openWorldHint": open_world,
    }


_READ: Final = _hints(read_only=True, destructive=False, idempotent=True)


def _tool(
    name: str, title: str, description: str, schema: dict[str, Any], hints: dict[str, bool]
) -> dict[str, Any]:
    return {
        "name": name,
        "title": title,
        "description": description,
        "inputSchema": schema,
        "annotations": {"title": title, **hints},
    }


TOOLS: Final[list[dict[str, Any]]] = [
    _tool(
        "get_price",
        "Get price",
        "Last traded price of a symbol.",
        _schema({"symbol": _SYMBOL}, "symbol"),
        _READ,
    ),
    _tool(
        "get_balances",
        "Get balances",
        "Free and locked balance of every asset.",
        _schema({}),
        _READ,
    ),
    _tool(
        "place_order",
        "Place order",
        "Place a LIMIT or MARKET order. quantity and price accept numbers or decimal strings.",
        _schema(
            {
                "symbol": _SYMBOL,
                "side": {"type": "string", "enum": ["buy", "sell", "BUY", "SELL"]},
                "type": {"type": "string", "enum": ["limit", "market", "LIMIT", "MARKET"]},
                "quantity": {**_DECIMAL, "description": "Amount of the base asset"},
                "price": {**_DECIMAL, "description": "Limit price in USDT (LIMIT orders only)"},
            },
            "symbol",
            "side",
            "type",
            "quantity",
        ),
        _hints(read_only=False, destructive=False, idempotent=False, open_world=True),
    ),
    _tool(
        "cancel_order",
        "Cancel order",
        "Cancel an open order.",
        _schema(
            {"symbol": _SYMBOL, "order_id": {"type": ["integer", "string"]}}, "symbol", "order_id"
        ),
        _hints(read_only=False, destructive=True, idempotent=True),
    ),
    _tool(
        "list_open_orders",
        "List open orders",
        "Open orders, optionally of one symbol.",
        _schema({"symbol": _SYMBOL}),
        _READ,
    ),
    _tool(
        "withdraw",
        "Withdraw",
        "Withdraw an asset to an external address. Irreversible.",
        _schema(
            {
                "asset": _ASSET,
                "amount": {**_DECIMAL, "description": "Amount to withdraw"},
                "address": {"type": "string", "minLength": 1, "description": "Destination address"},
            },
            "asset",
            "amount",
            "address",
        ),
        _hints(read_only=False, destructive=True, idempotent=False, open_world=True),
    ),
    _tool(
        "keepalive_listen_key",
        "Keep listen key alive",
        "Extend the validity of a user-data-stream listen key by 60 minutes.",
        _schema({"listen_key": _LISTEN_KEY}, "listen_key"),
        _hints(read_only=False, destructive=False, idempotent=True),
    ),
    _tool(
        "close_listen_key",
        "Close listen key",
        "Close a user-data-stream listen key.",
        _schema({"listen_key": _LISTEN_KEY}, "listen_key"),
        _hints(read_only=False, destructive=True, idempotent=True),
    ),
    _tool(
        "transfer_to_subaccount",
        "Transfer to sub-account",
        "Move funds from the master account to a sub-account.",
        _schema(
            {
                "asset": _ASSET,
                "amount": {**_DECIMAL, "description": "Amount to transfer"},
                "subaccount": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Sub-account email",
                },
            },
            "asset",
            "amount",
            "subaccount",
        ),
        _hints(read_only=False, destructive=True, idempotent=False),
    ),
    _tool(
        "reset_api_keys",
        "Reset API keys",
        "Admin: revoke every API key and listen key of the account and issue new ones.",
        _schema({}),
        _hints(read_only=False, destructive=True, idempotent=False),
    ),
]

TOOL_NAMES: Final = tuple(tool["name"] for tool in TOOLS)
