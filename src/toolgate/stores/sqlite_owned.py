"""Opening one kind of toolgate SQLite file (grants, approvals): create it, or accept it only when
it is ours, and bring its schema up to date.

A file that is not SQLite, or another application's database, or one written by a newer build is
refused with a ConfigError naming it, and left byte for byte as it was: ownership is checked before
anything is written (switching to WAL writes the header), and again under the write lock that
applies the migrations and stamps `application_id` and `user_version`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from toolgate.errors import ConfigError
from toolgate.sqlite_files import (
    database_identity,
    non_database_problem,
    ownership_problem,
    while_locked,
)


@dataclass(frozen=True, slots=True)
class FileKind:
    what: str  # how messages name it, e.g. "grants database"
    application_id: int
    schema_version: int
    migrations: Mapping[int, Sequence[str]]  # version -> the statements that reach it


def open_owned(path: Path, kind: FileKind, busy_timeout: float) -> sqlite3.Connection:
    """A connection (autocommit, usable from any thread) to `path`, in WAL mode and migrated."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{kind.what} {path}: cannot create its directory ({exc.strerror})"
        ) from None
    problem = non_database_problem(path, kind.what)
    if problem is not None:
        raise ConfigError(problem)
    try:
        conn = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise ConfigError(f"{kind.what} {path} cannot be opened: {exc}") from None
    try:
        while_locked(lambda: _prepare(conn, path, kind))
    except sqlite3.Error as exc:
        conn.close()
        raise ConfigError(f"{kind.what} {path} cannot be opened: {exc}") from None
    except BaseException:
        conn.close()
        raise
    return conn


def _prepare(conn: sqlite3.Connection, path: Path, kind: FileKind) -> None:
    _ownership(conn, path, kind)  # before WAL: switching journal mode writes the header
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise ConfigError(f"{kind.what} {path}: cannot enable WAL mode (got {mode!r})")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _ownership(conn, path, kind)  # again, under the write lock
        for target in range(version + 1, kind.schema_version + 1):
            for statement in kind.migrations[target]:
                conn.execute(statement)
        if version < kind.schema_version:
            conn.execute(f"PRAGMA application_id={kind.application_id}")
            conn.execute(f"PRAGMA user_version={kind.schema_version}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _ownership(conn: sqlite3.Connection, path: Path, kind: FileKind) -> int:
    """The schema version of a file that is ours (0 for a fresh, empty database)."""
    found = database_identity(conn)
    app_id, version, _ = found
    problem = ownership_problem(path, kind.what, found, kind.application_id, kind.schema_version)
    if problem is not None:
        raise ConfigError(problem)
    return 0 if app_id == 0 else version
