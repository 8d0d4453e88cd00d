"""`toolgate grants create|list|revoke|rotate`: the bearer tokens agents present to `serve`.

A token is printed once, on stdout and alone (so `TOKEN=$(toolgate grants create …)` works),
with a note on stderr that it cannot be shown again; only its hash is stored.

Where the grants are, as `toolgate serve` decides it: with a Redis `--state-dsn` (default
$TOOLGATE_STATE_DSN) they are in that Redis under `--state-prefix` (the gateway's `state.dsn`
and `state.prefix`); otherwise in the grants file: `--grants-db`, else $TOOLGATE_GRANTS_DB,
else `grants.sqlite3` in the state directory. Bad input exits 2 naming the option; a refused
operation (unknown grant, label already taken, unusable grants file, unreachable Redis) exits 1.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from collections.abc import Callable

    from toolgate.clock import Clock
    from toolgate.identity.grant_rules import Grant, GrantRegistry

T = TypeVar("T")
EXIT_USAGE = 2
EXIT_REFUSED = 1
MAX_AHEAD = 100 * 365 * 86400  # an expiry further out than this is a typo, not a plan
ONCE = "Store this token now: it is shown once and cannot be shown again."
# the state store of `run`, `serve`, `status`, `grants` and `approvals` alike (the older name too)
STATE_DSN_ENV = ["TOOLGATE_STATE_DSN", "TOOLGATE_COUNTER_STORE"]
DEFAULT_STATE_PREFIX = "toolgate"  # the gateway file's state.prefix default
STATE_FORMS = (
    "redis://[:PASSWORD@]HOST:PORT/DB, rediss://…, unix:///PATH (grants in Redis), or "
    "sqlite:///PATH or memory:// (grants in the SQLite grants file)"
)

grants_app = typer.Typer(
    help="Create, list, revoke and rotate the bearer tokens (grants) agents use with serve.",
    no_args_is_help=True,
)

GrantsDb = Annotated[
    Path | None,
    typer.Option(
        "--grants-db",
        help="Grants file [default: $TOOLGATE_GRANTS_DB, else ~/.toolgate/state/grants.sqlite3].",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
StateDsn = Annotated[
    str | None,
    typer.Option(
        "--state-dsn",
        envvar=STATE_DSN_ENV,
        help="The gateway's state.dsn. With a Redis DSN (redis://, rediss://, unix://) grants "
        "and approvals are in Redis, where `serve` keeps them; with sqlite:// or memory:// in "
        "the SQLite files. Put a password in the environment, not on the command line.",
        show_default=False,
    ),
]
StatePrefix = Annotated[
    str,
    typer.Option("--state-prefix", help="The gateway's state.prefix: first part of Redis keys."),
]


@grants_app.command(help="Create a grant for one server and print its token (once).")
def create(
    server: Annotated[str, typer.Option("--server", help="The server name, as in /mcp/<server>.")],
    label: Annotated[
        str, typer.Option("--label", help="Who holds it: identity.name; unique per server.")
    ],
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="A policy used instead of the server's for this grant."),
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires",
            help="ISO 8601 date/time (no timezone = UTC) or a duration from now: 30d, 12h, 90m.",
        ),
    ] = None,
    attr: Annotated[
        list[str] | None,
        typer.Option("--attr", help="An attribute KEY=VALUE (identity.KEY); repeatable."),
    ] = None,
    grants_db: GrantsDb = None,
    state_dsn: StateDsn = None,
    state_prefix: StatePrefix = DEFAULT_STATE_PREFIX,
    as_json: Json = False,
) -> None:
    from toolgate.errors import ToolgateError
    from toolgate.identity.grants import check_label, check_server

    _checked("--server", check_server, server)
    _checked("--label", check_label, label)
    attributes = _attributes(attr or [])
    expiry = None if expires is None else parse_expires(expires, _clock().now())
    policy_path = None if policy is None else _policy(policy)
    with _store(grants_db, state_dsn, state_prefix) as store:
        try:
            grant, token = store.create(server, label, policy_path, attributes, expiry)
        except ToolgateError as exc:
            raise _fail(str(exc), EXIT_REFUSED) from None
        _issued(grant, token, f"created grant {grant.id}", as_json)


@grants_app.command(name="list", help="List grants (never their tokens) and their status.")
def list_grants(
    server: Annotated[str | None, typer.Option("--server", help="Only this server's.")] = None,
    include_revoked: Annotated[
        bool, typer.Option("--all", help="Include revoked (and rotated) grants.")
    ] = False,
    grants_db: GrantsDb = None,
    state_dsn: StateDsn = None,
    state_prefix: StatePrefix = DEFAULT_STATE_PREFIX,
    as_json: Json = False,
) -> None:
    from toolgate.errors import ToolgateError
    from toolgate.identity.grants import check_server

    if server is not None:
        _checked("--server", check_server, server)
    with _store(grants_db, state_dsn, state_prefix) as store:
        try:
            grants = store.list(server, include_revoked)
        except ToolgateError as exc:
            raise _fail(str(exc), EXIT_REFUSED) from None
        where = store.where
    now = _clock().now()
    if as_json:
        _echo_json({"grants": [grant_data(g, now) for g in grants]})
        return
    if not grants:
        typer.echo(f"no grants in {where}")
        return
    _print_table(grants, now)


@grants_app.command(help="Revoke a grant at once: GRANT_ID, or --server S --label L.")
def revoke(
    grant_id: Annotated[
        str | None, typer.Argument(help="The grant id (gr_…).", show_default=False)
    ] = None,
    server: Annotated[str | None, typer.Option("--server", help="With --label.")] = None,
    label: Annotated[str | None, typer.Option("--label", help="With --server.")] = None,
    grants_db: GrantsDb = None,
    state_dsn: StateDsn = None,
    state_prefix: StatePrefix = DEFAULT_STATE_PREFIX,
    as_json: Json = False,
) -> None:
    from toolgate.errors import ToolgateError
    from toolgate.identity.grants import check_label, check_server

    if grant_id is not None:
        if server is not None or label is not None:
            raise _fail("revoke: give a GRANT_ID or --server and --label, not both")
        _check_id(grant_id)
    elif server is None or label is None:
        raise _fail("revoke: name the grant: GRANT_ID, or --server S --label L")
    else:
        _checked("--server", check_server, server)
        _checked("--label", check_label, label)
    with _store(grants_db, state_dsn, state_prefix) as store:
        try:
            grant = store.revoke(grant_id, server=server, label=label)
        except ToolgateError as exc:
            raise _fail(str(exc), EXIT_REFUSED) from None
    if as_json:
        _echo_json({"grant": grant_data(grant, _clock().now())})
        return
    typer.echo(f'revoked grant {grant.id} (server "{grant.server}", label {_quoted(grant.label)})')


@grants_app.command(help="Replace a grant's token: new id and token, same label; old one revoked.")
def rotate(
    grant_id: Annotated[str, typer.Argument(help="The grant id (gr_…).", show_default=False)],
    grants_db: GrantsDb = None,
    state_dsn: StateDsn = None,
    state_prefix: StatePrefix = DEFAULT_STATE_PREFIX,
    as_json: Json = False,
) -> None:
    from toolgate.errors import ToolgateError

    _check_id(grant_id)
    with _store(grants_db, state_dsn, state_prefix) as store:
        try:
            grant, token = store.rotate(grant_id)
        except ToolgateError as exc:
            raise _fail(str(exc), EXIT_REFUSED) from None
        _issued(
            grant, token, f"rotated grant {grant_id} to {grant.id} ({grant_id} is revoked)", as_json
        )


def parse_expires(text: str, now: float) -> float:
    """Epoch seconds for --expires: an ISO 8601 date/time (UTC unless it says otherwise) or a
    duration from `now` (30d, 12h, 90m, 1h30m); exits 2 with a message for anything else."""
    from toolgate.policy.durations import DurationError, parse_duration

    shown = _quoted(text)
    stripped = text.strip()
    try:
        when = now + parse_duration(stripped)
    except DurationError:
        try:
            moment = datetime.fromisoformat(stripped)
        except ValueError:
            raise _fail(
                f"--expires: {shown} is neither an ISO 8601 date/time (2026-03-01, "
                "2026-03-01T12:00:00+02:00) nor a duration (30d, 12h, 90m)"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            when = moment.timestamp()
        except (OverflowError, ValueError, OSError):
            raise _fail(f"--expires: {shown} is out of range") from None
    if when <= now:
        raise _fail(f"--expires: {shown} is in the past")
    if when > now + MAX_AHEAD:
        raise _fail(f"--expires: {shown} is more than 100 years ahead")
    return when


def grant_data(grant: Grant, now: float) -> dict[str, Any]:
    """A grant as JSON: what `list --json` and `create --json` print (no hash, no token)."""
    return {
        "id": grant.id,
        "server": grant.server,
        "label": grant.label,
        "status": grant.status(now),
        "policy": None if grant.policy is None else str(grant.policy),
        "attributes": dict(grant.attributes),
        "created": _iso(grant.created),
        "expires": None if grant.expires is None else _iso(grant.expires),
        "revoked": None if grant.revoked is None else _iso(grant.revoked),
        "rotated_to": grant.rotated_to,
    }


def _issued(grant: Grant, token: str, done: str, as_json: bool) -> None:
    if as_json:
        _echo_json({"grant": grant_data(grant, _clock().now()), "token": token})
        return
    until = "" if grant.expires is None else f", expires {_iso(grant.expires)}"
    typer.echo(f'{done}: server "{grant.server}", label {_quoted(grant.label)}{until}', err=True)
    typer.echo(ONCE, err=True)
    typer.echo(token)


def _print_table(grants: list[Grant], now: float) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table()
    table.add_column("grant", no_wrap=True)
    for column in ("server", "label", "status", "expires", "attributes", "policy"):
        table.add_column(column, overflow="fold")
    for grant in grants:
        status = str(grant.status(now))
        if grant.rotated_to:
            status += f" → {grant.rotated_to}"
        attributes = ", ".join(f"{k}={v}" for k, v in sorted(grant.attributes.items()))
        table.add_row(
            grant.id,
            grant.server,
            Text(grant.label),
            status,
            "-" if grant.expires is None else _short(grant.expires),
            Text(attributes or "-"),
            Text(str(grant.policy or "-")),
        )
    Console(highlight=False).print(table)


def _attributes(pairs: list[str]) -> dict[str, str]:
    from toolgate.identity.grants import check_attributes

    attributes: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise _fail(f"--attr: {_quoted(pair)} must look like KEY=VALUE")
        if key in attributes:
            raise _fail(f"--attr: {_quoted(key)} is given twice")
        attributes[key] = value
    _checked("--attr", check_attributes, attributes)
    return attributes


def _policy(policy: Path) -> Path:
    """The policy as an absolute path, once it is known to load; exits 2 with its errors."""
    from toolgate.errors import PolicyError, PolicyValidationError
    from toolgate.policy.loader import load_policy

    path = policy.expanduser().absolute()
    if not path.is_file():
        raise _fail(f"--policy: {policy}: no such file")
    try:
        load_policy(path)
    except PolicyValidationError as exc:
        located = "\n".join(error.render() for error in exc.errors)
        raise _fail(f"--policy: {path} is not a valid policy:\n{located}") from None
    except PolicyError as exc:
        raise _fail(f"--policy: {exc}") from None
    return path


def _checked(option: str, check: Callable[[T], None], value: T) -> None:
    from toolgate.errors import ConfigError

    try:
        check(value)
    except ConfigError as exc:
        raise _fail(f"{option}: {exc}") from None


def _check_id(grant_id: str) -> None:
    from toolgate.identity.tokens import is_grant_id

    if not is_grant_id(grant_id):
        raise _fail(
            f"{_quoted(grant_id)} is not a grant id (gr_ and 12 hex digits, as "
            "`toolgate grants list` shows)"
        )


def redis_state(dsn: str | None, prefix: str) -> str | None:
    """The Redis DSN when `--state-dsn` names a Redis, None when the SQLite files apply (no
    DSN, sqlite://, memory://); exits 2 naming the option for a DSN or prefix that is neither.
    Shared with `toolgate approvals`."""

    from toolgate.errors import ConfigError
    from toolgate.stores.redis_url import check_url, is_redis_url, redact, url_scheme

    if not prefix or prefix != prefix.strip():
        raise _fail("--state-prefix: must be non-empty text without surrounding spaces")
    if dsn is None:
        return None
    text = dsn.strip()
    if not text:
        raise _fail(f"--state-dsn: must not be empty; expected {STATE_FORMS}")
    found = url_scheme(text)
    scheme = found[0] if found is not None and found[1].startswith("//") else ""
    if is_redis_url(text):
        try:
            check_url(text)
        except ConfigError as exc:
            raise _fail(f"--state-dsn: {exc}") from None
        return text
    if (scheme == "memory" and text.lower() == "memory://") or (
        scheme == "sqlite" and len(text) > len("sqlite://")
    ):
        return None
    raise _fail(
        f"--state-dsn: {_quoted(redact(text))} is not a state store URL; expected {STATE_FORMS}"
    )


def _store(grants_db: Path | None, state_dsn: str | None, state_prefix: str) -> GrantRegistry:
    from toolgate.app.paths import default_state_dir
    from toolgate.errors import ToolgateError
    from toolgate.identity.grants import GrantStore, grants_path

    redis_dsn = redis_state(state_dsn, state_prefix)
    if redis_dsn is not None:
        if grants_db is not None:
            raise _fail(
                "--grants-db names an SQLite grants file; with a Redis --state-dsn the grants "
                "are in Redis: drop one of them"
            )
        from toolgate.identity.grants_redis import RedisGrantStore

        try:
            return RedisGrantStore.from_url(redis_dsn, prefix=f"{state_prefix}:", clock=_clock())
        except ToolgateError as exc:
            raise _fail(f"--state-dsn: {exc}") from None
    try:
        return GrantStore(grants_path(grants_db, default_state_dir()), clock=_clock())
    except ToolgateError as exc:
        raise _fail(str(exc), EXIT_REFUSED) from None


def _clock() -> Clock:
    from toolgate.clock import SystemClock

    return SystemClock()


def _iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _short(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%MZ")


def _quoted(text: str) -> str:
    import json

    return json.dumps(text if len(text) <= 80 else text[:80] + "…", ensure_ascii=False)


def _echo_json(data: dict[str, Any]) -> None:
    import orjson

    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    typer.echo(f"toolgate: {message}", err=True)
    return typer.Exit(code)
