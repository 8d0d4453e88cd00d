"""Scraping `/metrics` from real gateways while the official `mcp` SDK client uses them: a
`toolgate run --metrics-listen` in front of the npm everything server, and a `toolgate serve`
with `metrics: {enabled: true}`. The counters must equal what was done, and agree with the
audit log written in the same run."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from mcp import Client, StdioServerParameters
from tests.e2e.http_gateway import EVERYTHING_POLICY, running_gateway, write_gateway
from tests.e2e.support import WAIT, everything_server, toolgate

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

ALLOWED = ("echo", {"message": "hi"})
DENIED = ("get-sum", {"a": 1, "b": 2})
HIDDEN = ("get-env", {})
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient(timeout=WAIT) as client:
        response = await client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def decisions(samples: Samples) -> Counter[tuple[str, str]]:
    """(outcome, tool) → count, from toolgate_decisions_total."""
    found: Counter[tuple[str, str]] = Counter()
    for (name, labels), value in samples.items():
        if name == "toolgate_decisions_total":
            label = dict(labels)
            found[label["outcome"], label["tool"]] += int(value)
    return found


def logged(log: Path) -> Counter[tuple[str, str]]:
    """(outcome, tool) → count, from the decision events of the audit log."""
    events = [orjson.loads(line) for line in log.read_bytes().splitlines() if line.strip()]
    return Counter((e["outcome"], e["tool"] or "") for e in events if e.get("type") == "decision")


async def use(client: Client, allowed: int, denied: int) -> None:
    await client.list_tools()
    for _ in range(allowed):
        assert (await client.call_tool(*ALLOWED)).is_error is not True
    for _ in range(denied):
        assert (await client.call_tool(*DENIED)).is_error is True
    try:
        refused = (await client.call_tool(*HIDDEN)).is_error is True
    except Exception as exc:  # the SDK raises for a protocol-level unknown tool
        refused = "get-env" in str(exc)
    assert refused


async def settled(url: str, log: Path, expected: dict[tuple[str, str], int]) -> Samples:
    """Scrape until the counters show `expected` and agree with the audit log (the log line of
    the last call may land a moment after the client has its answer); each scrape is a round
    trip to the gateway, and the whole wait is bounded by WAIT."""
    with anyio.fail_after(WAIT):
        while True:
            samples = await scrape(url)
            counted = decisions(samples)
            if all(counted[key] == n for key, n in expected.items()) and counted == logged(log):
                return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def test_run_metrics_count_the_calls_the_sdk_client_made(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    port = free_port()
    command = toolgate(
        write_policy(EVERYTHING_POLICY), everything_server(), home,
        "--metrics-listen", f"127.0.0.1:{port}",
    )  # fmt: skip
    params = StdioServerParameters(command=command[0], args=command[1:])
    url = f"http://127.0.0.1:{port}/metrics"
    async with Client(params, mode="legacy", read_timeout_seconds=20) as client:
        await use(client, allowed=3, denied=2)
        expected = {("allowed", "echo"): 3, ("denied", "get-sum"): 2, ("hidden", "get-env"): 1}
        samples = await settled(url, home / "audit.jsonl", expected)
    server = {"server": "default"}
    assert value(samples, "toolgate_upstream_up", **server) == 1
    forwarded = sum(n for (outcome, _), n in decisions(samples).items() if outcome == "allowed")
    assert value(samples, "toolgate_upstream_seconds_count", **server) == forwarded
    assert value(samples, "toolgate_decision_seconds_count", **server) == sum(
        decisions(samples).values()
    )
    loads = value(samples, "toolgate_policy_loads_total", kind="initial", ok="true", **server)
    assert loads == 1
    assert any(name == "toolgate_policy_info" for name, _ in samples)
    deny = {"outcome": "denied", "reason": "rule_deny", "tool": "get-sum", **server}
    rules = [
        dict(labels)["rule"]
        for (name, labels) in samples
        if name == "toolgate_decisions_total" and dict(labels).items() >= deny.items()
    ]
    assert len(rules) == 1 and rules[0]


async def test_serve_metrics_are_on_the_gateway_listener(tmp_path: Path, home: Path) -> None:
    config = write_gateway(
        tmp_path, {"everything": {"command": everything_server(), "policy": EVERYTHING_POLICY}}
    )
    document: dict[str, Any] = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**document, "metrics": {"enabled": True}}))
    async with running_gateway(config, home) as gateway:
        url = f"{gateway.base}/metrics"
        before = decisions(await scrape(url))
        async with Client(gateway.urls["everything"], mode="legacy", read_timeout_seconds=20) as c:
            await use(c, allowed=2, denied=4)
        expected = {("allowed", "echo"): 2, ("denied", "get-sum"): 4, ("hidden", "get-env"): 1}
        samples = await settled(url, home / "audit" / "decisions.jsonl", expected)
    assert not before  # nothing counted before the first call
    server = {"server": "everything"}
    assert value(samples, "toolgate_upstream_up", **server) == 1
    assert value(samples, "toolgate_policy_loads_total", kind="initial", ok="true", **server) == 1


async def test_serve_without_metrics_has_no_metrics_route(tmp_path: Path, home: Path) -> None:
    config = write_gateway(
        tmp_path, {"everything": {"command": everything_server(), "policy": EVERYTHING_POLICY}}
    )
    async with running_gateway(config, home) as gateway, httpx.AsyncClient(timeout=WAIT) as http:
        response = await http.get(f"{gateway.base}/metrics")
    assert response.status_code == 404
