"""The benchmark's HTTP upstream (bench/http_stub_server.py) is a correct MCP server for what it
answers: the official `mcp` SDK client completes the handshake era and the 2026-07-28 era
against it, and malformed or mismatched requests get the HTTP status and JSON-RPC error the
transport specification asks for."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcp import Client

ROOT = Path(__file__).resolve().parents[2]
STUB = ROOT / "bench" / "http_stub_server.py"
READY = re.compile(r"serving at (http://\S+)")
START_DEADLINE = 20.0
ACCEPT = "application/json, text/event-stream"
MODERN = "2026-07-28"
VERSION_KEY = "io.modelcontextprotocol/protocolVersion"

pytestmark = pytest.mark.e2e


@pytest.fixture
def stub_url(tmp_path: Path) -> Iterator[str]:
    """A running stub on a free loopback port; its URL is read from its start-up line."""
    stderr = tmp_path / "stub.stderr"
    with stderr.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, str(STUB), "--port", "0"], stderr=sink)
    try:
        deadline = time.monotonic() + START_DEADLINE
        found = None
        while found is None:
            found = READY.search(stderr.read_text(encoding="utf-8", errors="replace"))
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the stub did not start: {stderr.read_text()[-2000:]}")
            if found is None:
                time.sleep(0.02)  # polling the start-up line, bounded by the deadline
        yield found[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def post(url: str, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else httpx.Request("POST", url, json=body).content
    sent = {"Content-Type": "application/json", "Accept": ACCEPT} | {
        k.replace("_", "-"): v for k, v in headers.items()
    }
    return httpx.post(url, content=content, headers=sent, timeout=10)


def modern_call(message: str, **meta: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {
            "name": "echo",
            "arguments": {"message": message},
            "_meta": {VERSION_KEY: MODERN, "io.modelcontextprotocol/clientCapabilities": {}} | meta,
        },
    }


@pytest.mark.anyio
async def test_sdk_client_in_the_handshake_era_lists_and_calls_echo(stub_url: str) -> None:
    async with Client(stub_url, mode="legacy", read_timeout_seconds=10) as client:
        tools = await client.list_tools()
        result = await client.call_tool("echo", {"message": "handshake hello"})
    assert [tool.name for tool in tools.tools] == ["echo"]
    assert not result.is_error
    assert [block.text for block in result.content if block.type == "text"] == ["handshake hello"]


@pytest.mark.anyio
async def test_sdk_client_in_auto_mode_discovers_the_2026_era_and_calls_echo(
    stub_url: str,
) -> None:
    async with Client(stub_url, mode="auto", read_timeout_seconds=10) as client:
        tools = await client.list_tools()
        result = await client.call_tool("echo", {"message": "stateless hello"})
    assert [tool.name for tool in tools.tools] == ["echo"]
    assert [block.text for block in result.content if block.type == "text"] == ["stateless hello"]


def test_handshake_session_id_is_required_known_and_ended_by_delete(stub_url: str) -> None:
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "x"}}
    opened = post(stub_url, init)
    session = opened.headers["mcp-session-id"]
    assert opened.json()["result"]["protocolVersion"] == "2025-11-25"  # its latest, not "x"
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo"}}
    assert post(stub_url, call).status_code == 400
    assert post(stub_url, call, mcp_session_id="no-such-session").status_code == 404
    answered = post(stub_url, call, mcp_session_id=session).json()["result"]
    assert answered["isError"] is True  # echo without its `message` is a tool error, not a crash
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert post(stub_url, note, mcp_session_id=session).status_code == 202
    ended = httpx.delete(stub_url, headers={"Mcp-Session-Id": session}, timeout=10)
    assert ended.status_code == 200
    assert post(stub_url, call, mcp_session_id=session).status_code == 404


def test_2026_request_whose_headers_do_not_mirror_the_body_is_refused(stub_url: str) -> None:
    good = {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": "echo"}
    ok = post(stub_url, modern_call("hi"), **good)
    assert ok.json()["result"]["resultType"] == "complete"
    wrong = post(stub_url, modern_call("hi"), **(good | {"Mcp-Name": "other"}))
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == -32020
    old = post(stub_url, modern_call("hi", **{VERSION_KEY: "1900-01-01"}), **good)
    assert old.status_code == 400
    assert old.json()["error"]["code"] == -32022
    assert old.json()["error"]["data"]["requested"] == "1900-01-01"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"\xff\xfe not json", 400, -32700),
        (b"[1, 2, 3]", 400, -32600),
        (b'{"id": 1, "method": "ping"}', 400, -32600),
    ],
)
def test_garbage_posts_get_a_json_rpc_error_and_an_http_error_status(
    stub_url: str, body: bytes, status: int, code: int
) -> None:
    answer = post(stub_url, body)
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code


def test_wrong_path_media_type_and_get_are_refused_with_their_statuses(stub_url: str) -> None:
    assert post(stub_url.replace("/mcp", "/other"), b"{}").status_code == 404
    plain = httpx.post(stub_url, content=b"{}", headers={"Accept": ACCEPT}, timeout=10)
    assert plain.status_code == 415
    assert httpx.get(stub_url, headers={"Accept": "text/event-stream"}, timeout=10).status_code == (
        405
    )
