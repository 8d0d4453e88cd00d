"""Scanning an MCP server: start it, open its era, list every tool (and resource and prompt).

`scan_server` starts the command as a stdio child, opens the conversation in the server's era
(`scan_era`), follows `nextCursor` through every page of `tools/list`, and of `resources/list` and
`prompts/list` when the server advertises them, then shuts the child down whatever happened.
Paging is guarded: a cursor seen twice, more than `MAX_ITEMS` items or `MAX_PAGES` pages end the
scan with a `ScanError` instead of looping. Classification happens later, on the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from toolgate.catalog.scan_era import Handshake, open_era
from toolgate.catalog.scan_session import ScanError, ScanSession, error_text
from toolgate.transports.stdio_child import StdioChild, describe

DEFAULT_TIMEOUT = 20.0
MAX_ITEMS = 100_000
MAX_PAGES = 10_000


@dataclass(frozen=True, slots=True)
class ServerScan:
    """What a server said about itself: identity, era, and its tool, resource, prompt lists."""

    name: str | None
    version: str | None
    era: str
    protocol_version: str
    command: tuple[str, ...]
    tools: tuple[dict[str, Any], ...]
    resources: tuple[dict[str, Any], ...] = ()
    prompts: tuple[dict[str, Any], ...] = ()


async def scan_server(command: Sequence[str], wait: float = DEFAULT_TIMEOUT) -> ServerScan:
    """Scan the server `command` starts; every wait is bounded by `wait` seconds."""
    if not wait > 0:
        raise ScanError(f"the timeout must be a positive number of seconds, got {wait:g}")
    child = await StdioChild.start(command)
    try:
        session = ScanSession(child, wait)
        handshake = await open_era(session)
        tools = await list_all(session, handshake, "tools/list", "tools")
        resources: tuple[dict[str, Any], ...] = ()
        prompts: tuple[dict[str, Any], ...] = ()
        if "resources" in handshake.capabilities:
            resources = await list_all(session, handshake, "resources/list", "resources")
        if "prompts" in handshake.capabilities:
            prompts = await list_all(session, handshake, "prompts/list", "prompts")
    finally:
        with anyio.CancelScope(shield=True):
            await child.shutdown()
            child.close()
    return ServerScan(
        handshake.name,
        handshake.version,
        handshake.era,
        handshake.protocol_version,
        tuple(command),
        tools,
        resources,
        prompts,
    )


async def list_all(
    session: ScanSession, handshake: Handshake, method: str, key: str
) -> tuple[dict[str, Any], ...]:
    """Every item of a paginated list, in server order."""
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        answer = await session.request(method, handshake.params(cursor))
        if "error" in answer:
            raise ScanError(f"server `{session.name}` refused {method}: {error_text(answer)}")
        items.extend(_page_items(session, method, key, answer.get("result")))
        if len(items) > MAX_ITEMS:
            raise session.invalid(method, f"more than {MAX_ITEMS} {key}")
        cursor = _next_cursor(session, method, answer["result"])
        if cursor is None:
            return tuple(items)
        if cursor in seen:
            raise session.invalid(method, f"cursor {cursor!r} came back again (a cursor loop)")
        seen.add(cursor)
    raise session.invalid(method, f"more than {MAX_PAGES} pages")


def _page_items(
    session: ScanSession, method: str, key: str, result: object
) -> list[dict[str, Any]]:
    if not isinstance(result, dict):
        raise session.invalid(method, "the result is not an object")
    result_type = result.get("resultType", "complete")
    if result_type != "complete":
        raise session.invalid(method, f'resultType is "{result_type}", not "complete"')
    page = result.get(key)
    if not isinstance(page, list):
        raise session.invalid(method, f"{key} is not a list")
    for index, item in enumerate(page):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise session.invalid(method, f"{key}[{index}] has no string name")
    return page


def _next_cursor(session: ScanSession, method: str, result: dict[str, Any]) -> str | None:
    cursor = result.get("nextCursor")
    if cursor is None or isinstance(cursor, str):
        return cursor
    raise session.invalid(method, "nextCursor is not a string")


def command_text(scan: ServerScan) -> str:
    return describe(scan.command)
