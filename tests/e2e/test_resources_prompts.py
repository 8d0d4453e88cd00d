"""`resources:` and `prompts:` through `toolgate run` against the everything server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.e2e.support import RawClient, audit_events, everything_server, raw_client, toolgate

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

DOCS = "demo://resource/static/document/"
POLICY = f"""
version: "1"
resources:
  hide: ["{DOCS}extension.md", "demo://resource/dynamic/blob/*"]
  deny: ["{DOCS}features.md"]
prompts:
  hide: [completable-prompt]
  deny: [args-prompt]
tools: {{}}
"""


async def line(client: RawClient, msg_id: int, method: str, params: dict[str, Any]) -> bytes:
    await client.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
    return await client.response_line(msg_id)


async def session(command: list[str]) -> dict[str, Any]:
    async with raw_client(command) as client:
        await client.initialize()
        return {
            "resources": await client.request(1, "resources/list"),
            "templates": await client.request(2, "resources/templates/list"),
            "prompts": await client.request(3, "prompts/list"),
            "read_allowed": await line(client, 4, "resources/read", {"uri": f"{DOCS}architecture.md"}),  # noqa: E501
            "get_allowed": await line(client, 5, "prompts/get", {"name": "simple-prompt"}),
            "read_hidden": await client.request(6, "resources/read", {"uri": f"{DOCS}extension.md"}),  # noqa: E501
            "read_denied": await client.request(7, "resources/read", {"uri": f"{DOCS}features.md"}),
            "get_hidden": await client.request(8, "prompts/get", {"name": "completable-prompt"}),
            "get_denied": await client.request(9, "prompts/get", {"name": "args-prompt"}),
        }  # fmt: skip


async def test_hidden_entries_vanish_denied_ones_are_refused_and_allowed_ones_are_identical(
    home: Path, write_policy: Callable[[str], Path]
) -> None:
    direct = await session(everything_server())
    gateway = await session(toolgate(write_policy(POLICY), everything_server(), home))

    def uris(answer: dict[str, Any], key: str, field: str) -> list[str]:
        return [entry[field] for entry in answer["result"][key]]

    assert f"{DOCS}extension.md" in uris(direct["resources"], "resources", "uri")
    expected = [
        u for u in uris(direct["resources"], "resources", "uri") if u != f"{DOCS}extension.md"
    ]
    assert uris(gateway["resources"], "resources", "uri") == expected
    templates = uris(gateway["templates"], "resourceTemplates", "uriTemplate")
    assert "demo://resource/dynamic/blob/{resourceId}" not in templates
    assert "demo://resource/dynamic/text/{resourceId}" in templates
    prompts = uris(gateway["prompts"], "prompts", "name")
    assert "completable-prompt" not in prompts and "args-prompt" in prompts

    assert gateway["read_allowed"] == direct["read_allowed"]
    assert gateway["get_allowed"] == direct["get_allowed"]
    assert orjson.loads(direct["read_allowed"])["result"]["contents"]

    assert gateway["read_hidden"]["error"]["code"] == -32002
    assert gateway["get_hidden"]["error"] == {
        "code": -32602,
        "message": "Unknown prompt: completable-prompt",
    }
    for key in ("read_denied", "get_denied"):
        error = gateway[key]["error"]
        assert error["code"] == -32003 and error["message"].startswith("[POLICY DENIED]")

    refused = {(e["method"], e["tool"]): e for e in audit_events(home) if e["outcome"] != "allowed"}
    assert {key: (e["outcome"], e["upstream"]) for key, e in refused.items()} == {
        ("resources/read", f"{DOCS}extension.md"): ("hidden", "not_sent"),
        ("resources/read", f"{DOCS}features.md"): ("denied", "not_sent"),
        ("prompts/get", "completable-prompt"): ("hidden", "not_sent"),
        ("prompts/get", "args-prompt"): ("denied", "not_sent"),
    }
