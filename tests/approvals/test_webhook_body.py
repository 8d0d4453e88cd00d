"""What an approval webhook says: the JSON event and the Slack message."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from tests.approvals.samples import CREATED, sample_approval
from toolgate.approvals.webhook_body import UNENCODABLE, event_body, iso, review_link, slack_body
from toolgate.stores.approvals import ApprovalStatus


def test_times_are_iso_8601_utc() -> None:
    assert iso(CREATED) == "2026-01-01T00:00:00.000000Z"
    assert iso(CREATED + 90.5) == "2026-01-01T00:01:30.500000Z"
    assert iso(None) is None


def test_the_json_event_carries_every_field_of_the_approval() -> None:
    approval = sample_approval(arguments={"path": "/x", "n": 10**30, "nested": {"a": [1]}})
    body = json.loads(  # the standard decoder keeps 10**30 an integer
        event_body("approval_requested", approval, delivery="dlv_1", sent_at=CREATED + 1)
    )
    assert body == {
        "event": "approval_requested",
        "delivery": "dlv_1",
        "sent_at": "2026-01-01T00:00:01.000000Z",
        "approval": {
            "id": "apr_0123456789abcdef",
            "status": "pending",
            "tool": "delete_file",
            "server": "files",
            "identity": "alice",
            "rule_id": "r-delete",
            "rule_name": "deletes need approval",
            "message": "deleting files needs a human",
            "arguments": {"path": "/x", "n": 10**30, "nested": {"a": [1]}},
            "created_at": "2026-01-01T00:00:00.000000Z",
            "expires_at": "2026-01-01T00:05:00.000000Z",
            "resolved_at": None,
            "resolved_by": None,
            "reason": None,
        },
    }


def test_a_resolved_event_says_who_resolved_it_when_and_why() -> None:
    approval = sample_approval(
        status=ApprovalStatus.DENIED, resolved_at=CREATED + 60, resolved_by="bob", reason="no"
    )
    fields = orjson.loads(
        event_body("approval_resolved", approval, delivery="dlv_2", sent_at=CREATED + 61)
    )["approval"]
    assert (fields["status"], fields["resolved_by"], fields["reason"]) == ("denied", "bob", "no")
    assert fields["resolved_at"] == "2026-01-01T00:01:00.000000Z"


def test_arguments_that_cannot_be_written_are_replaced_and_the_event_still_goes() -> None:
    approval = sample_approval(arguments={"handle": object()})
    body = orjson.loads(
        event_body("approval_requested", approval, delivery="dlv_3", sent_at=CREATED)
    )
    assert body["approval"]["arguments"] == UNENCODABLE
    assert body["approval"]["tool"] == "delete_file"


def slack(kind: Any = "approval_requested", review_url: str | None = None, **changes: Any) -> Any:
    return orjson.loads(slack_body(kind, sample_approval(**changes), review_url=review_url))


def all_text(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


def test_the_slack_message_names_the_tool_the_identity_and_the_reason() -> None:
    message = slack()
    assert set(message) == {"text", "blocks"}
    assert "delete_file" in message["text"] and "alice" in message["text"]
    assert "deleting files needs a human" in message["text"]
    assert [b["type"] for b in message["blocks"]] == ["header", "section", "section", "section"]
    text = all_text(message)
    assert "apr_0123456789abcdef" in text and "/srv/data/report.csv" in text


def test_with_a_review_page_the_slack_message_links_approve_and_deny_to_it() -> None:
    message = slack(review_url="https://gate.example/approvals/")
    actions = message["blocks"][-1]
    assert actions["type"] == "actions"
    buttons = {b["text"]["text"]: b for b in actions["elements"]}
    assert set(buttons) == {"Approve", "Deny"}
    link = "https://gate.example/approvals/apr_0123456789abcdef"
    assert buttons["Approve"]["url"] == link and buttons["Deny"]["url"] == link
    assert (buttons["Approve"]["style"], buttons["Deny"]["style"]) == ("primary", "danger")


def test_a_resolved_slack_message_links_only_to_view_and_says_by_whom() -> None:
    message = slack(
        "approval_resolved",
        review_url="https://gate.example/approvals",
        status=ApprovalStatus.APPROVED,
        resolved_by="bob",
        reason="looks fine",
    )
    assert "approved by bob" in message["text"] and "looks fine" in message["text"]
    [button] = message["blocks"][-1]["elements"]
    assert button["text"]["text"] == "View"


def test_an_anonymous_request_says_so() -> None:
    assert "anonymous" in slack(identity=None)["text"]


@pytest.mark.parametrize("field", ["tool", "message", "identity"])
def test_text_the_agent_controls_cannot_smuggle_links_or_mentions_into_slack(field: str) -> None:
    evil = "x <https://evil.example|Approve> <!channel> & `"
    message = slack(**{field: evil})
    text = all_text(message)
    assert "<https://evil.example" not in text and "<!channel>" not in text
    assert "&lt;https://evil.example|Approve&gt;" in text


def test_long_arguments_are_cut_to_what_slack_accepts() -> None:
    message = slack(arguments={"blob": "a" * 10_000})
    for block in message["blocks"]:
        for text in [block.get("text", {}), *block.get("fields", [])]:
            assert len(text.get("text", "")) <= 3000


def test_review_links_quote_the_id() -> None:
    assert review_link("https://g.example/r/", "apr_1/../x") == "https://g.example/r/apr_1%2F..%2Fx"
