"""Which arguments of a tool's input schema are amounts worth a spend counter.

An argument qualifies when its schema type is numeric (`number`/`integer`, alone, in a type list or
in an `anyOf`/`oneOf` branch) and its name, split into words (camelCase, snake_case, kebab-case),
contains an amount word (`amount`, `quantity`, `qty`, `price`, `notional`, `value`, `size`, …) and
no paging or timing word (`pageSize` and `recvWindow` are not money). String amounts are left out:
a counter cannot add up free text. Names a condition path cannot spell (dots, blanks) are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

AMOUNT_WORDS = frozenset(
    {
        "amount",
        "amt",
        "quantity",
        "qty",
        "price",
        "notional",
        "value",
        "size",
        "cost",
        "total",
        "sum",
        "volume",
        "principal",
        "fee",
        "budget",
    }
)
NOT_MONEY_WORDS = frozenset(
    {"page", "window", "recv", "batch", "chunk", "step", "font", "file", "timeout", "line"}
)
NUMERIC = frozenset({"number", "integer"})
PLAIN_ARGUMENT = re.compile(r"[A-Za-z0-9_$-]+\Z")
WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z]|[0-9]|\b|_)|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


@dataclass(frozen=True, slots=True)
class AmountArgument:
    name: str
    required: bool


def words(name: str) -> tuple[str, ...]:
    """`quoteOrderQty` → (quote, order, qty); `max_notional-value` → (max, notional, value)."""
    return tuple(word.lower() for word in WORD.findall(name))


def amount_arguments(schema: object) -> tuple[AmountArgument, ...]:
    """The amount-like numeric top-level arguments of an input schema, in schema order."""
    if not isinstance(schema, Mapping):
        return ()
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return ()
    required = schema.get("required")
    needed = set(required) if isinstance(required, list) else set()
    found = []
    for name, prop in properties.items():
        if isinstance(name, str) and is_amount_name(name) and is_numeric(prop):
            found.append(AmountArgument(name, name in needed))
    return tuple(found)


def is_amount_name(name: str) -> bool:
    if not PLAIN_ARGUMENT.match(name):
        return False
    parts = set(words(name))
    return bool(parts & AMOUNT_WORDS) and not parts & NOT_MONEY_WORDS


def is_numeric(prop: Any) -> bool:
    if not isinstance(prop, Mapping):
        return False
    kind = prop.get("type")
    if isinstance(kind, str) and kind in NUMERIC:
        return True
    if isinstance(kind, list) and any(isinstance(k, str) and k in NUMERIC for k in kind):
        return True
    branches = [prop.get("anyOf"), prop.get("oneOf")]
    return any(
        is_numeric(branch) for group in branches if isinstance(group, list) for branch in group
    )
