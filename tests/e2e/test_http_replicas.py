"""Two `toolgate serve` replicas (`replica: a`, `replica: b`) sharing a redis-server, behind a
real nginx running the configuration docs/deployment.md shows (read from the doc itself, so the
two cannot drift): handshake-era sessions stay on the replica that holds them, a fleet limit
holds across both, a misrouted session id gets the 404 naming its replica, and 2026-07-28
requests work on either replica.

nginx runs as the current user, in the foreground, with its prefix, pid and logs in a temporary
directory, on a free loopback port. Without nginx the module skips locally and fails with
TOOLGATE_REQUIRE_E2E=1 (CI), as for the other servers these tests need.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml
from mcp.client.sse import sse_client
from mcp.types import CallToolResult, TextContent

from mcp import Client
from tests.conftest import RedisServer, free_port
from tests.e2e.http_gateway import (
    JSON_ACCEPT,
    Gateway,
    HandshakeSession,
    answer,
    exited_within,
    modern_request,
    running_gateway,
)
from tests.e2e.support import ROOT, WAIT, stub_server

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

DOC = ROOT / "docs" / "deployment.md"
DOC_MARKER = "<!-- nginx-replicas:"
DOC_LISTEN = "listen 80;"
DOC_ADDRESSES = {"a": "10.0.0.11:8080", "b": "10.0.0.12:8080"}
REPLICAS = ("a", "b")
FLEET_LIMIT = 5
LIMIT_TEXT = "[POLICY DENIED] five echoes a day for the whole fleet"
FREE_POLICY = 'version: "1"\ntools:\n  echo:\n    rules: []\n'
LIMITED_POLICY = f"""
version: "1"
tools:
  echo:
    rules:
      - rate_limit: {{max: {FLEET_LIMIT}, window: day}}  # a day: no window rollover mid-test
        name: five a day
        on_deny: "five echoes a day for the whole fleet"
"""
# What the test's nginx logs per request: enough to see which replica each one reached.
LOG_FORMAT = '$request_method $uri $status $upstream_addr "$toolgate_session"'
ACCESS_LINE = re.compile(r'^(\S+) (\S+) (\d+) (\S+) "([^"]*)"$')
NGINX_MAIN = """\
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 256; }}
http {{
    log_format routed '{log_format}';
    access_log {tmp}/access.log routed;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/toolgate.conf;
}}
"""


def nginx_path() -> str:
    """nginx's path, or skip (locally) / fail (with TOOLGATE_REQUIRE_E2E) without it."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if found is not None:
        return found
    message = "nginx is not installed (apt-get install nginx; .ci/run installs it)"
    if os.environ.get("TOOLGATE_REQUIRE_E2E"):
        pytest.fail(message)
    pytest.skip(message)


def documented_nginx_config() -> str:
    """The nginx block of docs/deployment.md's replica section, as written."""
    text = DOC.read_text()
    assert DOC_MARKER in text, f"{DOC} lost its nginx example marker"
    block = re.search(r"```nginx\n(.*?)```", text[text.index(DOC_MARKER) :], re.DOTALL)
    assert block is not None, "no ```nginx block follows the marker in docs/deployment.md"
    return block.group(1)


def nginx_config(port: int, replicas: dict[str, str]) -> str:
    """The documented configuration with the test's addresses: nginx on `port`, replica
    `name` at `replicas[name]` (host:port). Each example value must be where the doc had it."""
    text = documented_nginx_config()
    assert text.count(DOC_LISTEN) == 1, "the documented server block should listen on 80"
    text = text.replace(DOC_LISTEN, f"listen 127.0.0.1:{port};")
    for name, example in DOC_ADDRESSES.items():
        assert text.count(f"server {example}") == 3, f"replica {name} should be in 3 upstreams"
        text = text.replace(example, replicas[name])
    return text


def text_of(result: CallToolResult) -> str:
    content = result.content[0]
    assert isinstance(content, TextContent), content
    return content.text


def test_the_documented_nginx_config_routes_each_replica_by_its_tag() -> None:
    text = documented_nginx_config()
    for name in REPLICAS:
        assert re.search(rf"~\^{name}\\\.\s+toolgate_{name};", text), name
    assert "map $http_mcp_session_id" in text and "$arg_session_id" in text
    assert "proxy_buffering off;" in text and "proxy_http_version 1.1;" in text
    assert "proxy_read_timeout 1h;" in text


# the fleet ----------------------------------------------------------------------------------------


@dataclass
class Replica:
    name: str
    gateway: Gateway
    upstream_logs: dict[str, Path]  # by server name: every line its stub upstreams received

    @property
    def address(self) -> str:
        return self.gateway.base.removeprefix("http://")

    def received(self, server: str, method: str) -> int:
        path = self.upstream_logs[server]
        lines = path.read_text().splitlines() if path.exists() else []
        return sum(f'"method":"{method}"' in line.replace(" ", "") for line in lines)


@dataclass
class Fleet:
    url: str  # nginx: http://127.0.0.1:P
    replicas: dict[str, Replica]
    access_log: Path
    nginx_error_log: Path

    def routed(self) -> list[tuple[str, str, int, str, str]]:
        """(method, path, status, upstream address, session id) of every logged request."""
        found = []
        for line in self.access_log.read_text().splitlines():
            match = ACCESS_LINE.match(line)
            assert match is not None, line
            method, path, status, upstream, session = match.groups()
            found.append((method, path, int(status), upstream, session))
        return found

    def replica_at(self, address: str) -> str:
        return next(r.name for r in self.replicas.values() if r.address == address)


def write_replica(
    tmp: Path, name: str, redis_url: str, prefix: str, nginx_host: str
) -> tuple[Path, dict[str, Path]]:
    """Replica `name`'s gateway file (two stub servers, `free` and `limited`, each logging what
    it receives) and those logs' paths."""
    directory = tmp / f"replica-{name}"
    directory.mkdir()
    logs = {server: directory / f"{server}-upstream.log" for server in ("free", "limited")}
    policies = {"free": FREE_POLICY, "limited": LIMITED_POLICY}
    servers: dict[str, Any] = {}
    for server, log in logs.items():
        policy = directory / f"policy-{server}.yaml"
        policy.write_text(policies[server])
        servers[server] = {
            "command": stub_server(),
            "policy": str(policy),
            "env": {"TOOLGATE_DEMO_SERVER_LOG": str(log)},
        }
    document = {
        "replica": name,
        "listen": "127.0.0.1:0",
        "state": {"dsn": redis_url, "prefix": prefix},
        "auth": {"insecure_no_auth": True},
        "http": {"allowed_hosts": [nginx_host]},
        "servers": servers,
    }
    config = directory / "gateway.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    return config, logs


@contextmanager
def running_nginx(tmp: Path, port: int, replicas: dict[str, str]) -> Iterator[tuple[Path, Path]]:
    """nginx in the foreground with the documented configuration; (access log, error log)."""
    exe = nginx_path()
    tmp.mkdir()
    (tmp / "toolgate.conf").write_text(nginx_config(port, replicas))
    main = tmp / "nginx.conf"
    main.write_text(NGINX_MAIN.format(tmp=tmp, log_format=LOG_FORMAT))
    error_log = tmp / "error.log"
    checked = subprocess.run(
        [exe, "-t", "-p", str(tmp), "-c", str(main), "-e", str(error_log)],
        capture_output=True,
        timeout=WAIT,
        check=False,
    )
    assert checked.returncode == 0, f"nginx rejects the documented config:\n{checked.stderr!r}"
    process = subprocess.Popen(
        [exe, "-p", str(tmp), "-c", str(main), "-e", str(error_log)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield tmp / "access.log", error_log
    finally:
        process.terminate()
        try:
            process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def wait_for_nginx(url: str, error_log: Path) -> None:
    """Until nginx answers /healthz from a replica (bounded by WAIT); its error log if not."""
    try:
        with anyio.fail_after(WAIT):
            async with httpx.AsyncClient() as client:
                while True:
                    try:
                        if (await client.get(f"{url}/healthz")).status_code == 200:
                            return
                    except httpx.TransportError:
                        pass
                    await anyio.sleep(0.05)  # polling start-up, bounded by fail_after
    except TimeoutError as exc:
        log = anyio.Path(error_log)
        text = await log.read_text() if await log.exists() else "(none)"
        raise AssertionError(
            f"nginx did not answer within {WAIT} s; its error log:\n{text}"
        ) from exc


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def fleet(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> AsyncIterator[Fleet]:
    nginx_path()  # skip or fail before starting anything
    tmp = tmp_path_factory.mktemp("http-replicas")
    port = free_port()
    nginx_host = f"127.0.0.1:{port}"
    prefix = f"replicas-{uuid.uuid4().hex[:8]}"  # the session's redis-server is shared
    async with AsyncExitStack() as stack:
        replicas: dict[str, Replica] = {}
        for name in REPLICAS:
            config, logs = write_replica(tmp, name, redis_server.url, prefix, nginx_host)
            home = tmp / f"home-{name}"
            home.mkdir()
            gateway = await stack.enter_async_context(running_gateway(config, home))
            replicas[name] = Replica(name, gateway, logs)
        addresses = {name: replica.address for name, replica in replicas.items()}
        access_log, error_log = stack.enter_context(running_nginx(tmp / "nginx", port, addresses))
        url = f"http://{nginx_host}"
        await wait_for_nginx(url, error_log)
        yield Fleet(url, replicas, access_log, error_log)


def session_tags(fleet: Fleet, path: str) -> dict[str, str]:
    """Replica tag by the replica that served each tagged session id's requests to `path`."""
    seen: dict[str, str] = {}
    for _, logged_path, _, upstream, session in fleet.routed():
        if logged_path.startswith(path) and "." in session:
            seen[session] = fleet.replica_at(upstream.split(",")[0].strip())
    return seen


# (a) sessions stay on their replica ---------------------------------------------------------------


async def test_sdk_clients_through_nginx_keep_each_session_on_its_replica(fleet: Fleet) -> None:
    calls = 3
    results: dict[str, list[str]] = {}
    legacy_ids: list[str] = []

    async def streamable(client_no: int) -> None:
        async with Client(f"{fleet.url}/mcp/free", mode="legacy", read_timeout_seconds=20) as c:
            names = [tool.name for tool in (await c.list_tools()).tools]
            assert names == ["echo"]
            for call in range(calls):
                result = await c.call_tool("echo", {"message": f"s{client_no}-{call}"})
                results.setdefault(f"s{client_no}", []).append(text_of(result))

    async def legacy(client_no: int) -> None:
        transport = sse_client(f"{fleet.url}/mcp/free/sse", on_session_created=legacy_ids.append)
        async with Client(transport, mode="legacy", read_timeout_seconds=20) as c:
            assert [tool.name for tool in (await c.list_tools()).tools] == ["echo"]
            for call in range(calls):
                result = await c.call_tool("echo", {"message": f"l{client_no}-{call}"})
                results.setdefault(f"l{client_no}", []).append(text_of(result))

    with anyio.fail_after(WAIT * 2):
        async with anyio.create_task_group() as tg:
            for client_no in range(4):
                tg.start_soon(streamable, client_no)
            for client_no in range(2):
                tg.start_soon(legacy, client_no)

    assert results == {
        key: [f"{key}-{call}" for call in range(calls)]
        for key in [*(f"s{n}" for n in range(4)), *(f"l{n}" for n in range(2))]
    }
    replicas = fleet.replicas.values()
    assert sum(r.received("free", "initialize") for r in replicas) == 6  # one child a session
    assert sum(r.received("free", "tools/call") for r in replicas) == 6 * calls
    assert all(r.received("free", "initialize") > 0 for r in replicas), "one replica did all"
    assert len(legacy_ids) == 2
    assert all(session.split(".")[0] in REPLICAS for session in legacy_ids), legacy_ids
    served = session_tags(fleet, "/mcp/free")
    assert {session.split(".")[0] for session in served} == set(REPLICAS)
    for session, replica in served.items():
        assert session.split(".")[0] == replica, f"{session} reached replica {replica}"
    assert set(legacy_ids) <= set(served)


# (b) one fleet limit ------------------------------------------------------------------------------


async def test_a_fleet_limit_admits_exactly_its_count_across_both_replicas(fleet: Fleet) -> None:
    outcomes: list[bool] = []

    async def agent(agent_no: int) -> None:
        async with Client(f"{fleet.url}/mcp/limited", mode="legacy", read_timeout_seconds=20) as c:
            for call in range(3):
                result = await c.call_tool("echo", {"message": f"{agent_no}-{call}"})
                if result.is_error:
                    assert text_of(result) == LIMIT_TEXT
                outcomes.append(not result.is_error)

    with anyio.fail_after(WAIT * 2):
        async with anyio.create_task_group() as tg:
            for agent_no in range(4):
                tg.start_soon(agent, agent_no)

    assert len(outcomes) == 12
    assert outcomes.count(True) == FLEET_LIMIT
    replicas = fleet.replicas.values()
    assert all(r.received("limited", "initialize") > 0 for r in replicas), "one replica did all"
    assert sum(r.received("limited", "tools/call") for r in replicas) == FLEET_LIMIT


# (c) a misrouted session id -----------------------------------------------------------------------


async def test_a_session_of_replica_a_sent_to_replica_b_gets_404_naming_a(fleet: Fleet) -> None:
    replica_a, replica_b = fleet.replicas["a"], fleet.replicas["b"]
    async with httpx.AsyncClient(timeout=WAIT) as client:
        session = HandshakeSession(client, replica_a.gateway.urls["free"], {})
        opened = await session.open()
        assert opened.status_code == 200, opened.text
        assert session.session_id is not None and session.session_id.startswith("a.")

        astray = HandshakeSession(client, replica_b.gateway.urls["free"], {})
        astray.session_id = session.session_id
        refused = await astray.call_tool("echo", {"message": "astray"})
        assert refused.status_code == 404, refused.text
        message = refused.json()["error"]["message"]
        assert 'belongs to replica "a" and this is replica "b"' in message
        assert "not routing by the session id prefix" in message

        through_nginx = HandshakeSession(client, f"{fleet.url}/mcp/free", {})
        through_nginx.session_id = session.session_id
        routed = await through_nginx.call_tool("echo", {"message": "routed"})
        assert routed.status_code == 200, routed.text
        assert answer(routed)["result"]["content"][0]["text"] == "routed"
    assert 'a request for a session of replica "a" reached replica "b"' in (
        replica_b.gateway.stderr()
    )


# (d) the 2026-07-28 era ---------------------------------------------------------------------------


async def test_stateless_requests_through_nginx_work_on_either_replica(fleet: Fleet) -> None:
    before = len(fleet.routed())
    async with httpx.AsyncClient(timeout=WAIT) as client:
        for msg_id in range(6):
            body, headers = modern_request(
                msg_id, "tools/call", {"name": "echo", "arguments": {"message": f"m{msg_id}"}}
            )
            response = await client.post(f"{fleet.url}/mcp/free", json=body, headers=headers)
            assert response.status_code == 200, response.text
            assert "mcp-session-id" not in response.headers
            assert answer(response)["result"]["content"][0]["text"] == f"m{msg_id}"
    reached = {
        fleet.replica_at(upstream)
        for method, path, status, upstream, session in fleet.routed()[before:]
        if (method, path, status, session) == ("POST", "/mcp/free", 200, "")
    }
    assert reached == set(REPLICAS)


async def test_unknown_replica_tags_and_garbage_ids_reach_the_pool_and_get_404(
    fleet: Fleet,
) -> None:
    headers = {**JSON_ACCEPT, "MCP-Protocol-Version": "2025-11-25"}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx.AsyncClient(timeout=WAIT) as client:
        for session_id in ("c." + "x" * 32, "garbage", "a.", "\u00e9"):
            sent = {k.encode(): v.encode() for k, v in headers.items()}
            sent[b"Mcp-Session-Id"] = session_id.encode()
            response = await client.post(f"{fleet.url}/mcp/free", json=body, headers=sent)
            assert response.status_code == 404, (session_id, response.text)
            message = response.json()["error"]["message"]
            assert ('replica "c"' in message) == session_id.startswith("c."), message


# a replica dies -----------------------------------------------------------------------------------


async def test_when_a_replica_stops_its_sessions_get_404_and_clients_start_over(
    fleet: Fleet,
) -> None:
    """Last in this module: it stops replica b."""
    replica_b = fleet.replicas["b"]
    async with httpx.AsyncClient(timeout=WAIT) as client:
        session = HandshakeSession(client, replica_b.gateway.urls["free"], {})
        assert (await session.open()).status_code == 200
        assert session.session_id is not None and session.session_id.startswith("b.")
        process = replica_b.gateway.process
        process.terminate()
        assert await exited_within(process, WAIT) is not None

        orphan = HandshakeSession(client, f"{fleet.url}/mcp/free", {})
        orphan.session_id = session.session_id
        gone = await orphan.call_tool("echo", {"message": "gone"})
        assert gone.status_code == 404, gone.text
        assert 'belongs to replica "b" and this is replica "a"' in gone.json()["error"]["message"]

        again = HandshakeSession(client, f"{fleet.url}/mcp/free", {})
        assert (await again.open()).status_code == 200
        assert again.session_id is not None and again.session_id.startswith("a.")
        called = await again.call_tool("echo", {"message": "again"})
        assert answer(called)["result"]["content"][0]["text"] == "again"
