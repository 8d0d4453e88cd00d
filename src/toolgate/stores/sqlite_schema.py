"""Opening a counter database file: refusing what is not ours, creating and versioning the schema.

A file is only ever written once it is known to be a toolgate counter store or a fresh database:
a non-SQLite file, or another application's SQLite database, is reported and left untouched.
The file is marked with `PRAGMA application_id` and versioned with `PRAGMA user_version`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from toolgate.errors import StoreError
from toolgate.sqlite_files import database_identity, non_database_problem, ownership_problem

APPLICATION_ID = 0x54474354  # "TGCT": toolgate counters
SCHEMA_VERSION = 1

# Version n's statements bring a file from version n-1 to n; run in one transaction.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE counters (
               key TEXT NOT NULL,
               window_start INTEGER NOT NULL,
               expires_at INTEGER NOT NULL,
               value TEXT NOT NULL,
               PRIMARY KEY (key, window_start)
           ) WITHOUT ROWID""",
        "CREATE INDEX counters_by_expiry ON counters (expires_at)",
    ),
}


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """A connection in manual-transaction mode that waits `busy_timeout` s for a locked file.

    `check_same_thread` is off because the store decides which thread uses which connection
    (and never two at once); `synchronous=NORMAL` is durable enough in WAL mode: a power loss
    may drop the last commits, never corrupt the file.
    """
    conn = sqlite3.connect(
        path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def check_file(path: Path) -> None:
    """Refuse a path that exists but is not an SQLite database, before SQLite touches it."""
    problem = non_database_problem(path, "counter store")
    if problem is not None:
        raise StoreError(problem)


def prepare(conn: sqlite3.Connection, path: Path) -> None:
    """Make `conn`'s file a current toolgate counter store, or raise StoreError naming it."""
    _check_ownership(conn, path)  # before WAL: switching journal mode writes the header
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StoreError(f"counter store {path}: cannot enable WAL mode (got {mode!r})")
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Checked again under the write lock: another process may have created it meanwhile.
        version = _check_ownership(conn, path)
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


def _check_ownership(conn: sqlite3.Connection, path: Path) -> int:
    """The schema version of a file that is ours (0 for a fresh, empty database)."""
    found = database_identity(conn)
    app_id, version, _ = found
    problem = ownership_problem(path, "counter store", found, APPLICATION_ID, SCHEMA_VERSION)
    if problem is not None:
        raise StoreError(problem)
    return 0 if app_id == 0 else version
