"""The Redis counter store across outages, restarts, flushed scripts and skewed clocks, against
a redis-server each test starts and stops itself (waits are polls bounded by deadlines)."""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import anyio
import pytest
import redis
from tests.conftest import RedisServer, free_port, redis_server_path, stop_redis

from toolgate.clock import FakeClock
from toolgate.errors import StoreError
from toolgate.policy.decision import MINUTE, Bound, Charge, CounterRef
from toolgate.quota.ledger import Ledger, LimitExceeded, Reservation
from toolgate.stores.base import BucketKey, ReserveItem
from toolgate.stores.redis_counters import (
    RedisCounterStore,
    StoreUnavailableError,
    _PendingRollback,
)

pytestmark = pytest.mark.anyio

DEADLINE = 15.0  # seconds: every wait below is a poll bounded by this
PASSWORD = "s3cret-hunter2"
RATE = CounterRef("search", "_rate_minute", MINUTE)


def start_persistent_redis(data: Path, port: int, password: str | None = None) -> RedisServer:
    """redis-server with an append-only file in `data`, so a restart keeps the counters."""
    args = [redis_server_path(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(data)]
    if password:
        args += ["--requirepass", password]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = RedisServer(port, process)
    deadline = time.monotonic() + DEADLINE
    while True:
        with redis.Redis(
            host="127.0.0.1", port=port, password=password, socket_timeout=5
        ) as client:
            try:
                if client.ping():
                    return server
            except Exception:
                pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop_redis(server)
            pytest.fail("redis-server did not start")
        time.sleep(0.02)  # polling the server's start-up, bounded by the deadline


@pytest.fixture
def redis_dir(tmp_path: Path) -> Path:
    data = tmp_path / "redis-data"
    data.mkdir()
    return data


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll `check` until it holds, failing after DEADLINE."""
    with anyio.fail_after(DEADLINE):
        while not await check():  # noqa: ASYNC110 - polls another process: no event to wait on
            await anyio.sleep(0.02)


def item(key: str = "k", amount: str = "1", limit: str | None = None) -> ReserveItem:
    bucket = BucketKey(key, 1_767_225_600, 86_400)  # a day from 2026-01-01
    return ReserveItem(bucket, Decimal(amount), None if limit is None else Decimal(limit))


def day_bucket(clock: FakeClock, key: str = "k") -> BucketKey:
    start = int(clock.now()) // 86_400 * 86_400
    return BucketKey(key, start, 86_400)


async def test_redis_stopping_then_coming_back_is_logged_once_each_way_without_the_password(
    redis_dir: Path, servers: list[RedisServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="toolgate.store")
    port = free_port()
    servers.append(start_persistent_redis(redis_dir, port, PASSWORD))
    clock = FakeClock()
    store = RedisCounterStore(f"redis://:{PASSWORD}@127.0.0.1:{port}/0", clock=clock)
    limited = ReserveItem(day_bucket(clock), Decimal(1), Decimal(10))
    try:
        assert (await store.reserve([limited])).ok
        stop_redis(servers[0])
        with pytest.raises(StoreError, match=r"counter store redis://\*\*\*@127\.0\.0\.1"):
            await store.reserve([limited])
        with pytest.raises(StoreUnavailableError, match="unreachable"):
            await store.reserve([limited])  # inside the backoff: refused at once
        assert not store.reachable
        servers.append(start_persistent_redis(redis_dir, port, PASSWORD))

        async def admitted() -> bool:
            try:
                return (await store.reserve([limited])).ok
            except StoreUnavailableError:
                return False

        await eventually(admitted)
        assert store.reachable
        assert await store.get([limited.bucket]) == [2]  # kept across the restart, no double
    finally:
        await store.aclose()
    lost = [r for r in caplog.records if "is unreachable" in r.getMessage()]
    back = [r for r in caplog.records if "reachable again" in r.getMessage()]
    assert len(lost) == 1 and len(back) == 1
    assert PASSWORD not in caplog.text and "redis://***@127.0.0.1" in caplog.text


async def test_a_flushed_script_cache_is_reloaded_without_reopening_the_store(
    redis_dir: Path, servers: list[RedisServer]
) -> None:
    port = free_port()
    servers.append(start_persistent_redis(redis_dir, port))
    store = RedisCounterStore(f"redis://127.0.0.1:{port}/0", clock=FakeClock())
    try:
        assert (await store.reserve([item("k", "1", "5")])).ok
        with servers[0].client() as admin:
            admin.script_flush()
        assert (await store.reserve([item("k", "1", "5")])).ok
        assert await store.get([item().bucket]) == [2]
    finally:
        await store.aclose()


async def test_a_rollback_that_cannot_reach_redis_is_applied_once_when_it_comes_back(
    redis_dir: Path, servers: list[RedisServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="toolgate.store")
    port = free_port()
    servers.append(start_persistent_redis(redis_dir, port))
    clock = FakeClock()
    store = RedisCounterStore(f"redis://127.0.0.1:{port}/0", clock=clock, max_backoff=0.2)
    charge = ReserveItem(day_bucket(clock), Decimal(3), Decimal(10))
    try:
        assert (await store.reserve([charge])).ok
        assert (await store.reserve([charge])).ok
        stop_redis(servers[0])
        await store.rollback([charge])  # kept for a retry, not raised
        await store.rollback([charge])
        servers.append(start_persistent_redis(redis_dir, port))

        async def both_applied() -> bool:
            return store.rollbacks_retried == 2

        await eventually(both_applied)
        assert await store.get([charge.bucket]) == [0]  # undone exactly once each: never < 0
        assert store.rollbacks_abandoned == 0
    finally:
        await store.aclose()
    assert "delayed rollback was applied" in caplog.text


async def test_retrying_a_rollback_that_was_applied_undoes_nothing_twice(
    fresh_redis: RedisServer,
) -> None:
    store = RedisCounterStore(fresh_redis.url, clock=FakeClock())
    try:
        assert (await store.reserve([item("k", "4")])).ok
        assert (await store.reserve([item("k", "4")])).ok
        pending = store._pending
        assert pending == []
        lost_reply = _PendingRollback((item("k", "4"),), "toolgate:rollback:once", 1e18)
        await store._apply_rollback(lost_reply)
        await store._apply_rollback(lost_reply)
        assert await store.get([item().bucket]) == [4]
    finally:
        await store.aclose()


async def test_a_rollback_unapplied_past_its_retry_period_is_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="toolgate.store")
    store = RedisCounterStore(
        f"redis://127.0.0.1:{free_port()}/0",
        clock=FakeClock(),
        max_backoff=0.05,
        rollback_retry_seconds=0.2,
    )
    try:
        await store.rollback([item()])

        async def abandoned() -> bool:
            return store.rollbacks_abandoned == 1

        await eventually(abandoned)
    finally:
        await store.aclose()
    assert "rollback was abandoned" in caplog.text


async def test_two_ledgers_whose_clocks_are_30_seconds_apart_agree_on_the_window(
    fresh_redis: RedisServer,
) -> None:
    with fresh_redis.client() as admin:

        def redis_second() -> int:
            seconds, _ = admin.time()
            return int(seconds) % 60

        deadline = time.monotonic() + DEADLINE
        while redis_second() >= 55:  # keep clear of a minute boundary during the test
            assert time.monotonic() < deadline
            await anyio.sleep(0.05)
    day = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0).timestamp()
    early, late = FakeClock(day + 50), FakeClock(day + 80)  # 12:00:50 and 12:01:20
    stores = [
        RedisCounterStore(fresh_redis.url, clock=clock, server_time=True) for clock in (early, late)
    ]
    try:
        for store in stores:
            await store.sync_clock()
        ledgers = [Ledger(store, "fleet", store.clock) for store in stores]
        assert abs(stores[0].clock.now() - stores[1].clock.now()) < 1.0
        once = Charge(RATE, Decimal(1), Bound(Decimal(1), inclusive=False), "r")
        first = await ledgers[0].reserve([once])
        second = await ledgers[1].reserve([once])
        assert isinstance(first, Reservation)
        assert isinstance(second, LimitExceeded)  # the same minute: the second one is full
        with fresh_redis.client() as admin:
            assert len(admin.keys("toolgate:counter:*")) == 1
    finally:
        for store in stores:
            await store.aclose()


async def test_reservation_replies_keep_the_clock_on_redis_time_without_an_extra_round_trip(
    fresh_redis: RedisServer,
) -> None:
    clock = FakeClock(1_000_000_000.0)  # 2001: far from Redis's clock
    store = RedisCounterStore(fresh_redis.url, clock=clock, server_time=True)
    try:
        await store.reserve([item()])
        with fresh_redis.client() as admin:
            server_now = float(admin.time()[0])
            assert abs(store.clock.now() - server_now) < 5
            admin.config_resetstat()
            await store.reserve([item()])
            stats = admin.info("commandstats")
        assert stats["cmdstat_evalsha"]["calls"] == 1
        assert "cmdstat_ping" not in stats
    finally:
        await store.aclose()


async def test_keys_start_with_the_configured_prefix(fresh_redis: RedisServer) -> None:
    store = RedisCounterStore(fresh_redis.url, clock=FakeClock(), prefix="acme-gw")
    try:
        assert (await store.reserve([item("k", "1")])).ok
        with fresh_redis.client() as admin:
            assert [k.decode() for k in admin.keys("*")] == ["acme-gw:counter:k@1767225600"]
    finally:
        await store.aclose()
