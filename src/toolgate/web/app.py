"""The review page as a Starlette app: one page per scanned server, saving one policy each.

Every route sits under a random token (`/<token>/…`), so another local user who finds the port
cannot drive it; a wrong token is a plain 404. The Host header must name the loopback host the
page was opened on, and a POST whose Origin is another site is refused, so a web page in the
user's browser cannot post to it either (DNS rebinding, cross-site forms). A save checks the form,
builds the policy, loads it with the real policy loader, and only then writes the file.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from toolgate.app.pin_actions import audit_pin_changes, change_pins
from toolgate.catalog.pins import UnknownToolsError
from toolgate.catalog.pins_file import PinFile
from toolgate.catalog.scan_report import ClassifiedTool
from toolgate.errors import PolicyError, ToolgateError
from toolgate.policy.loader import load_policy_text
from toolgate.web.pages import index_page, server_page
from toolgate.web.review import Placement, ReviewFormError, policy_text, read_form, recommended

LOOPBACK = ("127.0.0.1", "localhost")
MAX_FORM_BYTES = 1_000_000


@dataclass(slots=True)
class ServerReview:
    """One server under review: its tools, where its policy goes, and the columns so far."""

    name: str
    slug: str
    tools: tuple[ClassifiedTool, ...]
    policy_path: Path
    placements: list[Placement] = field(default_factory=list)
    saved: bool = False
    pins: PinFile | None = None  # the server's pin file, as `toolgate run` keeps it
    audit_log: Path | None = None  # where accepted pins are audited

    def __post_init__(self) -> None:
        if not self.placements:
            self.placements = [recommended(tool) for tool in self.tools]


def new_token() -> str:
    return secrets.token_urlsafe(24)


def create_app(
    reviews: Sequence[ServerReview], token: str, hosts: Sequence[str] = LOOPBACK
) -> Starlette:
    by_slug = {review.slug: review for review in reviews}

    async def index(request: Request) -> Response:
        refused = refusal(request, token, hosts)
        if refused is not None:
            return refused
        rows = [
            (r.name, f"/{token}/servers/{r.slug}", str(r.policy_path) if r.saved else None)
            for r in reviews
        ]
        return HTMLResponse(index_page(rows))

    async def server(request: Request) -> Response:
        refused = refusal(request, token, hosts)
        if refused is not None:
            return refused
        review = by_slug.get(request.path_params["slug"])
        if review is None:
            return PlainTextResponse("Not Found", 404)
        if request.method == "GET":
            return _render(review, token)
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return _render(review, token, ["the form is too large"], 413)
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return save(review, token, form)

    async def accept_pin(request: Request) -> Response:
        refused = refusal(request, token, hosts)
        if refused is not None:
            return refused
        review = by_slug.get(request.path_params["slug"])
        if review is None or review.pins is None:
            return PlainTextResponse("Not Found", 404)
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return _render(review, token, ["the form is too large"], 413)
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return await accept_changed(review, review.pins, token, form.get("tool", ""))

    routes = [
        Route("/{token}/", index),
        Route("/{token}/servers/{slug}", server, methods=["GET", "POST"]),
        Route("/{token}/servers/{slug}/pins", accept_pin, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def refusal(request: Request, token: str, hosts: Sequence[str]) -> Response | None:
    """Why this request is refused (wrong token, foreign host, cross-site post), or None."""
    given = str(request.path_params.get("token", "")).encode()
    if not secrets.compare_digest(given, token.encode()):
        return PlainTextResponse("Not Found", 404)
    host = urlsplit(f"//{request.headers.get('host', '')}").hostname
    if host not in hosts:
        return PlainTextResponse("Unknown host", 421)
    origin = request.headers.get("origin")
    if request.method == "POST" and origin is not None and urlsplit(origin).hostname not in hosts:
        return PlainTextResponse("Cross-site request refused", 403)
    return None


def save(review: ServerReview, token: str, form: dict[str, str]) -> Response:
    """Check the form, build and load the policy, then write it; any problem writes nothing."""
    try:
        placements = read_form([tool.name for tool in review.tools], form)
    except ReviewFormError as exc:
        return _render(review, token, exc.problems, 400)
    text = policy_text(review.name, placements)
    try:
        load_policy_text(text, str(review.policy_path))
    except PolicyError as exc:
        return _render(review, token, [f"the policy would not load: {exc}"], 400)
    review.policy_path.parent.mkdir(parents=True, exist_ok=True)
    review.policy_path.write_text(text, encoding="utf-8")
    review.placements = placements
    review.saved = True
    return _render(review, token)


async def accept_changed(review: ServerReview, pins: PinFile, token: str, tool: str) -> Response:
    """Accept the latest definition of `tool`, as `toolgate pin accept TOOL` does, and audit it."""
    try:
        changes = change_pins("accept", pins, [tool])
    except UnknownToolsError:
        return _render(review, token, [f"{tool} has no pin"], 400)
    except ToolgateError as exc:
        return _render(review, token, [str(exc)], 400)
    if review.audit_log is not None:
        try:
            await audit_pin_changes(changes, pins.namespace, review.audit_log, "page")
        except ToolgateError as exc:
            return _render(review, token, [f"accepted {tool}, but not audited: {exc}"], 500)
    return _render(review, token, notice=f"accepted the new definition of {tool}")


def _changed_tools(review: ServerReview) -> tuple[list[str], list[str]]:
    """(the tools whose definition changed since accepted, problems reading the pins)."""
    if review.pins is None:
        return [], []
    try:
        book = review.pins.load()
    except ToolgateError as exc:
        return [], [str(exc)]
    return sorted(name for name, pin in book.items() if pin.state == "changed"), []


def _render(
    review: ServerReview,
    token: str,
    errors: Sequence[str] = (),
    status: int = 200,
    notice: str | None = None,
) -> Response:
    changed, problems = _changed_tools(review)
    action = f"/{token}/servers/{review.slug}"
    page = server_page(
        review.name,
        review.tools,
        review.placements,
        action=action,
        errors=[*errors, *problems],
        saved=str(review.policy_path) if review.saved and not errors else None,
        changed=changed,
        pin_action=f"{action}/pins" if review.pins is not None else None,
        notice=notice,
    )
    return HTMLResponse(page, status)
