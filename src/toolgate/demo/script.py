"""The demo agent's script: the tool calls it makes, in order, and what the demo policy should say.

Chosen so that one run through toolgate shows every outcome: ALLOW, DENY by an argument rule,
DENY by `action: deny`, LIMIT by a rate limit after 3 calls, DENY by a daily spend counter and
HIDDEN for the admin tool. Quantities, prices and amounts are JSON numbers because the policy's
numeric operators compare numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from toolgate.demo.exchange_state import FIRST_ORDER_ID, LISTEN_KEY

ALLOW: Final = "ALLOW"
DENY: Final = "DENY"
LIMIT: Final = "LIMIT"
HIDDEN: Final = "HIDDEN"
BLOCKED: Final = frozenset({DENY, LIMIT, HIDDEN})


@dataclass(frozen=True, slots=True)
class ScriptedCall:
    """One tools/call of the script and the decision the demo policy is expected to give.

    `expected` lists every acceptable label: a spend counter that runs out may be reported as
    a failed condition (DENY) or an exhausted counter (LIMIT), depending on the gateway.
    """

    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)
    expected: frozenset[str] = frozenset({ALLOW})


def _call(tool: str, *expected: str, **arguments: Any) -> ScriptedCall:
    return ScriptedCall(tool, arguments, frozenset(expected or (ALLOW,)))


_LIMIT_BUY: Final = {"symbol": "BTCUSDT", "side": "buy", "type": "limit"}
_KEEPALIVE: Final = _call("keepalive_listen_key", listen_key=LISTEN_KEY)
_TRANSFER: Final = {"asset": "USDT", "subaccount": "desk-2@fund.io"}

SCRIPT: Final[tuple[ScriptedCall, ...]] = (
    _call("get_price", symbol="BTCUSDT"),
    _call("place_order", **_LIMIT_BUY, quantity=0.05, price=60000),
    _call("place_order", DENY, **_LIMIT_BUY, quantity=2.5, price=60000),
    _call("place_order", DENY, symbol="BTCUSDT", side="buy", type="market", quantity=0.5),
    _call("list_open_orders", symbol="BTCUSDT"),
    _call("cancel_order", symbol="BTCUSDT", order_id=FIRST_ORDER_ID),
    _KEEPALIVE,
    _KEEPALIVE,
    _KEEPALIVE,
    ScriptedCall(_KEEPALIVE.tool, _KEEPALIVE.arguments, frozenset({LIMIT})),
    _call("withdraw", DENY, asset="USDT", amount=25000, address="0x9f3c2a7e51b04d86ac13"),
    _call("transfer_to_subaccount", **_TRANSFER, amount=500),
    _call("transfer_to_subaccount", **_TRANSFER, amount=500),
    _call("transfer_to_subaccount", DENY, LIMIT, **_TRANSFER, amount=100),
    _call("reset_api_keys", HIDDEN),
    _call("get_balances"),
)
