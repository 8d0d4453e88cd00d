"""RedisCounterStore: windowed counters shared by every gateway process that uses one Redis.

Each operation is ONE round trip. `reserve` and `rollback` are one EVALSHA each (scripts in
`redis_lua.py`, loaded once per store and re-loaded when Redis answers NOSCRIPT after a restart,
failover or SCRIPT FLUSH); `get` is one MGET. A bucket is one string key,
`<prefix><key>@<window_start>`, holding a plain decimal string and expiring (PX) when its
window, its sliding history and the grace period have passed.

Time: the TTL is computed from this process's clock as a duration, so hosts whose clocks
disagree still expire keys at the same moment. A bucket whose expiry has passed by this clock
reads as zero and is neither written nor rolled back, exactly like the other stores.

Precision: values are exact decimals (no rounding, ever). Amounts and limits are accepted up to
`MAX_DIGITS` digits before and after the point; anything larger is refused with StoreError
before Redis is contacted.

Failures: no retries (a reservation whose reply was lost may have been applied; repeating it
could count twice, repeating a rollback could undercount). Connection failures, timeouts, auth
errors and script errors become StoreError with the URL's password masked; the gateway denies
the call (fail closed) and the next call connects afresh.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from toolgate.clock import Clock, SystemClock
from toolgate.errors import StoreError
from toolgate.stores.base import BucketKey, ReserveItem, ReserveResult
from toolgate.stores.plan import DEFAULT_GRACE_SECONDS, RESERVED, ZERO, add, expires_at, parse_value
from toolgate.stores.redis_lua import RESERVE_LUA, ROLLBACK_LUA
from toolgate.stores.redis_url import check_url, password_of, redact

DEFAULT_PREFIX = "toolgate:counter:"
MAX_DIGITS = 100  # per side of the decimal point, for amounts and limits


class _Script:
    """A Lua script run by SHA; loaded on first NOSCRIPT (first use, or after a flush)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def run(self, client: Redis, keys: Sequence[str], args: Sequence[str]) -> Any:
        packed = " ".join(args)  # the scripts split it: one argument instead of many to encode
        try:
            return await client.evalsha(self.sha, len(keys), *keys, packed)
        except NoScriptError:
            await client.script_load(self.source)
            return await client.evalsha(self.sha, len(keys), *keys, packed)


_RESERVE = _Script(RESERVE_LUA)
_ROLLBACK = _Script(ROLLBACK_LUA)


class RedisCounterStore:
    """A CounterStore in Redis (standalone server or a primary; not Redis Cluster)."""

    def __init__(
        self,
        url: str,
        *,
        clock: Clock | None = None,
        prefix: str = DEFAULT_PREFIX,
        grace_seconds: int = DEFAULT_GRACE_SECONDS,
        timeout: float = 2.0,
    ) -> None:
        check_url(url)
        self._shown = redact(url)
        self._password = password_of(url)
        self._clock: Clock = clock or SystemClock()
        self._prefix = prefix
        self._grace = grace_seconds
        self._client: Redis = Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        self._closed = False

    @property
    def url(self) -> str:
        """The DSN with its password masked: the only form ever shown."""
        return self._shown

    async def reserve(self, items: Sequence[ReserveItem]) -> ReserveResult:
        self._check_open()
        if not items:
            return RESERVED
        keys, args = self._reserve_args(items)
        reply = await self._call(_RESERVE, keys, args)
        if reply == 1:
            return RESERVED
        index, current = reply
        return ReserveResult(False, int(index), parse_value(current, self._where()))

    async def rollback(self, items: Sequence[ReserveItem]) -> None:
        self._check_open()
        now = self._clock.now()
        slots: dict[str, int] = {}
        args: list[str] = []
        for item in items:
            if expires_at(item.bucket, self._grace) <= now:
                continue  # expired: nobody reads it again, so nothing to undo
            slot = slots.setdefault(self._key(item.bucket), len(slots) + 1)
            args += (str(slot), _plain(item.amount, "amount"))
        if args:
            await self._call(_ROLLBACK, list(slots), args)

    async def get(self, buckets: Sequence[BucketKey]) -> list[Decimal]:
        self._check_open()
        if not buckets:
            return []
        now = self._clock.now()
        keys: list[str] = []
        spans: list[tuple[int, int, bool]] = []  # (first, end) of each bucket's keys; alive
        for b in buckets:
            first = len(keys)
            keys.append(self._key(b))
            keys += self._earlier_keys(b)
            spans.append((first, len(keys), expires_at(b, self._grace) > now))
        try:
            raw: list[bytes | str | None] = await self._client.mget(keys)
        except RedisError as exc:
            raise self._failure(exc) from None
        where = self._where()
        values: list[Decimal] = []
        for first, end, alive in spans:
            total = ZERO
            for k in range(first if alive else first + 1, end):
                text = raw[k]
                if text is not None:
                    value = text.decode() if isinstance(text, bytes) else text
                    total = add(total, parse_value(value, where))
            values.append(total)
        return values

    async def health(self) -> bool:
        if self._closed:
            return False
        try:
            return bool(await self._client.ping())
        except RedisError:
            return False

    async def ping(self) -> None:
        """One PING round trip (the benchmark's yardstick); StoreError when it fails."""
        self._check_open()
        try:
            await self._client.ping()
        except RedisError as exc:
            raise self._failure(exc) from None

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._client.aclose()

    def _reserve_args(self, items: Sequence[ReserveItem]) -> tuple[list[str], list[str]]:
        now = self._clock.now()
        slots: dict[str, int] = {}
        buckets: list[BucketKey] = []
        tail: list[str] = []
        for item in items:
            if not item.amount.is_finite():
                raise StoreError(f"counter amounts must be finite, got {item.amount}")
            key = self._key(item.bucket)
            slot = slots.get(key)
            if slot is None:
                slot = slots[key] = len(slots) + 1
                buckets.append(item.bucket)
            limit = "_" if item.limit is None else _plain(item.limit, "limit")
            flags = ("i" if item.inclusive else "x") + ("a" if item.check_after else "b")
            tail += (str(slot), _plain(item.amount, "amount"), limit, flags)
        keys = list(slots)
        head = [str(len(buckets))]
        for bucket in buckets:
            ttl_ms = int((expires_at(bucket, self._grace) - now) * 1000)
            earlier = self._earlier_keys(bucket)
            span = (len(keys) + 1, len(keys) + len(earlier)) if earlier else (0, 0)
            keys += earlier
            head += (str(ttl_ms), str(span[0]), str(span[1]))
        return keys, head + tail

    async def _call(self, script: _Script, keys: Sequence[str], args: Sequence[str]) -> Any:
        try:
            return await script.run(self._client, keys, args)
        except RedisError as exc:
            raise self._failure(exc) from None

    def _key(self, bucket: BucketKey) -> str:
        return f"{self._prefix}{bucket.key}@{bucket.window_start}"

    def _earlier_keys(self, bucket: BucketKey) -> list[str]:
        size, start, base = bucket.window_seconds, bucket.window_start, self._prefix + bucket.key
        return [f"{base}@{start - k * size}" for k in range(bucket.history, 0, -1)]

    def _failure(self, exc: RedisError) -> StoreError:
        """A StoreError naming the failure; the password never appears, whatever redis said."""
        text = f"{type(exc).__name__}: {exc}"
        if self._password:
            text = text.replace(self._password, "***")
        return StoreError(f"counter store {self._shown}: {text}")

    def _where(self) -> str:
        return f"counter store {self._shown}"

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"counter store {self._shown} is closed")


def _plain(value: Decimal, what: str) -> str:
    """`value` as the plain decimal string the scripts compute on; StoreError beyond range."""
    if not value.is_finite():
        raise StoreError(f"counter {what}s must be finite, got {value}")
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    if not value:
        return "0"
    if value.adjusted() >= MAX_DIGITS or exponent < -MAX_DIGITS - len(digits):
        raise _beyond(value, what)  # refused before building a huge string
    text = "".join(map(str, digits))
    if exponent >= 0:
        whole, frac = text + "0" * exponent, ""
    elif len(text) > -exponent:
        whole, frac = text[:exponent], text[exponent:]
    else:
        whole, frac = "", "0" * (-exponent - len(text)) + text
    whole, frac = whole.lstrip("0") or "0", frac.rstrip("0")
    if len(whole) > MAX_DIGITS or len(frac) > MAX_DIGITS:
        raise _beyond(value, what)
    if whole == "0" and not frac:
        return "0"
    return ("-" if sign else "") + whole + ("." + frac if frac else "")


def _beyond(value: Decimal, what: str) -> StoreError:
    return StoreError(
        f"counter {what} {value} is beyond the Redis store's range "
        f"({MAX_DIGITS} digits before and after the decimal point)"
    )
