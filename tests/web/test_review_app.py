"""The review page app: columns, saving a valid policy, refusing bad input and foreign requests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.web.asgi import request
from toolgate.catalog.classify import classify_tool
from toolgate.catalog.scan_report import ClassifiedTool
from toolgate.policy.loader import load_policy
from toolgate.policy.model import Action
from toolgate.web.app import ServerReview, create_app
from toolgate.web.review import Column

pytestmark = pytest.mark.anyio
TOKEN = "tok-123"
PAGE = f"/{TOKEN}/servers/demo"


def classified(name: str, description: str) -> ClassifiedTool:
    definition: dict[str, Any] = {
        "name": name,
        "description": description,
        "inputSchema": {"type": "object"},
    }
    return ClassifiedTool(definition, classify_tool(definition))


@pytest.fixture
def review(tmp_path: Path) -> ServerReview:
    tools = (
        classified("get_file", "Read a file"),
        classified("write_file", "Write a file"),
        classified("delete_repo", "Permanently delete a repository"),
        classified("<script>x", "odd name"),
    )
    return ServerReview("demo <server>", "demo", tools, tmp_path / "policies" / "demo.yaml")


def form(review: ServerReview, **changes: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for index, placement in enumerate(review.placements):
        fields[f"column-{index}"] = placement.column.value
        fields[f"limit-{index}"] = placement.limit
    return {**fields, **changes}


async def test_the_page_lists_every_tool_in_its_recommended_column_escaped(
    review: ServerReview,
) -> None:
    app = create_app([review], TOKEN)
    answer = await request(app, "GET", PAGE)
    assert answer.status == 200
    for title in ("Allow", "Rate limit", "Require approval", "Deny", "Hide"):
        assert f"<h2>{title}</h2>" in answer.text
    assert "&lt;script&gt;x" in answer.text and "<script>x" not in answer.text
    assert "demo &lt;server&gt;" in answer.text
    assert review.placements[0].column is Column.ALLOW
    assert "score" in answer.text


async def test_the_index_links_each_server_page(review: ServerReview) -> None:
    answer = await request(create_app([review], TOKEN), "GET", f"/{TOKEN}/")
    assert answer.status == 200 and PAGE in answer.text


async def test_saving_writes_a_policy_that_loads_and_enforces_the_columns(
    review: ServerReview,
) -> None:
    app = create_app([review], TOKEN)
    fields = form(
        review,
        **{"column-0": "deny", "column-1": "rate_limit", "limit-1": "5/hour", "column-3": "hide"},
    )
    answer = await request(app, "POST", PAGE, fields)
    assert answer.status == 200
    assert str(review.policy_path) in answer.text and 'id="saved"' in answer.text
    policy = load_policy(review.policy_path)
    assert [rule.action for rule in policy.tools["get_file"]] == [Action.DENY]
    assert policy.tools["write_file"][0].rate_limit == "5/hour"
    assert "<script>x" in policy.hidden and "<script>x" not in policy.tools
    assert review.saved


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"column-0": "maybe"}, "get_file: unknown column"),
        ({"column-1": "rate_limit", "limit-1": "lots"}, "write_file: rate limit"),
        ({"column-1": "rate_limit", "limit-1": "0/minute"}, "must look like 30/minute"),
        ({"column-1": "rate_limit", "limit-1": "5/fortnight"}, "must look like 30/minute"),
    ],
)
async def test_bad_form_input_is_shown_on_the_page_and_nothing_is_written(
    review: ServerReview, changes: dict[str, str], message: str
) -> None:
    answer = await request(create_app([review], TOKEN), "POST", PAGE, form(review, **changes))
    assert answer.status == 400
    assert 'id="errors"' in answer.text and message in answer.text
    assert not review.policy_path.exists()
    assert not review.saved


async def test_a_missing_field_is_an_error_not_a_default(review: ServerReview) -> None:
    fields = form(review)
    del fields["column-2"]
    answer = await request(create_app([review], TOKEN), "POST", PAGE, fields)
    assert answer.status == 400 and "delete_repo: unknown column" in answer.text
    assert not review.policy_path.exists()


async def test_a_wrong_token_or_unknown_server_is_not_found(review: ServerReview) -> None:
    app = create_app([review], TOKEN)
    assert (await request(app, "GET", "/other/servers/demo")).status == 404
    assert (await request(app, "GET", "/tök/servers/demo")).status == 404
    assert (await request(app, "POST", "/other/servers/demo", form(review))).status == 404
    assert (await request(app, "GET", f"/{TOKEN}/servers/nope")).status == 404
    assert not review.policy_path.exists()


async def test_a_foreign_host_or_cross_site_post_is_refused(review: ServerReview) -> None:
    app = create_app([review], TOKEN)
    rebound = await request(app, "GET", PAGE, headers={"host": "evil.example:8123"})
    assert rebound.status == 421
    cross = await request(
        app, "POST", PAGE, form(review), headers={"origin": "https://evil.example"}
    )
    assert cross.status == 403
    assert not review.policy_path.exists()
    same = await request(
        app, "POST", PAGE, form(review), headers={"origin": "http://127.0.0.1:8123"}
    )
    assert same.status == 200 and review.policy_path.exists()
