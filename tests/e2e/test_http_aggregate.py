"""The aggregated endpoint with real processes: two upstreams behind one URL, one of them killed
mid-run — the other's tools keep working, the dead one's drop out with an error naming it."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import yaml

from mcp import Client
from tests.e2e.http_gateway import running_gateway
from tests.e2e.http_servers import everything_http
from tests.e2e.support import time_server

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

POLICY = """version: "1"
tools:
  echo:
    rules:
      - name: no secrets
        conditions:
          - {path: args.message, op: neq, value: secret}
        on_deny: "echo may not say secret"
"""


def write_aggregate_gateway(directory: Path, everything_url: str) -> Path:
    policy = directory / "policy.yaml"
    policy.write_text(POLICY)
    document = {
        "listen": "127.0.0.1:0",
        "auth": {"insecure_no_auth": True},
        "servers": {
            "every": {"url": everything_url, "policy": str(policy), "timeout_seconds": 5},
            "time": {"command": time_server(), "policy": str(policy)},
        },
        "aggregate": {"servers": ["every", "time"]},
    }
    path = directory / "gateway.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def text_of(result: object) -> str:
    content = getattr(result, "content", [])
    return " ".join(getattr(item, "text", "") for item in content)


async def test_killing_one_upstream_leaves_the_others_tools_working(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    async with AsyncExitStack() as upstream:
        everything_url = await upstream.enter_async_context(everything_http("streamableHttp"))
        config = write_aggregate_gateway(tmp_path, everything_url)
        async with running_gateway(config, home) as gateway:
            url = f"{gateway.base}/mcp"
            async with Client(url, mode="legacy", read_timeout_seconds=20) as client:
                names = {tool.name for tool in (await client.list_tools()).tools}
                assert {"every__echo", "time__get_current_time"} <= names
                echoed = await client.call_tool("every__echo", {"message": "hi"})
                assert text_of(echoed) == "Echo: hi"
                denied = await client.call_tool("every__echo", {"message": "secret"})
                assert denied.is_error
                assert "echo may not say secret" in text_of(denied)

                await upstream.aclose()  # the everything server is killed mid-run

                listed = await client.list_tools()
                after = {tool.name for tool in listed.tools}
                assert "time__get_current_time" in after
                assert not any(name.startswith("every__") for name in after)
                assert "every" in (listed.meta or {}).get("dev.toolgate/unavailable", {})
                timed = await client.call_tool("time__get_current_time", {"timezone": "UTC"})
                assert not timed.is_error
                assert "UTC" in text_of(timed)
                dead = await client.call_tool("every__echo", {"message": "hi"})
                assert dead.is_error
                assert "server every is unavailable" in text_of(dead)
