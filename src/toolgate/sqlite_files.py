"""Telling, before SQLite opens a path, whether the file there could be an SQLite database.

Opening a non-database file with SQLite can rewrite its header; every toolgate database (counters,
audit) refuses such a file with a clear message instead and leaves it byte for byte as it was.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

SQLITE_HEADER = b"SQLite format 3\x00"
# One statement, so one snapshot: read separately, another process creating the schema between
# the reads would show an unstamped file that already has tables ("another application").
IDENTITY = (
    "SELECT (SELECT application_id FROM pragma_application_id), "
    "(SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_master)"
)


def non_database_problem(path: Path, what: str) -> str | None:
    """Why `path` must not be opened as `what` (e.g. "counter store"), or None when it may be:
    it does not exist yet, is empty, or starts with the SQLite header."""
    if path.is_dir():
        return f"{what} {path} is a directory, not a database file"
    if not path.exists():
        return None
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"{what} {path} cannot be read: {exc.strerror}"
    if header and header != SQLITE_HEADER:
        return f"{what} {path} is not an SQLite database; refusing to use or overwrite it"
    return None


LOCKED_RETRY_SECONDS = 10.0  # how long opening keeps retrying a file others are creating


def while_locked(prepare: Callable[[], None], seconds: float = LOCKED_RETRY_SECONDS) -> None:
    """Run `prepare` (make a file ours: check, switch to WAL, create the schema), again while
    SQLite says the database is locked. Processes creating one file at once can meet a lock
    SQLite reports at once instead of waiting (changing the journal mode, or upgrading a read
    lock another writer blocks), so the busy timeout alone does not cover it."""
    deadline = time.monotonic() + seconds
    pause = 0.005
    while True:
        try:
            prepare()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)  # another process holds the file for an instant: back off, retry
        pause = min(pause * 2, 0.2)


def database_identity(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(application_id, user_version, number of schema objects) of `conn`'s file, as of one
    consistent moment."""
    app_id, version, objects = conn.execute(IDENTITY).fetchone()
    return int(app_id), int(version), int(objects)


def ownership_problem(
    path: Path, what: str, found: tuple[int, int, int], expected_id: int, newest: int
) -> str | None:
    """Why an open database must not be used as `what`, or None when it is ours (or empty).

    `found` is (application_id, user_version, number of schema objects) as the file reports them;
    `expected_id` is the application id toolgate stamps on this kind of database and `newest` the
    highest schema version this build understands.
    """
    app_id, version, objects = found
    if app_id == 0:
        if objects:
            return (
                f"{what} {path} is an SQLite database of another application; refusing to modify it"
            )
        return None
    if app_id != expected_id:
        return (
            f"{what} {path} belongs to another application "
            f"(application_id {app_id:#x}); refusing to modify it"
        )
    if version > newest:
        return (
            f"{what} {path} has schema version {version}, newer than this build "
            f"supports ({newest}); upgrade toolgate"
        )
    return None
