"""`toolgate init` as a person runs it: the command serves the review page, the person saves a
policy there, presses Enter, confirms the rewrite — and the client config ends up wrapped."""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import anyio
import pytest

from tests.e2e.support import WAIT
from toolgate.policy.evaluator import evaluate
from toolgate.policy.facts import CallFacts
from toolgate.policy.loader import load_policy

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

DEMO = [sys.executable, "-m", "toolgate.demo.exchange_server"]


def fetch(url: str, form: dict[str, str] | None = None) -> str:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data)
    if data is not None:
        origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(url))
        request.add_header("Origin", origin)
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        body: str = response.read().decode()
        return body


def form_of(page: str, deny: str) -> dict[str, str]:
    """The page's own form values, with the tool `deny` moved to the Deny column."""
    form: dict[str, str] = {}
    cards = re.findall(r'data-tool="([^"]+)".*?name="column-(\d+)"(.*?)</select>', page, re.S)
    for tool, index, options in cards:
        chosen = re.search(r'<option value="([^"]+)" selected', options)
        assert chosen is not None, tool
        form[f"column-{index}"] = "deny" if tool == deny else chosen.group(1)
    for index, value in re.findall(r'name="limit-(\d+)" value="([^"]*)"', page):
        form[f"limit-{index}"] = value
    assert any(value == "deny" for value in form.values())
    return form


async def test_init_serves_the_page_waits_for_the_person_and_wraps_the_config_on_consent(
    tmp_path: Path,
) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    config = project / ".mcp.json"
    config.parent.mkdir(parents=True)
    home.mkdir()
    entry = {"command": DEMO[0], "args": DEMO[1:]}
    config.write_text(json.dumps({"mcpServers": {"exchange": entry}}, indent=2) + "\n")
    command = [
        sys.executable, "-m", "toolgate", "init", "--home", str(home), "--project", str(project),
        "--no-browser", "--timeout", "20",
    ]  # fmt: skip
    env = {**os.environ, "TOOLGATE_HOME": str(tmp_path / "toolgate-home")}
    async with await anyio.open_process(command, env=env) as process:
        assert process.stdout is not None and process.stdin is not None
        output = b""
        with anyio.fail_after(WAIT * 2):
            while b"Review your tools at " not in output or not output.endswith(b"\n"):
                output += await process.stdout.receive()
            url = re.search(rb"Review your tools at (\S+)", output)
            assert url is not None
            index = await anyio.to_thread.run_sync(fetch, url.group(1).decode())
            link = re.search(r'href="([^"]+/servers/[^"]+)"', index)
            assert link is not None
            page_url = urllib.parse.urljoin(url.group(1).decode(), link.group(1))
            page = await anyio.to_thread.run_sync(fetch, page_url)
            saved = await anyio.to_thread.run_sync(fetch, page_url, form_of(page, "get_price"))
            assert "exchange.yaml" in saved
            await process.stdin.send(b"\n")  # the person is done on the page
            while b"Rewrite these configs" not in output:
                output += await process.stdout.receive()
            await process.stdin.send(b"y\n")
            assert await process.wait() == 0
    wrapped = json.loads(config.read_text())["mcpServers"]["exchange"]
    policy_path = Path(wrapped["args"][wrapped["args"].index("-c") + 1])
    assert wrapped["args"][-len(DEMO) + 1 :] == DEMO[1:]
    policy = load_policy(policy_path)
    price = evaluate(policy, CallFacts(tool="get_price", arguments={"symbol": "BTCUSDT"}, now=0))
    balances = evaluate(policy, CallFacts(tool="get_balances", arguments={}, now=0))
    assert not price.allowed  # moved to Deny on the page
    assert balances.allowed  # left where the page recommended it (a Read tool: Allow)
