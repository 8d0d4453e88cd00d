"""Deciding approvals over HTTP: a JSON API and a server-rendered page, as one Starlette app.

The routes are relative, so the app runs standalone (`toolgate approvals serve`) or mounted
under a prefix (the gateway's `/approvals`, passing that prefix as `root_path` for links):

    GET  /api/approvals?status=…&limit=…     the approvals, newest first (default: pending)
    GET  /api/approvals/{id}                 one approval
    POST /api/approvals/{id}/approve|deny    resolve it; optional JSON {"reason", "by"}
    GET  /                                   the page: pending ones and the last resolved
    GET  /{id}                               one approval, its arguments, Approve / Deny
    POST /{id}                               the page's form; answers 303 back to /{id}

Who may decide is the caller's `authorize` (see `loopback_authorizer` and `token_authorizer`):
it names the approver or returns the refusal. Before it runs, every request must name an
allowed Host (a DNS-rebinding page cannot reach a loopback listener) and every POST that carries
an Origin must come from this page's own origin (a cross-site form cannot decide). Tool names
and arguments come from the agent, so the page escapes every text it shows.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from toolgate.clock import Clock
from toolgate.errors import ToolgateError
from toolgate.stores.approvals import (
    Approval,
    ApprovalError,
    ApprovalNotFound,
    ApprovalNotPending,
    ApprovalStatus,
    ApprovalStore,
    SelfApprovalError,
)
from toolgate.web.approvals_pages import (
    approval_data,
    approval_page,
    dump_json,
    index_page,
    message_page,
)

Authorize = Callable[[Request], Awaitable[str | Response]]
OnResolved = Callable[[Approval], Awaitable[None]]

LOOPBACK_HOSTS: Final = ("127.0.0.1", "localhost")
ANY_HOST: Final = "*"  # in allowed_hosts: accept every Host (only behind a token)
MAX_BODY: Final = 64 * 1024
MAX_REASON: Final = 2000
MAX_BY: Final = 200
DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
RECENT_RESOLVED: Final = 20
MIN_TOKEN: Final = 16
COOKIE: Final = "toolgate_approvals"
_ID = re.compile(r"apr_[0-9a-f]{16}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_STATE_BY = "toolgate_approvals_by"
_STATE_API = "toolgate_approvals_api"
_PAGE_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make browsers send Origin: null
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
_LOG = logging.getLogger("toolgate.approvals")


class ApprovalInputError(ValueError):
    """Input that names no approval, status, limit, approver or reason; the message says why."""


# --- checks shared with `toolgate approvals` --------------------------------------------------


def check_approval_id(text: str) -> str:
    if not isinstance(text, str) or _ID.fullmatch(text) is None:
        raise ApprovalInputError(
            f"{_shown(text)} is not an approval id (apr_ and 16 lowercase hex digits, as "
            "`toolgate approvals list` shows)"
        )
    return text


def parse_status(text: str) -> ApprovalStatus | None:
    """An approval status by name; "all" is None (every status)."""
    if text == "all":
        return None
    try:
        return ApprovalStatus(text)
    except ValueError:
        names = ", ".join([*(s.value for s in ApprovalStatus), "all"])
        raise ApprovalInputError(f"status {_shown(text)} is not one of {names}") from None


def parse_limit(text: str) -> int:
    try:
        limit = int(text)
    except ValueError:
        raise ApprovalInputError(f"limit {_shown(text)} is not a whole number") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ApprovalInputError(f"limit {limit} is not between 1 and {MAX_LIMIT}")
    return limit


def check_by(by: object) -> str:
    """The approver's name: 1 to 200 characters, no control characters."""
    if not isinstance(by, str) or not by.strip():
        raise ApprovalInputError("the approver's name (by) must be a non-empty string")
    if len(by) > MAX_BY or _CONTROL.search(by):
        raise ApprovalInputError(
            f"the approver's name (by) must be at most {MAX_BY} printable characters"
        )
    return by.strip()


def check_reason(reason: object) -> str | None:
    """The reason, if any: at most 2000 characters; newlines and tabs are kept. Blank is None."""
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise ApprovalInputError("reason must be a string")
    if len(reason) > MAX_REASON or _CONTROL_BUT_LINES.search(reason):
        raise ApprovalInputError(
            f"reason must be at most {MAX_REASON} characters, without control ones"
        )
    return reason.strip() or None


# --- authorizers ------------------------------------------------------------------------------


def submitted_by(request: Request) -> str | None:
    """The `by` a POST's body named (checked), for an authorizer that honours it; else None."""
    by = getattr(request.state, _STATE_BY, None)
    return by if isinstance(by, str) else None


def is_api_request(request: Request) -> bool:
    """Whether the request is for the JSON API (else the page)."""
    return bool(getattr(request.state, _STATE_API, False))


def loopback_authorizer(default_by: str) -> Authorize:
    """No credentials: whoever reaches the (loopback) listener decides, as the `by` they name
    or `default_by`. Safe only where every local user and process may approve."""
    fallback = check_by(default_by)

    async def authorize(request: Request) -> str | Response:
        return submitted_by(request) or fallback

    return authorize


def token_authorizer(token: str, default_by: str) -> Authorize:
    """A shared admin token: `Authorization: Bearer <token>` (API and page), or for the page a
    cookie set once by opening it with `?token=<token>` (HttpOnly, SameSite=Strict; the
    redirect drops the token from the address bar). The approver is the `by` the request
    names, else `default_by`. Comparisons are constant-time."""
    if len(token) < MIN_TOKEN:
        raise ToolgateError(f"the admin token must be at least {MIN_TOKEN} characters")
    fallback = check_by(default_by)
    secret = token.encode()
    cookie_value = hmac.new(secret, b"toolgate approvals page", hashlib.sha256).hexdigest()

    def matches(given: str, expected: bytes) -> bool:
        return hmac.compare_digest(given.encode("utf-8", "replace"), expected)

    async def authorize(request: Request) -> str | Response:
        who = submitted_by(request) or fallback
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, given = header.partition(" ")
            if scheme.lower() == "bearer" and matches(given.strip(), secret):
                return who
            return _refusal(request, 403, "the admin token is wrong")
        if is_api_request(request):
            return _refusal(request, 401, "send the admin token: Authorization: Bearer <token>")
        given_query = request.query_params.get("token")
        if given_query is not None:
            if not matches(given_query, secret):
                return _refusal(request, 403, "the admin token is wrong")
            if request.method == "GET":
                return _cookie_redirect(request, cookie_value)
            return who
        cookie = request.cookies.get(COOKIE)
        if cookie is not None and matches(cookie, cookie_value.encode()):
            return who
        return _refusal(request, 401, "open this page with ?token=<the admin token> once")

    return authorize


def _cookie_redirect(request: Request, value: str) -> Response:
    """Back to the same page without `token` in its address, carrying the session cookie."""
    query = [(k, v) for k, v in parse_qsl(request.url.query) if k != "token"]
    path = "/" + request.url.path.lstrip("/")  # never "//host": that would leave the site
    target = path + (f"?{urlencode(query)}" if query else "")
    response = RedirectResponse(target, 303, headers=_PAGE_HEADERS)
    response.set_cookie(
        COOKIE,
        value,
        path=request.scope.get("root_path") or "/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def _refusal(request: Request, status: int, message: str) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if is_api_request(request):
        return _api_error(status, message, headers)
    return _page_error(status, "Not allowed", message, headers)


# --- the app ----------------------------------------------------------------------------------


def build_approvals_app(
    store: ApprovalStore,
    clock: Clock,
    *,
    authorize: Authorize,
    on_resolved: OnResolved | None = None,
    allowed_hosts: Sequence[str] = LOOPBACK_HOSTS,
    root_path: str = "",
) -> Starlette:
    """The API and page over `store`; see the module docstring for routes and checks."""
    hosts = frozenset(host.lower() for host in allowed_hosts)
    app = _Approvals(store, clock, authorize, on_resolved, hosts, root_path.rstrip("/"))
    routes = [
        Route("/api/approvals", _guarded(app.api_list, api=True), methods=["GET"]),
        Route("/api/approvals/{approval_id}", _guarded(app.api_one, api=True), methods=["GET"]),
        Route(
            "/api/approvals/{approval_id}/{verb}",
            _guarded(app.api_resolve, api=True),
            methods=["POST"],
        ),
        Route("/", _guarded(app.page_index, api=False), methods=["GET"]),
        Route("/{approval_id}", _guarded(app.page_one, api=False), methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes)


@dataclass(frozen=True, slots=True)
class _Approvals:
    """The endpoints, over one store, clock, authorizer and listener."""

    store: ApprovalStore
    clock: Clock
    authorize: Authorize
    on_resolved: OnResolved | None
    hosts: frozenset[str]
    prefix: str

    async def admitted(self, request: Request, api: bool) -> str | Response:
        """The approver, once host, origin, body and authorizer agree; else the refusal."""
        setattr(request.state, _STATE_API, api)
        refused = _foreign(request, self.hosts)
        if refused is not None:
            return _api_error(403, refused) if api else _page_error(403, "Refused", refused)
        if request.method == "POST":
            try:
                fields = await (_json_fields(request) if api else _form_fields(request))
            except _BodyError as exc:
                if api:
                    return _api_error(exc.status, str(exc))
                return _page_error(exc.status, "Bad request", str(exc))
            request.state.approval_fields = fields
            setattr(request.state, _STATE_BY, fields.get("by"))
        return await self.authorize(request)

    async def resolve(self, request: Request, approval_id: str, approve: bool, by: str) -> Approval:
        """Resolve, then tell `on_resolved`; raises the store's ApprovalError."""
        reason = request.state.approval_fields.get("reason")
        approval = await self.store.resolve(
            approval_id, approve=approve, by=by, reason=reason, now=self.clock.now()
        )
        if self.on_resolved is not None:
            try:
                await self.on_resolved(approval)
            except Exception:  # the decision stands; whoever listens failed to hear it
                _LOG.exception("approval %s was resolved, but on_resolved failed", approval.id)
        return approval

    async def api_list(self, request: Request) -> Response:
        who = await self.admitted(request, api=True)
        if isinstance(who, Response):
            return who
        try:
            status = parse_status(request.query_params.get("status", "pending"))
            limit = parse_limit(request.query_params.get("limit", str(DEFAULT_LIMIT)))
        except ApprovalInputError as exc:
            return _api_error(400, str(exc))
        approvals = await self.store.list(now=self.clock.now(), status=status, limit=limit)
        return _api_json({"approvals": [approval_data(a) for a in approvals]})

    async def api_one(self, request: Request) -> Response:
        who = await self.admitted(request, api=True)
        if isinstance(who, Response):
            return who
        try:
            approval_id = check_approval_id(request.path_params["approval_id"])
        except ApprovalInputError as exc:
            return _api_error(400, str(exc))
        approval = await self.store.get(approval_id, self.clock.now())
        if approval is None:
            return _api_error(404, f"approval {approval_id} does not exist")
        return _api_json(approval_data(approval))

    async def api_resolve(self, request: Request) -> Response:
        who = await self.admitted(request, api=True)
        if isinstance(who, Response):
            return who
        verb = request.path_params["verb"]
        if verb not in ("approve", "deny"):
            return _api_error(404, f"{_shown(verb)} is not an action: approve or deny")
        try:
            approval_id = check_approval_id(request.path_params["approval_id"])
        except ApprovalInputError as exc:
            return _api_error(400, str(exc))
        try:
            approval = await self.resolve(request, approval_id, verb == "approve", who)
        except ApprovalError as exc:
            return _api_error(*_refused_resolution(exc, approval_id))
        return _api_json(approval_data(approval))

    async def page_index(self, request: Request) -> Response:
        who = await self.admitted(request, api=False)
        if isinstance(who, Response):
            return who
        now = self.clock.now()
        pending = await self.store.list(now=now, status=ApprovalStatus.PENDING, limit=MAX_LIMIT)
        recent = await self.store.list(now=now, status=None, limit=RECENT_RESOLVED + len(pending))
        resolved = [a for a in recent if a.status is not ApprovalStatus.PENDING]
        return _html(
            index_page(pending, resolved[:RECENT_RESOLVED], now=now, prefix=self.prefix, by=who)
        )

    async def page_one(self, request: Request) -> Response:
        who = await self.admitted(request, api=False)
        if isinstance(who, Response):
            return who
        try:
            approval_id = check_approval_id(request.path_params["approval_id"])
        except ApprovalInputError as exc:
            return _page_error(404, "No such approval", str(exc))
        if request.method == "POST":
            return await self.page_resolve(request, approval_id, who)
        return await self.page_show(approval_id, who)

    async def page_show(
        self, approval_id: str, who: str, error: tuple[int, str] | None = None
    ) -> Response:
        now = self.clock.now()
        approval = await self.store.get(approval_id, now)
        status, message = error or (200, None)
        if approval is None:
            return _page_error(404, "No such approval", f"approval {approval_id} does not exist")
        page = approval_page(approval, now=now, prefix=self.prefix, by=who, error=message)
        return _html(page, status)

    async def page_resolve(self, request: Request, approval_id: str, who: str) -> Response:
        action = request.state.approval_fields.get("action")
        if action not in ("approve", "deny"):
            return _page_error(400, "Bad request", "the form must say approve or deny")
        try:
            await self.resolve(request, approval_id, action == "approve", who)
        except ApprovalError as exc:
            return await self.page_show(approval_id, who, _refused_resolution(exc, approval_id))
        return RedirectResponse(f"{self.prefix}/{approval_id}", 303, headers=_PAGE_HEADERS)


def _guarded(
    handler: Callable[[Request], Awaitable[Response]], *, api: bool
) -> Callable[[Request], Awaitable[Response]]:
    """`handler`, answering 503 when the store fails (a located message, never a traceback)."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ToolgateError as exc:
            _LOG.error("approvals store failed: %s", exc)
            message = f"the approvals store failed: {exc}"
            return _api_error(503, message) if api else _page_error(503, "Unavailable", message)

    return endpoint


def _refused_resolution(exc: ApprovalError, approval_id: str) -> tuple[int, str]:
    """The status and message for a resolution the store refused."""
    if isinstance(exc, ApprovalNotFound):
        return 404, f"approval {approval_id} does not exist"
    if isinstance(exc, SelfApprovalError):
        return 403, f"self-approval refused: {exc}"
    if isinstance(exc, ApprovalNotPending):
        return 409, str(exc)
    return 400, str(exc)


def _foreign(request: Request, hosts: frozenset[str]) -> str | None:
    """Why a request is refused for its Host or (on a POST) its Origin; None when neither."""
    host_header = request.headers.get("host", "")
    try:
        host = urlsplit(f"//{host_header}").hostname
    except ValueError:
        host = None
    if ANY_HOST not in hosts and (host is None or host not in hosts):
        return f"host {_shown(host_header)} is not one this page answers to"
    origin = request.headers.get("origin")
    if request.method == "POST" and origin is not None:
        try:
            netloc = urlsplit(origin).netloc.lower()
        except ValueError:
            netloc = ""
        if not netloc or netloc != host_header.lower():
            return f"a request from {_shown(origin)} may not decide approvals here (cross-site)"
    return None


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _body(request: Request) -> bytes:
    """The body, refused (413) past MAX_BODY, whatever Content-Length claims."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise _BodyError(413, f"the body is larger than {MAX_BODY // 1024} KiB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _BodyError(413, f"the body is larger than {MAX_BODY // 1024} KiB")
        chunks.append(chunk)
    return b"".join(chunks)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _json_fields(request: Request) -> dict[str, Any]:
    """The API's optional JSON object {"reason": str|null, "by": str|null}, checked."""
    if _media_type(request) != "application/json":
        raise _BodyError(415, "send Content-Type: application/json (the body may be empty)")
    raw = await _body(request)
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _BodyError(400, f"the body is not JSON: {exc.msg} at byte {exc.pos}") from None
    if not isinstance(data, dict):
        raise _BodyError(400, 'the body must be a JSON object: {"reason": "...", "by": "..."}')
    unknown = sorted(set(data) - {"reason", "by"})
    if unknown:
        raise _BodyError(400, f"unknown field(s) {', '.join(map(_shown, unknown))}")
    return _checked_fields(data)


async def _form_fields(request: Request) -> dict[str, Any]:
    """The page's form: action (approve|deny), reason, and optionally by, once each."""
    if _media_type(request) != "application/x-www-form-urlencoded":
        raise _BodyError(415, "the form must be sent as application/x-www-form-urlencoded")
    raw = await _body(request)
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError):
        raise _BodyError(400, "the form is not valid URL-encoded UTF-8") from None
    fields: dict[str, Any] = {}
    for key, value in pairs:
        if key not in ("action", "reason", "by"):
            raise _BodyError(400, f"unknown form field {_shown(key)}")
        if key in fields:
            raise _BodyError(400, f"form field {_shown(key)} is given twice")
        fields[key] = value
    if fields.get("by") == "":
        del fields["by"]
    return {**_checked_fields(fields), "action": fields.get("action")}


def _checked_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    try:
        fields: dict[str, Any] = {"reason": check_reason(data.get("reason"))}
        if data.get("by") is not None:
            fields["by"] = check_by(data["by"])
    except ApprovalInputError as exc:
        raise _BodyError(400, str(exc)) from None
    return fields


def _api_json(data: object, status: int = 200) -> Response:
    return Response(
        dump_json(data),
        status,
        media_type="application/json",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


def _api_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    response = _api_json({"error": message}, status)
    response.headers.update(headers or {})
    return response


def _html(page: str, status: int = 200) -> Response:
    return HTMLResponse(page, status, headers=_PAGE_HEADERS)


def _page_error(
    status: int, title: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    response = _html(message_page(title, message), status)
    response.headers.update(headers or {})
    return response


def _shown(text: object) -> str:
    shown = str(text)
    return repr(shown if len(shown) <= 80 else shown[:80] + "…")
