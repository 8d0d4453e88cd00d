"""Opening a scan in the server's protocol era: `server/discover` first, else `initialize`.

The stdio rule of the MCP notes: a DiscoverResult means the modern (2026-07-28) era; a recognised
modern error code means modern too; any other error, or no answer in time, means a handshake-era
server, which gets `initialize` (2025-11-25, no client capabilities), then
`notifications/initialized`.
A modern server that refuses our version but lists a handshake-era one is scanned in that era.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from toolgate import __version__
from toolgate.catalog.scan_session import ScanError, ScanSession, ScanTimeoutError, error_text
from toolgate.jsonrpc import codes
from toolgate.mcp.eras import CLIENT_CAPABILITIES_KEY, MODERN_VERSION, PROTOCOL_VERSION_KEY

LEGACY_VERSION = "2025-11-25"
MODERN = "modern"
LEGACY = "legacy"
CLIENT_INFO = {"name": "toolgate-scan", "version": __version__}
CLIENT_INFO_KEY = "io.modelcontextprotocol/clientInfo"
SERVER_INFO_KEY = "io.modelcontextprotocol/serverInfo"
MODERN_ERRORS = frozenset(
    {
        codes.HEADER_MISMATCH,
        codes.MISSING_CLIENT_CAPABILITY,
        codes.UNSUPPORTED_PROTOCOL_VERSION,
    }
)


@dataclass(frozen=True, slots=True)
class Handshake:
    """What the opening exchange told us: era, negotiated version, server identity, capabilities."""

    era: str  # MODERN | LEGACY
    protocol_version: str
    name: str | None
    version: str | None
    capabilities: dict[str, Any] = field(default_factory=dict)

    def params(self, cursor: str | None = None) -> dict[str, Any] | None:
        """Request params in this era (modern requests carry their version in `_meta`)."""
        params: dict[str, Any] = {"_meta": modern_meta()} if self.era == MODERN else {}
        if cursor is not None:
            params["cursor"] = cursor
        return params or None


def modern_meta() -> dict[str, Any]:
    return {
        PROTOCOL_VERSION_KEY: MODERN_VERSION,
        CLIENT_CAPABILITIES_KEY: {},
        CLIENT_INFO_KEY: CLIENT_INFO,
    }


async def open_era(session: ScanSession) -> Handshake:
    """Detect the era and complete whatever opening it needs."""
    try:
        answer = await session.request("server/discover", {"_meta": modern_meta()})
    except ScanTimeoutError:
        return await initialize(session)
    result = answer.get("result")
    if isinstance(result, dict):
        return _discovered(result)
    error = answer.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    if code not in MODERN_ERRORS:
        return await initialize(session)
    if code == codes.UNSUPPORTED_PROTOCOL_VERSION:
        data = error.get("data") if isinstance(error, dict) else None
        supported = data.get("supported") if isinstance(data, dict) else None
        if isinstance(supported, list) and any(v != MODERN_VERSION for v in supported):
            return await initialize(session)
        raise ScanError(
            f"server `{session.name}` supports no protocol version toolgate speaks: "
            f"{error_text(answer)}"
        )
    # Modern, but it would not describe itself: assume it has tools and nothing else.
    return Handshake(MODERN, MODERN_VERSION, None, None, {"tools": {}})


def _discovered(result: dict[str, Any]) -> Handshake:
    meta = result.get("_meta")
    info = meta.get(SERVER_INFO_KEY) if isinstance(meta, dict) else None
    capabilities = result.get("capabilities")
    return Handshake(
        MODERN,
        MODERN_VERSION,
        *_identity(info),
        capabilities if isinstance(capabilities, dict) else {},
    )


async def initialize(session: ScanSession) -> Handshake:
    params = {
        "protocolVersion": LEGACY_VERSION,
        "capabilities": {},
        "clientInfo": CLIENT_INFO,
    }
    answer = await session.request("initialize", params)
    result = answer.get("result")
    if "error" in answer:
        raise ScanError(f"server `{session.name}` refused initialize: {error_text(answer)}")
    if not isinstance(result, dict):
        raise session.invalid("initialize", "the result is not an object")
    await session.notify("notifications/initialized")
    version = result.get("protocolVersion")
    capabilities = result.get("capabilities")
    return Handshake(
        LEGACY,
        version if isinstance(version, str) else LEGACY_VERSION,
        *_identity(result.get("serverInfo")),
        capabilities if isinstance(capabilities, dict) else {},
    )


def _identity(info: object) -> tuple[str | None, str | None]:
    if not isinstance(info, dict):
        return None, None
    name, version = info.get("name"), info.get("version")
    return (
        name if isinstance(name, str) else None,
        version if isinstance(version, str) else None,
    )
