"""How an approval is shown: as JSON (the API and `toolgate approvals … --json`) and as HTML.

The page is server-rendered, without JavaScript, and every shown text is escaped.

Tool names, arguments, messages, identities and reasons all come from agents or people, so each
passes through `html.escape` (quotes too, as some land in attributes); an argument holding
`<script>` is shown as those characters. Times are shown in UTC and relative to now.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from typing import Any

import orjson

from toolgate.audit.event import timestamp
from toolgate.stores.approvals import Approval, ApprovalStatus

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:1.5rem auto;max-width:60rem;padding:0 1rem;
color:#1b1b1b;background:#f6f6f4}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}
td{word-break:break-word}th{background:#ecece8;font-weight:600}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;background:#fff;
padding:.8rem;border:1px solid #ddd}
dt{font-weight:600}dd{margin:0;word-break:break-word}
pre{background:#fff;border:1px solid #ddd;padding:.8rem;overflow:auto;white-space:pre-wrap;
word-break:break-word}
textarea{width:100%;box-sizing:border-box;font:inherit}
button{font-size:1rem;padding:.45rem 1.4rem;margin:.6rem .6rem 0 0;cursor:pointer}
#approve{background:#2d7a32;color:#fff;border:0;border-radius:4px}
#deny{background:#a12b2b;color:#fff;border:0;border-radius:4px}
.status{font-weight:600}.pending{color:#8a5a00}.approved,.consumed{color:#2d7a32}
.denied{color:#a12b2b}.expired{color:#666}
#error{background:#fde2e2;border:1px solid #c33;padding:.6rem}.muted{color:#666}
"""


def approval_data(approval: Approval) -> dict[str, Any]:
    """An approval as the API and `toolgate approvals … --json` show it; times ISO 8601 UTC."""
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
        "arguments": _plain(request.arguments),
        "mode": request.mode,
        "created_at": timestamp(approval.created_at),
        "expires_at": timestamp(approval.expires_at),
        "resolved_at": _when(approval.resolved_at),
        "resolved_by": approval.resolved_by,
        "reason": approval.reason,
        "consumed_at": _when(approval.consumed_at),
        "joined": approval.joined,
    }


def dump_json(data: object, *, pretty: bool = False) -> bytes:
    """JSON bytes; exact decimals and integers beyond 64 bits are written as they arrived."""
    return orjson.dumps(_exact(data), option=orjson.OPT_INDENT_2 if pretty else 0)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _exact(value: Any) -> Any:
    if isinstance(value, Decimal) or (
        isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64
    ):
        return orjson.Fragment(str(value).encode())
    if isinstance(value, dict):
        return {k: _exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_exact(v) for v in value]
    return value


def _when(epoch: float | None) -> str | None:
    return None if epoch is None else timestamp(epoch)


# --- HTML -----------------------------------------------------------------------------------------


def layout(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def index_page(
    pending: Sequence[Approval],
    resolved: Sequence[Approval],
    *,
    now: float,
    prefix: str,
    by: str,
) -> str:
    """The pending approvals, oldest waiting first, then the most recently resolved."""
    waiting = sorted(pending, key=lambda approval: approval.created_at)
    body = (
        "<h1>toolgate: approvals</h1>"
        f'<p class="muted">Deciding as <b id="approver">{escape(by)}</b>. '
        f'<a href="{escape(prefix)}/">Refresh</a></p>'
        f'<h2 id="pending-heading">Waiting for a decision ({len(waiting)})</h2>'
        + _table(waiting, now, prefix, "pending", "Nothing is waiting for a decision.")
        + "<h2>Recently resolved</h2>"
        + _table(resolved, now, prefix, "resolved", "Nothing resolved yet.")
    )
    return layout("toolgate approvals", body)


def approval_page(
    approval: Approval,
    *,
    now: float,
    prefix: str,
    by: str,
    error: str | None = None,
) -> str:
    """One approval: what was asked and why, its arguments, and (while pending) the form."""
    request = approval.request
    rows: list[tuple[str, str]] = [
        ("Status", _status(approval.status)),
        ("Tool", f"<code>{escape(request.tool)}</code>"),
        ("Server", _text(request.server)),
        ("Asked by", _text(request.identity, "anonymous")),
        ("Rule", _rule(approval)),
        ("Why", escape(request.message)),
        ("Asked", f"{_utc(approval.created_at)} ({ago(now, approval.created_at)})"),
        ("Expires", f"{_utc(approval.expires_at)} ({until(now, approval.expires_at)})"),
        ("Mode", escape(request.mode)),
    ]
    if approval.joined:
        rows.append(("Repeated", f"{approval.joined} more identical request(s) joined this one"))
    if approval.resolved_at is not None:
        rows.append(("Resolved", f"{_utc(approval.resolved_at)} by {_text(approval.resolved_by)}"))
    if approval.reason is not None:
        rows.append(("Reason", f'<span id="reason-text">{escape(approval.reason)}</span>'))
    if approval.consumed_at is not None:
        rows.append(("Used", _utc(approval.consumed_at)))
    details = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
    problem = f'<p id="error" role="alert">{escape(error)}</p>' if error else ""
    form = _form(approval, prefix, by) if approval.status is ApprovalStatus.PENDING else ""
    body = (
        f'<p><a href="{escape(prefix)}/">&larr; All approvals</a></p>'
        f"<h1>Approval <code>{escape(approval.id)}</code></h1>{problem}"
        f"<dl>{details}</dl><h2>Arguments</h2>"
        f'<pre id="arguments">{escape(_pretty(request.arguments))}</pre>{form}'
    )
    return layout(f"toolgate approval {approval.id}", body)


def message_page(title: str, message: str) -> str:
    body = f'<h1>{escape(title)}</h1><p id="error" role="alert">{escape(message)}</p>'
    return layout(f"toolgate approvals: {title}", body)


def ago(now: float, then: float) -> str:
    return "just now" if now - then < 1 else f"{span(now - then)} ago"


def until(now: float, then: float) -> str:
    return "lapsed" if then <= now else f"in {span(then - now)}"


def span(seconds: float) -> str:
    """A duration for people: 45s, 12m 5s, 3h 5m, 2d 4h."""
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


def _table(approvals: Sequence[Approval], now: float, prefix: str, name: str, empty: str) -> str:
    if not approvals:
        return f'<p class="muted" id="{name}-empty">{escape(empty)}</p>'
    head = "".join(
        f"<th>{column}</th>"
        for column in ("Approval", "Tool", "Server", "Asked by", "Rule", "Asked", "Status")
    )
    rows = "".join(
        f'<tr data-id="{escape(a.id)}">'
        f'<td><a href="{escape(prefix)}/{escape(a.id)}">{escape(a.id)}</a></td>'
        f"<td><code>{escape(a.request.tool)}</code></td>"
        f"<td>{_text(a.request.server)}</td><td>{_text(a.request.identity, 'anonymous')}</td>"
        f"<td>{_rule(a)}</td><td>{ago(now, a.created_at)}</td>"
        f"<td>{_status(a.status)}"
        + (f" ({until(now, a.expires_at)})" if a.status is ApprovalStatus.PENDING else "")
        + "</td></tr>"
        for a in approvals
    )
    return f'<table id="{name}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _form(approval: Approval, prefix: str, by: str) -> str:
    return (
        f'<h2>Decide</h2><form method="post" action="{escape(prefix)}/{escape(approval.id)}">'
        f'<p class="muted">You decide as <b>{escape(by)}</b>. The agent may retry the call '
        "once it is approved; it is then forwarded exactly once.</p>"
        '<label for="reason">Reason (optional, kept with the decision)</label>'
        '<textarea id="reason" name="reason" rows="3" maxlength="2000"></textarea>'
        '<button type="submit" id="approve" name="action" value="approve">Approve</button>'
        '<button type="submit" id="deny" name="action" value="deny">Deny</button></form>'
    )


def _status(status: ApprovalStatus) -> str:
    return f'<span class="status {status.value}" id="status">{status.value}</span>'


def _rule(approval: Approval) -> str:
    request = approval.request
    name = f" ({escape(request.rule_name)})" if request.rule_name else ""
    return f"<code>{escape(request.rule_id)}</code>{name}"


def _text(value: str | None, missing: str = "-") -> str:
    return escape(value) if value else f'<span class="muted">{escape(missing)}</span>'


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _pretty(arguments: Any) -> str:
    """The arguments as indented JSON; exact decimals and big integers as they arrived."""
    return dump_json(_plain(arguments), pretty=True).decode()
