"""SqliteCounterStore beyond the shared contract: files, processes, locks, schema and sweeping."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

import toolgate
from toolgate.clock import FakeClock
from toolgate.errors import StoreError
from toolgate.policy.decision import DAY, Bound, Charge, CounterRef
from toolgate.quota.ledger import Ledger, Reservation
from toolgate.stores.base import BucketKey, ReserveItem
from toolgate.stores.sqlite import SWEEP_BATCH, SqliteCounterStore
from toolgate.stores.sqlite_schema import APPLICATION_ID, SCHEMA_VERSION

pytestmark = pytest.mark.anyio

START = 1_767_225_600
BUCKET = BucketKey("k", START, 60)


def one(limit: str | None = None) -> ReserveItem:
    return ReserveItem(BUCKET, Decimal(1), None if limit is None else Decimal(limit), False)


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


async def test_a_daily_counter_keeps_its_value_across_close_and_reopen(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "counters.db"
    counter = CounterRef("create_refund", "daily_spend", DAY)
    charge = Charge(counter, Decimal(7), Bound(Decimal(100)), "tools.create_refund.rules[0]")
    store = SqliteCounterStore(path, clock=clock)
    assert isinstance(await Ledger(store, "ns", clock).reserve([charge]), Reservation)
    await store.aclose()

    clock.advance(3600)  # later the same day, after a restart
    reopened = SqliteCounterStore(path, clock=clock)
    assert await Ledger(reopened, "ns", clock).snapshot([counter]) == {counter: Decimal(7)}
    await reopened.aclose()


CHILD = """
import sys, anyio
from decimal import Decimal
from toolgate.clock import FakeClock
from toolgate.stores.base import BucketKey, ReserveItem
from toolgate.stores.sqlite import SqliteCounterStore

async def main(path, attempts, limit):
    store = SqliteCounterStore(path, clock=FakeClock())
    item = ReserveItem(BucketKey("shared", 1767225600, 86400), Decimal(1), Decimal(limit), False)
    print("ready", flush=True)
    sys.stdin.readline()  # start together: the parent releases every child at once
    admitted = 0
    for _ in range(attempts):
        admitted += (await store.reserve([item])).ok
    await store.aclose()
    print(admitted, flush=True)

anyio.run(main, sys.argv[1], int(sys.argv[2]), sys.argv[3])
"""


def test_processes_hammering_one_file_never_overshoot_a_limit(tmp_path: Path) -> None:
    path, processes, attempts, limit = tmp_path / "shared.db", 3, 1500, 2000
    src = str(Path(toolgate.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    argv = [sys.executable, "-c", CHILD, str(path), str(attempts), str(limit)]
    children = [
        subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(processes)
    ]
    try:
        for child in children:  # every child has opened the (concurrently created) file
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [child.communicate(timeout=60)[0] for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    assert [child.returncode for child in children] == [0] * processes
    assert sum(int(out.split()[-1]) for out in outputs) == limit
    with raw(path) as conn:
        assert conn.execute("SELECT value FROM counters").fetchall() == [(str(limit),)]


def test_a_garbage_file_gives_a_store_error_naming_it_and_is_left_byte_identical(
    tmp_path: Path,
) -> None:
    path = tmp_path / "counters.db"
    garbage = random.Random(0).randbytes(4096)
    path.write_bytes(garbage)
    with pytest.raises(StoreError, match="not an SQLite database") as caught:
        SqliteCounterStore(path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == garbage
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counters.db"]


def test_a_damaged_database_behind_a_valid_header_gives_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "counters.db"
    damaged = b"SQLite format 3\x00" + random.Random(1).randbytes(4080)
    path.write_bytes(damaged)
    with pytest.raises(StoreError, match=str(path)):
        SqliteCounterStore(path)
    assert path.read_bytes() == damaged


def test_another_applications_database_is_refused_and_left_unmodified(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with raw(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="another application"):
        SqliteCounterStore(path)
    assert path.read_bytes() == before


async def test_a_file_from_a_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "counters.db"
    await SqliteCounterStore(path).aclose()
    conn = raw(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        SqliteCounterStore(path)


async def test_a_new_file_is_marked_versioned_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dirs" / "counters.db"  # parents are created
    store = SqliteCounterStore(path)
    conn = raw(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    await store.aclose()


async def test_an_empty_existing_file_is_initialised(tmp_path: Path) -> None:
    path = tmp_path / "counters.db"
    path.touch()
    store = SqliteCounterStore(path)
    assert await store.health()
    await store.aclose()


def test_a_directory_at_the_path_gives_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="directory"):
        SqliteCounterStore(tmp_path)


async def test_a_reservation_waits_off_the_loop_while_another_process_holds_the_lock(
    tmp_path: Path,
) -> None:
    path = tmp_path / "counters.db"
    store = SqliteCounterStore(path)
    blocker = raw(path)
    blocker.execute("BEGIN IMMEDIATE")
    results = []

    async def reserve() -> None:
        results.append(await store.reserve([one("5")]))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(reserve)
            await anyio.wait_all_tasks_blocked()
            assert results == []  # pending, yet this task runs: the loop is not blocked
            blocker.execute("COMMIT")
    blocker.close()
    assert results[0].ok
    assert await store.get([BUCKET]) == [1]
    await store.aclose()


async def test_a_lock_held_past_the_busy_timeout_gives_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "counters.db"
    store = SqliteCounterStore(path, busy_timeout=0.05)
    blocker = raw(path)
    blocker.execute("BEGIN IMMEDIATE")
    with anyio.fail_after(10), pytest.raises(StoreError, match="locked by another process"):
        await store.reserve([one()])
    blocker.execute("ROLLBACK")
    blocker.close()
    assert (await store.reserve([one()])).ok  # usable again once the lock is gone
    await store.aclose()


async def test_a_corrupt_stored_value_gives_a_store_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "counters.db"
    store = SqliteCounterStore(path)
    await store.reserve([one()])
    with raw(path) as conn:
        conn.execute("UPDATE counters SET value = 'lots'")
    conn.close()
    with pytest.raises(StoreError, match=str(path)):
        await store.reserve([one()])
    await store.aclose()


async def test_expired_buckets_are_swept_in_bounded_batches(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "counters.db"
    store = SqliteCounterStore(path, clock=clock)
    backlog = SWEEP_BATCH * 2 + 10
    conn = raw(path)
    conn.executemany(
        "INSERT INTO counters VALUES (?, 0, 60, '1')", [(f"old{i}",) for i in range(backlog)]
    )

    def old_rows() -> int:
        return int(
            conn.execute("SELECT count(*) FROM counters WHERE key GLOB 'old*'").fetchone()[0]
        )

    remaining = []
    for _ in range(4):
        await store.reserve([one()])
        remaining.append(old_rows())
    assert remaining == [backlog - SWEEP_BATCH, 10, 0, 0]
    conn.close()
    await store.aclose()


OPENERS = {  # each opens (creating) the file in its constructor; the process then exits
    "counter store": "from toolgate.stores.sqlite import SqliteCounterStore as S",
    "approvals file": "from toolgate.stores.approvals_sqlite import SqliteApprovalStore as S",
    "grants file": "from toolgate.identity.grants import GrantStore as S",
    "audit database": "from toolgate.audit.sqlite_sink import SqliteAuditSink as S",
}


@pytest.mark.parametrize("kind", list(OPENERS))
def test_processes_creating_one_fresh_file_at_once_all_open_it(tmp_path: Path, kind: str) -> None:
    """Each process must see the file either empty or fully made, never half: a schema made
    by one process between another's separate reads once looked like another application's."""
    for attempt in range(4):
        path = tmp_path / f"shared-{attempt}.db"
        script = (
            f"import sys\nfrom pathlib import Path\n{OPENERS[kind]}\n"
            f"sys.stdin.read(1)\nS(Path({str(path)!r}))\n"
        )
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": str(Path(toolgate.__file__).parents[1])},
            )
            for _ in range(6)
        ]
        for proc in procs:  # every process is started: let them all go at once
            assert proc.stdin is not None
            proc.stdin.write(b"x")
            proc.stdin.close()
        failures = []
        for proc in procs:
            assert proc.stderr is not None
            with proc.stderr:
                err = proc.stderr.read()
            if proc.wait(timeout=60) != 0:
                failures.append(err.decode(errors="replace")[-400:])
        assert failures == [], f"{kind}, attempt {attempt}: {failures[0]}"
