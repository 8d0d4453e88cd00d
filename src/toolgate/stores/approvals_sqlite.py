"""SqliteApprovalStore: approvals in one SQLite file, shared by a running gateway and the
`toolgate approvals …` commands in other processes.

Atomicity comes from SQLite itself, so it holds across processes: `resolve` and `consume` are
each ONE conditional UPDATE (`… WHERE id = ? AND status = 'pending' AND expires_at > ?`) whose
returned row decides who won; `request` (create or join) runs in a `BEGIN IMMEDIATE` transaction,
so two processes can never open two pending approvals for one fingerprint where one should have
joined the other. Lapsed approvals are marked expired by conditional UPDATEs too, and only when a
read found one: reading never takes the write lock otherwise.

Blocking: every operation runs on a worker thread (`anyio.to_thread`) on the store's one
connection, which waits up to `busy_timeout` seconds for another process's write lock; the event
loop never waits on the file.

`wait` wakes at once on a `resolve` made through this store object (an anyio Event); a change
made by another process (or another store object on the same file) is noticed by polling
`PRAGMA data_version` every `POLL_SECONDS`, which moves only when another connection committed.

The file is only written once it is known to be a toolgate approvals database or a fresh one: a
non-SQLite file, or another application's database, is refused (ConfigError) and left byte for
byte untouched. It is marked with `PRAGMA application_id` ("TGAP") and versioned with
`PRAGMA user_version`. Arguments are kept as JSON whose numbers stay exact.
"""

from __future__ import annotations

import builtins
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread

from toolgate.errors import StoreError
from toolgate.stores.approvals import (
    Approval,
    ApprovalNotFound,
    ApprovalNotPending,
    ApprovalRequest,
    ApprovalStatus,
    SelfApprovalError,
)
from toolgate.stores.approvals_memory import (
    POLL_SECONDS,
    RETENTION_SECONDS,
    Wakeups,
    check_approval_id,
    check_approver,
    check_dedupe,
    check_limit,
    check_now,
    check_request,
    check_timeout,
    decode_arguments,
    encode_arguments,
    lapsed,
    new_approval_id,
)
from toolgate.stores.sqlite_owned import FileKind, open_owned

APPROVALS_DB_ENV = "TOOLGATE_APPROVALS_DB"
APPROVALS_FILE = "approvals.sqlite3"
WHAT = "approvals database"
APPLICATION_ID = 0x54474150  # "TGAP": toolgate approvals
SCHEMA_VERSION = 1
ID_ATTEMPTS = 8  # fresh ids tried before giving up (64 random bits: a clash is already rare)

# Version n's statements bring a file from version n-1 to n; run in one transaction.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE approvals (
               id TEXT PRIMARY KEY,
               fingerprint TEXT NOT NULL,
               tool TEXT NOT NULL,
               arguments TEXT NOT NULL,
               rule_id TEXT NOT NULL,
               rule_name TEXT,
               policy_revision TEXT NOT NULL,
               identity TEXT,
               server TEXT,
               session TEXT,
               message TEXT NOT NULL,
               decision_id TEXT NOT NULL,
               mode TEXT NOT NULL,
               timeout_seconds REAL NOT NULL,
               status TEXT NOT NULL CHECK (status IN
                   ('pending', 'approved', 'denied', 'consumed', 'expired')),
               created_at REAL NOT NULL,
               expires_at REAL NOT NULL,
               resolved_at REAL,
               resolved_by TEXT,
               reason TEXT,
               consumed_at REAL,
               joined INTEGER NOT NULL DEFAULT 0
           )""",
        "CREATE INDEX approvals_by_fingerprint ON approvals (fingerprint, created_at)",
        "CREATE INDEX approvals_by_status ON approvals (status, expires_at)",
        "CREATE INDEX approvals_by_created ON approvals (created_at)",
    ),
}
FILE_KIND = FileKind(WHAT, APPLICATION_ID, SCHEMA_VERSION, MIGRATIONS)

# The statements below join constant fragments only (S608): every value is a bound parameter.
COLUMNS = (
    "id, fingerprint, tool, arguments, rule_id, rule_name, policy_revision, identity, server, "
    "session, message, decision_id, mode, timeout_seconds, status, created_at, expires_at, "
    "resolved_at, resolved_by, reason, consumed_at, joined"
)
LIVE_SQL = "status IN ('pending', 'approved', 'denied')"
NEWEST_FIRST = "ORDER BY created_at DESC, rowid DESC"
INSERT = (
    f"INSERT INTO approvals ({COLUMNS}) VALUES "  # noqa: S608
    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO NOTHING"
)
BY_ID = f"SELECT {COLUMNS} FROM approvals WHERE id = ?"  # noqa: S608
LIVE_FOR = (
    f"SELECT {COLUMNS} FROM approvals WHERE fingerprint = ? "  # noqa: S608
    f"AND {LIVE_SQL} {NEWEST_FIRST}"
)
NEWEST_PENDING = (
    f"SELECT {COLUMNS} FROM approvals WHERE fingerprint = ? AND status = 'pending' "  # noqa: S608
    f"AND expires_at > ? {NEWEST_FIRST} LIMIT 1"
)
LISTING = (
    f"SELECT {COLUMNS} FROM approvals WHERE (?1 IS NULL OR status = ?1) "  # noqa: S608
    f"{NEWEST_FIRST} LIMIT ?2"
)
ANY_LAPSED = f"SELECT 1 FROM approvals WHERE {LIVE_SQL} AND expires_at <= ? LIMIT 1"  # noqa: S608
LAPSE_ALL = (
    f"UPDATE approvals SET status = 'expired' WHERE {LIVE_SQL} AND expires_at <= ? "  # noqa: S608
    f"RETURNING {COLUMNS}"
)
LAPSE_FINGERPRINT = (
    f"UPDATE approvals SET status = 'expired' WHERE fingerprint = ? AND {LIVE_SQL} "  # noqa: S608
    "AND expires_at <= ? RETURNING id"
)
LAPSE_ONE = (
    f"UPDATE approvals SET status = 'expired' WHERE id = ? AND {LIVE_SQL} "  # noqa: S608
    "AND expires_at <= ? RETURNING id"
)
JOIN = "UPDATE approvals SET joined = joined + 1 WHERE id = ? RETURNING joined"
RESOLVE = (
    "UPDATE approvals SET status = ?1, resolved_at = ?2, resolved_by = ?3, "  # noqa: S608
    "reason = ?4, expires_at = ?2 + timeout_seconds "
    "WHERE id = ?5 AND status = 'pending' AND expires_at > ?2 "
    f"AND (identity IS NULL OR identity <> ?3) RETURNING {COLUMNS}"
)
CONSUME = (
    "UPDATE approvals SET status = 'consumed', consumed_at = ?1 WHERE id = ?2 "  # noqa: S608
    f"AND status = 'approved' AND expires_at > ?1 RETURNING {COLUMNS}"
)
FORGET = (
    "DELETE FROM approvals WHERE (status = 'expired' AND expires_at <= ?1) "
    "OR (status = 'consumed' AND consumed_at <= ?1)"
)

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], T]


def approvals_path(explicit: Path | None, state_dir: Path) -> Path:
    """The approvals file: `explicit` (--approvals-db), else $TOOLGATE_APPROVALS_DB, else the
    state dir's, so the gateway and `toolgate approvals` run in one environment share it."""
    if explicit is not None:
        return explicit.expanduser()
    configured = os.environ.get(APPROVALS_DB_ENV)
    if configured:
        return Path(configured).expanduser()
    return state_dir / APPROVALS_FILE


class SqliteApprovalStore:
    """An ApprovalStore in an SQLite file (WAL mode), created with its parents when missing."""

    def __init__(self, path: Path, *, busy_timeout: float = 5.0) -> None:
        self._path = Path(path).expanduser()
        self._busy_timeout = busy_timeout
        self._conn = open_owned(self._path, FILE_KIND, busy_timeout)
        self._lock = threading.Lock()  # one operation at a time on the connection
        # Ids that stopped being pending through this object, for `wait` to wake on. Its own
        # lock: the loop thread takes it, and must never queue behind a busy transaction.
        self._changed: list[str] = []
        self._changed_lock = threading.Lock()
        self._wakeups = Wakeups()
        self._closed = False

    @property
    def path(self) -> Path:
        return self._path

    async def request(
        self, request: ApprovalRequest, *, dedupe_seconds: float | None, now: float
    ) -> tuple[Approval, bool]:
        check_request(request)
        check_dedupe(dedupe_seconds)
        check_now(now)
        arguments = encode_arguments(request.arguments)
        return await self._run(
            lambda c: self._request_on(c, request, arguments, dedupe_seconds, now)
        )

    async def current(self, fingerprint: str, now: float) -> Approval | None:
        check_now(now)
        return await self._run(lambda c: self._current_on(c, fingerprint, now))

    async def get(self, approval_id: str, now: float) -> Approval | None:
        check_now(now)
        return await self._run(lambda c: self._get_on(c, approval_id, now))

    async def list(
        self, *, now: float, status: ApprovalStatus | None = None, limit: int = 100
    ) -> builtins.list[Approval]:
        check_now(now)
        check_limit(limit)
        wanted = None if status is None else ApprovalStatus(status).value
        return await self._run(lambda c: self._list_on(c, now, wanted, limit))

    async def resolve(
        self, approval_id: str, *, approve: bool, by: str, reason: str | None, now: float
    ) -> Approval:
        check_now(now)
        check_approver(by)
        status = ApprovalStatus.APPROVED if approve else ApprovalStatus.DENIED
        return await self._run(lambda c: self._resolve_on(c, approval_id, status, by, reason, now))

    async def consume(self, approval_id: str, now: float) -> Approval | None:
        check_now(now)
        return await self._run(lambda c: self._consume_on(c, approval_id, now))

    async def record_answered(
        self,
        approval_id: str,
        request: ApprovalRequest,
        *,
        approved: bool,
        by: str,
        now: float,
    ) -> Approval | None:
        check_approval_id(approval_id)
        check_request(request)
        check_now(now)
        check_approver(by)
        at = float(now)
        approval = Approval(
            id=approval_id,
            request=request,
            status=ApprovalStatus.CONSUMED if approved else ApprovalStatus.DENIED,
            created_at=at,
            expires_at=at + float(request.timeout_seconds),
            resolved_at=at,
            resolved_by=by,
            consumed_at=at if approved else None,
        )
        arguments = encode_arguments(request.arguments)
        return await self._run(lambda c: self._record_on(c, approval, arguments))

    async def expire(self, now: float) -> builtins.list[Approval]:
        check_now(now)
        return await self._run(lambda c: self._expire_on(c, now))

    async def wait(
        self,
        approval_id: str,
        *,
        timeout: float,  # noqa: ASYNC109 - the protocol's bound on the wait, not a cancellation
        now: float,
    ) -> Approval | None:
        """See ApprovalStore.wait; its state is judged at `now` (the store reads no clock)."""
        check_timeout(timeout)
        check_now(now)
        # listen first, then read: a resolution made here in between still wakes this wait
        event = self._wakeups.event(approval_id)
        try:
            version, approval = await self._run(
                lambda c: (_data_version(c), self._get_on(c, approval_id, now))
            )
            if approval is None or approval.status is not ApprovalStatus.PENDING:
                return approval
            with anyio.move_on_after(timeout):
                while not event.is_set():
                    with anyio.move_on_after(POLL_SECONDS):
                        await event.wait()
                    if event.is_set():
                        break
                    seen = await self._run(_data_version)
                    if seen == version:
                        continue  # no other connection committed: nothing to read
                    version = seen
                    approval = await self.get(approval_id, now)
                    if approval is None or approval.status is not ApprovalStatus.PENDING:
                        return approval
        finally:
            self._wakeups.done_waiting(approval_id)
        return await self.get(approval_id, now)

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._close)
        self._wakeups.wake_all()

    # -- operations on the connection (worker thread, under the lock) --

    def _request_on(
        self,
        conn: sqlite3.Connection,
        request: ApprovalRequest,
        arguments: str,
        dedupe_seconds: float | None,
        now: float,
    ) -> tuple[Approval, bool]:
        with _immediate(conn):
            lapsed_ids = [
                str(found[0])
                for found in conn.execute(LAPSE_FINGERPRINT, (request.fingerprint, now)).fetchall()
            ]
            outcome = self._join_on(conn, request.fingerprint, dedupe_seconds, now)
            if outcome is None:
                at = float(now)
                approval = Approval(
                    id=self._free_id(conn),
                    request=request,
                    status=ApprovalStatus.PENDING,
                    created_at=at,
                    expires_at=at + float(request.timeout_seconds),
                )
                conn.execute(INSERT, _row(approval, arguments))
                outcome = (self._with_stored_arguments(approval, arguments), True)
        self._note_changed(lapsed_ids)  # committed: waiters on them may wake
        return outcome

    def _join_on(
        self, conn: sqlite3.Connection, fingerprint: str, dedupe_seconds: float | None, now: float
    ) -> tuple[Approval, bool] | None:
        """Join the newest pending approval for `fingerprint` if it is recent enough."""
        row = conn.execute(NEWEST_PENDING, (fingerprint, now)).fetchone()
        if row is None:
            return None
        newest = self._approval(row)
        if dedupe_seconds is not None and now - newest.created_at > dedupe_seconds:
            return None
        [(joined,)] = conn.execute(JOIN, (newest.id,)).fetchall()
        return replace(newest, joined=int(joined)), False

    def _current_on(
        self, conn: sqlite3.Connection, fingerprint: str, now: float
    ) -> Approval | None:
        found = [self._approval(row) for row in conn.execute(LIVE_FOR, (fingerprint,))]
        if any(lapsed(a, now) for a in found):
            lapsed_ids = conn.execute(LAPSE_FINGERPRINT, (fingerprint, now)).fetchall()
            self._note_changed(str(row[0]) for row in lapsed_ids)
        return next((a for a in found if not lapsed(a, now)), None)

    def _get_on(self, conn: sqlite3.Connection, approval_id: str, now: float) -> Approval | None:
        row = conn.execute(BY_ID, (approval_id,)).fetchone()
        if row is None:
            return None
        approval = self._approval(row)
        if not lapsed(approval, now):
            return approval
        if conn.execute(LAPSE_ONE, (approval_id, now)).fetchall():
            self._note_changed([approval_id])
        row = conn.execute(BY_ID, (approval_id,)).fetchone()
        return None if row is None else self._approval(row)

    def _list_on(
        self, conn: sqlite3.Connection, now: float, status: str | None, limit: int
    ) -> builtins.list[Approval]:
        if conn.execute(ANY_LAPSED, (now,)).fetchone() is not None:
            self._note_changed(a.id for a in self._lapse_all(conn, now))
        return [self._approval(row) for row in conn.execute(LISTING, (status, limit))]

    def _resolve_on(
        self,
        conn: sqlite3.Connection,
        approval_id: str,
        status: ApprovalStatus,
        by: str,
        reason: str | None,
        now: float,
    ) -> Approval:
        rows = conn.execute(RESOLVE, (status.value, float(now), by, reason, approval_id)).fetchall()
        if rows:
            self._note_changed([approval_id])
            return self._approval(rows[0])
        approval = self._get_on(conn, approval_id, now)  # why not: marks a lapsed one expired
        if approval is None:
            raise ApprovalNotFound(f"no approval {approval_id} in {self._path}")
        if approval.status is not ApprovalStatus.PENDING:
            raise ApprovalNotPending(approval)
        if approval.request.identity == by:
            raise SelfApprovalError(f"{by} asked for approval {approval_id} and cannot resolve it")
        raise StoreError(f"{WHAT} {self._path}: approval {approval_id} could not be resolved")

    def _consume_on(
        self, conn: sqlite3.Connection, approval_id: str, now: float
    ) -> Approval | None:
        rows = conn.execute(CONSUME, (float(now), approval_id)).fetchall()
        return self._approval(rows[0]) if rows else None

    def _record_on(
        self, conn: sqlite3.Connection, approval: Approval, arguments: str
    ) -> Approval | None:
        if conn.execute(INSERT, _row(approval, arguments)).rowcount != 1:
            return None  # the id exists: a replayed answer
        return self._with_stored_arguments(approval, arguments)

    def _expire_on(self, conn: sqlite3.Connection, now: float) -> builtins.list[Approval]:
        with _immediate(conn):
            marked = self._lapse_all(conn, now)
            conn.execute(FORGET, (now - RETENTION_SECONDS,))
        self._note_changed(a.id for a in marked)
        return marked

    def _lapse_all(self, conn: sqlite3.Connection, now: float) -> builtins.list[Approval]:
        """Mark every lapsed approval expired; the caller notes them once committed."""
        marked = [self._approval(row) for row in conn.execute(LAPSE_ALL, (now,)).fetchall()]
        marked.sort(key=lambda a: a.created_at)
        return marked

    def _free_id(self, conn: sqlite3.Connection) -> str:
        for _ in range(ID_ATTEMPTS):
            candidate = new_approval_id()
            if (
                conn.execute("SELECT 1 FROM approvals WHERE id = ?", (candidate,)).fetchone()
                is None
            ):
                return candidate
        raise StoreError(f"{WHAT} {self._path}: no free approval id after {ID_ATTEMPTS} attempts")

    def _approval(self, row: Sequence[object]) -> Approval:
        """A row as an Approval; StoreError naming the approval when it is not what we write."""
        try:
            (
                approval_id,
                fingerprint,
                tool,
                arguments,
                rule_id,
                rule_name,
                policy_revision,
                identity,
                server,
                session,
                message,
                decision_id,
                mode,
                timeout_seconds,
                status,
                created_at,
                expires_at,
                resolved_at,
                resolved_by,
                reason,
                consumed_at,
                joined,
            ) = row
            if not isinstance(arguments, str):
                raise TypeError("arguments are not text")
            where = f"{WHAT} {self._path}: approval {approval_id}"
            request = ApprovalRequest(
                fingerprint=_text(fingerprint),
                tool=_text(tool),
                arguments=decode_arguments(arguments, where),
                rule_id=_text(rule_id),
                rule_name=_optional_text(rule_name),
                policy_revision=_text(policy_revision),
                identity=_optional_text(identity),
                server=_optional_text(server),
                session=_optional_text(session),
                message=_text(message),
                decision_id=_text(decision_id),
                mode=_text(mode),
                timeout_seconds=_number(timeout_seconds),
            )
            return Approval(
                id=_text(approval_id),
                request=request,
                status=ApprovalStatus(_text(status)),
                created_at=_number(created_at),
                expires_at=_number(expires_at),
                resolved_at=None if resolved_at is None else _number(resolved_at),
                resolved_by=_optional_text(resolved_by),
                reason=_optional_text(reason),
                consumed_at=None if consumed_at is None else _number(consumed_at),
                joined=int(_number(joined)),
            )
        except (ValueError, TypeError) as exc:
            shown = row[0] if row else "?"
            raise StoreError(f"{WHAT} {self._path}: approval {shown} is damaged: {exc}") from None

    def _with_stored_arguments(self, approval: Approval, arguments: str) -> Approval:
        """`approval` with its arguments as a later read returns them (numbers exact)."""
        where = f"{WHAT} {self._path}: approval {approval.id}"
        request = replace(approval.request, arguments=decode_arguments(arguments, where))
        return replace(approval, request=request)

    # -- plumbing --

    async def _run(self, op: Op[T]) -> T:
        self._check_open()
        try:
            return await anyio.to_thread.run_sync(self._locked, op)
        finally:
            self._wake_changed()

    def _locked(self, op: Op[T]) -> T:
        with self._lock:
            self._check_open()
            conn = self._conn
            try:
                return op(conn)
            except sqlite3.Error as exc:
                _roll_back(conn)
                if _is_busy(exc):
                    raise StoreError(
                        f"{WHAT} {self._path} stayed locked by another process for more than "
                        f"{self._busy_timeout:g}s"
                    ) from None
                raise StoreError(f"{WHAT} {self._path}: {exc}") from None

    def _note_changed(self, approval_ids: Iterable[str]) -> None:
        with self._changed_lock:
            self._changed.extend(approval_ids)

    def _wake_changed(self) -> None:
        with self._changed_lock:
            changed, self._changed = self._changed, []
        self._wakeups.wake(changed)

    def _close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{WHAT} {self._path} is closed")


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One `BEGIN IMMEDIATE` transaction: its reads and writes see no concurrent writer."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        _roll_back(conn)
        raise


def _roll_back(conn: sqlite3.Connection) -> None:
    """End a failed transaction; a rollback that fails too leaves SQLite to end it."""
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _data_version(conn: sqlite3.Connection) -> int:
    """Moves whenever another connection commits to the file (never for our own commits)."""
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def _row(approval: Approval, arguments: str) -> tuple[object, ...]:
    r = approval.request
    return (
        approval.id,
        r.fingerprint,
        r.tool,
        arguments,
        r.rule_id,
        r.rule_name,
        r.policy_revision,
        r.identity,
        r.server,
        r.session,
        r.message,
        r.decision_id,
        r.mode,
        float(r.timeout_seconds),
        approval.status.value,
        approval.created_at,
        approval.expires_at,
        approval.resolved_at,
        approval.resolved_by,
        approval.reason,
        approval.consumed_at,
        approval.joined,
    )


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, found {type(value).__name__}")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, found {type(value).__name__}")
    return float(value)


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
