"""RedisCounterStore beyond the shared contract: exact Lua arithmetic, one round trip per
operation, script reloading, expiry, URL forms and failures that never show the password."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import anyio
import pytest
from tests.conftest import RedisServer, free_port, start_redis, stop_redis

from toolgate.app.counter_store import open_counter_store
from toolgate.clock import FakeClock
from toolgate.errors import ConfigError, StoreError
from toolgate.stores.base import BucketKey, ReserveItem, ReserveResult
from toolgate.stores.plan import EXACT
from toolgate.stores.redis_counters import MAX_DIGITS, RedisCounterStore

pytestmark = pytest.mark.anyio

START = 1_767_225_600


def item(
    key: str = "k", amount: str = "1", limit: str | None = None, *, after: bool = False
) -> ReserveItem:
    bucket = BucketKey(key, START, 60)
    return ReserveItem(
        bucket, Decimal(amount), None if limit is None else Decimal(limit), True, after
    )


@pytest.fixture
async def store(fresh_redis: RedisServer, clock: FakeClock) -> AsyncIterator[RedisCounterStore]:
    backend = RedisCounterStore(fresh_redis.url, clock=clock)
    yield backend
    await backend.aclose()


def random_decimal(rng: random.Random) -> Decimal:
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 60)))
    sign = rng.choice(["", "-"])
    return Decimal(f"{sign}{digits}").scaleb(-rng.randint(0, 45))


async def test_lua_addition_of_signed_decimals_equals_exact_python_decimal_addition(
    store: RedisCounterStore,
) -> None:
    rng = random.Random(5)
    for n in range(150):
        a, b = random_decimal(rng), random_decimal(rng)
        key = f"sum{n}"
        assert (await store.reserve([item(key, str(a)), item(key, str(b))])).ok
        [value] = await store.get([BucketKey(key, START, 60)])
        assert value == EXACT.add(a, b), (a, b)


async def test_lua_bounds_compare_decimals_exactly_at_every_magnitude(
    store: RedisCounterStore,
) -> None:
    rng = random.Random(7)
    for n in range(150):
        current, amount, limit = (random_decimal(rng) for _ in range(3))
        key = f"cmp{n}"
        await store.reserve([item(key, str(current))])
        result = await store.reserve([item(key, str(amount), str(limit), after=True)])
        assert result.ok is (EXACT.add(current, amount) <= limit), (current, amount, limit)
        if not result.ok:
            assert result.current == current


async def test_a_value_with_a_hundred_digits_each_side_is_kept_exactly(
    store: RedisCounterStore,
) -> None:
    big = Decimal("9" * MAX_DIGITS + "." + "9" * MAX_DIGITS)
    assert (await store.reserve([item("k", str(big)), item("k", "0." + "0" * 99 + "1")])).ok
    assert await store.get([BucketKey("k", START, 60)]) == [Decimal("1" + "0" * MAX_DIGITS)]


@pytest.mark.parametrize("amount", ["1e100", "1e-101", "-5e200"])
async def test_amounts_beyond_the_precision_range_are_refused_before_anything_is_applied(
    store: RedisCounterStore, amount: str
) -> None:
    with pytest.raises(StoreError, match="beyond the Redis store's range"):
        await store.reserve([item("a", "1"), item("b", amount)])
    assert await store.get([BucketKey("a", START, 60)]) == [0]


async def test_a_reservation_and_a_read_are_one_round_trip_each(
    store: RedisCounterStore, fresh_redis: RedisServer
) -> None:
    await store.reserve([item("warm")])  # loads the script once
    with fresh_redis.client() as admin:
        admin.config_resetstat()
        for n in range(10):
            await store.reserve([item("a", "1", "100"), item("b", "2.5"), item(f"c{n}")])
        await store.get([BucketKey("a", START, 60), BucketKey("b", START, 60)])
        stats = admin.info("commandstats")
    inside_scripts = {"cmdstat_info", "cmdstat_get", "cmdstat_set"}  # counted by Redis too
    calls = {name: entry["calls"] for name, entry in stats.items() if name not in inside_scripts}
    assert stats["cmdstat_set"]["calls"] == 30  # three buckets written by each script run
    assert calls == {"cmdstat_evalsha": 10, "cmdstat_mget": 1, "cmdstat_config|resetstat": 1}


async def test_the_scripts_are_reloaded_after_redis_forgets_them(
    store: RedisCounterStore, fresh_redis: RedisServer
) -> None:
    assert (await store.reserve([item("k", "1")])).ok
    with fresh_redis.client() as admin:
        admin.script_flush()
    assert (await store.reserve([item("k", "1")])).ok
    with fresh_redis.client() as admin:
        admin.script_flush()
    await store.rollback([item("k", "1")])
    assert await store.get([BucketKey("k", START, 60)]) == [1]


async def test_a_bucket_expires_after_its_window_and_grace_and_a_sliding_slice_after_its_history(
    store: RedisCounterStore, fresh_redis: RedisServer, clock: FakeClock
) -> None:
    clock.set(START + 10)
    await store.reserve([item("fixed"), ReserveItem(BucketKey("slide", START, 60, 5), Decimal(1))])
    with fresh_redis.client() as admin:
        fixed = admin.pttl(f"toolgate:counter:fixed@{START}")
        sliding = admin.pttl(f"toolgate:counter:slide@{START}")
    assert (60 + 300 - 10 - 5) * 1000 < fixed <= (60 + 300 - 10) * 1000
    assert (6 * 60 + 300 - 10 - 5) * 1000 < sliding <= (6 * 60 + 300 - 10) * 1000


async def test_the_same_items_reserved_again_later_get_a_shorter_expiry_then_none(
    store: RedisCounterStore, fresh_redis: RedisServer, clock: FakeClock
) -> None:
    items = (item("again", "2"),)  # one tuple, so the second call reuses its encoding
    clock.set(START + 10)
    await store.reserve(items)
    clock.set(START + 100)
    await store.reserve(items)
    with fresh_redis.client() as admin:
        ttl = admin.pttl(f"toolgate:counter:again@{START}")
        assert admin.get(f"toolgate:counter:again@{START}") == b"4"
    assert (60 + 300 - 100 - 5) * 1000 < ttl <= (60 + 300 - 100) * 1000
    clock.set(START + 60 + 300)  # the bucket has expired: read as zero, never written again
    assert (await store.reserve(items)).ok
    assert await store.get([BucketKey("again", START, 60)]) == [0]
    with fresh_redis.client() as admin:
        assert admin.get(f"toolgate:counter:again@{START}") == b"4"


async def test_short_integers_and_long_decimals_mix_exactly_in_one_reservation(
    store: RedisCounterStore,
) -> None:
    big = "1" + "0" * 20
    assert (await store.reserve([item("k", "5", big), item("k", "0.25", "5.25", after=True)])).ok
    refused = await store.reserve([item("k", "1", "100"), item("k", big, big, after=True)])
    assert refused == ReserveResult(False, 1, Decimal("6.25"))  # it read item 0's staged value
    assert await store.get([BucketKey("k", START, 60)]) == [Decimal("5.25")]


@pytest.mark.parametrize("reply", [7, [], [1], [0, 0, "x", "1"], [0, 0, 0, "abc"], "OK", None])
async def test_a_garbage_reservation_reply_is_a_store_error_naming_it(
    store: RedisCounterStore, reply: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def garbage(*args: object) -> object:
        return reply

    monkeypatch.setattr(store._client, "execute_command", garbage)
    with pytest.raises(StoreError, match=r"counter store redis://.*(unexpected reply|decimal)"):
        await store.reserve([item("k", "1")])


async def test_a_rollback_keeps_the_bucket_expiry(
    store: RedisCounterStore, fresh_redis: RedisServer
) -> None:
    await store.reserve([item("k", "3")])
    await store.rollback([item("k", "1")])
    with fresh_redis.client() as admin:
        assert admin.get(f"toolgate:counter:k@{START}") == b"2"
        assert admin.pttl(f"toolgate:counter:k@{START}") > 0


async def test_a_corrupt_stored_value_raises_store_error_and_applies_nothing(
    store: RedisCounterStore, fresh_redis: RedisServer
) -> None:
    with fresh_redis.client() as admin:
        admin.set(f"toolgate:counter:bad@{START}", "12abc")
    with pytest.raises(StoreError, match="not a decimal"):
        await store.reserve([item("good", "1"), item("bad", "1")])
    with pytest.raises(StoreError, match="not a decimal"):
        await store.get([BucketKey("bad", START, 60)])
    assert await store.get([BucketKey("good", START, 60)]) == [0]


async def test_two_stores_on_one_redis_admit_exactly_the_limit_between_them(
    fresh_redis: RedisServer, clock: FakeClock
) -> None:
    first = RedisCounterStore(fresh_redis.url, clock=clock)
    second = RedisCounterStore(fresh_redis.url, clock=clock)
    admitted: list[bool] = []

    async def one(store: RedisCounterStore) -> None:
        admitted.append((await store.reserve([item("k", "1", "10", after=True)])).ok)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for n in range(60):
                tg.start_soon(one, first if n % 2 else second)
    assert admitted.count(True) == 10
    await first.aclose()
    await second.aclose()


async def test_an_unreachable_redis_raises_store_error_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"redis://:hunter2secret@127.0.0.1:{free_port()}/0"
    store = RedisCounterStore(url, timeout=2.0)
    with pytest.raises(StoreError) as caught:
        await store.reserve([item()])
    message = str(caught.value)
    assert "hunter2secret" not in message and "redis://***@127.0.0.1" in message
    assert "hunter2secret" not in caplog.text
    assert await store.health() is False
    with pytest.raises(StoreError):
        await store.get([BucketKey("k", START, 60)])
    await store.aclose()


async def test_a_wrong_password_raises_store_error_that_never_shows_it(
    fresh_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with fresh_redis.client() as admin:
        admin.acl_setuser(
            "gate", enabled=True, passwords=["+right-one"], keys="*", commands=["+@all"]
        )
    store = RedisCounterStore(f"redis://gate:wr0ng-pa55@127.0.0.1:{fresh_redis.port}/0")
    with pytest.raises(StoreError) as caught:
        await store.reserve([item()])
    assert "wr0ng-pa55" not in str(caught.value) and "wr0ng-pa55" not in caplog.text
    assert "AuthenticationError" in str(caught.value)
    await store.aclose()
    good = RedisCounterStore(f"redis://gate:right-one@127.0.0.1:{fresh_redis.port}/0")
    assert (await good.reserve([item()])).ok
    await good.aclose()


async def test_the_store_recovers_when_redis_comes_back_without_being_reopened(
    tmp_path: Path,
) -> None:
    port = free_port()
    store = RedisCounterStore(f"redis://127.0.0.1:{port}/0")
    with pytest.raises(StoreError):
        await store.reserve([item()])
    assert await store.health() is False
    server = start_redis(tmp_path, port)
    try:
        assert await store.health() is True
        await store.get([BucketKey("k", START, 60)])
    finally:
        await store.aclose()
        stop_redis(server)


async def test_a_unix_socket_url_reaches_redis(tmp_path: Path, clock: FakeClock) -> None:
    sock = tmp_path / "redis.sock"
    server = start_redis(tmp_path, unix_socket=sock)
    store = open_counter_store(f"unix://{sock}?db=2", clock=clock)
    assert isinstance(store, RedisCounterStore)
    try:
        assert (await store.reserve([item("k", "2")])).ok
        assert await store.get([BucketKey("k", START, 60)]) == [2]
    finally:
        await store.aclose()
        stop_redis(server)


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://:pw@cache:6380/3",
        "redis://user:pw@cache",
        "rediss://:pw@cache:6380/0",
        "unix:///run/redis/redis.sock",
        "unix:///run/redis/redis.sock?db=1",
    ],
)
async def test_every_documented_url_form_opens_a_redis_store_without_connecting(url: str) -> None:
    store = open_counter_store(url)
    assert isinstance(store, RedisCounterStore)
    assert "pw@" not in store.url
    await store.aclose()


@pytest.mark.parametrize(
    "url",
    [
        "redis://:s3cret@host:notaport/0",
        "redis://:s3cret@host:6379/zero",
        "redis://:s3cret@/0",
        "redis://:s3cret@host:6379/0?socket_timeout=1",
        "redis://:s3cret@host:99999/0",
        "unix://:s3cret@host:1/x.sock",
        "unix://",
        "redis+sentinel://:s3cret@host:26379/mymaster",
        "redis://:s3cret@host:6379/0#frag",
    ],
)
def test_garbage_redis_urls_are_config_errors_that_never_show_the_password(url: str) -> None:
    with pytest.raises(ConfigError, match="counter store URL") as caught:
        open_counter_store(url)
    assert "s3cret" not in str(caught.value)


def test_a_password_given_as_a_query_option_is_masked_too() -> None:
    with pytest.raises(ConfigError) as caught:
        open_counter_store("unix:///run/r.sock?db=x&password=s3cret")
    assert "s3cret" not in str(caught.value) and "password=***" in str(caught.value)
