"""The resources/prompts interceptor: lists filtered with every other field kept, reads refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.interceptors.rig import ListSink, SilentClient, answer, forward_unchanged

from toolgate.audit.recorder import AuditRecorder
from toolgate.clock import FakeClock
from toolgate.interceptors.policy_source import PolicySource
from toolgate.interceptors.surfaces import SurfaceGuard
from toolgate.jsonrpc.message import Message, parse, result_response
from toolgate.pipeline.session import Session
from toolgate.pipeline.types import Forward, Outcome

POLICY = """version: "1"
resources:
  deny: ["file:///etc/*"]
  hide: ["secret://*"]
prompts:
  hide: [admin_*]
  deny: [risky]
tools: {}
"""
pytestmark = pytest.mark.anyio
MODERN = {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}


class Guard:
    def __init__(self, tmp_path: Path, text: str = POLICY) -> None:
        (tmp_path / "policy.yaml").write_text(text)
        clock = FakeClock()
        self.sink = ListSink()
        self.guard = SurfaceGuard(
            PolicySource(tmp_path / "policy.yaml"), AuditRecorder(self.sink, clock), clock, "ops"
        )
        self.session = Session(SilentClient(), "ses_test")

    async def send(self, method: str, params: dict[str, Any]) -> Outcome:
        request = parse(
            orjson.dumps({"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
        )
        assert isinstance(request, Message)
        return await self.guard(request, self.session, forward_unchanged)

    async def listed(self, method: str, result: dict[str, Any]) -> dict[str, Any]:
        outcome = await self.send(method, {})
        assert isinstance(outcome, Forward) and outcome.on_response is not None
        response = parse(result_response(7, result))
        assert isinstance(response, Message)
        replaced = await outcome.on_response(response)
        return orjson.loads(replaced) if replaced is not None else {"unchanged": True}


async def test_hidden_resources_vanish_from_the_list_and_every_other_field_stays(
    tmp_path: Path,
) -> None:
    result = {
        "resources": [
            {"uri": "secret://a", "name": "a"}, {"uri": "file:///etc/x", "name": "x", "size": 3}
        ],
        "nextCursor": "c2", "_meta": {"k": 1}, "resultType": "complete", "ttlMs": 0,
    }  # fmt: skip
    listed = await Guard(tmp_path).listed("resources/list", result)
    assert listed["result"] == {
        "resources": [{"uri": "file:///etc/x", "name": "x", "size": 3}],
        "nextCursor": "c2", "_meta": {"k": 1}, "resultType": "complete", "ttlMs": 0,
    }  # fmt: skip


async def test_templates_are_filtered_by_uri_template_and_prompts_by_name(tmp_path: Path) -> None:
    guard = Guard(tmp_path)
    templates = {
        "resourceTemplates": [{"uriTemplate": "secret://{id}"}, {"uriTemplate": "x://{id}"}]
    }
    listed = await guard.listed("resources/templates/list", templates)
    assert listed["result"]["resourceTemplates"] == [{"uriTemplate": "x://{id}"}]
    prompts = {"prompts": [{"name": "admin_reset"}, {"name": "risky"}, {"name": "hello"}]}
    listed = await guard.listed("prompts/list", prompts)
    assert [p["name"] for p in listed["result"]["prompts"]] == ["risky", "hello"]


async def test_a_list_with_nothing_hidden_passes_as_the_original_bytes(tmp_path: Path) -> None:
    listed = await Guard(tmp_path).listed("prompts/list", {"prompts": [{"name": "hello"}]})
    assert listed == {"unchanged": True}


@pytest.mark.parametrize("modern", [False, True], ids=["legacy", "modern"])
async def test_reading_a_hidden_resource_answers_resource_not_found(
    tmp_path: Path, modern: bool
) -> None:
    guard = Guard(tmp_path)
    params: dict[str, Any] = {"uri": "secret://a", **({"_meta": MODERN} if modern else {})}
    error = answer(await guard.send("resources/read", params))["error"]
    assert error == {"code": -32002, "message": "Resource not found", "data": {"uri": "secret://a"}}
    [event] = guard.sink.events
    assert (event.method, event.tool, event.outcome, event.rule) == (
        "resources/read", "secret://a", "hidden", "resources.hide[0]",
    )  # fmt: skip


async def test_reading_a_denied_resource_is_a_policy_denial_that_never_goes_upstream(
    tmp_path: Path,
) -> None:
    guard = Guard(tmp_path)
    error = answer(await guard.send("resources/read", {"uri": "file:///etc/passwd"}))["error"]
    assert error["code"] == -32003
    assert (
        error["message"] == '[POLICY DENIED] resource "file:///etc/passwd" is denied by the policy'
    )
    assert error["data"]["dev.toolgate/decision"]["rule"] == "resources.deny[0]"
    assert guard.sink.events[0].outcome == "denied"


async def test_getting_hidden_and_denied_prompts_is_refused(tmp_path: Path) -> None:
    guard = Guard(tmp_path)
    hidden = answer(await guard.send("prompts/get", {"name": "admin_reset"}))["error"]
    assert hidden == {"code": -32602, "message": "Unknown prompt: admin_reset"}
    denied = answer(await guard.send("prompts/get", {"name": "risky"}))["error"]
    assert denied["code"] == -32003 and 'prompt "risky"' in denied["message"]


async def test_an_allowed_read_is_forwarded_and_audited_when_answered(tmp_path: Path) -> None:
    guard = Guard(tmp_path)
    outcome = await guard.send("prompts/get", {"name": "hello"})
    assert isinstance(outcome, Forward) and outcome.data is None and outcome.on_response
    response = parse(result_response(7, {"messages": []}))
    assert isinstance(response, Message)
    assert await outcome.on_response(response) is None
    [event] = guard.sink.events
    assert (event.method, event.tool, event.outcome, event.identity) == (
        "prompts/get", "hello", "allowed", "ops",
    )  # fmt: skip


async def test_a_read_without_a_string_uri_is_refused_and_not_forwarded(tmp_path: Path) -> None:
    error = answer(await Guard(tmp_path).send("resources/read", {"uri": 3}))["error"]
    assert error["code"] == -32602 and "string uri" in error["message"]


async def test_shadow_mode_forwards_a_denied_read_and_logs_what_would_have_happened(
    tmp_path: Path,
) -> None:
    guard = Guard(tmp_path, POLICY.replace("tools: {}", "mode: shadow\ntools: {}"))
    outcome = await guard.send("resources/read", {"uri": "secret://a"})
    assert isinstance(outcome, Forward) and outcome.on_response is not None
    response = parse(result_response(7, {"contents": []}))
    assert isinstance(response, Message)
    await outcome.on_response(response)
    [event] = guard.sink.events
    assert event.mode == "shadow" and event.would is not None and event.would["effect"] == "hide"


async def test_without_a_section_the_request_passes_through_untouched(tmp_path: Path) -> None:
    outcome = await Guard(tmp_path, 'version: "1"\ntools: {}\n').send(
        "resources/read", {"uri": "secret://a"}
    )
    assert outcome == Forward()
