"""`toolgate approvals list|show|approve|deny|serve`: the calls waiting for a human's decision.

With a Redis `--state-dsn` (default $TOOLGATE_STATE_DSN) the approvals are those a gateway
fleet keeps in that Redis under `--state-prefix` (its `state.dsn` and `state.prefix`).
Otherwise the approvals file is `--approvals-db`, else $TOOLGATE_APPROVALS_DB, else
`approvals.sqlite3` in the state directory (`--state-dir`, else ~/.toolgate/state) — the file
`toolgate run` keeps them in. Reading commands never create it. Bad input exits 2 naming what
is wrong; a refused decision (unknown approval, not pending, self-approval), an unusable
approvals file or an unreachable Redis exits 1.

Tool names, arguments and messages come from the agent: the human-readable output shows control
characters as escapes, so nothing an agent sends can drive the terminal.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from toolgate.cli.grants import DEFAULT_STATE_PREFIX, StateDsn, StatePrefix
from toolgate.stores.approvals import ApprovalStatus

if TYPE_CHECKING:
    import socket
    from collections.abc import AsyncIterator, Awaitable, Callable
    from contextlib import AbstractAsyncContextManager

    from toolgate.stores.approvals import Approval, ApprovalStore
    from toolgate.web.approvals_app import Authorize

T = TypeVar("T")
EXIT_USAGE = 2
EXIT_REFUSED = 1
DEFAULT_LISTEN = "127.0.0.1:8765"
BACKLOG = 128
TOKEN_ENV = "TOOLGATE_ADMIN_TOKEN"  # noqa: S105 - the variable's name, not a token
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_RAW_CONTROL_IN_JSON = re.compile(r"[\x7f-\x9f]")  # JSON escapes the rest already

approvals_app = typer.Typer(
    help="See and decide the tool calls waiting for a human's approval.",
    no_args_is_help=True,
)

ApprovalsDb = Annotated[
    Path | None,
    typer.Option(
        "--approvals-db",
        help="Approvals file [default: $TOOLGATE_APPROVALS_DB, else STATE_DIR/approvals.sqlite3].",
        show_default=False,
    ),
]
StateDir = Annotated[
    Path | None,
    typer.Option("--state-dir", help="State directory of `run` [default: ~/.toolgate/state]."),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ApprovalId = Annotated[
    str, typer.Argument(help="The approval id (apr_…), as `list` shows.", show_default=False)
]
Reason = Annotated[str | None, typer.Option("--reason", help="Why (kept with the decision).")]
By = Annotated[
    str | None,
    typer.Option("--by", help="Who decides [default: $USER, else cli].", show_default=False),
]


@approvals_app.command(name="list", help="List approvals, newest first (default: pending ones).")
def list_approvals(
    status: Annotated[
        str,
        typer.Option(
            "--status", help="pending, approved, denied, consumed, expired or all.", metavar="S"
        ),
    ] = "pending",
    limit: Annotated[int, typer.Option("--limit", help="At most this many (1-1000).")] = 100,
    approvals_db: ApprovalsDb = None,
    state_dir: StateDir = None,
    state_dsn: StateDsn = None,
    state_prefix: StatePrefix = DEFAULT_STATE_PREFIX,
    as_json: Json = False,
) -> None:
    from toolgate.web.approvals_app import parse_limit, parse_status
    from toolgate.web.approvals_pages import approval_data

    wanted = _checked(parse_status, status, "--status")
    count = _checked(parse_limit, str(limit), "--limit")
    source = _source(approvals_db, state_dir, state_dsn, state_prefix)
    approvals: list[Approval] = []
    if source.exists():
        approvals = _with_store(
            source, lambda store: store.list(now=_now(), status=wanted, limit=count)
        )
    if as_json:
        _echo_json({"approvals": [approval_data(a) for a in approvals]})
        return
    if not approvals:
        which = "" if wanted is None else f"{wanted.value} "
        typer.echo(f"no {which}approvals in {source.shown}")
        return
    _print_table(approvals, _now(), show_status=wanted is not ApprovalStatus.PENDING)


@approvals_app.command(help="Show one approval: what was asked, why, its arguments and state.")
def show(approval_id: ApprovalId, approvals_db: ApprovalsDb = None, state_dir: StateDir = None,
         state_dsn: StateDsn = None, state_prefix: StatePrefix = DEFAULT_STATE_PREFIX,
         as_json: Json = False) -> None:  # fmt: skip
    from toolgate.web.approvals_pages import approval_data

    checked = _approval_id(approval_id)
    source = _existing(_source(approvals_db, state_dir, state_dsn, state_prefix), checked)
    approval = _with_store(source, lambda store: store.get(checked, _now()))
    if approval is None:
        raise _fail(f"no approval {checked} in {source.shown}", EXIT_REFUSED)
    if as_json:
        _echo_json(approval_data(approval))
        return
    _print_details(approval, _now())


@approvals_app.command(help="Approve a pending call: the agent's next retry of it runs, once.")
def approve(approval_id: ApprovalId, reason: Reason = None, by: By = None,
            approvals_db: ApprovalsDb = None, state_dir: StateDir = None,
            state_dsn: StateDsn = None, state_prefix: StatePrefix = DEFAULT_STATE_PREFIX,
            as_json: Json = False) -> None:  # fmt: skip
    source = _source(approvals_db, state_dir, state_dsn, state_prefix)
    _decide(approval_id, True, reason, by, source, as_json)


@approvals_app.command(help="Deny a pending call: its retries are answered with the denial.")
def deny(approval_id: ApprovalId, reason: Reason = None, by: By = None,
         approvals_db: ApprovalsDb = None, state_dir: StateDir = None,
         state_dsn: StateDsn = None, state_prefix: StatePrefix = DEFAULT_STATE_PREFIX,
         as_json: Json = False) -> None:  # fmt: skip
    source = _source(approvals_db, state_dir, state_dsn, state_prefix)
    _decide(approval_id, False, reason, by, source, as_json)


@approvals_app.command(help="Serve the approvals page and JSON API (for `toolgate run` users).")
def serve(
    listen: Annotated[
        str,
        typer.Option(
            "--listen",
            help=f"HOST:PORT. Off loopback, ${TOKEN_ENV} must hold the admin token "
            "(set it on loopback too to require it there).",
        ),
    ] = DEFAULT_LISTEN,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            help="A Host name the page answers to besides the listen host (repeatable).",
        ),
    ] = None,
    approvals_db: ApprovalsDb = None,
    state_dir: StateDir = None,
    state_dsn: StateDsn = None,
    state_prefix: StatePrefix = DEFAULT_STATE_PREFIX,
) -> None:
    from toolgate.clock import SystemClock
    from toolgate.web.approvals_app import build_approvals_app

    source = _source(approvals_db, state_dir, state_dsn, state_prefix)
    host, port = _listen(listen)
    authorize, token = _authorizer(host, listen)
    hosts = _allowed_hosts(host, allow_host or [], token is not None)
    store = _open(source)
    app = build_approvals_app(
        store, SystemClock(), authorize=authorize, on_resolved=_announce, allowed_hosts=hosts
    )
    app.router.lifespan_context = _closing(store)
    try:
        sock = _bind(host, port)
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{sock.getsockname()[1]}/"
        note = f" (open it once as {url}?token=<${TOKEN_ENV}>)" if token else ""
        typer.echo(f"toolgate: approvals from {source.shown}", err=True)
        typer.echo(f"toolgate: approvals page at {url}{note}", err=True)
        raise typer.Exit(_serve(app, sock))
    finally:
        import anyio

        anyio.run(store.aclose)


# --- deciding ---------------------------------------------------------------------------------


def _decide(
    approval_id: str,
    approve: bool,
    reason: str | None,
    by: str | None,
    source: _Source,
    as_json: bool,
) -> None:
    from toolgate.stores.approvals import ApprovalError, ApprovalNotPending, SelfApprovalError
    from toolgate.web.approvals_app import check_by, check_reason
    from toolgate.web.approvals_pages import approval_data

    checked = _approval_id(approval_id)
    approver = _checked(check_by, by if by is not None else _default_by(), "--by")
    why = _checked(check_reason, reason, "--reason")
    _existing(source, checked)
    verb = "approve" if approve else "deny"
    try:
        approval = _with_store(
            source,
            lambda store: store.resolve(checked, approve=approve, by=approver, reason=why,
                                        now=_now()),
        )  # fmt: skip
    except SelfApprovalError as exc:
        raise _fail(
            f"cannot {verb} {checked}: self-approval refused: {exc}", EXIT_REFUSED
        ) from None
    except ApprovalNotPending as exc:
        raise _fail(f"cannot {verb} {checked}: it is {exc.approval.status.value}, not pending",
                    EXIT_REFUSED) from None  # fmt: skip
    except ApprovalError as exc:
        raise _fail(f"cannot {verb} {checked}: {exc}", EXIT_REFUSED) from None
    if as_json:
        _echo_json(approval_data(approval))
        return
    done = "approved" if approve else "denied"
    tool = _safe(approval.request.tool)
    because = "" if approval.reason is None else f": {_safe(approval.reason)}"
    typer.echo(f"{done} {approval.id} (tool {tool}) as {_safe(approver)}{because}")
    if approve:
        typer.echo("the agent's next retry of the same call is forwarded, once", err=True)


async def _announce(approval: Approval) -> None:
    """`serve` logs each decision on stderr."""
    who = _safe(approval.resolved_by or "?")
    print(
        f"toolgate: {approval.status.value} {approval.id} (tool {_safe(approval.request.tool)}) "
        f"by {who}",
        file=sys.stderr,
        flush=True,
    )


# --- the store --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Source:
    """Where the approvals are: an SQLite file (`path`), or a Redis (`dsn`) under `prefix`."""

    path: Path | None
    dsn: str | None = None
    prefix: str = DEFAULT_STATE_PREFIX

    @property
    def shown(self) -> str:
        """The file, or the DSN with its password masked."""
        from toolgate.stores.redis_url import redact

        return str(self.path) if self.path is not None else redact(self.dsn or "")

    def exists(self) -> bool:
        """Whether there is anything to read (a Redis always is; a file only once written)."""
        return self.path is None or self.path.exists()


def _source(
    approvals_db: Path | None, state_dir: Path | None, state_dsn: str | None, state_prefix: str
) -> _Source:
    """Redis for a Redis --state-dsn, else the approvals file; exits 2 for bad or clashing
    options."""
    from toolgate.app.paths import default_state_dir
    from toolgate.cli.grants import redis_state
    from toolgate.stores.approvals_sqlite import approvals_path

    dsn = redis_state(state_dsn, state_prefix)
    if dsn is not None:
        if approvals_db is not None or state_dir is not None:
            raise _fail(
                "--approvals-db and --state-dir name an SQLite approvals file; with a Redis "
                "--state-dsn the approvals are in Redis: drop one of them"
            )
        return _Source(None, dsn, state_prefix)
    state = state_dir.expanduser() if state_dir else default_state_dir()
    return _Source(approvals_path(approvals_db, state))


def _existing(source: _Source, approval_id: str) -> _Source:
    """`source`, or exit 1 when there is no approvals file (without creating one)."""
    if not source.exists():
        raise _fail(
            f"no approval {approval_id}: there is no approvals file {source.shown}", EXIT_REFUSED
        )
    return source


def _open(source: _Source) -> ApprovalStore:
    from toolgate.errors import ToolgateError

    try:
        if source.path is None:
            from toolgate.stores.approvals_redis import RedisApprovalStore

            return RedisApprovalStore.from_url(source.dsn or "", prefix=f"{source.prefix}:")
        from toolgate.stores.approvals_sqlite import SqliteApprovalStore

        return SqliteApprovalStore(source.path)
    except ToolgateError as exc:
        raise _fail(str(exc), EXIT_REFUSED) from None


def _with_store(source: _Source, op: Callable[[ApprovalStore], Awaitable[T]]) -> T:
    """`op` on the approvals store, closed after; a store failure exits 1 with its message."""
    import anyio

    from toolgate.errors import ToolgateError

    store = _open(source)

    async def run() -> T:
        try:
            return await op(store)
        finally:
            await store.aclose()

    try:
        return anyio.run(run)
    except ToolgateError as exc:
        raise _fail(str(exc), EXIT_REFUSED) from None


# --- serving ----------------------------------------------------------------------------------


def _listen(listen: str) -> tuple[str, int]:
    from urllib.parse import urlsplit

    problem = f"--listen: {_quoted(listen)} must be HOST:PORT, e.g. 127.0.0.1:8765"
    try:
        parts = urlsplit(f"//{listen.strip()}")
        host, port = parts.hostname, parts.port
    except ValueError:
        raise _fail(problem) from None
    if not host or port is None or parts.path or parts.query or parts.username is not None:
        raise _fail(problem)
    return host, port


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _authorizer(host: str, listen: str) -> tuple[Authorize, str | None]:
    """The token authorizer when $TOOLGATE_ADMIN_TOKEN is set, else the loopback one, which
    is refused off loopback."""
    from toolgate.errors import ToolgateError
    from toolgate.web.approvals_app import MIN_TOKEN, loopback_authorizer, token_authorizer

    by = _checked(_default_by_checked, _default_by(), "$USER")
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        if not _is_loopback(host):
            raise _fail(
                f"--listen {_quoted(listen)} is not a loopback address: anyone who can reach "
                f"it could approve calls; set {TOKEN_ENV} to an admin token "
                f"(at least {MIN_TOKEN} characters, e.g. `openssl rand -hex 32`)"
            )
        return loopback_authorizer(by), None
    try:
        return token_authorizer(token, by), token
    except ToolgateError as exc:
        raise _fail(f"{TOKEN_ENV}: {exc}") from None


def _allowed_hosts(host: str, extra: list[str], with_token: bool) -> tuple[str, ...]:
    """The Host names the page answers to: loopback names, the listen host and --allow-host;
    any, for a token-guarded wildcard listener with no --allow-host."""
    from toolgate.web.approvals_app import ANY_HOST, LOOPBACK_HOSTS

    for name in extra:
        if not name or _CONTROL.search(name) or any(c in name for c in "/ :@"):
            raise _fail(f"--allow-host: {_quoted(name)} is not a host name")
    if with_token and host in ("0.0.0.0", "::") and not extra:  # noqa: S104 - a check, no bind
        return (ANY_HOST,)
    return tuple(dict.fromkeys([*LOOPBACK_HOSTS, "::1", host.lower(), *map(str.lower, extra)]))


def _closing(store: ApprovalStore) -> Callable[[object], AbstractAsyncContextManager[None]]:
    """A lifespan that closes the store when uvicorn shuts down (it then re-raises the signal
    that stopped it, so nothing after `run` would get the chance)."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_: object) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await store.aclose()

    return lifespan


def _bind(host: str, port: int) -> socket.socket:
    """A socket listening on HOST:PORT (port 0 picks one), or exit 1 saying why not; a client
    that connects before uvicorn has started waits in the backlog."""
    import socket

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        raise _fail(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", EXIT_REFUSED
        ) from None
    return sock


def _serve(app: Any, sock: socket.socket) -> int:
    """Run uvicorn on `sock` until interrupted (SIGINT, SIGTERM)."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0


# --- rendering --------------------------------------------------------------------------------


def _print_table(approvals: list[Approval], now: float, *, show_status: bool) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from toolgate.web.approvals_pages import span

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("id", no_wrap=True)
    if show_status:
        table.add_column("status", no_wrap=True)
    for column in ("tool", "server", "identity", "rule"):
        table.add_column(column, overflow="fold")
    for column in ("age", "expires in"):
        table.add_column(column, no_wrap=True)
    for approval in approvals:
        request = approval.request
        cells = [Text(approval.id)]
        if show_status:
            cells.append(Text(approval.status.value))
        cells += [
            Text(_safe(request.tool)),
            Text(_safe(request.server or "-")),
            Text(_safe(request.identity or "-")),
            Text(_safe(request.rule_id)),
            Text(span(now - approval.created_at)),
            Text(_expires_in(approval, now)),
        ]
        table.add_row(*cells)
    Console(highlight=False).print(table)


def _print_details(approval: Approval, now: float) -> None:
    from toolgate.web.approvals_pages import ago, dump_json, until

    request = approval.request
    rule = request.rule_id + (f" ({request.rule_name})" if request.rule_name else "")
    rows = [
        ("approval", f"{approval.id}  {approval.status.value}"),
        ("tool", request.tool),
        ("server", request.server or "-"),
        ("asked by", request.identity or "- (anonymous)"),
        ("rule", rule),
        ("why", request.message),
        ("mode", request.mode),
        ("asked", f"{_utc(approval.created_at)} ({ago(now, approval.created_at)})"),
        ("expires", f"{_utc(approval.expires_at)} ({until(now, approval.expires_at)})"),
    ]
    if approval.resolved_at is not None:
        rows.append(("resolved", f"{_utc(approval.resolved_at)} by {approval.resolved_by}"))
    if approval.reason is not None:
        rows.append(("reason", approval.reason))
    if approval.consumed_at is not None:
        rows.append(("used", _utc(approval.consumed_at)))
    if approval.joined:
        rows.append(("joined", f"{approval.joined} identical request(s)"))
    for name, value in rows:
        typer.echo(f"{name:<10}{_safe(value)}")
    arguments = dump_json(dict(request.arguments), pretty=True).decode()
    typer.echo("arguments:")
    typer.echo(_RAW_CONTROL_IN_JSON.sub(_json_escape, arguments))


def _expires_in(approval: Approval, now: float) -> str:
    """How long a pending approval waits, or an approved one stays usable; "-" otherwise."""
    from toolgate.web.approvals_pages import span

    if approval.status not in (ApprovalStatus.PENDING, ApprovalStatus.APPROVED):
        return "-"
    return "lapsed" if approval.expires_at <= now else span(approval.expires_at - now)


# --- small helpers ----------------------------------------------------------------------------


def _approval_id(text: str) -> str:
    from toolgate.web.approvals_app import check_approval_id

    return _checked(check_approval_id, text, "APPROVAL_ID")


def _checked(check: Callable[[Any], T], value: Any, what: str) -> T:
    """`check(value)`, or exit 2 with `what` and the check's message."""
    from toolgate.web.approvals_app import ApprovalInputError

    try:
        return check(value)
    except ApprovalInputError as exc:
        raise _fail(f"{what}: {exc}") from None


def _default_by() -> str:
    return os.environ.get("USER") or "cli"


def _default_by_checked(name: str) -> str:
    from toolgate.web.approvals_app import check_by

    return check_by(name)


def _now() -> float:
    from toolgate.clock import SystemClock

    return SystemClock().now()


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _safe(text: str) -> str:
    """`text` with control characters shown as escapes (an agent's text cannot drive the
    terminal)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _quoted(text: str) -> str:
    import json

    return json.dumps(text if len(text) <= 80 else text[:80] + "…", ensure_ascii=False)


def _echo_json(data: dict[str, Any]) -> None:
    from toolgate.web.approvals_pages import dump_json

    text = dump_json(data, pretty=True).decode()
    typer.echo(_RAW_CONTROL_IN_JSON.sub(_json_escape, text))


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    typer.echo(f"toolgate: {_safe(message)}", err=True)
    return typer.Exit(code)
