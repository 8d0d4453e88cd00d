"""`toolgate audit verify|tail|query`: prove the decision log untouched and read it back.

Parse, dispatch, render: the chain, reading and formatting live in `toolgate.audit`, imported
when a command runs so that `toolgate --help` stays fast. Each command reads the configured
log and its retired siblings (oldest first), or the files given as arguments.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from toolgate.audit.reader import Filters

EXIT_USAGE = 2
MAX_SHOWN = 50  # problems printed by verify before summarising the rest

audit_app = typer.Typer(
    name="audit", help="Verify and read the decision log.", no_args_is_help=True
)

Files = Annotated[
    list[Path] | None,
    typer.Argument(help="Log files, oldest first [default: the configured log and its siblings]."),
]
AuditLog = Annotated[
    Path | None,
    typer.Option(help="The decision log [default: ~/.toolgate/audit/decisions.jsonl]."),
]
Denied = Annotated[bool, typer.Option("--denied", help="Only denied calls.")]
Tool = Annotated[str | None, typer.Option("--tool", help="Only this tool.")]
Identity = Annotated[str | None, typer.Option("--identity", help="Only this identity.")]
Db = Annotated[
    Path | None,
    typer.Option("--db", help="Read this SQLite audit database (--audit-sink sqlite:PATH)."),
]
Since = Annotated[
    str | None,
    typer.Option(help="From: ISO time (local unless zoned), HH:MM, 2h/30m/1d ago, today…"),
]


class CountBy(enum.Enum):
    RULE = "rule"
    TOOL = "tool"
    IDENTITY = "identity"
    OUTCOME = "outcome"


class Format(enum.Enum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


@audit_app.command(help="Check the hash chain: exit 0 when intact, 1 naming each broken place.")
def verify(
    files: Files = None,
    audit_log: AuditLog = None,
    key_file: Annotated[
        Path | None, typer.Option(help="HMAC key file [default: $TOOLGATE_AUDIT_KEY].")
    ] = None,
) -> None:
    from toolgate.audit.chain import load_chain_key
    from toolgate.audit.chain_verify import verify_files
    from toolgate.errors import ToolgateError

    paths = _files(files, audit_log)
    try:
        key = load_chain_key(key_file)
    except ToolgateError as exc:
        raise _fail(str(exc)) from None
    report = verify_files(paths, key)
    for note in report.notes:
        typer.echo(f"note: {note}")
    if report.unchained:
        typer.echo(f"note: {report.unchained} lines written before chaining began (unchecked)")
    for problem in report.problems[:MAX_SHOWN]:
        typer.echo(problem.render())
    if len(report.problems) > MAX_SHOWN:
        typer.echo(f"… and {len(report.problems) - MAX_SHOWN} more problems")
    where = f"{report.events} events in {report.files} files"
    if report.intact:
        typer.echo(f"ok: {where}, chain intact")
        return
    typer.echo(f"FAILED: {len(report.problems)} problems in {where}")
    raise typer.Exit(1)


@audit_app.command(help="Show the latest decisions; -f keeps following the log.")
def tail(
    files: Files = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events.")] = (
        False
    ),
    denied: Denied = False,
    tool: Tool = None,
    identity: Identity = None,
    since: Since = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", help="How many to show first.")] = 20,
    audit_log: AuditLog = None,
    interval: Annotated[float, typer.Option(help="Seconds between polls with -f.")] = 1.0,
    polls: Annotated[int | None, typer.Option(hidden=True)] = None,  # bounded -f (tests)
    db: Db = None,
) -> None:
    from toolgate.cli.audit_tail import run_tail, run_tail_db

    chosen = _filters(denied, tool, identity, since, None, None)
    try:
        if db is not None:
            _no_files_with_db(files)
            run_tail_db(db, chosen, lines, as_json, follow=follow, interval=interval, polls=polls)
            return
        paths = _files(files, audit_log)
        run_tail(paths, chosen, lines, as_json, follow=follow, interval=interval, polls=polls)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@audit_app.command(help="Select decisions by time, tool, identity, outcome; list or count them.")
def query(
    files: Files = None,
    denied: Denied = False,
    tool: Tool = None,
    identity: Identity = None,
    outcome: Annotated[str | None, typer.Option(help="Only this outcome.")] = None,
    since: Since = None,
    until: Annotated[str | None, typer.Option(help="Before (exclusive); as --since.")] = None,
    count_by: Annotated[CountBy | None, typer.Option(help="Count per value instead.")] = None,
    output_format: Annotated[Format, typer.Option("--format", help="Output format.")] = (
        Format.TABLE
    ),
    audit_log: AuditLog = None,
    db: Db = None,
) -> None:
    from toolgate.cli.audit_tail import run_query, run_query_db

    chosen = _filters(denied, tool, identity, since, until, outcome)
    group = count_by.value if count_by else None
    if db is not None:
        _no_files_with_db(files)
        run_query_db(db, chosen, group, output_format.value)
        return
    run_query(_files(files, audit_log), chosen, group, output_format.value)


def _no_files_with_db(files: list[Path] | None) -> None:
    if files:
        raise _fail("give either log files or --db, not both")


def _files(files: list[Path] | None, audit_log: Path | None) -> list[Path]:
    if files:
        return list(files)
    from toolgate.app.paths import default_audit_log
    from toolgate.audit.rotation import log_files

    active = audit_log or default_audit_log()
    found = log_files(active)
    if not found:
        raise _fail(f"no decision log at {active}", 1)
    return found


def _filters(
    denied: bool,
    tool: str | None,
    identity: str | None,
    since: str | None,
    until: str | None,
    outcome: str | None,
) -> Filters:
    from datetime import UTC, datetime

    from toolgate.audit.reader import Filters, parse_when

    now = datetime.now(UTC)
    times = {}
    for name, text in (("since", since), ("until", until)):
        if text is not None:
            try:
                times[name] = parse_when(text, now)
            except ValueError:
                raise _fail(f"--{name}: cannot read {text!r} as a time") from None
    return Filters(denied, tool, identity, outcome, times.get("since"), times.get("until"))


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    typer.echo(f"toolgate: {message}", err=True)
    return typer.Exit(code)
