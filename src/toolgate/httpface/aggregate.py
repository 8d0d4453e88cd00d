"""The aggregated endpoint: the tools of several served servers behind one URL, each renamed
`<server><separator><tool>`, each call decided by its own server's policy and counters.

The endpoint speaks the handshake era to its clients (a 2026-07-28 client is answered as a
handshake-only server answers it, and falls back) and to each member, through the member's own
interceptor chain, so an aggregated call is decided exactly as a call to `/mcp/<server>` is.
Members are reached concurrently, each within its timeout: a dead or slow member drops out of
`tools/list` (the result's `_meta` names it and why), a call to its tools is answered with an
error naming it, and the next request tries it again, so it comes back when it recovers.

The aggregate tells its client when the tool list changed (`notifications/tools/list_changed`,
as its initialize result advertises): when a member's upstream says its list changed, when a
member's own policy reload changes what is visible (its chain announces to the aggregate's
sessions too), and when a member drops out or comes back.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import TaskGroup

from toolgate import __version__
from toolgate.errors import UpstreamError
from toolgate.httpface.call_stream import Spawn
from toolgate.httpface.exchange import exchange
from toolgate.httpface.sessions import InterceptorsFor
from toolgate.identity.principal import Principal
from toolgate.jsonrpc import codes
from toolgate.jsonrpc.message import JsonId, Message, encode, error_response, parse
from toolgate.mcp.eras import PROTOCOL_VERSION_KEY, is_modern_request
from toolgate.mcp.http_headers import HANDSHAKE_VERSIONS
from toolgate.mcp.results import denial
from toolgate.pipeline.dispatch import Dispatcher
from toolgate.pipeline.session import Session
from toolgate.pipeline.types import Next, Outcome, Respond
from toolgate.transports.upstream import UpstreamFactory, UpstreamMessage, UpstreamSession

log = logging.getLogger("toolgate.aggregate")


LATEST_HANDSHAKE = "2025-11-25"
UNAVAILABLE_META_KEY = "dev.toolgate/unavailable"
MAX_PAGES = 50  # pages read from one member's tools/list
LIST_CHANGED_METHOD = "notifications/tools/list_changed"


@dataclass(frozen=True, slots=True)
class Member:
    """A served server as the aggregate sees it."""

    name: str
    upstreams: UpstreamFactory
    interceptors: InterceptorsFor
    timeout: float


class _Link:
    """One aggregate session's initialized session with one member."""

    def __init__(
        self,
        member: Member,
        session: Session,
        upstream: UpstreamSession,
        principal: Principal | None,
    ) -> None:
        self.member = member
        self.upstream = upstream
        self.dispatcher = Dispatcher(session, member.interceptors(principal))
        self._ids = 0

    def next_id(self) -> str:
        self._ids += 1
        return f"agg-{self._ids}"

    async def ask(self, method: str, params: dict[str, Any], msg_id: JsonId | None = None) -> bytes:
        """Send one request through the member's chain; the final answer's bytes."""
        request_id = msg_id if msg_id is not None else self.next_id()
        data = encode({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        message = parse(data)
        assert isinstance(message, Message)
        final: UpstreamMessage | None = None
        async for item in exchange(message, self.dispatcher, self.upstream):
            if item.final:
                final = item
        if final is None:
            raise UpstreamError(f"{self.member.name} ended the exchange without answering")
        if final.status is not None and final.status >= 500:  # the member's session failed
            raise UpstreamError(_error_text(final.data) or f"{self.member.name} failed")
        return final.data


class AggregateRouter:
    """The interceptor that is the aggregated endpoint: every request of one aggregate session
    is answered here, from the members' answers."""

    methods = frozenset(
        {
            "initialize",
            "ping",
            "server/discover",
            "tools/list",
            "tools/call",
            "resources/list",
            "resources/templates/list",
            "prompts/list",
        }
    )

    def __init__(
        self,
        members: Mapping[str, Member],
        separator: str,
        principal: Principal | None,
        spawn: Spawn,
    ) -> None:
        self._members = dict(members)
        self._separator = separator
        self._principal = principal
        self._spawn = spawn  # runs a closing member session in the background
        self._links: dict[str, _Link] = {}
        self._opening = {name: anyio.Lock() for name in members}
        self._client: dict[str, Any] = {}
        self._session: Session | None = None  # the aggregate session, once initialized
        self._unavailable: set[str] = set()  # members that failed and have not answered since

    async def __call__(self, request: Message, session: Session, call_next: Next) -> Outcome:
        assert request.id is not None
        params = request.params if isinstance(request.params, dict) else {}
        method = request.method
        if method == "initialize":
            self._session = session
            session.tools_list_changed_advertised = True  # the result below says listChanged
            return Respond(self._initialized(request.id, params))
        if method == "server/discover":
            return Respond(error_response(request.id, codes.METHOD_NOT_FOUND, "Method not found"))
        if is_modern_request(params):
            return Respond(_handshake_only(request.id, params))
        if method == "ping":
            return Respond(encode({"jsonrpc": "2.0", "id": request.id, "result": {}}))
        if method == "tools/list":
            return Respond(await self._list(request.id, session))
        if method == "tools/call":
            return Respond(await self._call(request.id, params, session))
        key = {"resources/list": "resources", "prompts/list": "prompts"}.get(
            method or "", "resourceTemplates"
        )
        return Respond(encode({"jsonrpc": "2.0", "id": request.id, "result": {key: []}}))

    def _initialized(self, msg_id: JsonId, params: dict[str, Any]) -> bytes:
        self._client = params
        requested = params.get("protocolVersion")
        version = requested if requested in HANDSHAKE_VERSIONS else LATEST_HANDSHAKE
        names = ", ".join(self._members)
        result = {
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": True}},
            "serverInfo": {"name": "toolgate-aggregate", "version": __version__},
            "instructions": (f"The tools of {names}, each named <server>{self._separator}<tool>."),
        }
        return encode({"jsonrpc": "2.0", "id": msg_id, "result": result})

    # tools/list --------------------------------------------------------------------------------

    async def _list(self, msg_id: JsonId, session: Session) -> bytes:
        tools: dict[str, list[Any]] = {}
        unavailable: dict[str, str] = {}

        async def one(name: str) -> None:
            member = self._members[name]
            with anyio.move_on_after(member.timeout) as scope:
                try:
                    tools[name] = await self._member_tools(name, session)
                except UpstreamError as exc:
                    unavailable[name] = str(exc)
            if scope.cancelled_caught:
                unavailable[name] = f"no answer within {member.timeout:g} s"

        async with anyio.create_task_group() as tg:
            for name in self._members:
                tg.start_soon(one, name)
        for name in self._members:
            if name in unavailable:
                self._drop(name)
            else:
                self._answered(name)
        listed = [tool for name in self._members for tool in tools.get(name, [])]
        result: dict[str, Any] = {"tools": listed}
        if unavailable:
            for name, reason in unavailable.items():
                log.warning("aggregate: %s is unavailable: %s", name, reason)
            result["_meta"] = {UNAVAILABLE_META_KEY: unavailable}
        return encode({"jsonrpc": "2.0", "id": msg_id, "result": result})

    async def _member_tools(self, name: str, session: Session) -> list[Any]:
        link = await self._link(name, session)
        renamed: list[Any] = []
        cursor: object = None
        for _ in range(MAX_PAGES):
            params = {} if cursor is None else {"cursor": cursor}
            answer = _result(await link.ask("tools/list", params), name)
            page = answer.get("tools")
            for tool in page if isinstance(page, list) else []:
                if isinstance(tool, dict) and isinstance(tool.get("name"), str):
                    renamed.append({**tool, "name": f"{name}{self._separator}{tool['name']}"})
            cursor = answer.get("nextCursor")
            if not isinstance(cursor, str):
                break
        return renamed

    # tools/call --------------------------------------------------------------------------------

    async def _call(self, msg_id: JsonId, params: dict[str, Any], session: Session) -> bytes:
        full = params.get("name")
        member, tool = self._split(full) if isinstance(full, str) else (None, "")
        if member is None:
            return error_response(msg_id, codes.INVALID_PARAMS, f"Unknown tool: {full}")
        timeout = self._members[member].timeout
        try:
            with anyio.fail_after(timeout):
                link = await self._link(member, session)
                answer = await link.ask("tools/call", {**params, "name": tool}, msg_id)
            self._answered(member)
            return answer
        except (UpstreamError, TimeoutError) as exc:
            self._drop(member)
            reason = str(exc) or f"no answer within {timeout:g} s"
            text = f"server {member} is unavailable, so {full} was not called: {reason}"
            return denial(msg_id, text, modern=False)

    def _split(self, full: str) -> tuple[str | None, str]:
        prefix, separator, tool = full.partition(self._separator)
        if separator and prefix in self._members and tool:
            return prefix, tool
        return None, ""

    # member sessions ---------------------------------------------------------------------------

    async def _link(self, name: str, session: Session) -> _Link:
        async with self._opening[name]:  # two first calls must not open two sessions
            link = self._links.get(name)
            if link is None:
                link = await self._open(name, session)
                self._links[name] = link
            link.dispatcher.session.identity_attributes = session.identity_attributes
            return link

    async def _open(self, name: str, session: Session) -> _Link:
        member = self._members[name]
        upstream = await member.upstreams.session()
        member_session = Session(
            _MemberClient(name, self),
            f"{session.id}:{name}",
            identity=session.identity,
            identity_attributes=session.identity_attributes,
        )
        link = _Link(member, member_session, upstream, self._principal)
        client = self._client
        initialize = {
            "protocolVersion": client.get("protocolVersion", LATEST_HANDSHAKE),
            "capabilities": {},
            "clientInfo": client.get("clientInfo", {"name": "toolgate-aggregate", "version": "1"}),
        }
        try:
            _result(await link.ask("initialize", initialize), name)
            await upstream.notify(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
        except BaseException:
            with anyio.CancelScope(shield=True):
                await _close_quietly(upstream)
            raise
        self._spawn(self._watch, name, upstream)
        return link

    async def _watch(self, name: str, upstream: UpstreamSession) -> None:
        """Relay a member upstream's tool-list changes (its other messages concern only it)."""
        try:
            async for item in upstream.server_messages():
                if _is_list_changed(item.data):
                    await self.member_changed(name)
        except UpstreamError as exc:
            log.info("aggregate: %s's standalone stream ended: %s", name, exc)

    async def member_changed(self, name: str) -> None:
        """A member's visible tools changed: tell the aggregate's client."""
        if self._session is not None:
            log.info("aggregate: the tools of %s changed", name)
            await self._session.announce_tools_changed()

    def _answered(self, name: str) -> None:
        if name in self._unavailable:
            self._unavailable.discard(name)
            log.info("aggregate: %s is available again", name)
            self._spawn(self.member_changed, name)

    def _drop(self, name: str) -> None:
        link = self._links.pop(name, None)
        if link is not None:
            self._spawn(_close_quietly, link.upstream)
        if name not in self._unavailable:
            self._unavailable.add(name)
            self._spawn(self.member_changed, name)

    async def aclose(self) -> None:
        links, self._links = list(self._links.values()), {}
        for link in links:
            await _close_quietly(link.upstream)


def _result(data: bytes, member: str) -> dict[str, Any]:
    message = parse(data)
    if not isinstance(message, Message):
        raise UpstreamError(f"{member} answered with something that is not JSON-RPC")
    result = message.obj.get("result")
    if not isinstance(result, dict):
        error = message.obj.get("error")
        text = error.get("message") if isinstance(error, dict) else "no result"
        raise UpstreamError(f"{member} refused: {text}")
    return result


def _error_text(data: bytes) -> str | None:
    message = parse(data)
    error = message.obj.get("error") if isinstance(message, Message) else None
    text = error.get("message") if isinstance(error, dict) else None
    return text if isinstance(text, str) else None


def _handshake_only(msg_id: JsonId, params: dict[str, Any]) -> bytes:
    """A 2026-07-28 request: this endpoint speaks only the handshake era."""
    meta = params.get("_meta")
    requested = meta.get(PROTOCOL_VERSION_KEY) if isinstance(meta, dict) else None
    data = {"supported": sorted(HANDSHAKE_VERSIONS, reverse=True), "requested": requested}
    return error_response(
        msg_id, codes.UNSUPPORTED_PROTOCOL_VERSION, "Unsupported protocol version", data
    )


async def _close_quietly(upstream: UpstreamSession) -> None:
    try:
        await upstream.aclose()
    except UpstreamError as exc:
        log.info("aggregate: closing a member session failed: %s", exc)


def _is_list_changed(data: bytes) -> bool:
    if LIST_CHANGED_METHOD.encode() not in data:
        return False
    message = parse(data)
    return isinstance(message, Message) and message.method == LIST_CHANGED_METHOD


class _MemberClient:
    """The client side of a member session: the aggregate answers its client itself, and only
    passes on that the member's tool list changed."""

    def __init__(self, name: str, router: AggregateRouter) -> None:
        self._name = name
        self._router = router

    async def send(self, data: bytes) -> None:
        if _is_list_changed(data):
            await self._router.member_changed(self._name)

    async def receive(self) -> bytes:
        return b""


class NoUpstream:
    """The aggregate's own upstream: everything the router does not answer is unknown."""

    description = "the aggregated endpoint"

    def bind(self, tg: TaskGroup) -> None:
        return None

    async def session(self) -> UpstreamSession:
        return _Unknown()

    async def stateless(self) -> UpstreamSession:
        return _Unknown()

    async def aclose(self) -> None:
        return None


class _Unknown:
    async def request(
        self, data: bytes, request_id: JsonId, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[UpstreamMessage]:
        yield UpstreamMessage(
            error_response(request_id, codes.METHOD_NOT_FOUND, "Method not found"), final=True
        )

    async def notify(self, data: bytes) -> None:
        return None

    async def server_messages(
        self, last_event_id: str | None = None
    ) -> AsyncIterator[UpstreamMessage]:
        return
        yield  # an async generator that ends at once

    async def aclose(self) -> None:
        return None
