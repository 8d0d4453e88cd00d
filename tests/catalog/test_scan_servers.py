"""The scanner against real server processes: both eras, paging, and every way a server fails."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest
import yaml
from tests.e2e.support import (
    SHARED,
    everything_server,
    fetch_server,
    filesystem_server,
    require,
    time_server,
)

from toolgate.catalog.scan import list_all, scan_server
from toolgate.catalog.scan_era import LEGACY, MODERN, initialize
from toolgate.catalog.scan_session import ScanError, ScanSession
from toolgate.errors import UpstreamError
from toolgate.transports.stdio_child import StdioChild

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

WAIT = 20.0
CATALOGUE = SHARED / "fixtures" / "binance-termix-tools.json"
CATALOG_SERVER = Path(__file__).resolve().parents[1] / "e2e" / "catalog_server.py"
REFERENCE_LABELS = Path(__file__).resolve().parent / "labels" / "reference.yaml"


def catalogue_server(page: int = 40) -> list[str]:
    path = require(CATALOGUE, "the shared Binance catalogue fixture")
    return [sys.executable, str(CATALOG_SERVER), path, str(page)]


def git_server(repo: Path) -> list[str]:
    exe = Path(sys.executable).parent / "mcp-server-git"
    return [require(exe, "mcp-server-git (PyPI)"), "--repository", str(repo)]


def python_server(tmp_path: Path, body: str) -> list[str]:
    """A tiny handshake-era server whose tools/list answer is `body` (a Python expression of
    `start`, the page offset), for the failure modes no real server shows on demand."""
    script = tmp_path / "server.py"
    script.write_text(
        "import json, sys\n"
        "for line in sys.stdin:\n"
        "    msg = json.loads(line)\n"
        "    if 'id' not in msg: continue\n"
        "    if msg['method'] == 'initialize':\n"
        "        result = {'protocolVersion': '2025-11-25', 'capabilities': {'tools': {}},\n"
        "                  'serverInfo': {'name': 'stub', 'version': '0'}}\n"
        "        answer = {'result': result}\n"
        "    elif msg['method'] == 'tools/list':\n"
        "        start = int((msg.get('params') or {}).get('cursor') or 0)\n"
        f"        answer = {{'result': {body}}}\n"
        "    else:\n"
        "        answer = {'error': {'code': -32601, 'message': 'Method not found'}}\n"
        "    print(json.dumps({'jsonrpc': '2.0', 'id': msg['id'], **answer}), flush=True)\n"
    )
    return [sys.executable, str(script)]


async def test_the_everything_server_is_scanned_in_the_handshake_era() -> None:
    scan = await scan_server(everything_server(), WAIT)
    assert (scan.era, scan.protocol_version) == (LEGACY, "2025-11-25")
    assert scan.name == "mcp-servers/everything"
    names = {tool["name"] for tool in scan.tools}
    assert {"echo", "get-sum"} <= names
    assert scan.resources and all("uri" in r for r in scan.resources)
    assert scan.prompts


async def test_a_dual_era_server_is_detected_as_modern_and_lists_the_same_tools_both_ways() -> None:
    command = time_server()
    modern = await scan_server(command, WAIT)
    assert (modern.era, modern.protocol_version) == (MODERN, "2026-07-28")
    assert modern.name == "mcp-time"
    child = await StdioChild.start(command)
    try:
        session = ScanSession(child, WAIT)
        handshake = await initialize(session)
        legacy = await list_all(session, handshake, "tools/list", "tools")
    finally:
        await child.shutdown()
        child.close()
    assert handshake.era == LEGACY
    assert sorted(t["name"] for t in legacy) == sorted(t["name"] for t in modern.tools)
    assert {t["name"]: t["inputSchema"] for t in legacy} == {
        t["name"]: t["inputSchema"] for t in modern.tools
    }


async def test_the_git_server_is_scanned_against_a_fresh_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    with anyio.fail_after(WAIT):
        await anyio.run_process(["git", "init", "-q", str(repo)])
    scan = await scan_server(git_server(repo), WAIT)
    names = {tool["name"] for tool in scan.tools}
    assert {"git_status", "git_commit", "git_log"} <= names


async def test_the_filesystem_server_is_scanned_over_a_temporary_directory(
    tmp_path: Path,
) -> None:
    scan = await scan_server(filesystem_server(tmp_path), WAIT)
    assert scan.era == LEGACY
    names = {tool["name"] for tool in scan.tools}
    assert {"read_text_file", "write_file", "list_directory"} <= names


async def test_every_page_of_the_156_tool_catalogue_is_found() -> None:
    scan = await scan_server(catalogue_server(page=40), WAIT)
    names = [tool["name"] for tool in scan.tools]
    assert len(names) == len(set(names)) == 156
    assert scan.name == "catalogue"


async def test_a_server_that_never_answers_times_out_with_a_clear_error() -> None:
    command = [sys.executable, "-c", "import sys; sys.stdin.read()"]
    with pytest.raises(
        ScanError, match=r"^timed out after 1 s waiting for the answer to initialize"
    ):
        await scan_server(command, 1.0)


async def test_a_server_that_exits_at_once_is_reported_with_its_exit_status() -> None:
    command = [sys.executable, "-c", "raise SystemExit(3)"]
    with pytest.raises(ScanError, match=r"exited during server/discover \(exit status 3\)$"):
        await scan_server(command, WAIT)


async def test_a_command_that_cannot_start_says_so() -> None:
    with pytest.raises(UpstreamError, match=r"^cannot start .*/no/such/server"):
        await scan_server(["/no/such/server"], WAIT)


async def test_a_cursor_that_comes_back_is_refused_as_a_loop(tmp_path: Path) -> None:
    body = "{'tools': [{'name': f't{start}'}], 'nextCursor': '1'}"
    with pytest.raises(ScanError, match=r"invalid response to tools/list .*cursor loop"):
        await scan_server(python_server(tmp_path, body), WAIT)


async def test_a_tools_result_that_is_not_a_list_is_an_invalid_response(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match=r"invalid response to tools/list .*: tools is not a list"):
        await scan_server(python_server(tmp_path, "{'tools': 'nope'}"), WAIT)


async def test_more_than_the_tool_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("toolgate.catalog.scan.MAX_ITEMS", 5)
    body = "{'tools': [{'name': f't{start + i}'} for i in range(3)], 'nextCursor': str(start + 3)}"
    with pytest.raises(ScanError, match="more than 5 tools"):
        await scan_server(python_server(tmp_path, body), WAIT)


async def test_a_server_that_exits_mid_scan_names_the_request(tmp_path: Path) -> None:
    body = "sys.exit(4)"
    with pytest.raises(ScanError, match=r"exited during tools/list \(exit status 4\)$"):
        await scan_server(python_server(tmp_path, body), WAIT)


def labelled_definitions(server: str) -> list[object]:
    servers = yaml.safe_load(REFERENCE_LABELS.read_text())["servers"]
    entries = next(s for s in servers if s["server"] == server)["tools"]
    return [entry["definition"] for entry in entries]


async def test_the_fetch_server_lists_the_fetch_tool_exactly_as_labelled() -> None:
    scan = await scan_server(fetch_server(), WAIT)  # tools/list only: nothing is fetched
    assert [tool["name"] for tool in scan.tools] == ["fetch"]
    assert list(scan.tools) == labelled_definitions("PyPI mcp-server-fetch")
