"""The review page's HTML: server-rendered, every server-supplied text escaped, no build step.

Each tool is a card in its column with its class, band, score and strongest evidence, a select
to move it and a limit field. A few lines of inline JavaScript move the card to the chosen column
at once; without JavaScript the form still posts and the page comes back re-sorted.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from toolgate.catalog.scan_report import ClassifiedTool
from toolgate.web.review import Column, Placement

STYLE = """
body{font:15px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1b1b1b;background:#f6f6f4}
h1{font-size:1.4rem}.board{display:grid;grid-template-columns:repeat(5,1fr);gap:.8rem}
.column{background:#e9e9e4;border-radius:8px;padding:.5rem;min-height:6rem}
.column h2{font-size:1rem;margin:.2rem .3rem .6rem}
.tool{background:#fff;border:1px solid #ccc;border-radius:6px;padding:.5rem;margin-bottom:.5rem}
.tool b{word-break:break-all}.meta{color:#555;font-size:.85rem}
.tool ul{margin:.3rem 0;padding-left:1.1rem;font-size:.8rem;color:#444}
.tool input{width:7rem}#errors{background:#fde2e2;border:1px solid #c33;padding:.6rem}
#saved{background:#e2f5e2;border:1px solid #393;padding:.6rem}
button{font-size:1rem;padding:.4rem 1.2rem;margin:1rem 0}
"""
SCRIPT = """
document.querySelectorAll('select.move').forEach(function (select) {
  select.addEventListener('change', function () {
    var card = select.closest('.tool');
    document.getElementById('col-' + select.value).appendChild(card);
  });
});
"""


def layout(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def index_page(servers: Sequence[tuple[str, str, str | None]]) -> str:
    """Links to each server's page: (name, href, saved policy path or None)."""
    items = "".join(
        f'<li><a href="{escape(href)}">{escape(name)}</a>'
        + (f" - saved to <code>{escape(saved)}</code>" if saved else "")
        + "</li>"
        for name, href, saved in servers
    )
    return layout("toolgate init", f"<h1>toolgate init: review your servers</h1><ul>{items}</ul>")


def server_page(
    server: str,
    tools: Sequence[ClassifiedTool],
    placements: Sequence[Placement],
    *,
    action: str,
    errors: Sequence[str] = (),
    saved: str | None = None,
    changed: Sequence[str] = (),
    pin_action: str | None = None,
    notice: str | None = None,
) -> str:
    notes = ""
    if errors:
        problems = "".join(f"<li>{escape(problem)}</li>" for problem in errors)
        notes += f'<div id="errors" role="alert">Nothing was saved:<ul>{problems}</ul></div>'
    if saved:
        notes += f'<p id="saved" role="status">Saved policy: <code>{escape(saved)}</code></p>'
    if notice:
        notes += f'<p id="notice" role="status">{escape(notice)}</p>'
    if pin_action is not None and changed:
        notes += _changed_pins(changed, pin_action)
    columns = "".join(_column(column, tools, placements) for column in Column)
    body = (
        f"<h1>{escape(server)}</h1>{notes}"
        f'<form method="post" action="{escape(action)}"><div class="board">{columns}</div>'
        '<button type="submit" id="save">Save policy</button></form>'
        f"<script>{SCRIPT}</script>"
    )
    return layout(f"toolgate init: {server}", body)


def _changed_pins(changed: Sequence[str], action: str) -> str:
    """One form per tool whose definition changed since it was accepted (pin accept)."""
    forms = "".join(
        f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="tool" value="{escape(name)}">'
        f'<button type="submit" class="accept-pin">Accept the new definition of'
        f" <b>{escape(name)}</b></button></form>"
        for name in changed
    )
    return (
        '<section id="pins" aria-label="Changed tool definitions">'
        "<h2>Changed tool definitions</h2><p>These tools changed since their definition was "
        "accepted; under <code>pin: enforce</code> they are blocked until accepted.</p>"
        f"{forms}</section>"
    )


def _column(
    column: Column, tools: Sequence[ClassifiedTool], placements: Sequence[Placement]
) -> str:
    cards = "".join(
        _card(index, tool, placement)
        for index, (tool, placement) in enumerate(zip(tools, placements, strict=True))
        if placement.column is column
    )
    return (
        f'<section class="column" aria-label="{column.title}"><h2>{column.title}</h2>'
        f'<div id="col-{column.value}">{cards}</div></section>'
    )


def _card(index: int, tool: ClassifiedTool, placement: Placement) -> str:
    verdict = tool.classification
    options = "".join(
        f'<option value="{column.value}"'
        + (" selected" if column is placement.column else "")
        + f">{column.title}</option>"
        for column in Column
    )
    evidence = "".join(f"<li>{escape(item.detail)}</li>" for item in verdict.evidence[:3])
    name = escape(tool.name)
    return (
        f'<div class="tool" data-tool="{name}"><b>{name}</b>'
        f'<div class="meta">{verdict.category.value} · {verdict.band.value} · score'
        f" {verdict.score}/5</div><ul>{evidence}</ul>"
        f'<select class="move" name="column-{index}" aria-label="column for {name}">'
        f"{options}</select> "
        f'<input name="limit-{index}" value="{escape(placement.limit)}"'
        f' aria-label="rate limit for {name}"></div>'
    )
