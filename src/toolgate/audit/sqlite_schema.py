"""Opening an audit database file: refusing what is not ours, creating and versioning the schema.

The file is only written once it is known to be a toolgate audit database or a fresh one: a
non-SQLite file, a damaged one, or another application's database is reported (ConfigError) and
left untouched. The file is marked with `PRAGMA application_id` and versioned with
`PRAGMA user_version`; readers open it read-only and never create it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from toolgate.errors import ConfigError
from toolgate.sqlite_files import (
    database_identity,
    non_database_problem,
    ownership_problem,
    while_locked,
)

APPLICATION_ID = 0x54474155  # "TGAU": toolgate audit
SCHEMA_VERSION = 1

# One row per event: the JSON line kept verbatim (`line`), plus the fields queries filter on.
# `ts` is the event time in integer microseconds since the epoch (NULL when unreadable).
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE events (
               id INTEGER PRIMARY KEY,
               ts INTEGER,
               type TEXT,
               decision_id TEXT,
               tool TEXT,
               identity TEXT,
               outcome TEXT,
               rule TEXT,
               session TEXT,
               line TEXT NOT NULL
           )""",
        "CREATE INDEX events_by_ts ON events (ts)",
        "CREATE INDEX events_by_identity ON events (identity, ts)",
        "CREATE INDEX events_by_tool ON events (tool, ts)",
        "CREATE INDEX events_by_outcome ON events (outcome, ts)",
        "CREATE INDEX events_by_decision ON events (decision_id)",
    ),
}


def check_file(path: Path) -> None:
    """Refuse a path that exists but is not an SQLite database, before SQLite touches it."""
    problem = non_database_problem(path, "audit database")
    if problem is not None:
        raise ConfigError(problem)


def open_for_writing(path: Path) -> sqlite3.Connection:
    """A connection (autocommit, never waiting for a lock) to a current audit database at
    `path`, created with its parents when missing; ConfigError naming the file otherwise."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"audit database {path}: cannot create its directory") from exc
    check_file(path)
    try:
        conn = sqlite3.connect(path, timeout=0.0, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise ConfigError(f"audit database {path} cannot be opened: {exc}") from None
    try:
        while_locked(lambda: _prepare(conn, path))
    except sqlite3.Error as exc:
        conn.close()
        raise ConfigError(f"audit database {path} cannot be opened: {exc}") from None
    except BaseException:
        conn.close()
        raise
    return conn


def open_for_reading(path: Path) -> sqlite3.Connection:
    """A read-only connection to an existing toolgate audit database."""
    if not path.exists():
        raise ConfigError(f"no audit database at {path}")
    check_file(path)
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        raise ConfigError(f"audit database {path} cannot be opened: {exc}") from None
    try:
        version = _check_ownership(conn, path)
    except sqlite3.Error as exc:
        conn.close()
        raise ConfigError(f"audit database {path} cannot be read: {exc}") from None
    except BaseException:
        conn.close()
        raise
    if version == 0:
        conn.close()
        raise ConfigError(f"audit database {path} holds no events table yet")
    return conn


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    # opening may wait for another process creating the same file (schema, WAL switch)
    conn.execute("PRAGMA busy_timeout=5000")
    _check_ownership(conn, path)  # before WAL: switching journal mode writes the header
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise ConfigError(f"audit database {path}: cannot enable WAL mode (got {mode!r})")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _check_ownership(conn, path)  # again, under the write lock
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[target]:
                conn.execute(statement)
        if version < SCHEMA_VERSION:
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("PRAGMA busy_timeout=0")  # emits never wait on the relay path


def _check_ownership(conn: sqlite3.Connection, path: Path) -> int:
    """The schema version of a file that is ours (0 for a fresh, empty database)."""
    found = database_identity(conn)
    app_id, version, _ = found
    problem = ownership_problem(path, "audit database", found, APPLICATION_ID, SCHEMA_VERSION)
    if problem is not None:
        raise ConfigError(problem)
    return 0 if app_id == 0 else version
