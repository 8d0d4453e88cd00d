"""Grants: one bearer token per agent per server, kept (as a hash) in an SQLite file.

A `Grant` lets the holder of its token call one server under a label (the policy's
`identity.name` and the key of `scope: identity` counters), with attributes
(`identity.<attribute>`) and optionally its own policy. Labels are unique per server among
non-revoked grants (a partial unique index enforces it), and rotation keeps the label, so an
agent's counters survive a new token.

The file is shared: `toolgate grants …` writes it while `toolgate serve` reads it. Lookups are
served from an in-memory map of non-revoked grants that is reloaded only when
`PRAGMA data_version` says another connection committed, so a revoke made by another process
takes effect on the very next request, at the cost of one pragma per lookup. Expiry is checked
against the injected clock on every lookup.

The file is only written once it is known to be a toolgate grants database or a fresh one: a
non-SQLite file, or another application's database, is reported (ConfigError) and left
untouched. It is marked with `PRAGMA application_id` and versioned with `PRAGMA user_version`.
"""

from __future__ import annotations

import builtins
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from os import PathLike
from pathlib import Path
from types import TracebackType

from toolgate.clock import Clock, SystemClock
from toolgate.errors import StoreError
from toolgate.identity.grant_rules import (
    ATTRIBUTE_KEY_RE,
    ID_ATTEMPTS,
    MAX_ATTRIBUTE_VALUE,
    MAX_ATTRIBUTES,
    MAX_LABEL,
    RESERVED_ATTRIBUTES,
    SERVER_RE,
    Grant,
    GrantRegistry,
    GrantVerifier,
    Status,
    TokenProblem,
    already_revoked,
    cannot_rotate_expired,
    check_attributes,
    check_grant_id,
    check_label,
    check_new_grant,
    check_revoke_target,
    check_server,
    decode_attributes,
    encode_attributes,
    judge,
    label_taken,
    no_live_label,
    no_such_grant,
    number,
)
from toolgate.identity.tokens import new_grant_id, new_token, parse_token, token_hash
from toolgate.stores.sqlite_owned import FileKind, open_owned

__all__ = [
    "APPLICATION_ID",
    "ATTRIBUTE_KEY_RE",
    "GRANTS_DB_ENV",
    "GRANTS_FILE",
    "MAX_ATTRIBUTES",
    "MAX_ATTRIBUTE_VALUE",
    "MAX_LABEL",
    "RESERVED_ATTRIBUTES",
    "SERVER_RE",
    "Grant",
    "GrantRegistry",
    "GrantStore",
    "GrantVerifier",
    "Status",
    "TokenProblem",
    "check_attributes",
    "check_label",
    "check_server",
    "grants_path",
]

GRANTS_DB_ENV = "TOOLGATE_GRANTS_DB"
GRANTS_FILE = "grants.sqlite3"
WHAT = "grants database"
APPLICATION_ID = 0x54474752  # "TGGR": toolgate grants
SCHEMA_VERSION = 1

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE grants (
               id TEXT PRIMARY KEY,
               server TEXT NOT NULL,
               label TEXT NOT NULL,
               token_hash TEXT NOT NULL UNIQUE,
               policy TEXT,
               attributes TEXT NOT NULL,
               created REAL NOT NULL,
               expires REAL,
               revoked REAL,
               rotated_to TEXT
           )""",
        # At most one non-revoked grant per label and server: what `scope: identity` relies on.
        "CREATE UNIQUE INDEX grants_live_label ON grants (server, label) WHERE revoked IS NULL",
    ),
}
FILE_KIND = FileKind(WHAT, APPLICATION_ID, SCHEMA_VERSION, MIGRATIONS)
BY_ID = (
    "SELECT id, server, label, policy, attributes, created, expires, revoked, rotated_to "
    "FROM grants WHERE id = ?"
)
BY_LABEL = (
    "SELECT id, server, label, policy, attributes, created, expires, revoked, rotated_to "
    "FROM grants WHERE server = ? AND label = ? AND revoked IS NULL"
)
LISTING = (
    "SELECT id, server, label, policy, attributes, created, expires, revoked, rotated_to "
    "FROM grants WHERE (?1 IS NULL OR server = ?1) AND (?2 OR revoked IS NULL) "
    "ORDER BY created, rowid"
)
LIVE = (
    "SELECT id, server, label, policy, attributes, created, expires, revoked, rotated_to, "
    "token_hash FROM grants WHERE revoked IS NULL"
)
INSERT = (
    "INSERT INTO grants (id, server, label, policy, attributes, created, expires, revoked, "
    "rotated_to, token_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
Row = tuple[str, str, str, str | None, str, float, float | None, float | None, str | None]


def grants_path(explicit: Path | None, state_dir: Path) -> Path:
    """The grants file: `explicit` (--grants-db), else $TOOLGATE_GRANTS_DB, else the state dir's.

    Every command resolves it the same way, so `toolgate grants` and `toolgate serve` run in the
    same environment see the same grants.
    """
    if explicit is not None:
        return explicit.expanduser()
    configured = os.environ.get(GRANTS_DB_ENV)
    if configured:
        return Path(configured).expanduser()
    return state_dir / GRANTS_FILE


class GrantStore:
    """Grants in an SQLite file (WAL mode), created with its parents when missing.

    Synchronous by design: every call is one short transaction or, for `lookup`, usually no
    query at all. One store may be shared by threads; it serialises its own calls. `averify`
    runs the same check on the event loop's thread: it is one pragma (no file read unless
    another process committed), cheaper than handing it to a worker thread.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        clock: Clock | None = None,
        busy_timeout: float = 5.0,
    ) -> None:
        self._path = Path(path).expanduser()
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._live: dict[str, tuple[str, Grant]] = {}  # grant id -> (token hash, grant)
        self._seen_version: int | None = None  # data_version the map was loaded at
        self._closed = False
        self._conn = open_owned(self._path, FILE_KIND, busy_timeout)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def where(self) -> str:
        return str(self._path)

    def create(
        self,
        server: str,
        label: str,
        policy: Path | None = None,
        attributes: Mapping[str, str] | None = None,
        expires: float | None = None,
    ) -> tuple[Grant, str]:
        """A new grant and its token (the only time the token exists outside the caller).

        ConfigError when an input is invalid, or when the server already has a non-revoked
        grant with this label. An expired grant gives its label up: it is revoked here.
        """
        now = self._clock.now()
        attrs = check_new_grant(server, label, policy, attributes, expires, now)
        with self._write() as conn:
            conn.execute(
                "UPDATE grants SET revoked = ? WHERE server = ? AND label = ? "
                "AND revoked IS NULL AND expires IS NOT NULL AND expires <= ?",
                (now, server, label, now),
            )
            held = conn.execute(
                "SELECT id FROM grants WHERE server = ? AND label = ? AND revoked IS NULL",
                (server, label),
            ).fetchone()
            if held is not None:
                raise label_taken(server, label, held[0])
            grant = Grant(self._free_id(conn), server, label, policy, attrs, now, expires)
            token = new_token(grant.id)
            self._insert(conn, grant, token)
        return grant, token

    def get(self, grant_id: str) -> Grant | None:
        with self._read() as conn:
            row = conn.execute(BY_ID, (grant_id,)).fetchone()
        return None if row is None else self._grant(row)

    def list(
        self, server: str | None = None, include_revoked: bool = False
    ) -> builtins.list[Grant]:
        """Grants, oldest first: every server's or one's, revoked ones only when asked for."""
        with self._read() as conn:
            rows = conn.execute(LISTING, (server, include_revoked)).fetchall()
        return [self._grant(row) for row in rows]

    def revoke(
        self, grant_id: str | None = None, *, server: str | None = None, label: str | None = None
    ) -> Grant:
        """Revoke a grant named by its id, or by server and label; return it as revoked.

        ConfigError when no such non-revoked grant exists (already revoked included).
        """
        check_revoke_target(grant_id, server, label)
        now = self._clock.now()
        with self._write() as conn:
            grant = self._target(conn, grant_id, server, label)
            conn.execute("UPDATE grants SET revoked = ? WHERE id = ?", (now, grant.id))
        return replace(grant, revoked=now)

    def rotate(self, grant_id: str) -> tuple[Grant, str]:
        """A new grant and token replacing `grant_id`, which is revoked in the same transaction.

        The new grant keeps the server, label, policy, attributes and expiry (rotation never
        extends a grant's life). ConfigError for an unknown, revoked or expired grant.
        """
        now = self._clock.now()
        with self._write() as conn:
            old = self._target(conn, grant_id, None, None)
            if old.expired(now):
                raise cannot_rotate_expired(old.id)
            new = Grant(
                self._free_id(conn),
                old.server,
                old.label,
                old.policy,
                dict(old.attributes),
                now,
                old.expires,
            )
            token = new_token(new.id)
            conn.execute(
                "UPDATE grants SET revoked = ?, rotated_to = ? WHERE id = ?", (now, new.id, old.id)
            )
            self._insert(conn, new, token)
        return new, token

    def verify(self, token: str, now: float | None = None) -> Grant | TokenProblem:
        """The non-revoked grant `token` belongs to, unexpired at `now` (default: the store's
        clock), or why there is none.

        Never raises for any `token`; StoreError only when the file cannot be read.
        """
        parsed = parse_token(token)
        if parsed is None:
            return "malformed"
        presented = token_hash(token)
        with self._lock:
            self._check_open()
            self._refresh()
            entry = self._live.get(parsed.grant_id)
        stored, grant = entry if entry is not None else (None, None)
        return judge(stored, grant, presented, self._clock.now() if now is None else now)

    async def averify(self, token: str, now: float) -> Grant | TokenProblem:
        """`verify` for the gateway's event loop (see the class docstring for why inline)."""
        return self.verify(token, now)

    def lookup(self, token: str) -> Grant | None:
        """The grant `token` authenticates right now, or None."""
        found = self.verify(token)
        return found if isinstance(found, Grant) else None

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> GrantStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _refresh(self) -> None:
        """Reload the live map when another connection committed since it was loaded."""
        try:
            version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
            if version == self._seen_version:
                return
            rows = self._conn.execute(LIVE).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{WHAT} {self._path} cannot be read: {exc}") from exc
        self._live = {row[0]: (row[-1], self._grant(row[:-1])) for row in rows}
        self._seen_version = version

    def _target(
        self, conn: sqlite3.Connection, grant_id: str | None, server: str | None, label: str | None
    ) -> Grant:
        if grant_id is not None:
            check_grant_id(grant_id)
            row = conn.execute(BY_ID, (grant_id,)).fetchone()
            if row is None:
                raise no_such_grant(grant_id, self.where)
            grant = self._grant(row)
            if grant.revoked is not None:
                raise already_revoked(grant_id)
            return grant
        row = conn.execute(BY_LABEL, (server, label)).fetchone()
        if row is None:
            raise no_live_label(server, label, self.where)
        return self._grant(row)

    def _free_id(self, conn: sqlite3.Connection) -> str:
        for _ in range(ID_ATTEMPTS):
            candidate = new_grant_id()
            if conn.execute("SELECT 1 FROM grants WHERE id = ?", (candidate,)).fetchone() is None:
                return candidate
        raise StoreError(f"{WHAT} {self._path}: no free grant id after {ID_ATTEMPTS} attempts")

    def _insert(self, conn: sqlite3.Connection, grant: Grant, token: str) -> None:
        conn.execute(
            INSERT,
            (
                grant.id,
                grant.server,
                grant.label,
                None if grant.policy is None else str(grant.policy),
                encode_attributes(grant.attributes),
                grant.created,
                grant.expires,
                grant.revoked,
                grant.rotated_to,
                token_hash(token),
            ),
        )

    def _grant(self, row: tuple[object, ...]) -> Grant:
        """A row as a Grant; StoreError naming the grant when the row is not what we write."""
        try:
            gid, server, label, policy, attrs_text, created, expires, revoked, rotated_to = row
            attributes = decode_attributes(attrs_text)
            return Grant(
                id=str(gid),
                server=str(server),
                label=str(label),
                policy=None if policy is None else Path(str(policy)),
                attributes=attributes,
                created=number(created),
                expires=None if expires is None else number(expires),
                revoked=None if revoked is None else number(revoked),
                rotated_to=None if rotated_to is None else str(rotated_to),
            )
        except (ValueError, TypeError) as exc:
            shown = row[0] if row else "?"
            raise StoreError(f"{WHAT} {self._path}: grant {shown} is damaged: {exc}") from None

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._check_open()
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise StoreError(f"{WHAT} {self._path} cannot be read: {exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE` transaction: checks and writes see no concurrent writer."""
        with self._lock:
            self._check_open()
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"{WHAT} {self._path}: {exc}") from exc
            finally:
                self._seen_version = None  # our own commits do not move data_version

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{WHAT} {self._path} is closed")
