"""Fakes for driving the HTTP face in-process: a scripted upstream that records what it was sent,
a bearer-token authenticator, an interceptor that denies one tool locally (and records the
responses its hook saw for the calls it let through), the face wired around them, and a
streaming ASGI client for the long-lived SSE responses httpx's ASGITransport cannot stream."""

from __future__ import annotations

import contextlib
import math
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import orjson
from anyio.abc import TaskGroup
from starlette.applications import Starlette
from starlette.types import ASGIApp
from starlette.types import Message as AsgiMessage

from toolgate.errors import UpstreamError
from toolgate.httpface.app import build_app
from toolgate.httpface.guard import FaceLimits
from toolgate.httpface.served import Face, ServedServer
from toolgate.httpface.sessions import InterceptorsFor, SessionTable
from toolgate.identity.principal import Authenticator, Principal, Refusal
from toolgate.jsonrpc import codes
from toolgate.jsonrpc.message import JsonId, Message, encode, error_response, parse
from toolgate.mcp.eras import MODERN_VERSION, PROTOCOL_VERSION_KEY, is_modern_request
from toolgate.mcp.results import denial
from toolgate.pipeline.session import Session
from toolgate.pipeline.types import Forward, Interceptor, Next, Outcome, Respond
from toolgate.transports.sse import SseEvent, SseParser
from toolgate.transports.upstream import UpstreamMessage

WAIT = 5.0  # seconds any single step of a test may take
HOST = "127.0.0.1:8123"
BASE_URL = f"http://{HOST}"
HANDSHAKE_VERSION = "2025-11-25"
RESOURCE_METADATA = f'Bearer resource_metadata="{BASE_URL}/.well-known/oauth-protected-resource"'

Answer = Callable[[Message], AsyncIterator[UpstreamMessage]]

TOOLS: list[dict[str, Any]] = [
    {"name": "echo", "inputSchema": {"type": "object"}},
    {"name": "secret", "inputSchema": {"type": "object"}},
]


# messages ----------------------------------------------------------------------------------------


def request(msg_id: JsonId, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        body["params"] = params
    return body


def notification(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        body["params"] = params
    return body


def initialize(msg_id: JsonId = 0, version: str = HANDSHAKE_VERSION) -> dict[str, Any]:
    return request(
        msg_id,
        "initialize",
        {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "test-client", "version": "1"},
        },
    )


def tool_call(msg_id: JsonId, name: str, **arguments: Any) -> dict[str, Any]:
    return request(msg_id, "tools/call", {"name": name, "arguments": arguments})


def modern(body: dict[str, Any]) -> dict[str, Any]:
    """The same request as a 2026-07-28 (stateless) one: the version in `params._meta`."""
    params = dict(body.get("params") or {})
    params["_meta"] = {**params.get("_meta", {}), PROTOCOL_VERSION_KEY: MODERN_VERSION}
    return {**body, "params": params}


def modern_headers(body: dict[str, Any]) -> dict[str, str]:
    """The headers a 2026-07-28 request must carry to mirror its body."""
    headers = {"MCP-Protocol-Version": MODERN_VERSION, "Mcp-Method": body["method"]}
    params = body.get("params") or {}
    name = params.get("uri") if body["method"] == "resources/read" else params.get("name")
    if isinstance(name, str):
        headers["Mcp-Name"] = name
    return headers


def result_of(msg_id: JsonId, result: dict[str, Any]) -> UpstreamMessage:
    return UpstreamMessage(encode({"jsonrpc": "2.0", "id": msg_id, "result": result}), final=True)


def progress(token: object, amount: int = 1) -> UpstreamMessage:
    params = {"progressToken": token, "progress": amount}
    return UpstreamMessage(encode(notification("notifications/progress", params)))


async def default_answer(message: Message) -> AsyncIterator[UpstreamMessage]:
    """What a small well-behaved MCP server answers (tool results name the tool called)."""
    assert message.id is not None
    params = message.params if isinstance(message.params, dict) else {}
    stateless = is_modern_request(params)
    extra: dict[str, Any] = {"resultType": "complete"} if stateless else {}
    if message.method == "initialize":
        yield result_of(
            message.id,
            {
                "protocolVersion": params.get("protocolVersion", HANDSHAKE_VERSION),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "fake-upstream", "version": "1"},
            },
        )
    elif message.method == "tools/list":
        yield result_of(message.id, {"tools": TOOLS, **extra})
    elif message.method == "tools/call":
        text = f"called {params.get('name')}"
        yield result_of(message.id, {"content": [{"type": "text", "text": text}], **extra})
    elif message.method == "ping":
        yield result_of(message.id, {})
    else:
        data = error_response(message.id, codes.METHOD_NOT_FOUND, "Method not found")
        yield UpstreamMessage(data, final=True)


# the upstream ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sent:
    """One message an upstream session received: `session` numbers the session (from 1)."""

    session: int
    data: bytes
    headers: Mapping[str, str] | None = None

    @property
    def method(self) -> str | None:
        method = orjson.loads(self.data).get("method")
        return method if isinstance(method, str) else None


class FakeUpstreamSession:
    """An `UpstreamSession` that answers through its factory's `answer` and records everything."""

    def __init__(self, factory: FakeUpstreams, number: int) -> None:
        self._factory = factory
        self.number = number
        self.closed = False
        self.broken: UpstreamError | None = None  # set: every request fails with it
        self.last_event_ids: list[str | None] = []
        self._pushed: list[bytes] = []
        self._changed = anyio.Event()

    async def request(
        self, data: bytes, request_id: JsonId, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[UpstreamMessage]:
        self._factory.sent.append(Sent(self.number, data, headers))
        if self.broken is not None:
            raise self.broken
        message = parse(data)
        assert isinstance(message, Message), f"the face forwarded something unreadable: {data!r}"
        assert message.id == request_id
        async for item in self._factory.answer(message):
            yield item

    async def notify(self, data: bytes) -> None:
        self._factory.sent.append(Sent(self.number, data))

    async def server_messages(
        self, last_event_id: str | None = None
    ) -> AsyncIterator[UpstreamMessage]:
        self.last_event_ids.append(last_event_id)
        delivered = 0
        while True:
            while delivered < len(self._pushed):
                yield UpstreamMessage(self._pushed[delivered])
                delivered += 1
            if self.closed:
                return
            self._changed = anyio.Event()
            await self._changed.wait()

    def push(self, message: dict[str, Any]) -> None:
        """Send a server-initiated message on this session's standalone stream."""
        self._pushed.append(encode(message))
        self._changed.set()

    async def aclose(self) -> None:
        self.closed = True
        self._changed.set()


class FakeUpstreams:
    """An `UpstreamFactory` of fake sessions; `refuse` makes opening a session fail."""

    description = "a fake upstream"

    def __init__(self, answer: Answer = default_answer) -> None:
        self.answer = answer
        self.sent: list[Sent] = []
        self.sessions: list[FakeUpstreamSession] = []
        self.shared: FakeUpstreamSession | None = None
        self.refuse: UpstreamError | None = None
        self.bound = False
        self.closed = False

    def bind(self, tg: TaskGroup) -> None:
        self.bound = True

    async def session(self) -> FakeUpstreamSession:
        if self.refuse is not None:
            raise self.refuse
        session = FakeUpstreamSession(self, len(self.sessions) + 1)
        self.sessions.append(session)
        return session

    async def stateless(self) -> FakeUpstreamSession:
        if self.refuse is not None:
            raise self.refuse
        if self.shared is None:
            self.shared = FakeUpstreamSession(self, 0)
        return self.shared

    async def aclose(self) -> None:
        self.closed = True
        for session in [*self.sessions, *([self.shared] if self.shared else [])]:
            await session.aclose()

    def methods(self) -> list[str | None]:
        """The methods of everything received, in order (None for a client's response)."""
        return [sent.method for sent in self.sent]


# identity and policy -----------------------------------------------------------------------------


class TokenAuthenticator:
    """`Authorization: Bearer <token>` names a principal; `servers` limits where each may go."""

    def __init__(
        self,
        principals: Mapping[str, Principal],
        servers: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self._principals = dict(principals)
        self._servers = dict(servers or {})
        self.asked: list[tuple[str | None, str]] = []

    async def authenticate(self, authorization: str | None, server: str) -> Principal | Refusal:
        self.asked.append((authorization, server))
        if authorization is None:
            return Refusal(401, "Unauthorized: a bearer token is required", RESOURCE_METADATA)
        scheme, _, token = authorization.partition(" ")
        principal = self._principals.get(token) if scheme.lower() == "bearer" else None
        if principal is None:
            return Refusal(401, "Unauthorized: the token is not valid", RESOURCE_METADATA)
        allowed = self._servers.get(token)
        if allowed is not None and server not in allowed:
            return Refusal(403, f"Forbidden: this token is not for {server}")
        return principal


ALICE = Principal("alice", {"team": "a"}, grant_id="grant-alice")
BOB = Principal("bob", {"team": "b"}, grant_id="grant-bob")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class DenyTool:
    """Answers calls to one tool locally with a denial; lets every other call through with a
    hook that records the response it saw (what counters and audit would see)."""

    methods = frozenset({"tools/call"})

    def __init__(self, tool: str) -> None:
        self.tool = tool
        self.decided: list[Message] = []
        self.hooked: list[Message] = []

    async def __call__(self, request: Message, session: Session, call_next: Next) -> Outcome:
        assert request.id is not None
        self.decided.append(request)
        params = request.params if isinstance(request.params, dict) else {}
        if params.get("name") == self.tool:
            text = f"{self.tool} is not allowed here"
            return Respond(denial(request.id, text, modern=is_modern_request(params)))
        outcome = await call_next(request)
        if isinstance(outcome, Respond):
            return outcome

        async def hook(response: Message) -> bytes | None:
            self.hooked.append(response)
            return None

        return Forward(outcome.data, hook)


# the face ----------------------------------------------------------------------------------------


@dataclass
class Rig:
    """One served server (`/mcp/<name>`) behind a running face, and an httpx client for it."""

    app: Starlette
    name: str
    upstreams: FakeUpstreams
    served: ServedServer
    deny: DenyTool
    client: httpx.AsyncClient
    interceptors_asked: list[Principal | None] = field(default_factory=list)
    route: str | None = None  # where the endpoint is served, when not at /mcp/<name>

    @property
    def path(self) -> str:
        return self.route or f"/mcp/{self.name}"

    async def post(
        self,
        body: object,
        *,
        session: str | None = None,
        headers: Mapping[str, str] | None = None,
        path: str | None = None,
    ) -> httpx.Response:
        sent = {"Accept": "application/json, text/event-stream", **(headers or {})}
        if session is not None:
            sent["Mcp-Session-Id"] = session
        content = body if isinstance(body, bytes) else orjson.dumps(body)
        sent.setdefault("Content-Type", "application/json")
        with anyio.fail_after(WAIT):
            return await self.client.post(path or self.path, content=content, headers=sent)

    async def open_session(self, headers: Mapping[str, str] | None = None) -> str:
        """initialize + notifications/initialized; the gateway's session id."""
        answer = await self.post(initialize(), headers=headers)
        assert answer.status_code == 200, answer.text
        session_id = answer.headers["mcp-session-id"]
        done = await self.post(
            notification("notifications/initialized"), session=session_id, headers=headers
        )
        assert done.status_code == 202, done.text
        return session_id


def single_server_interceptors(deny: DenyTool, asked: list[Principal | None]) -> InterceptorsFor:
    def interceptors(principal: Principal | None) -> tuple[Interceptor, ...]:
        asked.append(principal)
        return (deny,)

    return interceptors


@contextlib.asynccontextmanager
async def running_face(
    *,
    limits: FaceLimits | None = None,
    authenticator: Authenticator | None = None,
    answer: Answer = default_answer,
    name: str = "files",
    documents: Mapping[str, dict[str, Any]] | None = None,
) -> AsyncIterator[Rig]:
    """The face with one fake-upstream server, its lifespan entered, and a client for it."""
    upstreams = FakeUpstreams(answer)
    deny = DenyTool("secret")
    asked: list[Principal | None] = []
    interceptors = single_server_interceptors(deny, asked)
    limits = limits or FaceLimits(hosts=frozenset({HOST}))
    table = SessionTable(
        upstreams,
        interceptors,
        max_sessions=limits.max_sessions,
        idle_seconds=limits.session_idle_seconds,
        advertise_tools_list_changed=True,
    )
    served = ServedServer(name, upstreams, interceptors, table)
    app = build_app({name: served}, Face(limits, authenticator), documents=documents)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield Rig(app, name, upstreams, served, deny, client, asked)


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC error object of a refusal (asserting the body is one)."""
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert body["jsonrpc"] == "2.0", body
    assert set(body) == {"jsonrpc", "id", "error"}, body
    error = body["error"]
    assert isinstance(error["code"], int) and isinstance(error["message"], str), error
    return dict(error)


def assert_refused(
    response: httpx.Response, status: int, *, code: int = -32000, says: str = ""
) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    error = error_of(response)
    assert error["code"] == code, error
    assert says.lower() in error["message"].lower(), error
    return error


# streaming ---------------------------------------------------------------------------------------


class OpenStream:
    """A response being streamed: its status and headers, then its SSE events or body."""

    def __init__(
        self, status: int, headers: dict[str, str], chunks: anyio.abc.ObjectReceiveStream[bytes]
    ) -> None:
        self.status = status
        self.headers = headers
        self._chunks = chunks
        self._parser = SseParser()
        self._events: deque[SseEvent] = deque()

    async def event(self) -> SseEvent:
        """The next event (within WAIT seconds)."""
        with anyio.fail_after(WAIT):
            while not self._events:
                self._events.extend(self._parser.feed(await self._chunks.receive()))
        return self._events.popleft()

    async def message(self) -> dict[str, Any]:
        """The next event's data, decoded."""
        data: dict[str, Any] = orjson.loads((await self.event()).data)
        return data

    async def body(self) -> bytes:
        """Everything up to the end of the response (for a response that ends)."""
        out = bytearray()
        with anyio.fail_after(WAIT):
            async for chunk in self._chunks:
                out += chunk
        return bytes(out)


@contextlib.asynccontextmanager
async def streaming(
    app: ASGIApp,
    method: str,
    path: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
) -> AsyncIterator[OpenStream]:
    """Send one request to `app` and stream its response; leaving disconnects the client."""
    target, _, query = path.partition("?")
    sent = {"host": HOST, **{k.lower(): v for k, v in (headers or {}).items()}}
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": target,
        "raw_path": target.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in sent.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8123),
    }
    delivered = False
    disconnected = anyio.Event()
    started = anyio.Event()
    finished = anyio.Event()
    start: dict[str, Any] = {}
    send_chunk, chunks = anyio.create_memory_object_stream[bytes](math.inf)

    async def receive() -> AsgiMessage:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: AsgiMessage) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
            started.set()
        elif message["type"] == "http.response.body":
            if message.get("body"):
                send_chunk.send_nowait(message["body"])
            if not message.get("more_body", False):
                send_chunk.close()

    async def run() -> None:
        try:
            await app(scope, receive, send)
        finally:
            send_chunk.close()
            started.set()
            finished.set()

    with send_chunk, chunks:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            with anyio.fail_after(WAIT):
                await started.wait()
            assert start, f"{method} {path} ended without a response"
            response_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
            try:
                yield OpenStream(start["status"], response_headers, chunks)
            finally:
                disconnected.set()
                with anyio.fail_after(WAIT):
                    await finished.wait()


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll a condition the code under test makes true from another task (bounded by WAIT)."""
    with anyio.fail_after(WAIT):
        while not condition():
            await anyio.lowlevel.checkpoint()
    assert condition(), what
