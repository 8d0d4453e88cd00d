"""SqliteApprovalStore beyond the shared contract: restarts, several store objects and OS
processes on one file, files that are not ours, schema marks and where the file lives."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import pytest

import toolgate
from toolgate.clock import FakeClock
from toolgate.errors import ConfigError, StoreError
from toolgate.stores.approvals import Approval, ApprovalRequest, ApprovalStatus
from toolgate.stores.approvals_sqlite import (
    APPLICATION_ID,
    APPROVALS_DB_ENV,
    SCHEMA_VERSION,
    SqliteApprovalStore,
    approvals_path,
)
from toolgate.stores.sqlite import SqliteCounterStore

pytestmark = pytest.mark.anyio

BOUND = 30.0  # seconds any wait here may take before the test fails


def ask(fingerprint: str = "fp", identity: str | None = "agent") -> ApprovalRequest:
    return ApprovalRequest(
        fingerprint=fingerprint,
        tool="delete_branch",
        arguments={"branch": "main", "force": True},
        rule_id="tools.delete_branch.rules[0]",
        rule_name=None,
        policy_revision="rev-9",
        identity=identity,
        server=None,
        session=None,
        message="deleting a branch needs a human",
        decision_id="dec_9",
        mode="hold",
        timeout_seconds=600.0,
    )


async def approved(store: SqliteApprovalStore, clock: FakeClock) -> Approval:
    approval, _ = await store.request(ask(), dedupe_seconds=None, now=clock.now())
    return await store.resolve(approval.id, approve=True, by="ops", reason=None, now=clock.now())


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def child_env() -> dict[str, str]:
    src = str(Path(toolgate.__file__).parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}


# -- restarts and sharing --


async def test_approvals_survive_closing_and_reopening_the_store(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "approvals.sqlite3"
    store = SqliteApprovalStore(path)
    pending, _ = await store.request(ask("fp-a"), dedupe_seconds=None, now=clock.now())
    done = await approved(store, clock)
    await store.aclose()

    clock.advance(30)  # a gateway restart later
    reopened = SqliteApprovalStore(path)
    try:
        assert await reopened.get(pending.id, clock.now()) == pending
        assert await reopened.current("fp", clock.now()) == done
        joined, created = await reopened.request(ask("fp-a"), dedupe_seconds=None, now=clock.now())
        assert not created and joined.id == pending.id and joined.joined == 1
        used = await reopened.consume(done.id, clock.now())
        assert used is not None and used.status is ApprovalStatus.CONSUMED
    finally:
        await reopened.aclose()


async def test_consumes_raced_from_two_store_objects_on_one_file_let_exactly_one_through(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "approvals.sqlite3"
    first, second = SqliteApprovalStore(path), SqliteApprovalStore(path)
    try:
        approval = await approved(first, clock)
        winners: list[Approval] = []

        async def attempt(store: SqliteApprovalStore) -> None:
            used = await store.consume(approval.id, clock.now())
            if used is not None:
                winners.append(used)

        with anyio.fail_after(BOUND):
            async with anyio.create_task_group() as tg:
                for n in range(20):
                    tg.start_soon(attempt, (first, second)[n % 2])
        assert [w.id for w in winners] == [approval.id]
    finally:
        await first.aclose()
        await second.aclose()


def test_consumes_raced_from_threads_with_their_own_event_loops_let_exactly_one_through(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "approvals.sqlite3"

    async def prepare() -> Approval:
        store = SqliteApprovalStore(path)
        try:
            return await approved(store, clock)
        finally:
            await store.aclose()

    approval = anyio.run(prepare)
    start = threading.Barrier(4)
    wins: list[int] = []
    failures: list[BaseException] = []

    async def race() -> int:
        store = SqliteApprovalStore(path)
        try:
            start.wait(timeout=BOUND)
            won = 0
            for _ in range(5):
                won += await store.consume(approval.id, clock.now()) is not None
            return won
        finally:
            await store.aclose()

    def run() -> None:
        try:
            wins.append(anyio.run(race))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=BOUND)
    assert not failures
    assert sorted(wins) == [0, 0, 0, 1]


async def test_simultaneous_requests_from_two_store_objects_open_one_approval(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "approvals.sqlite3"
    first, second = SqliteApprovalStore(path), SqliteApprovalStore(path)
    try:
        outcomes: list[tuple[Approval, bool]] = []

        async def ask_once(store: SqliteApprovalStore) -> None:
            outcomes.append(await store.request(ask(), dedupe_seconds=60, now=clock.now()))

        with anyio.fail_after(BOUND):
            async with anyio.create_task_group() as tg:
                for n in range(20):
                    tg.start_soon(ask_once, (first, second)[n % 2])
        assert sum(created for _, created in outcomes) == 1
        assert len({approval.id for approval, _ in outcomes}) == 1
        final = await first.get(outcomes[0][0].id, clock.now())
        assert final is not None and final.joined == 19
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_wait_wakes_when_another_store_object_resolves_the_approval(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "approvals.sqlite3"
    gateway, cli = SqliteApprovalStore(path), SqliteApprovalStore(path)
    try:
        approval, _ = await gateway.request(ask(), dedupe_seconds=None, now=clock.now())
        results: list[Approval | None] = []

        waiting = anyio.Event()

        async def waiter() -> None:
            waiting.set()
            results.append(await gateway.wait(approval.id, timeout=3600, now=clock.now()))

        with anyio.fail_after(BOUND):
            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter)
                await waiting.wait()  # resolved while (or just before) it waits
                await cli.resolve(
                    approval.id, approve=False, by="ops", reason="no", now=clock.now()
                )
        [got] = results
        assert got is not None and got.status is ApprovalStatus.DENIED and got.reason == "no"
    finally:
        await gateway.aclose()
        await cli.aclose()


RESOLVER = """
import sys, anyio
from pathlib import Path
from toolgate.stores.approvals_sqlite import SqliteApprovalStore

async def main(path, approval_id, now):
    store = SqliteApprovalStore(Path(path))
    await store.resolve(approval_id, approve=True, by="ops", reason="from the CLI", now=now)
    await store.aclose()

anyio.run(main, sys.argv[1], sys.argv[2], float(sys.argv[3]))
"""


async def test_a_wait_wakes_when_another_process_resolves_the_approval(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "approvals.sqlite3"
    gateway = SqliteApprovalStore(path)
    try:
        approval, _ = await gateway.request(ask(), dedupe_seconds=None, now=clock.now())
        argv = [sys.executable, "-c", RESOLVER, str(path), approval.id, repr(clock.now())]
        results: list[Approval | None] = []

        waiting = anyio.Event()

        async def waiter() -> None:
            waiting.set()
            results.append(await gateway.wait(approval.id, timeout=3600, now=clock.now()))

        with anyio.fail_after(BOUND):
            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter)
                done = await anyio.run_process(argv, env=child_env(), check=False)
                assert done.returncode == 0, done.stderr.decode()
        [got] = results
        assert got is not None and got.status is ApprovalStatus.APPROVED
        assert got.reason == "from the CLI"
    finally:
        await gateway.aclose()


CONSUMER = """
import sys, anyio
from pathlib import Path
from toolgate.stores.approvals_sqlite import SqliteApprovalStore

async def main(path, approval_id, now):
    store = SqliteApprovalStore(Path(path))
    print("ready", flush=True)
    sys.stdin.readline()  # start together: the parent releases every child at once
    used = await store.consume(approval_id, now)
    await store.aclose()
    print("won" if used is not None else "lost", flush=True)

anyio.run(main, sys.argv[1], sys.argv[2], float(sys.argv[3]))
"""


def test_four_processes_consuming_one_approval_let_exactly_one_through(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "approvals.sqlite3"

    async def prepare() -> Approval:
        store = SqliteApprovalStore(path)
        try:
            return await approved(store, clock)
        finally:
            await store.aclose()

    approval = anyio.run(prepare)
    argv = [sys.executable, "-c", CONSUMER, str(path), approval.id, repr(clock.now())]
    children = [
        subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env()
        )
        for _ in range(4)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [child.communicate(timeout=BOUND)[0].split() for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    assert [child.returncode for child in children] == [0] * 4
    assert sorted(out[-1] for out in outputs) == ["lost", "lost", "lost", "won"]
    with raw(path) as conn:
        row = conn.execute("SELECT status FROM approvals WHERE id = ?", (approval.id,)).fetchone()
    assert row == ("consumed",)


# -- files that are not ours --


def test_a_text_file_is_refused_naming_it_and_left_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "approvals.sqlite3"
    path.write_text("these are my notes, not a database\n")
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="not an SQLite database") as caught:
        SqliteApprovalStore(path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == before


def test_random_bytes_are_refused_and_left_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "approvals.sqlite3"
    garbage = random.Random(7).randbytes(4096)
    path.write_bytes(garbage)
    with pytest.raises(ConfigError, match=str(path)):
        SqliteApprovalStore(path)
    assert path.read_bytes() == garbage


def test_another_applications_database_is_refused_and_left_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "approvals.sqlite3"
    with raw(path) as conn:
        conn.execute("CREATE TABLE recipes (name TEXT)")
        conn.execute("INSERT INTO recipes VALUES ('soup')")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="another application") as caught:
        SqliteApprovalStore(path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == before


async def test_a_toolgate_counter_database_is_refused_as_another_applications(
    tmp_path: Path,
) -> None:
    path = tmp_path / "counters.db"
    await SqliteCounterStore(path).aclose()
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="application_id 0x54474354"):
        SqliteApprovalStore(path)
    assert path.read_bytes() == before


def test_a_directory_at_the_path_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "approvals.sqlite3"
    path.mkdir()
    with pytest.raises(ConfigError, match="is a directory") as caught:
        SqliteApprovalStore(path)
    assert str(path) in str(caught.value)


def test_a_damaged_database_behind_a_valid_header_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "approvals.sqlite3"
    path.write_bytes(b"SQLite format 3\x00" + random.Random(3).randbytes(2000))
    before = path.read_bytes()
    with pytest.raises(ConfigError, match=str(path)):
        SqliteApprovalStore(path)
    assert path.read_bytes() == before


async def test_a_file_from_a_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "approvals.sqlite3"
    await SqliteApprovalStore(path).aclose()
    with raw(path) as conn:
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(ConfigError, match="newer"):
        SqliteApprovalStore(path)


async def test_a_new_file_is_marked_versioned_indexed_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deeper" / "approvals.sqlite3"
    await SqliteApprovalStore(path).aclose()
    with raw(path) as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID == 0x54474150
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        indexed = {
            row[0]
            for row in conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        }
    conn.close()
    assert any("(fingerprint" in sql for sql in indexed)
    assert any("(status" in sql for sql in indexed)


async def test_an_empty_existing_file_is_initialised(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "approvals.sqlite3"
    path.touch()
    store = SqliteApprovalStore(path)
    try:
        _, created = await store.request(ask(), dedupe_seconds=None, now=clock.now())
        assert created
    finally:
        await store.aclose()


async def test_a_damaged_row_gives_a_store_error_naming_the_file_and_approval(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "approvals.sqlite3"
    store = SqliteApprovalStore(path)
    try:
        approval, _ = await store.request(ask(), dedupe_seconds=None, now=clock.now())
        with raw(path) as conn:
            conn.execute(
                "UPDATE approvals SET arguments = '{not json' WHERE id = ?", (approval.id,)
            )
        conn.close()
        with pytest.raises(StoreError, match=f"{path}.*{approval.id}"):
            await store.get(approval.id, clock.now())
    finally:
        await store.aclose()


async def test_a_write_lock_held_past_the_busy_timeout_gives_a_store_error(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "approvals.sqlite3"
    store = SqliteApprovalStore(path, busy_timeout=0.1)
    try:
        approval = await approved(store, clock)
        holder = raw(path)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with anyio.fail_after(BOUND), pytest.raises(StoreError, match="locked by another"):
                await store.consume(approval.id, clock.now())
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        used = await store.consume(approval.id, clock.now())  # the lock is gone: it works again
        assert used is not None
    finally:
        await store.aclose()


# -- where the file lives --


def test_an_explicit_path_wins_over_the_environment_and_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(APPROVALS_DB_ENV, str(tmp_path / "from-env.sqlite3"))
    explicit = tmp_path / "explicit.sqlite3"
    assert approvals_path(explicit, tmp_path / "state") == explicit


def test_the_environment_wins_over_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(APPROVALS_DB_ENV, str(tmp_path / "from-env.sqlite3"))
    assert approvals_path(None, tmp_path / "state") == tmp_path / "from-env.sqlite3"


def test_without_either_the_file_is_in_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(APPROVALS_DB_ENV, raising=False)
    assert approvals_path(None, tmp_path / "state") == tmp_path / "state" / "approvals.sqlite3"
    monkeypatch.setenv(APPROVALS_DB_ENV, "")  # set but empty: as if unset
    assert approvals_path(None, tmp_path / "state") == tmp_path / "state" / "approvals.sqlite3"


def test_a_home_relative_path_is_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert approvals_path(Path("~/a.sqlite3"), tmp_path) == tmp_path / "a.sqlite3"
    monkeypatch.setenv(APPROVALS_DB_ENV, "~/b.sqlite3")
    assert approvals_path(None, tmp_path / "state") == tmp_path / "b.sqlite3"
