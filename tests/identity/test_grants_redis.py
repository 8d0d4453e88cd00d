"""RedisGrantStore against a real redis-server: what only a shared, remote store can get wrong —
other processes' changes, Redis going away and coming back, masked passwords, races."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from tests.conftest import RedisServer, free_port, start_redis, stop_redis

from toolgate.clock import FakeClock
from toolgate.errors import ConfigError, StoreError
from toolgate.identity.grant_auth import GrantAuthenticator
from toolgate.identity.grants_redis import RedisGrantStore
from toolgate.identity.principal import Principal, Refusal

PASSWORD = "s3cret-pw-7f2a"  # a test value that must never be shown
BOUND = 10.0  # seconds any wait here may take before the test fails


@pytest.fixture
def store(fresh_redis: RedisServer, clock: FakeClock) -> Iterator[RedisGrantStore]:
    with RedisGrantStore.from_url(fresh_redis.url, clock=clock) as grants:
        yield grants


def test_a_revoke_through_one_store_is_seen_by_another_at_once(
    fresh_redis: RedisServer, clock: FakeClock
) -> None:
    with (
        RedisGrantStore.from_url(fresh_redis.url, clock=clock) as gateway,
        RedisGrantStore.from_url(fresh_redis.url, clock=clock) as cli,
    ):
        grant, token = cli.create("files", "agent-a")
        assert gateway.lookup(token) == grant
        cli.revoke(grant.id)
        assert gateway.verify(token) == "unknown"
        new, new_token = cli.create("files", "agent-a")
        assert gateway.lookup(new_token) == new


@pytest.mark.anyio
async def test_the_authenticator_refuses_a_grant_revoked_elsewhere_on_its_next_call(
    fresh_redis: RedisServer, clock: FakeClock
) -> None:
    gateway = RedisGrantStore.from_url(fresh_redis.url, clock=clock)
    auth = GrantAuthenticator(gateway, clock)
    try:
        with RedisGrantStore.from_url(fresh_redis.url, clock=clock) as cli:
            grant, token = cli.create("files", "agent-a", attributes={"team": "ops"})
            outcome = await auth.authenticate(f"Bearer {token}", "files")
            assert isinstance(outcome, Principal)
            assert (outcome.name, outcome.grant_id) == ("agent-a", grant.id)
            assert outcome.attributes["team"] == "ops"
            cli.revoke(grant.id)
        refusal = await auth.authenticate(f"Bearer {token}", "files")
        assert isinstance(refusal, Refusal)
        assert refusal.status == 401
    finally:
        await gateway.aclose()


def test_keys_are_kept_under_the_prefix_and_prefixes_do_not_share_grants(
    fresh_redis: RedisServer, clock: FakeClock
) -> None:
    with (
        RedisGrantStore.from_url(fresh_redis.url, prefix="a:", clock=clock) as a,
        RedisGrantStore.from_url(fresh_redis.url, prefix="b:", clock=clock) as b,
    ):
        grant, token = a.create("files", "agent-a")
        assert b.verify(token) == "unknown"
        assert b.list() == []
        b.create("files", "agent-a")  # its own label space
    with fresh_redis.client() as client:
        keys = sorted(k.decode() for k in client.keys("*"))
    assert f"a:grant:{grant.id}" in keys
    assert "a:grants:label:files:agent-a" in keys
    assert "a:grants:index" in keys
    assert all(k.startswith(("a:", "b:")) for k in keys)


def test_racing_creates_of_one_label_leave_exactly_one_live_grant(
    fresh_redis: RedisServer, clock: FakeClock
) -> None:
    racers = 16
    start = threading.Barrier(racers)
    won: list[str] = []
    refused: list[str] = []

    def race() -> None:
        with RedisGrantStore.from_url(fresh_redis.url, clock=clock) as mine:
            start.wait(timeout=BOUND)
            try:
                won.append(mine.create("files", "agent-a")[0].id)
            except ConfigError as exc:
                refused.append(str(exc))

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=BOUND)
    assert len(won) == 1
    assert len(refused) == racers - 1
    assert all(f"({won[0]})" in message for message in refused)


def test_scripts_flushed_from_redis_are_loaded_again_by_the_same_store(
    store: RedisGrantStore, fresh_redis: RedisServer
) -> None:
    first, _ = store.create("files", "agent-a")
    with fresh_redis.client() as client:
        client.script_flush()
    store.revoke(first.id)
    with fresh_redis.client() as client:
        client.script_flush()
    second, token = store.create("files", "agent-a")
    with fresh_redis.client() as client:
        client.script_flush()
    third, third_token = store.rotate(second.id)
    assert store.verify(token) == "unknown"
    assert store.lookup(third_token) == third
    assert [g.id for g in store.list(include_revoked=True)] == [first.id, second.id, third.id]


def test_a_restarted_redis_is_used_again_without_a_new_store(
    servers: list[RedisServer], tmp_path: Path, clock: FakeClock
) -> None:
    port = free_port()
    servers.append(start_redis(tmp_path, port=port))
    with RedisGrantStore.from_url(f"redis://127.0.0.1:{port}/0", clock=clock) as grants:
        grants.create("files", "agent-a")
        stop_redis(servers[0])
        with pytest.raises(StoreError, match="ConnectionError"):
            grants.create("files", "agent-b")
        servers.append(start_redis(tmp_path, port=port))  # empty: no persistence, no scripts
        grant, token = grants.create("files", "agent-b")
        assert grants.lookup(token) == grant


@pytest.mark.anyio
async def test_redis_down_is_a_store_error_with_the_password_masked_and_a_503(
    clock: FakeClock,
) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"  # nothing listens there
    store = RedisGrantStore.from_url(url, clock=clock, timeout=1.0)
    token = "tg_gr_0123456789ab_" + "A" * 43
    try:
        with pytest.raises(StoreError) as sync_error:
            store.create("files", "agent-a")
        with pytest.raises(StoreError) as async_error:
            await store.averify(token, clock.now())
        for error in (sync_error, async_error):
            assert PASSWORD not in str(error.value)
            assert "redis://***@127.0.0.1" in str(error.value)
        refusal = await GrantAuthenticator(store, clock).authenticate(f"Bearer {token}", "files")
        assert isinstance(refusal, Refusal)
        assert refusal.status == 503
        assert PASSWORD not in refusal.message
        assert "127.0.0.1" not in refusal.message
    finally:
        await store.aclose()


def test_a_wrong_password_is_a_store_error_that_never_shows_it(
    servers: list[RedisServer], tmp_path: Path, clock: FakeClock
) -> None:
    servers.append(start_redis(tmp_path))
    with servers[0].client() as client:
        client.config_set("requirepass", "the-real-one")
    url = f"redis://:{PASSWORD}@127.0.0.1:{servers[0].port}/0"
    with RedisGrantStore.from_url(url, clock=clock) as grants, pytest.raises(StoreError) as error:
        grants.list()
    assert PASSWORD not in str(error.value)
    assert "***" in str(error.value)


@pytest.mark.anyio
async def test_averify_waits_for_a_stalled_redis_without_blocking_the_event_loop(
    servers: list[RedisServer], tmp_path: Path, clock: FakeClock
) -> None:
    servers.append(start_redis(tmp_path))
    process = servers[0].process
    store = RedisGrantStore.from_url(f"redis://127.0.0.1:{servers[0].port}/0", timeout=0.5)
    _, token = store.create("files", "agent-a")
    order: list[str] = []
    errors: list[StoreError] = []

    async def verify() -> None:
        try:
            await store.averify(token, clock.now())
        except StoreError as exc:
            errors.append(exc)
        order.append("verified")

    async def other() -> None:
        order.append("other")

    os.kill(process.pid, signal.SIGSTOP)
    try:
        with anyio.fail_after(BOUND):
            async with anyio.create_task_group() as tg:
                tg.start_soon(verify)
                tg.start_soon(other)
    finally:
        os.kill(process.pid, signal.SIGCONT)
        await store.aclose()
    assert order == ["other", "verified"]  # the stalled read did not hold the loop
    assert len(errors) == 1
    assert "TimeoutError" in str(errors[0])


@pytest.mark.anyio
async def test_a_damaged_grant_fails_closed_naming_it(
    store: RedisGrantStore, fresh_redis: RedisServer, clock: FakeClock
) -> None:
    grant, token = store.create("files", "agent-a")
    with fresh_redis.client() as client:
        client.hset(f"toolgate:grant:{grant.id}", "attributes", "[1, 2]")
    with pytest.raises(StoreError, match=f"grant {grant.id} is damaged"):
        store.verify(token)
    with pytest.raises(StoreError, match=f"grant {grant.id} is damaged"):
        store.list()
    refusal = await GrantAuthenticator(store, clock).authenticate(f"Bearer {token}", "files")
    assert isinstance(refusal, Refusal)
    assert refusal.status == 503
    await store.aclose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:6379/0", "unsupported scheme"),
        (f"redis://:{PASSWORD}@/0", "no host"),
        (f"redis://:{PASSWORD}@127.0.0.1:99999/0", "malformed URL"),
        ("redis://127.0.0.1:6379/zero", "must be a number"),
        ("", "unsupported scheme"),
    ],
)
def test_a_bad_dsn_is_a_config_error_with_the_password_masked(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        RedisGrantStore.from_url(url)
    assert PASSWORD not in str(error.value)


@pytest.mark.parametrize("prefix", ["", " x:", "x: ", 7])
def test_a_bad_prefix_is_refused(fresh_redis: RedisServer, prefix: object) -> None:
    with pytest.raises(ConfigError, match="prefix"):
        RedisGrantStore.from_url(fresh_redis.url, prefix=prefix)  # type: ignore[arg-type]
