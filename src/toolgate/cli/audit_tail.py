"""The reading half of `toolgate audit`: tail (optionally following) and query, rendered as a
table, JSON or CSV. Unreadable lines go to stderr as `file:line: reason`, never a traceback."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from toolgate.audit import reader_render as render
from toolgate.audit.reader import Filters, Garbage, Record, read_records
from toolgate.audit.reader_follow import follow as follow_file
from toolgate.audit.sqlite_query import AuditDatabase
from toolgate.errors import ToolgateError


def matching(items: Iterable[Record | Garbage], filters: Filters) -> Iterable[Record]:
    for item in items:
        if isinstance(item, Garbage):
            typer.echo(item.render(), err=True)
        elif filters.match(item.data):
            yield item


def _printer(as_json: bool) -> Callable[[Record], None]:
    """Prints the table header now (unless JSON), and returns how to print one record."""
    if not as_json:
        typer.echo(render.table_header())

    def show(record: Record) -> None:
        typer.echo(render.json_line(record.data) if as_json else render.table_row(record.data))

    return show


def run_tail(
    files: list[Path],
    filters: Filters,
    lines: int,
    as_json: bool,
    *,
    follow: bool,
    interval: float,
    polls: int | None,
) -> None:
    show = _printer(as_json)
    recent: deque[Record] = deque(maxlen=max(lines, 0))
    if not follow:
        recent.extend(matching(read_records(files), filters))
        for record in recent:
            show(record)
        return
    *retired, active = files
    recent.extend(matching(read_records(retired), filters))
    live = False
    remaining = polls

    def wait() -> bool:
        nonlocal live, remaining
        if not live:  # the first pass read what was already there: show its last lines
            live = True
            for record in recent:
                show(record)
        if remaining is not None:
            if remaining <= 0:
                return False
            remaining -= 1
        time.sleep(interval)
        return True

    for record in matching(follow_file(active, 0, 0, wait), filters):
        if live:
            show(record)
        else:
            recent.append(record)


def run_query(files: list[Path], filters: Filters, count_by: str | None, fmt: str) -> None:
    records = list(matching(read_records(files), filters))
    if count_by is not None:
        show_counts(count_by, render.count_by(records, count_by), fmt)
        return
    show_records(records, fmt)


def run_query_db(db: Path, filters: Filters, count_by: str | None, fmt: str) -> None:
    """`audit query --db`: the same filters and outputs, answered by the database's indexes."""
    with _database(db) as database:
        if count_by is not None:
            show_counts(count_by, database.count_by(filters, count_by), fmt)
            return
        show_records(list(matching(database.records(filters), Filters())), fmt)


def run_tail_db(
    db: Path,
    filters: Filters,
    lines: int,
    as_json: bool,
    *,
    follow: bool,
    interval: float,
    polls: int | None,
) -> None:
    """`audit tail --db`: the last `lines` matching events; with -f, then each new one."""

    show = _printer(as_json)
    with _database(db) as database:
        last_id = database.last_id()
        for record in matching(database.records(filters, upto=last_id, last=lines), Filters()):
            show(record)
        remaining = polls
        while follow:
            if remaining is not None:
                if remaining <= 0:
                    return
                remaining -= 1
            time.sleep(interval)
            newest = database.last_id()
            found = database.records(filters, after_id=last_id, upto=newest)
            for record in matching(found, Filters()):
                show(record)
            last_id = newest


@contextmanager
def _database(db: Path) -> Iterator[AuditDatabase]:
    try:
        database = AuditDatabase(db)
    except ToolgateError as exc:
        typer.echo(f"toolgate: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        yield database
    except ToolgateError as exc:
        typer.echo(f"toolgate: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        database.close()


def show_counts(count_by: str, counts: list[tuple[str, int]], fmt: str) -> None:
    if fmt == "json":
        typer.echo(render.count_json(counts))
    elif fmt == "csv":
        typer.echo(render.count_csv(count_by, counts), nl=False)
    else:
        typer.echo(render.count_table(count_by, counts))


def show_records(records: list[Record], fmt: str) -> None:
    if fmt == "json":
        typer.echo(render.json_array(records))
    elif fmt == "csv":
        typer.echo(render.csv_text(records), nl=False)
    else:
        typer.echo(render.table_header())
        for record in records:
            typer.echo(render.table_row(record.data))
        typer.echo(f"{len(records)} events")
