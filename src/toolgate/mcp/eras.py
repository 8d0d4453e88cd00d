"""Which protocol era a message belongs to, decided per message from its shape."""

from __future__ import annotations

from typing import Final

PROTOCOL_VERSION_KEY: Final = "io.modelcontextprotocol/protocolVersion"
CLIENT_CAPABILITIES_KEY: Final = "io.modelcontextprotocol/clientCapabilities"
SUBSCRIPTION_ID_KEY: Final = "io.modelcontextprotocol/subscriptionId"
MODERN_VERSION: Final = "2026-07-28"


def is_modern_request(params: object) -> bool:
    """A 2026-07-28 (stateless) request carries its protocol version in `params._meta`."""
    if not isinstance(params, dict):
        return False
    meta = params.get("_meta")
    return isinstance(meta, dict) and PROTOCOL_VERSION_KEY in meta
