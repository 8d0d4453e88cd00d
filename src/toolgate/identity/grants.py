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
import json
import math
import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Literal

from toolgate.clock import Clock, SystemClock
from toolgate.errors import ConfigError, StoreError
from toolgate.identity.tokens import (
    hashes_equal,
    is_grant_id,
    new_grant_id,
    new_token,
    parse_token,
    token_hash,
)
from toolgate.stores.sqlite_owned import FileKind, open_owned

GRANTS_DB_ENV = "TOOLGATE_GRANTS_DB"
GRANTS_FILE = "grants.sqlite3"
WHAT = "grants database"
APPLICATION_ID = 0x54474752  # "TGGR": toolgate grants
SCHEMA_VERSION = 1

SERVER_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
ATTRIBUTE_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
RESERVED_ATTRIBUTES = ("name", "grant", "server")  # identity.name is the label; the rest we set
MAX_LABEL = 128
MAX_ATTRIBUTE_VALUE = 1024
MAX_ATTRIBUTES = 64
ID_ATTEMPTS = 8  # fresh ids tried before giving up (48 random bits: a clash is already rare)

Status = Literal["live", "revoked", "expired"]
TokenProblem = Literal["malformed", "unknown", "expired"]

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


@dataclass(frozen=True, slots=True)
class Grant:
    """One grant as stored; never carries its token or the token's hash."""

    id: str
    server: str
    label: str
    policy: Path | None
    attributes: Mapping[str, str] = field(default_factory=dict)
    created: float = 0.0
    expires: float | None = None
    revoked: float | None = None
    rotated_to: str | None = None

    def expired(self, now: float) -> bool:
        return self.expires is not None and self.expires <= now

    def status(self, now: float) -> Status:
        """ "expired" if it ran out before it was revoked (or now), else "revoked" or "live"."""
        if self.expired(self.revoked if self.revoked is not None else now):
            return "expired"
        return "revoked" if self.revoked is not None else "live"


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


def check_server(server: str) -> None:
    if not isinstance(server, str) or SERVER_RE.fullmatch(server) is None:
        raise ConfigError(
            f"server name {_shown(server)} is invalid: use 1-63 lowercase letters, digits, "
            '"-" or "_", starting with a letter or digit'
        )


def check_label(label: str) -> None:
    if not isinstance(label, str) or not label:
        raise ConfigError("label must not be empty")
    if len(label) > MAX_LABEL:
        raise ConfigError(f"label is {len(label)} characters long; at most {MAX_LABEL} allowed")
    if not label.isprintable():
        raise ConfigError(f"label {_shown(label)} contains control or non-printable characters")
    if label != label.strip():
        raise ConfigError(f"label {_shown(label)} must not start or end with whitespace")


def check_attributes(attributes: Mapping[str, str]) -> None:
    if len(attributes) > MAX_ATTRIBUTES:
        raise ConfigError(f"a grant has at most {MAX_ATTRIBUTES} attributes")
    for key, value in attributes.items():
        if not isinstance(key, str) or ATTRIBUTE_KEY_RE.fullmatch(key) is None:
            raise ConfigError(
                f"attribute name {_shown(key)} is invalid: use up to 64 letters, digits, "
                '"_", "." or "-", starting with a letter or "_"'
            )
        if key in RESERVED_ATTRIBUTES:
            raise ConfigError(
                f'attribute name "{key}" is reserved (identity.name is the label; "grant" and '
                '"server" are set by toolgate)'
            )
        if not isinstance(value, str) or len(value) > MAX_ATTRIBUTE_VALUE:
            raise ConfigError(
                f'attribute "{key}" must be text of at most {MAX_ATTRIBUTE_VALUE} characters'
            )
        if not value.isprintable():
            raise ConfigError(f'attribute "{key}" contains control or non-printable characters')


class GrantStore:
    """Grants in an SQLite file (WAL mode), created with its parents when missing.

    Synchronous by design: every call is one short transaction or, for `lookup`, usually no
    query at all. One store may be shared by threads; it serialises its own calls.
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
        attrs = dict(attributes or {})
        check_server(server)
        check_label(label)
        check_attributes(attrs)
        if policy is not None and not policy.is_absolute():
            raise ConfigError(f"a grant's policy path must be absolute, got {policy}")
        now = self._clock.now()
        if expires is not None and not (math.isfinite(expires) and expires > now):
            raise ConfigError("the expiry is not in the future")
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
                raise ConfigError(
                    f'server "{server}" already has a live grant labelled {_shown(label)} '
                    f"({held[0]}): revoke or rotate it, or choose another label"
                )
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
        by_id = grant_id is not None and server is None and label is None
        by_label = grant_id is None and server is not None and label is not None
        if not (by_id or by_label):
            raise ConfigError("name the grant to revoke: its id, or its server and label")
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
                raise ConfigError(
                    f"grant {old.id} has expired; create a new grant instead of rotating it"
                )
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
        if entry is None or not hashes_equal(entry[0], presented):
            return "unknown"
        grant = entry[1]
        return "expired" if grant.expired(self._clock.now() if now is None else now) else grant

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
            if not is_grant_id(grant_id):
                raise ConfigError(
                    f"{_shown(grant_id)} is not a grant id (gr_ and 12 hex digits, "
                    "as `toolgate grants list` shows)"
                )
            row = conn.execute(BY_ID, (grant_id,)).fetchone()
            if row is None:
                raise ConfigError(f"no grant {grant_id} in {self._path}")
            grant = self._grant(row)
            if grant.revoked is not None:
                raise ConfigError(f"grant {grant_id} is already revoked")
            return grant
        row = conn.execute(BY_LABEL, (server, label)).fetchone()
        if row is None:
            raise ConfigError(
                f'server "{server}" has no live grant labelled {_shown(label or "")} '
                f"in {self._path}"
            )
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
                json.dumps(dict(grant.attributes), sort_keys=True, ensure_ascii=False),
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
            attributes = json.loads(str(attrs_text))
            ok = isinstance(attributes, dict) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
            )
            if not ok:
                raise ValueError("attributes are not a map of text")
            return Grant(
                id=str(gid),
                server=str(server),
                label=str(label),
                policy=None if policy is None else Path(str(policy)),
                attributes=attributes,
                created=_number(created),
                expires=None if expires is None else _number(expires),
                revoked=None if revoked is None else _number(revoked),
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


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a timestamp is {type(value).__name__}, not a number")
    return float(value)


def _shown(text: object) -> str:
    """A value for an error message: quoted, control characters escaped, long ones cut."""
    if not isinstance(text, str):
        return type(text).__name__
    cut = text if len(text) <= 60 else text[:60] + "…"
    return json.dumps(cut, ensure_ascii=False)
