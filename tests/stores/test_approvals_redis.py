"""RedisApprovalStore beyond the shared contract: several replicas on one Redis, flushed scripts
and restarts, key layout and lifetimes, and failures that never show the password. Runs against
the real redis-server the fixtures start; every wait is bounded by a deadline."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
import pytest
import redis.asyncio
from tests.conftest import RedisServer, free_port, start_redis, stop_redis

from toolgate.clock import FakeClock
from toolgate.errors import ConfigError, StoreError
from toolgate.stores.approvals import Approval, ApprovalRequest, ApprovalStatus
from toolgate.stores.approvals_memory import RETENTION_SECONDS
from toolgate.stores.approvals_redis import RedisApprovalStore

pytestmark = pytest.mark.anyio

BOUND = 15.0  # seconds any wait here may take before the test fails
PASSWORD = "s3cret-hunter2"
TIMEOUT = 120.0


def ask(fingerprint: str = "fp") -> ApprovalRequest:
    return ApprovalRequest(
        fingerprint=fingerprint,
        tool="transfer",
        arguments={"to": "acct-9", "amount": 5000},
        rule_id="tools.transfer.rules[1]",
        rule_name="big transfers",
        policy_revision="rev-3",
        identity="agent",
        server="bank",
        session=None,
        message="transfers above 1000 need a human",
        decision_id="dec_77",
        mode="queue",
        timeout_seconds=TIMEOUT,
    )


def client_for(server: RedisServer) -> redis.asyncio.Redis:
    return redis.asyncio.Redis(host="127.0.0.1", port=server.port)


@pytest.fixture
async def pair(fresh_redis: RedisServer) -> AsyncIterator[tuple[RedisApprovalStore, ...]]:
    """Two replicas: two stores on two clients of one Redis."""
    stores = (
        RedisApprovalStore(client_for(fresh_redis)),
        RedisApprovalStore(client_for(fresh_redis)),
    )
    yield stores
    for store in stores:
        await store.aclose()


async def approved(store: RedisApprovalStore, clock: FakeClock) -> Approval:
    approval, _ = await store.request(ask(), dedupe_seconds=None, now=clock.now())
    return await store.resolve(approval.id, approve=True, by="ops", reason=None, now=clock.now())


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll `check` until it holds, failing after BOUND."""
    with anyio.fail_after(BOUND):
        while not await check():  # noqa: ASYNC110 - polls another process: no event to wait on
            await anyio.sleep(0.02)


# -- replicas --


async def test_consumes_raced_from_two_replicas_let_exactly_one_through(
    pair: tuple[RedisApprovalStore, ...], clock: FakeClock
) -> None:
    approval = await approved(pair[0], clock)
    winners: list[Approval] = []

    async def attempt(store: RedisApprovalStore) -> None:
        used = await store.consume(approval.id, clock.now())
        if used is not None:
            winners.append(used)

    with anyio.fail_after(BOUND):
        async with anyio.create_task_group() as tg:
            for n in range(20):
                tg.start_soon(attempt, pair[n % 2])
    assert [w.id for w in winners] == [approval.id]
    stored = await pair[1].get(approval.id, clock.now())
    assert stored is not None and stored.status is ApprovalStatus.CONSUMED


async def test_simultaneous_requests_from_two_replicas_open_one_approval(
    pair: tuple[RedisApprovalStore, ...], clock: FakeClock
) -> None:
    outcomes: list[tuple[Approval, bool]] = []

    async def ask_once(store: RedisApprovalStore) -> None:
        outcomes.append(await store.request(ask(), dedupe_seconds=60, now=clock.now()))

    with anyio.fail_after(BOUND):
        async with anyio.create_task_group() as tg:
            for n in range(20):
                tg.start_soon(ask_once, pair[n % 2])
    assert sum(created for _, created in outcomes) == 1
    assert len({approval.id for approval, _ in outcomes}) == 1
    final = await pair[0].get(outcomes[0][0].id, clock.now())
    assert final is not None and final.joined == 19


async def test_simultaneous_resolutions_from_two_replicas_let_exactly_one_win(
    pair: tuple[RedisApprovalStore, ...], clock: FakeClock
) -> None:
    approval, _ = await pair[0].request(ask(), dedupe_seconds=None, now=clock.now())
    won: list[Approval] = []
    refused: list[str] = []

    async def attempt(store: RedisApprovalStore, approve: bool) -> None:
        try:
            won.append(
                await store.resolve(
                    approval.id, approve=approve, by="ops", reason=None, now=clock.now()
                )
            )
        except Exception as exc:
            refused.append(type(exc).__name__)

    with anyio.fail_after(BOUND):
        async with anyio.create_task_group() as tg:
            for n in range(10):
                tg.start_soon(attempt, pair[n % 2], n % 3 == 0)
    assert len(won) == 1 and refused == ["ApprovalNotPending"] * 9


async def test_a_wait_on_one_replica_wakes_when_another_resolves(
    pair: tuple[RedisApprovalStore, ...], clock: FakeClock
) -> None:
    gateway, other = pair
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
            await other.resolve(approval.id, approve=True, by="ops", reason="ok", now=clock.now())
    [got] = results
    assert got is not None and got.status is ApprovalStatus.APPROVED


# -- scripts, restarts and lifetimes --


async def test_a_flushed_script_cache_is_reloaded_and_the_store_keeps_working(
    fresh_redis: RedisServer, clock: FakeClock
) -> None:
    store = RedisApprovalStore(client_for(fresh_redis))
    try:
        approval, _ = await store.request(ask(), dedupe_seconds=None, now=clock.now())
        with fresh_redis.client() as admin:
            admin.script_flush()
        done = await store.resolve(
            approval.id, approve=True, by="ops", reason=None, now=clock.now()
        )
        with fresh_redis.client() as admin:
            admin.script_flush()
        used = await store.consume(done.id, clock.now())
        assert used is not None and used.status is ApprovalStatus.CONSUMED
    finally:
        await store.aclose()


async def test_the_store_keeps_working_after_redis_restarts(
    tmp_path: Path, servers: list[RedisServer], clock: FakeClock
) -> None:
    port = free_port()
    servers.append(start_redis(tmp_path, port))
    store = RedisApprovalStore.from_url(f"redis://127.0.0.1:{port}/0")
    try:
        await store.request(ask("before"), dedupe_seconds=None, now=clock.now())
        stop_redis(servers[0])
        with pytest.raises(StoreError, match=r"approval store redis://127\.0\.0\.1"):
            await store.request(ask("during"), dedupe_seconds=None, now=clock.now())
        servers.append(start_redis(tmp_path, port))  # empty, and with no scripts loaded

        async def works() -> bool:
            try:
                _, created = await store.request(ask("after"), dedupe_seconds=None, now=clock.now())
            except StoreError:
                return False
            return created

        await eventually(works)
        assert (await store.current("after", clock.now())) is not None
    finally:
        await store.aclose()


async def test_keys_carry_the_prefix_and_expire_a_retention_period_after_the_approval_ends(
    fresh_redis: RedisServer, clock: FakeClock
) -> None:
    store = RedisApprovalStore(client_for(fresh_redis), prefix="acme:")
    retention_ms = RETENTION_SECONDS * 1000
    try:
        approval, _ = await store.request(ask(), dedupe_seconds=None, now=clock.now())
        with fresh_redis.client() as admin:
            assert all(key.startswith(b"acme:") for key in admin.keys("*"))
            key = f"acme:approval:{approval.id}"
            assert TIMEOUT * 1000 + retention_ms - 5000 < admin.pttl(key)
            assert admin.pttl(key) <= TIMEOUT * 1000 + retention_ms
        await store.resolve(approval.id, approve=True, by="ops", reason=None, now=clock.now())
        await store.consume(approval.id, clock.now())
        with fresh_redis.client() as admin:
            assert retention_ms - 5000 < admin.pttl(key) <= retention_ms
            assert admin.zcard("acme:approvals:live") == 0  # consumed: no longer live
    finally:
        await store.aclose()


async def test_stores_with_different_prefixes_do_not_see_each_others_approvals(
    fresh_redis: RedisServer, clock: FakeClock
) -> None:
    one = RedisApprovalStore(client_for(fresh_redis), prefix="one:")
    two = RedisApprovalStore(client_for(fresh_redis), prefix="two:")
    try:
        approval, _ = await one.request(ask(), dedupe_seconds=None, now=clock.now())
        assert await two.get(approval.id, clock.now()) is None
        assert await two.current("fp", clock.now()) is None
        assert await two.list(now=clock.now()) == []
    finally:
        await one.aclose()
        await two.aclose()


async def test_an_approval_whose_key_vanished_is_dropped_from_the_listing(
    fresh_redis: RedisServer, clock: FakeClock
) -> None:
    store = RedisApprovalStore(client_for(fresh_redis))
    try:
        gone, _ = await store.request(ask("a"), dedupe_seconds=None, now=clock.now())
        kept, _ = await store.request(ask("b"), dedupe_seconds=None, now=clock.now())
        with fresh_redis.client() as admin:
            admin.delete(f"toolgate:approval:{gone.id}")  # as its TTL would
        assert [a.id for a in await store.list(now=clock.now())] == [kept.id]
        assert await store.current("a", clock.now()) is None
        fresh, created = await store.request(ask("a"), dedupe_seconds=None, now=clock.now())
        assert created and fresh.id != gone.id
        with fresh_redis.client() as admin:
            assert admin.zcard("toolgate:approvals:index") == 2
    finally:
        await store.aclose()


async def test_a_damaged_approval_gives_a_store_error_naming_it(
    fresh_redis: RedisServer, clock: FakeClock
) -> None:
    store = RedisApprovalStore(client_for(fresh_redis))
    try:
        approval, _ = await store.request(ask(), dedupe_seconds=None, now=clock.now())
        with fresh_redis.client() as admin:
            admin.hset(f"toolgate:approval:{approval.id}", "request", "{not json")
        with pytest.raises(StoreError, match=f"approval {approval.id} is damaged"):
            await store.get(approval.id, clock.now())
    finally:
        await store.aclose()


# -- failures and configuration --


async def test_an_unreachable_redis_gives_a_store_error_without_the_password(
    clock: FakeClock,
) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    store = RedisApprovalStore.from_url(url, timeout=2.0)
    try:
        with anyio.fail_after(BOUND), pytest.raises(StoreError) as caught:
            await store.request(ask(), dedupe_seconds=None, now=clock.now())
        text = str(caught.value)
        assert PASSWORD not in text
        assert "approval store redis://***@127.0.0.1" in text
        assert PASSWORD not in store.url
    finally:
        await store.aclose()


async def test_a_client_given_with_a_password_is_shown_masked_when_unreachable(
    clock: FakeClock,
) -> None:
    port = free_port()
    client = redis.asyncio.Redis(host="127.0.0.1", port=port, password=PASSWORD)
    store = RedisApprovalStore(client)
    try:
        assert store.url == f"redis://***@127.0.0.1:{port}/0"
        with anyio.fail_after(BOUND), pytest.raises(StoreError) as caught:
            await store.wait("apr_0000000000000000", timeout=1, now=clock.now())
        assert PASSWORD not in str(caught.value) and "***@" in str(caught.value)
    finally:
        await store.aclose()


@pytest.mark.parametrize("url", ["http://localhost:6379", "redis://", "redis://h:99999/0"])
def test_a_malformed_url_is_refused_with_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="URL"):
        RedisApprovalStore.from_url(url)


@pytest.mark.parametrize("prefix", ["", " toolgate:", "toolgate: "])
async def test_a_blank_or_padded_prefix_is_refused(fresh_redis: RedisServer, prefix: str) -> None:
    client = client_for(fresh_redis)
    try:
        with pytest.raises(ConfigError, match="prefix"):
            RedisApprovalStore(client, prefix=prefix)
    finally:
        await client.aclose()
