"""`toolgate status`: running instances, traffic, counters and pending approvals at a glance.

Parse, gather (toolgate.app.status and toolgate.app.instances), render: readable tables with
rich, or one JSON document with `--json`. Nothing is written, except with `--prune`, which
deletes the files of stale instances. Unreadable inputs (an instance file, an audit line, a
store) become warning lines; only a bad option or a bad `-c` policy stops the command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from toolgate.cli.grants import STATE_DSN_ENV

if TYPE_CHECKING:
    from toolgate.app.instances import Listed
    from toolgate.app.status import Approvals, AuditSource, CounterSection, Traffic

EXIT_USAGE = 2
HELP = (
    "Show running instances, calls per minute, top denying rules, counters with their "
    "remaining budget and pending approvals: toolgate status [-c POLICY] [--json] [-- CMD ...]"
)


def register(app: typer.Typer) -> None:
    app.command(name="status", help=HELP, context_settings={"allow_interspersed_args": False})(
        status
    )


@dataclass(slots=True)
class Report:
    """Everything `status` shows, gathered before anything is printed."""

    now: datetime
    since: datetime
    instances: list[Listed]
    overall: Traffic
    sources: list[Traffic]
    counters: list[CounterSection]
    approvals: Approvals
    warnings: list[str] = field(default_factory=list)
    pruned: list[Path] = field(default_factory=list)


def status(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Policy whose counters to show.")
    ] = None,
    command: Annotated[
        list[str] | None, typer.Argument(help="The guarded server command, after -- (namespace).")
    ] = None,
    namespace: Annotated[str | None, typer.Option(help="Counter namespace to read.")] = None,
    counter_store: Annotated[
        str | None,
        typer.Option(
            "--counter-store",
            "--state-dsn",
            envvar=STATE_DSN_ENV,
            help="Counter store URL (default: the instances', else SQLite in the state dir).",
        ),
    ] = None,
    state_dir: Annotated[
        Path | None, typer.Option(help="State directory (default: ~/.toolgate/state).")
    ] = None,
    audit_log: Annotated[
        Path | None, typer.Option(help="Decision log to read (default: the instances' logs).")
    ] = None,
    db: Annotated[Path | None, typer.Option("--db", help="SQLite audit database to read.")] = None,
    since: Annotated[
        str, typer.Option(help="Outcomes and top denials from: 1h, 30m, 14:00, ISO time…")
    ] = "1h",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
    prune: Annotated[bool, typer.Option("--prune", help="Delete stale instance files.")] = False,
) -> None:
    from toolgate.app.paths import default_state_dir

    now = datetime.now(UTC)
    start = _since(since, now)
    if namespace is not None and not namespace.strip():
        raise _fail("--namespace must not be empty")
    if config is not None:
        _check_policy(config)
    report = gather(
        now,
        start,
        state_dir or default_state_dir(),
        config=config,
        command=command or [],
        namespace=namespace,
        store_url=counter_store,
        audit_log=audit_log,
        db=db,
        prune=prune,
    )
    if as_json:
        import orjson

        typer.echo(orjson.dumps(document(report), option=orjson.OPT_INDENT_2).decode())
    else:
        render(report)


def gather(
    now: datetime,
    since: datetime,
    state_dir: Path,
    *,
    config: Path | None,
    command: list[str],
    namespace: str | None,
    store_url: str | None,
    audit_log: Path | None,
    db: Path | None,
    prune: bool,
) -> Report:
    import anyio

    from toolgate.app import instances as registry
    from toolgate.app.status import (
        approvals_file,
        counter_section,
        pending_approvals,
        traffic_report,
    )

    epoch = now.timestamp()
    listed, warnings = registry.list_instances(registry.instances_dir(state_dir), epoch)
    pruned = registry.prune(listed) if prune else []
    if prune:
        listed = [item for item in listed if item.stale is None]
    sources = _sources(listed, audit_log, db)
    overall, per_source = traffic_report(sources, now, since)
    plans = _counter_plans(listed, state_dir, config, command, namespace, store_url, warnings)

    async def read() -> tuple[list[CounterSection], Approvals]:
        sections = [await counter_section(*plan, epoch) for plan in plans]
        return sections, await pending_approvals(approvals_file(state_dir), epoch)

    sections, approvals = anyio.run(read)
    return Report(now, since, listed, overall, per_source, sections, approvals, warnings, pruned)


def _sources(listed: list[Listed], audit_log: Path | None, db: Path | None) -> list[AuditSource]:
    """The logs to read: those given, else those the listed instances write (a JSONL log in
    preference to a database holding the same events), else the default log."""
    from toolgate.app.paths import default_audit_log
    from toolgate.app.status import AuditSource

    if audit_log is not None or db is not None:
        given = [] if audit_log is None else [AuditSource("jsonl", audit_log)]
        return given + ([] if db is None else [AuditSource("sqlite", db)])
    writers: dict[tuple[str, str], list[str]] = {}
    for item in listed:
        record = item.record
        chosen = [("jsonl", p) for p in record.audit_logs] or [
            ("sqlite", p) for p in record.audit_dbs
        ]
        for key in chosen:
            writers.setdefault(key, []).append(record.instance)
    if not writers:
        return [AuditSource("jsonl", default_audit_log())]
    return [AuditSource(kind, Path(path), tuple(ids)) for (kind, path), ids in writers.items()]


Plan = tuple[Path, str | None, str, bool, tuple[str, ...]]


def _counter_plans(
    listed: list[Listed],
    state_dir: Path,
    config: Path | None,
    command: list[str],
    namespace: str | None,
    store_url: str | None,
    warnings: list[str],
) -> list[Plan]:
    """(policy, namespace, store URL, store exists, instances) for each counter section."""
    from toolgate.cli.explain_store import resolve_store
    from toolgate.errors import ToolgateError

    wanted: dict[tuple[str, str | None, str], list[str]] = {}
    for item in listed:
        for target in item.record.targets:
            if config is None or Path(target.policy).resolve() == config.resolve():
                key = (target.policy, target.namespace, store_url or item.record.store_url)
                wanted.setdefault(key, []).append(item.record.instance)
    if config is not None:
        chosen = namespace or (_namespace(config, command) if command else None)
        if chosen is not None or not wanted:  # given, or no running instance to take it from
            wanted = {(str(config), chosen, store_url or ""): []}
    elif namespace is not None:
        merged: dict[tuple[str, str | None, str], list[str]] = {}
        for (policy, _, url), ids in wanted.items():
            merged.setdefault((policy, namespace, url), []).extend(ids)
        wanted = merged
    plans: list[Plan] = []
    for (policy, chosen_ns, url), ids in wanted.items():
        try:
            resolved, exists = resolve_store(url or None, state_dir)
        except ToolgateError as exc:
            if config is not None and store_url is not None:
                raise _fail(str(exc)) from None
            warnings.append(f"{policy}: {exc}")
            resolved, exists = url, False
        plans.append((Path(policy), chosen_ns, resolved, exists, tuple(ids)))
    return plans


def _namespace(config: Path, command: list[str]) -> str:
    from toolgate.app.settings import RunSettings

    return RunSettings(config, tuple(command), Path(), Path()).counter_namespace


def _since(text: str, now: datetime) -> datetime:
    from toolgate.audit.reader import parse_when

    try:
        return parse_when(text, now)
    except ValueError:
        raise _fail(f"--since: cannot read {text!r} as a time (1h, 30m, 14:00, ISO…)") from None


def _check_policy(config: Path) -> None:
    from toolgate.app.status import policy_problem
    from toolgate.errors import ToolgateError
    from toolgate.policy import load_policy

    try:
        load_policy(config)
    except ToolgateError as exc:
        raise _fail(policy_problem(exc)) from None


def _fail(message: str) -> typer.Exit:
    typer.echo(f"toolgate: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


# --- output -----------------------------------------------------------------------------------


def document(report: Report) -> dict[str, Any]:
    """The whole report as one JSON-ready mapping (`--json`)."""
    return {
        "now": report.now.isoformat(timespec="seconds"),
        "since": report.since.isoformat(timespec="seconds"),
        "instances": [_instance(item) for item in report.instances],
        "pruned": [str(path) for path in report.pruned],
        "traffic": {
            "overall": report.overall.to_data(),
            "by_log": [traffic.to_data() for traffic in report.sources],
        },
        "counters": [section.to_data() for section in report.counters],
        "approvals": report.approvals.to_data(),
        "warnings": report.warnings,
    }


def _instance(item: Listed) -> dict[str, Any]:
    import orjson

    data: dict[str, Any] = orjson.loads(item.record.to_json())
    data["state"] = "stale" if item.stale else "running"
    data["stale_reason"] = item.stale
    data["file"] = str(item.path)
    return data


def render(report: Report) -> None:
    from rich.console import Console

    console = Console(highlight=False)
    for warning in [*report.warnings, *report.overall.warnings]:
        console.print(f"[yellow]warning:[/] {_esc(warning)}")
    for path in report.pruned:
        console.print(f"pruned {_esc(str(path))}")
    _instances_table(console, report)
    _traffic_tables(console, report)
    for section in report.counters:
        _counters_table(console, section)
    _approvals(console, report.approvals)


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _table(title: str, *columns: str) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", title_style="bold")
    for column in columns:
        table.add_column(column)
    return table


def _instances_table(console: Any, report: Report) -> None:
    if not report.instances:
        console.print("[bold]instances:[/] none running")
        return
    table = _table("instances", "instance", "state", "pid", "host", "started", "serving", "policy")
    for item in report.instances:
        record = item.record
        state = f"[red]stale[/] ({_esc(item.stale)})" if item.stale else "[green]running[/]"
        serving = record.gateway_file or " ".join(record.command)
        policies = ", ".join(f"{t.policy}@{t.revision or '?'}" for t in record.targets)
        started = datetime.fromtimestamp(record.started_at, UTC).isoformat(timespec="seconds")
        table.add_row(
            record.instance, state, str(record.pid), _esc(record.host), started,
            _esc(serving), _esc(policies),
        )  # fmt: skip
    console.print(table)


def _traffic_tables(console: Any, report: Report) -> None:
    overall = report.overall
    rates = "  ".join(f"{k}: {v}/min" for k, v in overall.per_minute.items())
    console.print(f"[bold]calls per minute[/] (all logs): {rates}")
    for traffic in report.sources:
        rates = "  ".join(f"{k}: {v}/min" for k, v in traffic.per_minute.items())
        writers = f" (instances {', '.join(traffic.instances)})" if traffic.instances else ""
        console.print(f"  {_esc(traffic.label)}{writers}: {rates}")
    since = overall.since.isoformat(timespec="seconds")
    outcomes = ", ".join(f"{k} {n}" for k, n in overall.outcomes.items()) or "none"
    console.print(f"[bold]decisions since {since}:[/] {overall.decisions} ({outcomes})")
    for name, rows in (("rule", overall.denying_rules), ("tool", overall.denying_tools)):
        if rows:
            table = _table(f"top denying {name}s", name, "denials")
            for key, count in rows:
                table.add_row(_esc(key), str(count))
            console.print(table)


def _counters_table(console: Any, section: CounterSection) -> None:
    title = f"counters of {section.policy} in {section.namespace or '?'} ({section.store_url})"
    if section.note:
        console.print(f"[bold]{_esc(title)}:[/] {_esc(section.note)}")
    if not section.rows:
        return
    table = _table(
        _esc(title), "counter", "kind", "window", "scope", "from", "to", "value", "limit",
        "remaining",
    )  # fmt: skip
    for row in section.rows:
        data = row.to_data()
        name = f"{data['owner']}.{data['name']}"
        scope = data["scope"] + (f" per {data['key']}" if data["key"] else "")
        window = data["window"] + (" sliding" if data["sliding"] else "")
        limit = data["limit"] or "-"
        if not row.buckets:
            table.add_row(name, data["kind"], window, scope, "", "", "", limit, row.note or "")
            continue
        for bucket in data["buckets"]:
            who = [v for v in (bucket["scope_value"], bucket["key_value"]) if v is not None]
            label = scope + (f" = {', '.join(who)}" if who else "")
            table.add_row(
                _esc(name), data["kind"], window, _esc(label), bucket["window_start"],
                bucket["window_end"], bucket["value"], limit, bucket["remaining"] or "-",
            )  # fmt: skip
    console.print(table)


def _approvals(console: Any, approvals: Approvals) -> None:
    if approvals.note and not approvals.pending:
        console.print(f"[bold]pending approvals:[/] {_esc(approvals.note)}")
        return
    console.print(f"[bold]pending approvals:[/] {approvals.pending}")
    if approvals.oldest:
        table = _table("oldest pending", "id", "tool", "identity", "rule", "asked", "expires")
        for item in approvals.oldest:
            table.add_row(
                item["id"], _esc(item["tool"]), _esc(item["identity"] or "-"),
                _esc(item["rule"]), item["created_at"], item["expires_at"],
            )  # fmt: skip
        console.print(table)
