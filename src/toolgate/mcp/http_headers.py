"""What MCP over HTTP requires of request headers, decided from the body (pure).

A 2026-07-28 request mirrors its body in headers (`MCP-Protocol-Version`, `Mcp-Method`,
`Mcp-Name`); a mismatch is refused with -32020 before anything is decided, because toolgate
decides from the body and must not let a header claim one tool while the body calls another.
Handshake-era requests carry the negotiated `MCP-Protocol-Version` after `initialize`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from toolgate.jsonrpc import codes
from toolgate.mcp.eras import MODERN_VERSION, PROTOCOL_VERSION_KEY

HANDSHAKE_VERSIONS: Final = frozenset({"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"})
KNOWN_VERSIONS: Final = HANDSHAKE_VERSIONS | {MODERN_VERSION}
NAMED_METHODS: Final = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}


def modern_header_problem(
    method: str, params: Mapping[str, object], headers: Mapping[str, str]
) -> str | None:
    """Why the headers of a 2026-07-28 request do not match its body, or None. `headers` is
    keyed by lower-case name."""
    meta = params.get("_meta")
    version = meta.get(PROTOCOL_VERSION_KEY) if isinstance(meta, dict) else None
    if headers.get("mcp-protocol-version") != version:
        return "mcp-protocol-version header does not match the request body's protocol version"
    if headers.get("mcp-method") != method:
        return "mcp-method header does not match the request body's method"
    param = NAMED_METHODS.get(method)
    if param is not None and headers.get("mcp-name") != params.get(param):
        return f"mcp-name header does not match the request body's '{param}' parameter"
    return None


def handshake_version_problem(headers: Mapping[str, str]) -> str | None:
    """Why a handshake-era request's `MCP-Protocol-Version` header is unacceptable, or None
    (absent means 2025-03-26, as the specification says)."""
    version = headers.get("mcp-protocol-version")
    if version is None or version in HANDSHAKE_VERSIONS:
        return None
    return f"unsupported MCP-Protocol-Version header {version[:40]!r}"


def http_status(code: object) -> int:
    """The HTTP status a 2026-07-28 server answers a protocol-level JSON-RPC error with, when
    the answer came from a stdio server that has no status of its own. Other errors (a tool's
    invalid arguments, say) stay 200, as the JSON-RPC error in the body says everything."""
    if code in (
        codes.HEADER_MISMATCH,
        codes.MISSING_CLIENT_CAPABILITY,
        codes.UNSUPPORTED_PROTOCOL_VERSION,
        codes.PARSE_ERROR,
        codes.INVALID_REQUEST,
    ):
        return 400
    if code == codes.METHOD_NOT_FOUND:
        return 404
    return 200
