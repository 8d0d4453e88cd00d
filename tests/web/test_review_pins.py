"""Accepting a changed tool definition from the review page, as `toolgate pin accept` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.web.asgi import request
from toolgate.app.pin_actions import pin_file_for
from toolgate.catalog.classify import classify_tool
from toolgate.catalog.pins import Pin
from toolgate.catalog.pins_file import PinFile
from toolgate.catalog.scan_report import ClassifiedTool
from toolgate.web.app import ServerReview, create_app

pytestmark = pytest.mark.anyio
TOKEN = "tok-123"
PAGE = f"/{TOKEN}/servers/demo"
PINS = f"{PAGE}/pins"
SEEN = "2026-11-21T00:00:00Z"


def classified(name: str) -> ClassifiedTool:
    definition: dict[str, Any] = {"name": name, "description": "Read a file"}
    return ClassifiedTool(definition, classify_tool(definition))


def pinned(pins: PinFile) -> None:
    book = {
        "get_file": Pin(SEEN, "sha256:" + "a" * 64, "sha256:" + "b" * 64, SEEN),
        "get_dir": Pin(SEEN, "sha256:" + "c" * 64, "sha256:" + "c" * 64, SEEN),
    }
    pins.update(lambda _: (book, None))


@pytest.fixture
def review(tmp_path: Path) -> ServerReview:
    pins = pin_file_for(tmp_path / "state", ["python", "server.py"])
    pinned(pins)
    tools = (classified("get_file"), classified("get_dir"))
    return ServerReview(
        "demo",
        "demo",
        tools,
        tmp_path / "policies" / "demo.yaml",
        pins=pins,
        audit_log=tmp_path / "audit.jsonl",
    )


def audit(review: ServerReview) -> list[dict[str, Any]]:
    assert review.audit_log is not None
    if not review.audit_log.exists():
        return []
    return [orjson.loads(line) for line in review.audit_log.read_bytes().splitlines()]


async def test_the_page_offers_an_accept_button_for_each_changed_tool_only(
    review: ServerReview,
) -> None:
    answer = await request(create_app([review], TOKEN), "GET", PAGE)
    assert answer.status == 200
    assert 'value="get_file"' in answer.text
    assert 'value="get_dir"' not in answer.text
    assert f'action="{PINS}"' in answer.text


async def test_accepting_a_changed_tool_updates_its_pin_and_audits_it_like_pin_accept(
    review: ServerReview,
) -> None:
    assert review.pins is not None
    answer = await request(create_app([review], TOKEN), "POST", PINS, {"tool": "get_file"})
    assert answer.status == 200
    assert review.pins.load()["get_file"].state == "accepted"
    assert 'value="get_file"' not in answer.text
    assert "accepted the new definition of get_file" in answer.text
    [event] = audit(review)
    assert (event["type"], event["tool"], event["change"]) == ("pin", "get_file", "accepted")
    assert (event["mode"], event["namespace"]) == ("page", review.pins.namespace)
    assert event["new_hash"] == "sha256:" + "b" * 64


async def test_accepting_a_tool_without_a_pin_is_an_error_and_changes_nothing(
    review: ServerReview,
) -> None:
    assert review.pins is not None
    answer = await request(create_app([review], TOKEN), "POST", PINS, {"tool": "<nope>"})
    assert answer.status == 400
    assert "&lt;nope&gt; has no pin" in answer.text
    assert review.pins.load()["get_file"].state == "changed"
    assert audit(review) == []


async def test_a_cross_site_accept_is_refused_and_changes_nothing(review: ServerReview) -> None:
    assert review.pins is not None
    app = create_app([review], TOKEN)
    foreign = await request(
        app, "POST", PINS, {"tool": "get_file"}, headers={"origin": "https://evil.example"}
    )
    wrong_token = await request(app, "POST", "/other/servers/demo/pins", {"tool": "get_file"})
    assert (foreign.status, wrong_token.status) == (403, 404)
    assert review.pins.load()["get_file"].state == "changed"


async def test_a_review_without_pins_has_no_accept_route(tmp_path: Path) -> None:
    review = ServerReview("demo", "demo", (classified("get_file"),), tmp_path / "demo.yaml")
    app = create_app([review], TOKEN)
    assert (await request(app, "POST", PINS, {"tool": "get_file"})).status == 404
    assert "Changed tool definitions" not in (await request(app, "GET", PAGE)).text
