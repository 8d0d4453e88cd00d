"""`toolgate serve` as a real process for end-to-end tests: a gateway file written into a
temporary directory, the served URLs read from the process's stderr, a clean SIGTERM stop, grants
made with the real CLI, and a few raw HTTP helpers for both MCP eras.

    path = write_gateway(tmp, {"time": {"command": time_server(), "policy": POLICY}})
    async with running_gateway(path, home) as gateway:
        url = gateway.urls["time"]                       # http://127.0.0.1:P/mcp/time
        token = create_grant(home, "time", "alice")

The gateway's stderr goes to a file (never a pipe nobody drains), polled until every server's
`toolgate: serving <name> at <url>` line is there or WAIT passes.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import yaml

from tests.e2e.http_servers import everything_http, recording_server
from tests.e2e.support import WAIT, everything_server, time_server

SERVING = re.compile(r"^toolgate: serving (\S+) at (http://\S+)$", re.MULTILINE)
MODERN_VERSION = "2026-07-28"
HANDSHAKE_VERSION = "2025-11-25"
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
    "io.modelcontextprotocol/clientCapabilities": {},
}
# How `toolgate serve` ends on SIGTERM: a graceful shutdown, status 0.
STOPPED_BY_SIGTERM = (0,)
JSON_ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def write_gateway(
    directory: Path,
    servers: Mapping[str, Mapping[str, Any]],
    *,
    auth: Mapping[str, Any] | None = None,
    http: Mapping[str, Any] | None = None,
) -> Path:
    """Write `gateway.yaml` (and one policy file per server) into `directory`.

    Each server is its gateway-file entry, except that `policy` holds the policy's text, which
    is written to `policy-<name>.yaml`. Without `auth` the gateway serves without
    authentication (`insecure_no_auth`); it always listens on a free loopback port."""
    entries: dict[str, Any] = {}
    for name, server in servers.items():
        entry = dict(server)
        policy = directory / f"policy-{name}.yaml"
        policy.write_text(str(entry.pop("policy")))
        entries[name] = {**entry, "policy": str(policy)}
    document: dict[str, Any] = {
        "listen": "127.0.0.1:0",
        "auth": dict(auth) if auth is not None else {"insecure_no_auth": True},
        "servers": entries,
    }
    if http is not None:
        document["http"] = dict(http)
    path = directory / "gateway.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@dataclass
class Gateway:
    """A running `toolgate serve`: its served URLs by server name, and its stderr so far."""

    process: subprocess.Popen[bytes]
    home: Path
    stderr_path: Path
    urls: dict[str, str] = field(default_factory=dict)
    exit_status: int | None = None  # set once stopped; None if it had to be killed

    @property
    def base(self) -> str:
        """`http://127.0.0.1:P`, the listener's origin."""
        first = next(iter(self.urls.values()))
        return first.split("/mcp/", 1)[0]

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def gateway_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "TOOLGATE_HOME": str(home), **(extra or {})}


@asynccontextmanager
async def running_gateway(
    config: Path,
    home: Path,
    env: Mapping[str, str] | None = None,
    *,
    kill_after: float | None = None,
) -> AsyncIterator[Gateway]:
    """Start `toolgate serve -c config` with TOOLGATE_HOME=home; yield once every server is
    announced; on exit stop it with SIGTERM and check that it stopped within WAIT, with a
    status in STOPPED_BY_SIGTERM and no traceback on stderr (`gateway.exit_status` keeps it).

    With `kill_after`, a gateway still running that many seconds after SIGTERM is killed with
    its child processes and not checked: for modules that hit the known slow shutdown (see
    test_http_inspector.test_gateway_stops_promptly_after_inspector_sessions_to_a_stdio_server).
    """
    names = list(yaml.safe_load(await anyio.Path(config).read_text())["servers"])
    stderr_path = config.with_suffix(".stderr")
    command = [sys.executable, "-m", "toolgate", "serve", "-c", str(config)]
    with stderr_path.open("wb") as sink:
        # Popen returns at once; its own session lets `kill_after` end its children too.
        process = subprocess.Popen(  # noqa: ASYNC220
            command,
            env=gateway_env(home, env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            start_new_session=True,
        )
    gateway = Gateway(process, home, stderr_path)
    try:
        await _wait_for_urls(gateway, names)
        yield gateway
    finally:
        if kill_after is not None:
            await _stop_or_kill(process, kill_after)
        else:
            gateway.exit_status = await _stop(process)
    if kill_after is not None:
        return
    text = gateway.stderr()
    assert gateway.exit_status in STOPPED_BY_SIGTERM, (
        f"toolgate serve ended with {gateway.exit_status} on SIGTERM (None: it did not stop "
        f"within {WAIT} s); stderr:\n{text}"
    )
    assert "Traceback" not in text, f"toolgate serve logged a traceback:\n{text}"


async def _wait_for_urls(gateway: Gateway, names: list[str]) -> None:
    with anyio.fail_after(WAIT):
        while True:
            text = gateway.stderr()
            gateway.urls = {m.group(1): m.group(2) for m in SERVING.finditer(text)}
            if all(name in gateway.urls for name in names):
                return
            if gateway.process.poll() is not None:
                raise RuntimeError(
                    f"toolgate serve exited with {gateway.process.returncode} before serving "
                    f"{names}; stderr:\n{text}"
                )
            await anyio.sleep(0.02)  # polling start-up, bounded by fail_after


async def _stop_or_kill(process: subprocess.Popen[bytes], seconds: float) -> None:
    """SIGTERM; after `seconds`, SIGKILL to the gateway's process group (it and its children:
    the group is the session `running_gateway` started it in)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    if await exited_within(process, seconds) is None:
        _kill_group(process)


async def _stop(process: subprocess.Popen[bytes]) -> int | None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    status = await exited_within(process, WAIT)
    if status is None:
        _kill_group(process)
    return status


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


async def exited_within(process: subprocess.Popen[bytes], seconds: float) -> int | None:
    """The process's exit status once it exits, or None if it is still running after
    `seconds` (waited for in a worker thread, so the event loop keeps running)."""
    try:
        return await anyio.to_thread.run_sync(lambda: process.wait(timeout=seconds))
    except subprocess.TimeoutExpired:
        return None


# --- grants, through the real CLI --------------------------------------------------------------


@dataclass(frozen=True)
class IssuedGrant:
    id: str
    token: str
    label: str
    server: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def toolgate_cli(home: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m toolgate ARGS` with TOOLGATE_HOME=home (bounded by WAIT)."""
    command = [sys.executable, "-m", "toolgate", *args]
    return subprocess.run(
        command, env=gateway_env(home), capture_output=True, timeout=WAIT, check=False
    )


def create_grant(home: Path, server: str, label: str, *extra: str) -> IssuedGrant:
    done = toolgate_cli(
        home, "grants", "create", "--server", server, "--label", label, "--json", *extra
    )
    assert done.returncode == 0, done.stderr.decode()
    issued = orjson.loads(done.stdout)
    return IssuedGrant(issued["grant"]["id"], issued["token"], label, server)


def revoke_grant(home: Path, grant_id: str) -> None:
    done = toolgate_cli(home, "grants", "revoke", grant_id)
    assert done.returncode == 0, done.stderr.decode()


# --- raw MCP over HTTP -------------------------------------------------------------------------


def rpc(msg_id: int, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        message["params"] = dict(params)
    return message


def answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC message of an HTTP answer: the JSON body, or the last `data:` event that is
    a response when the answer is an event stream."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        found: dict[str, Any] | None = None
        for line in response.text.splitlines():
            if line.startswith("data:"):
                message = orjson.loads(line[5:].strip())
                if "result" in message or "error" in message:
                    found = message
        assert found is not None, f"no response in the event stream: {response.text!r}"
        return found
    decoded: dict[str, Any] = orjson.loads(response.content)
    return decoded


class HandshakeSession:
    """A handshake-era (2025-11-25) session with a served server over raw HTTP."""

    def __init__(self, client: httpx.AsyncClient, url: str, headers: Mapping[str, str]) -> None:
        self.client = client
        self.url = url
        self.headers = {**JSON_ACCEPT, **headers}
        self.session_id: str | None = None
        self._next_id = 0

    async def open(self) -> httpx.Response:
        """initialize + notifications/initialized; the initialize answer is returned."""
        params = {
            "protocolVersion": HANDSHAKE_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "toolgate-tests", "version": "1"},
        }
        response = await self.client.post(
            self.url, json=rpc(0, "initialize", params), headers=self.headers
        )
        if response.status_code != 200:
            return response
        self.session_id = response.headers["mcp-session-id"]
        notified = await self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert notified.status_code == 202, notified.text
        return response

    async def post(self, message: Mapping[str, Any]) -> httpx.Response:
        headers = {**self.headers, "MCP-Protocol-Version": HANDSHAKE_VERSION}
        if self.session_id is not None:
            headers["Mcp-Session-Id"] = self.session_id
        return await self.client.post(self.url, json=dict(message), headers=headers)

    async def request(self, method: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        self._next_id += 1
        return await self.post(rpc(self._next_id, method, params))

    async def call_tool(self, name: str, arguments: Mapping[str, Any]) -> httpx.Response:
        return await self.request("tools/call", {"name": name, "arguments": dict(arguments)})


async def opened(
    http: httpx.AsyncClient, url: str, credential: IssuedGrant | Mapping[str, str]
) -> HandshakeSession:
    """An initialized handshake-era session with a grant's (or these) headers; 200 asserted."""
    headers = credential.headers if isinstance(credential, IssuedGrant) else credential
    session = HandshakeSession(http, url, headers)
    response = await session.open()
    assert response.status_code == 200, response.text
    return session


async def echo_outcome(session: HandshakeSession, message: str) -> str:
    """ "ok" when `echo` answered with the message, or the denial text of an isError result."""
    response = await session.call_tool("echo", {"message": message})
    assert response.status_code == 200, response.text
    result = answer(response)["result"]
    if result.get("isError"):
        return str(result["content"][0]["text"])
    assert result["content"][0]["text"] == message
    return "ok"


def modern_request(
    msg_id: int, method: str, params: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """A 2026-07-28 request and the headers that mirror it (`MCP-Protocol-Version`,
    `Mcp-Method`, `Mcp-Name` for a tools/call)."""
    body_params = {**(params or {}), "_meta": MODERN_META}
    headers = {**JSON_ACCEPT, "MCP-Protocol-Version": MODERN_VERSION, "Mcp-Method": method}
    if method == "tools/call":
        headers["Mcp-Name"] = str(body_params["name"])
    return rpc(msg_id, method, body_params), headers


# --- one gateway in front of every kind of upstream ----------------------------------------------

EVERYTHING_POLICY = """
version: "1"
hide: [get-env]
tools:
  get-sum:
    rules:
      - {name: never, action: deny, on_deny: "not for agents"}
"""
RECORDING_POLICY = """
version: "1"
hide: [slow]
tools:
  add:
    rules:
      - {name: never, action: deny, on_deny: "not for agents"}
"""
TIME_POLICY = """
version: "1"
hide: [get_current_time]
tools:
  convert_time:
    rules:
      - name: from UTC only
        conditions: [{path: args.source_timezone, op: eq, value: UTC}]
        on_deny: "not for agents"
"""
DENY_TEXT = "[POLICY DENIED] not for agents"  # what every denial below says


@dataclass(frozen=True)
class Upstream:
    """One served server: how to reach it without toolgate (`kind` is stdio, streamable or sse;
    `target` the command or URL) and the calls that show its policy at work."""

    kind: str
    target: list[str] | str
    hidden: str
    allowed: tuple[str, dict[str, Any]]
    denied: tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class MixedGateway:
    gateway: Gateway
    upstreams: dict[str, Upstream]


def _everything(kind: str, target: list[str] | str) -> Upstream:
    return Upstream(
        kind,
        target,
        hidden="get-env",
        allowed=("echo", {"message": "hi ✓"}),
        denied=("get-sum", {"a": 1, "b": 2}),
    )


@asynccontextmanager
async def mixed_gateway(
    tmp: Path, *, kill_after: float | None = None
) -> AsyncIterator[MixedGateway]:
    """One gateway (no authentication) serving five upstreams, each behind a policy that hides
    one tool and denies one call: `everything` (stdio child), `everything-http` and
    `everything-sse` (the npm server's own HTTP transports), `recording` (the dual-era Python
    server over Streamable HTTP) and `time` (mcp-server-time, stdio). `kill_after`: as for
    `running_gateway`."""
    async with AsyncExitStack() as stack:
        streamable = await stack.enter_async_context(everything_http("streamableHttp"))
        sse = await stack.enter_async_context(everything_http("sse"))
        recording, _ = await stack.enter_async_context(recording_server())
        upstreams = {
            "everything": _everything("stdio", everything_server()),
            "everything-http": _everything("streamable", streamable),
            "everything-sse": _everything("sse", sse),
            "recording": Upstream(
                "streamable",
                recording,
                hidden="slow",
                allowed=("echo", {"message": "héllo ✓"}),
                denied=("add", {"a": 1, "b": 2}),
            ),
            "time": Upstream(
                "stdio",
                time_server(),
                hidden="get_current_time",
                allowed=(
                    "convert_time",
                    {"source_timezone": "UTC", "time": "09:30", "target_timezone": "Asia/Tokyo"},
                ),
                denied=(
                    "convert_time",
                    {"source_timezone": "Europe/Paris", "time": "09:30", "target_timezone": "UTC"},
                ),
            ),
        }
        policies = {
            "everything": EVERYTHING_POLICY,
            "everything-http": EVERYTHING_POLICY,
            "everything-sse": EVERYTHING_POLICY,
            "recording": RECORDING_POLICY,
            "time": TIME_POLICY,
        }
        entries: dict[str, dict[str, Any]] = {}
        for name, upstream in upstreams.items():
            if upstream.kind == "stdio":
                entries[name] = {"command": upstream.target}
            else:
                entries[name] = {"url": upstream.target, "transport": upstream.kind}
            entries[name]["policy"] = policies[name]
        config = write_gateway(tmp, entries)
        home = tmp / "home"
        home.mkdir()
        gateway = await stack.enter_async_context(
            running_gateway(config, home, kill_after=kill_after)
        )
        yield MixedGateway(gateway, upstreams)
