"""What an approval webhook says: a JSON event, or a Slack-compatible message.

The JSON event, for any receiver:

    {"event": "approval_requested" | "approval_resolved",
     "delivery": "dlv_<hex>",          # the same on every retry of one event: dedupe on it
     "approval": {"id", "status", "tool", "server", "identity", "rule_id", "rule_name",
                  "message", "arguments", "created_at", "expires_at", "resolved_at",
                  "resolved_by", "reason"},        # times as ISO-8601 UTC, null when unset
     "sent_at": "<ISO-8601 UTC>"}

The Slack form (`{"text", "blocks"}`) names the tool, the identity and the reason, and, when a
review page is configured, links to `{review_url}/{approval id}`. The links open the page where
a person decides; following one approves nothing by itself. Everything the agent controls
(tool name, arguments, message) is escaped, so it cannot smuggle links or formatting in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal
from urllib.parse import quote

from toolgate.jsonrpc.message import encode
from toolgate.stores.approvals import Approval, ApprovalRequest, ApprovalStatus

EventKind = Literal["approval_requested", "approval_resolved"]
UNENCODABLE: Final = "(the arguments could not be written as JSON)"

_SLACK_TEXT_LIMIT: Final = 2900  # Slack refuses section texts over 3000 characters
_SLACK_ARGUMENTS_LIMIT: Final = 1500


def iso(epoch: float | None) -> str | None:
    """Epoch seconds as ISO-8601 UTC with a Z, or None."""
    if epoch is None:
        return None
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def approval_fields(approval: Approval) -> dict[str, Any]:
    """The approval as the JSON event carries it."""
    request = approval.request
    return {
        "id": approval.id,
        "status": approval.status.value,
        "tool": request.tool,
        "server": request.server,
        "identity": request.identity,
        "rule_id": request.rule_id,
        "rule_name": request.rule_name,
        "message": request.message,
        "arguments": _arguments(request.arguments),
        "created_at": iso(approval.created_at),
        "expires_at": iso(approval.expires_at),
        "resolved_at": iso(approval.resolved_at),
        "resolved_by": approval.resolved_by,
        "reason": approval.reason,
    }


def event_body(kind: EventKind, approval: Approval, *, delivery: str, sent_at: float) -> bytes:
    """The JSON event. Arguments that cannot be written as JSON are replaced by a notice, so
    the person still hears of the request."""
    fields = approval_fields(approval)
    document = {"event": kind, "delivery": delivery, "approval": fields, "sent_at": iso(sent_at)}
    try:
        return encode(document)
    except TypeError:
        fields["arguments"] = UNENCODABLE
        return encode(document)


def slack_body(kind: EventKind, approval: Approval, *, review_url: str | None) -> bytes:
    """A Slack incoming-webhook message about the approval."""
    request = approval.request
    who = request.identity or "an anonymous client"
    if kind == "approval_requested":
        title = "Approval requested"
        reason = request.message
        summary = f"{title}: tool `{_code(request.tool)}` called by {_esc(who)}"
    else:
        title = f"Approval {approval.status.value}"
        reason = approval.reason or ""
        by = f" by {_esc(approval.resolved_by)}" if approval.resolved_by else ""
        summary = f"{title}{by}: tool `{_code(request.tool)}` called by {_esc(who)}"
    if reason:
        summary += f"\nReason: {_esc(reason)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title}},
        {"type": "section", "text": _mrkdwn(summary)},
        {"type": "section", "fields": _facts(approval)},
        {"type": "section", "text": _mrkdwn(f"*Arguments*\n```{_arguments_text(request)}```")},
    ]
    if review_url:
        blocks.append({"type": "actions", "elements": _buttons(kind, approval, review_url)})
    return encode({"text": _truncate(summary, _SLACK_TEXT_LIMIT), "blocks": blocks})


def review_link(review_url: str, approval_id: str) -> str:
    """Where a person reviews one approval."""
    return f"{review_url.rstrip('/')}/{quote(approval_id, safe='')}"


def _facts(approval: Approval) -> list[dict[str, str]]:
    request = approval.request
    facts = [
        ("Tool", f"`{_code(request.tool)}`"),
        ("Identity", _esc(request.identity or "anonymous")),
        ("Rule", _esc(request.rule_name or request.rule_id)),
        ("Approval", f"`{_code(approval.id)}`"),
    ]
    if request.server is not None:
        facts.insert(1, ("Server", _esc(request.server)))
    if approval.status is ApprovalStatus.PENDING:
        facts.append(("Expires", iso(approval.expires_at) or ""))
    return [_mrkdwn(f"*{label}*\n{_truncate(value, 1900)}") for label, value in facts]


def _buttons(kind: EventKind, approval: Approval, review_url: str) -> list[dict[str, Any]]:
    link = review_link(review_url, approval.id)
    if kind != "approval_requested":
        return [_button("View", link, "view", None)]
    return [
        _button("Approve", link, "approve", "primary"),
        _button("Deny", link, "deny", "danger"),
    ]


def _button(label: str, url: str, action: str, style: str | None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "url": url,
        "action_id": f"toolgate_{action}",
    }
    if style is not None:
        button["style"] = style
    return button


def _arguments(arguments: Mapping[str, Any]) -> Any:
    return dict(arguments) if isinstance(arguments, Mapping) else arguments


def _arguments_text(request: ApprovalRequest) -> str:
    try:
        text = encode(_arguments(request.arguments), sort_keys=True).decode("utf-8")
    except TypeError:
        text = UNENCODABLE
    return _code(_truncate(text, _SLACK_ARGUMENTS_LIMIT))


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _truncate(text, _SLACK_TEXT_LIMIT)}


def _esc(text: str) -> str:
    """Slack's three control characters, so `<url|label>` links cannot be injected."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    """Text safe inside a Slack code span or block: escaped, and no backtick to close it."""
    return _esc(text).replace("`", "'")


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
