"""The fastest Streamable HTTP MCP stub for benchmarks: one `echo` tool, both protocol eras.

Usage: python bench/http_stub_server.py [--host 127.0.0.1] [--port 0]

A bare ASGI application under uvicorn (no framework in between) serving `/mcp`:

- handshake era (2025-03-26 … 2025-11-25): `initialize` opens a session and answers with the
  stub's own `Mcp-Session-Id`; every later POST must carry it (missing: 400, unknown: 404);
  notifications and client responses get 202; `ping`, `tools/list` and `tools/call echo` are
  answered with a JSON body; GET answers 405 (no standalone stream); DELETE ends the session;
- 2026-07-28 era: a request whose `params._meta` names the protocol version is stateless, its
  `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers must mirror the body (else 400 with
  -32020), an unsupported version gets -32022, and `server/discover`, `tools/list` and
  `tools/call echo` are answered with `resultType: "complete"`.

Every answer is JSON (never SSE), so the stub costs as little as an MCP server over HTTP can. On
start it prints `http-stub: serving at http://HOST:PORT/mcp` on stderr (port 0: any free port).
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
import uvicorn

MODERN = "2026-07-28"
LEGACY = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
SERVER_INFO_KEY = "io.modelcontextprotocol/serverInfo"
INFO = {"name": "toolgate-bench-http-stub", "version": "1.0.0"}
CAPS = {"tools": {"listChanged": False}}
PATH = "/mcp"
MAX_BODY = 4 * 1024 * 1024
NAMED = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
ECHO = {
    "name": "echo",
    "description": "Echo the message back.",
    "inputSchema": {
        "type": "object",
        "properties": {"message": {"type": "string"}},
        "required": ["message"],
    },
    "annotations": {"readOnlyHint": True, "destructiveHint": False, "openWorldHint": False},
}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = dict[bytes, bytes]
Answer = tuple[int, bytes | None, list[tuple[bytes, bytes]]]

JSON_TYPE = (b"content-type", b"application/json")


class HttpError(Exception):
    """A request refused before any JSON-RPC work: HTTP status and JSON-RPC error."""

    def __init__(self, status: int, code: int, message: str, msg_id: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.msg_id = msg_id
        self.data: Any = None


def rpc_error(msg_id: Any, code: int, message: str, data: Any = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return orjson.dumps({"jsonrpc": "2.0", "id": msg_id, "error": error})


def rpc_result(msg_id: Any, body: bytes) -> bytes:
    return b'{"jsonrpc":"2.0","id":' + orjson.dumps(msg_id) + b',"result":' + body + b"}"


def cached_bodies() -> dict[tuple[str, bool], bytes]:
    """Result bodies that never change, serialised once, keyed by (method, modern)."""
    meta = {"_meta": {SERVER_INFO_KEY: INFO}}
    complete = {"resultType": "complete"}
    return {
        ("ping", False): b"{}",
        ("tools/list", False): orjson.dumps({"tools": [ECHO]}),
        ("tools/list", True): orjson.dumps(
            {"tools": [ECHO], "ttlMs": 300000, "cacheScope": "public"} | complete | meta
        ),
        ("server/discover", True): orjson.dumps(
            {
                "supportedVersions": [MODERN],
                "capabilities": CAPS,
                "ttlMs": 0,
                "cacheScope": "private",
            }
            | complete
            | meta
        ),
    }


def echo_result(params: dict[str, Any], modern: bool) -> bytes:
    arguments = params.get("arguments")
    message = arguments.get("message") if isinstance(arguments, dict) else None
    if not isinstance(message, str):
        result: dict[str, Any] = {
            "content": [{"type": "text", "text": "echo needs a string `message` argument"}],
            "isError": True,
        }
    else:
        result = {"content": [{"type": "text", "text": message}], "isError": False}
    if modern:
        result |= {"resultType": "complete", "_meta": {SERVER_INFO_KEY: INFO}}
    return orjson.dumps(result)


class Stub:
    """The ASGI application: the sessions it opened and the answers it can give."""

    def __init__(self) -> None:
        self.sessions: dict[str, str] = {}  # session id -> negotiated protocol version
        self.cached = cached_bodies()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan is off; nothing else is served
        if scope["path"] != PATH:
            await respond(send, 404, rpc_error(None, -32600, f"Not Found: serve {PATH}"))
            return
        headers: Headers = dict(scope["headers"])
        method = scope["method"]
        try:
            if method == "POST":
                status, body, extra = self.post(headers, await read_body(receive))
            elif method == "DELETE":
                status, body, extra = self.delete(headers)
            else:
                allow = (b"allow", b"POST, DELETE")
                status, body, extra = 405, rpc_error(None, -32600, "Method Not Allowed"), [allow]
        except HttpError as exc:
            status, extra = exc.status, []
            body = rpc_error(exc.msg_id, exc.code, exc.message, exc.data)
        await respond(send, status, body, extra)

    def post(self, headers: Headers, raw: bytes) -> Answer:
        accept = headers.get(b"accept", b"")
        if b"application/json" not in accept and b"*/*" not in accept:
            raise HttpError(406, -32600, "Not Acceptable: Accept must list application/json")
        kind = headers.get(b"content-type", b"").partition(b";")[0].strip().lower()
        if kind != b"application/json":
            raise HttpError(415, -32600, "Unsupported Media Type: send application/json")
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise HttpError(400, -32700, "Parse error") from None
        if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
            raise HttpError(400, -32600, "Invalid Request: one JSON-RPC 2.0 object per POST")
        params = msg.get("params")
        params = params if isinstance(params, dict) else {}
        meta = params.get("_meta")
        name = msg.get("method")
        if isinstance(name, str) and "id" in msg and isinstance(meta, dict) and VERSION_KEY in meta:
            return self.modern(headers, msg["id"], name, params, meta[VERSION_KEY])
        if name == "initialize" and "id" in msg:
            return self.initialize(msg["id"], params)
        version = self.session_of(headers, msg.get("id"))
        sent = headers.get(b"mcp-protocol-version")
        if sent is not None and sent.decode("latin-1") != version:
            detail = (
                f"Bad Request: MCP-Protocol-Version {sent.decode('latin-1')!r} is not {version}"
            )
            raise HttpError(400, -32600, detail, msg.get("id"))
        if not isinstance(name, str) or "id" not in msg:
            return 202, None, []  # a notification or a response to a server request
        return 200, self.handshake_request(msg["id"], name, params), []

    def modern(
        self, headers: Headers, msg_id: Any, method: str, params: dict[str, Any], version: Any
    ) -> Answer:
        if version != MODERN:
            exc = HttpError(400, -32022, "Unsupported protocol version", msg_id)
            exc.data = {"supported": [MODERN], "requested": version}
            raise exc
        mirror = {b"mcp-protocol-version": version, b"mcp-method": method}
        if method in NAMED:
            mirror[b"mcp-name"] = str(params.get(NAMED[method], ""))
        for header, expected in mirror.items():
            if headers.get(header, b"").decode("latin-1") != expected:
                shown = header.decode()
                raise HttpError(400, -32020, f"{shown} header does not match the body", msg_id)
        cached = self.cached.get((method, True))
        if cached is not None:
            return 200, rpc_result(msg_id, cached), []
        if method == "tools/call":
            return 200, self.call(msg_id, params, modern=True), []
        return 404, rpc_error(msg_id, -32601, f"Method not found: {method}"), []

    def initialize(self, msg_id: Any, params: dict[str, Any]) -> Answer:
        asked = params.get("protocolVersion")
        version = asked if asked in LEGACY else LEGACY[-1]
        session_id = uuid.uuid4().hex
        self.sessions[session_id] = version
        result = {"protocolVersion": version, "capabilities": CAPS, "serverInfo": INFO}
        body = rpc_result(msg_id, orjson.dumps(result))
        return 200, body, [(b"mcp-session-id", session_id.encode())]

    def session_of(self, headers: Headers, msg_id: Any) -> str:
        raw = headers.get(b"mcp-session-id")
        if raw is None:
            raise HttpError(400, -32600, "Bad Request: Mcp-Session-Id header is required", msg_id)
        version = self.sessions.get(raw.decode("latin-1"))
        if version is None:
            raise HttpError(404, -32600, "Session not found", msg_id)
        return version

    def handshake_request(self, msg_id: Any, method: str, params: dict[str, Any]) -> bytes:
        cached = self.cached.get((method, False))
        if cached is not None:
            return rpc_result(msg_id, cached)
        if method == "tools/call":
            return self.call(msg_id, params, modern=False)
        return rpc_error(msg_id, -32601, f"Method not found: {method}")

    def call(self, msg_id: Any, params: dict[str, Any], modern: bool) -> bytes:
        if params.get("name") != "echo":
            return rpc_error(msg_id, -32602, f"Unknown tool: {params.get('name')}")
        return rpc_result(msg_id, echo_result(params, modern))

    def delete(self, headers: Headers) -> Answer:
        raw = headers.get(b"mcp-session-id")
        if raw is None:
            raise HttpError(400, -32600, "Bad Request: Mcp-Session-Id header is required")
        if self.sessions.pop(raw.decode("latin-1"), None) is None:
            raise HttpError(404, -32600, "Session not found")
        return 200, None, []


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HttpError(400, -32600, "Bad Request: the client went away mid-body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise HttpError(413, -32600, f"Content Too Large: over {MAX_BODY} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def respond(
    send: Send, status: int, body: bytes | None, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = list(extra or [])
    if body is not None:
        headers += [JSON_TYPE, (b"content-length", str(len(body)).encode())]
    else:
        headers.append((b"content-length", b"0"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body or b""})


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    args = parser.parse_args()
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        sys.exit(f"http_stub_server.py: cannot listen on {args.host}:{args.port}: {exc.strerror}")
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        Stub(),
        loop="uvloop",
        lifespan="off",
        log_level="warning",
        access_log=False,
        server_header=False,
        date_header=False,
    )
    print(f"http-stub: serving at http://{args.host}:{port}{PATH}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
