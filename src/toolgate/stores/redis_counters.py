"""RedisCounterStore: windowed counters shared by every gateway process that uses one Redis.

Each operation is ONE round trip. `reserve` and `rollback` are one EVALSHA each (scripts in
`redis_lua.py`, loaded once per store and re-loaded when Redis answers NOSCRIPT after a restart,
failover or SCRIPT FLUSH); `get` is one MGET. A bucket is one string key,
`<prefix>:counter:<key>@<window_start>`, holding a plain decimal string and expiring (PX) when
its window, its sliding history and the grace period have passed.

Time: with `server_time` the store's `clock` follows Redis's clock: every reservation's reply
carries Redis `TIME`, and the offset between it and this host's clock is applied to every later
reading (`sync_clock` measures it once at start). A ledger built on that clock computes its
windows on Redis time, so hosts whose clocks disagree still agree on window boundaries. TTLs
are durations from the same clock. A bucket whose expiry has passed reads as zero and is
neither written nor rolled back, exactly like the other stores.

Precision: values are exact decimals (no rounding, ever). Amounts and limits are accepted up to
`MAX_DIGITS` digits before and after the point; anything larger is refused with StoreError
before Redis is contacted.

Failures: a reservation is never retried (its reply may have been lost after it was applied;
repeating it could count twice). Connection failures, timeouts, auth errors and script errors
become StoreError with the URL's password masked; the gateway denies the call (fail closed).
When Redis becomes unreachable the store logs one health line, then refuses at once
(`StoreUnavailableError`) until a backoff delay (doubling up to `max_backoff`) has passed, when the
next operation tries again; the first success logs a recovery line. A rollback that cannot
reach Redis is kept and retried in the background with the same backoff for up to
`rollback_retry_seconds`: each rollback carries a marker key, so a retry of one that was in fact
applied undoes nothing twice. A rollback still unapplied after that is counted
(`rollbacks_abandoned`) and logged: its amount stays counted until its window ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from toolgate.clock import Clock, SystemClock
from toolgate.errors import ConfigError, StoreError
from toolgate.stores.base import BucketKey, ReserveItem, ReserveResult
from toolgate.stores.plan import DEFAULT_GRACE_SECONDS, RESERVED, ZERO, add, expires_at, parse_value
from toolgate.stores.redis_lua import RESERVE_LUA, ROLLBACK_LUA
from toolgate.stores.redis_url import check_url, password_of, redact

log = logging.getLogger("toolgate.store")

DEFAULT_PREFIX = "toolgate"
MAX_DIGITS = 100  # per side of the decimal point, for amounts and limits
DEFAULT_TIMEOUT = 2.0  # seconds, for connecting and for each reply
FIRST_BACKOFF = 0.05  # seconds before the first new attempt after Redis became unreachable
DEFAULT_MAX_BACKOFF = 2.0
DEFAULT_ROLLBACK_RETRY_SECONDS = 60.0
_OUTAGE = (RedisConnectionError, RedisTimeoutError)
_Execute = Callable[..., Awaitable[Any]]


class StoreUnavailableError(StoreError):
    """Redis cannot be reached (refused, timed out, or inside the backoff after a failure)."""


class ServerClock:
    """A clock that reads this host's clock plus the last measured offset to Redis's clock."""

    def __init__(self, local: Clock) -> None:
        self.local = local
        self.offset = 0.0
        self.synced = False

    def now(self) -> float:
        return self.local.now() + self.offset

    def monotonic(self) -> float:
        return self.local.monotonic()

    def observe(self, reply_time: Sequence[Any], sent: float, received: float) -> None:
        """Redis answered TIME `reply_time` ([seconds, microseconds]) between the local
        readings `sent` and `received`: take it as the midpoint's time."""
        server = int(reply_time[0]) + int(reply_time[1]) / 1_000_000
        self.offset = server - (sent + received) / 2
        self.synced = True


@dataclass(slots=True)
class _PendingRollback:
    items: tuple[ReserveItem, ...]
    marker: str
    deadline: float  # time.monotonic() after which it is abandoned


class _Script:
    """A Lua script run by SHA; loaded on first NOSCRIPT (first use, or after a flush)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        self._evalsha = (b"EVALSHA", self.sha.encode())

    def command(self, keys: Sequence[str]) -> tuple[bytes, ...]:
        """EVALSHA, the SHA, the key count and the keys, encoded once (redis-py passes bytes
        through as they are); the packed arguments follow."""
        return (*self._evalsha, str(len(keys)).encode(), *(key.encode() for key in keys))

    async def run(self, client: Redis, command: tuple[bytes, ...], packed: bytes) -> Any:
        """`command` from `command()`; `packed`: every argument, space-separated (the scripts
        split it: one argument to encode instead of many)."""
        execute = cast(_Execute, client.execute_command)  # untyped in redis-py
        try:
            return await execute(*command, packed)
        except NoScriptError:
            await client.script_load(self.source)
            return await execute(*command, packed)


@dataclass(frozen=True, slots=True)
class _Encoded:
    """A reservation's script call without its clock reading: `command` (see `_Script`) and
    the packed arguments after the mode and the clock. The same items encode the same way,
    so it is built once and reused until the cache is cleared."""

    command: tuple[bytes, ...]
    tail: bytes


ENCODED_CACHE_SIZE = 4096  # distinct item lists; cleared when full (rebuilt on demand)
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
        timeout: float = DEFAULT_TIMEOUT,
        server_time: bool = False,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        rollback_retry_seconds: float = DEFAULT_ROLLBACK_RETRY_SECONDS,
    ) -> None:
        check_url(url)
        if not prefix or prefix != prefix.strip():
            raise ConfigError(f"the Redis key prefix must be non-empty text, got {prefix!r}")
        self._shown = redact(url)
        self._password = password_of(url)
        local: Clock = clock or SystemClock()
        self._server_clock = ServerClock(local) if server_time else None
        self._clock: Clock = self._server_clock or local
        self._prefix = prefix
        self._counter_prefix = f"{prefix}:counter:"
        self._grace = grace_seconds
        self._max_backoff = max_backoff
        self._rollback_retry = rollback_retry_seconds
        self._client: Redis = Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        self._mode = b"t" if server_time else b"-"  # whether reservations return Redis TIME
        self._encoded: dict[tuple[ReserveItem, ...], _Encoded] = {}
        self._closed = False
        # Outage state: when it began (None while reachable), the last failure, the current
        # backoff and when the next attempt may be made (time.monotonic()).
        self._down_since: float | None = None
        self._down_error = ""
        self._backoff = 0.0
        self._retry_at = 0.0
        self.refused_while_down = 0
        self._pending: list[_PendingRollback] = []
        self._retrier: asyncio.Task[None] | None = None
        self.rollbacks_retried = 0
        self.rollbacks_abandoned = 0

    @property
    def url(self) -> str:
        """The DSN with its password masked: the only form ever shown."""
        return self._shown

    @property
    def clock(self) -> Clock:
        """The clock windows should be computed with: Redis's, with `server_time`."""
        return self._clock

    @property
    def reachable(self) -> bool:
        return self._down_since is None

    async def sync_clock(self) -> None:
        """Measure the offset to Redis's clock now (one TIME); StoreError when unreachable."""
        if self._server_clock is None:
            return
        self._check_open()
        self._guard()
        local = self._server_clock.local
        sent = local.now()
        try:
            reply = await self._client.time()
        except RedisError as exc:
            raise self._failure(exc) from None
        self._recovered()
        self._server_clock.observe(reply, sent, local.now())

    async def reserve(self, items: Sequence[ReserveItem]) -> ReserveResult:
        self._check_open()
        if not items:
            return RESERVED
        key = items if type(items) is tuple else tuple(items)
        try:
            encoded = self._encoded.get(key)
        except TypeError:  # unhashable (a signaling NaN): `_encode` refuses it by name
            encoded = None
        if encoded is None:
            encoded = self._encode(key)
        packed = b"%s %d %s" % (self._mode, int(self._clock.now() * 1000), encoded.tail)
        self._guard()
        sent = self._local_now()
        try:
            reply = await _RESERVE.run(self._client, encoded.command, packed)
        except RedisError as exc:
            raise self._failure(exc) from None
        self._recovered()
        if reply == 1 and type(reply) is int:
            return RESERVED
        return self._reserve_reply(reply, sent)

    async def rollback(self, items: Sequence[ReserveItem]) -> None:
        """Undo `items`; when Redis is unreachable the undo is kept and retried in the
        background (see the module docs) instead of raising."""
        self._check_open()
        pending = _PendingRollback(
            tuple(items),
            f"{self._prefix}:rollback:{secrets.token_hex(12)}",
            time.monotonic() + self._rollback_retry,
        )
        try:
            await self._apply_rollback(pending)
        except StoreUnavailableError as exc:
            log.warning("rollback could not reach Redis; retrying in the background: %s", exc)
            self._pending.append(pending)
            if self._retrier is None or self._retrier.done():
                self._retrier = asyncio.get_running_loop().create_task(self._retry_rollbacks())

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
        self._guard()
        try:
            raw: list[bytes | str | None] = await self._client.mget(keys)
        except RedisError as exc:
            raise self._failure(exc) from None
        self._recovered()
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
        """One PING, even inside the backoff (a probe); a success ends an outage."""
        if self._closed:
            return False
        try:
            ok = bool(await self._client.ping())
        except RedisError as exc:
            self._failure(exc)
            return False
        self._recovered()
        return ok

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
        if self._retrier is not None:
            self._retrier.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retrier
        for _ in self._pending:
            self._abandon("the gateway is shutting down")
        self._pending.clear()
        await self._client.aclose()

    def _encode(self, items: tuple[ReserveItem, ...]) -> _Encoded:
        """The script call for `items` (see RESERVE_LUA for the layout), without the mode and
        the clock; StoreError for an amount or limit the scripts cannot take."""
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
            expiry_ms = expires_at(bucket, self._grace) * 1000
            earlier = self._earlier_keys(bucket)
            span = (len(keys) + 1, len(keys) + len(earlier)) if earlier else (0, 0)
            keys += earlier
            head += (str(expiry_ms), str(span[0]), str(span[1]))
        encoded = _Encoded(_RESERVE.command(keys), " ".join(head + tail).encode())
        if len(self._encoded) >= ENCODED_CACHE_SIZE:
            self._encoded.clear()  # rebuilt on demand; an LRU would cost more than it saves
        with contextlib.suppress(TypeError):  # not cached if unhashable: still correct
            self._encoded[items] = encoded
        return encoded

    def _reserve_reply(self, reply: Any, sent: float) -> ReserveResult:
        """Decode a reservation reply other than a bare 1 (see RESERVE_LUA); anything else is
        a StoreError: the reservation cannot be known to have been applied or not."""
        try:
            if self._server_clock is not None:
                self._server_clock.observe(reply[1], sent, self._local_now())
            if reply[0] == 1 and len(reply) == 2:
                return RESERVED
            if reply[0] == 0 and len(reply) == 4:
                return ReserveResult(False, int(reply[2]), parse_value(reply[3], self._where()))
        except (TypeError, ValueError, IndexError, KeyError):
            pass
        raise StoreError(f"{self._where()}: unexpected reply to a reservation: {reply!r}")

    async def _apply_rollback(self, pending: _PendingRollback) -> None:
        now = self._clock.now()
        slots: dict[str, int] = {}
        args: list[str] = []
        last = now
        for item in pending.items:
            expiry = expires_at(item.bucket, self._grace)
            if expiry <= now:
                continue  # expired: nobody reads it again, so nothing to undo
            last = max(last, expiry)
            slot = slots.setdefault(self._key(item.bucket), len(slots) + 1)
            args += (str(slot), _plain(item.amount, "amount"))
        if args:
            marker_ttl = max(1, int((last - now) * 1000))
            keys = [*slots, pending.marker]
            packed = " ".join([str(marker_ttl), *args]).encode()
            await self._call(_ROLLBACK, _ROLLBACK.command(keys), packed)

    async def _retry_rollbacks(self) -> None:
        delay = FIRST_BACKOFF
        while self._pending:
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_backoff)
            for pending in list(self._pending):
                if time.monotonic() > pending.deadline:
                    self._pending.remove(pending)
                    self._abandon(f"Redis unreachable for {self._rollback_retry:g} s")
                    continue
                try:
                    await self._apply_rollback(pending)
                except StoreUnavailableError:
                    break  # still down: wait for the next round
                except StoreError as exc:
                    self._pending.remove(pending)
                    self._abandon(str(exc))
                else:
                    self._pending.remove(pending)
                    self.rollbacks_retried += 1
                    log.warning("counter store %s: a delayed rollback was applied", self._shown)

    def _abandon(self, why: str) -> None:
        self.rollbacks_abandoned += 1
        log.error(
            "counter store %s: a rollback was abandoned (%s); its amount stays counted until its "
            "window ends (%d abandoned so far)",
            self._shown,
            why,
            self.rollbacks_abandoned,
        )

    async def _call(self, script: _Script, command: tuple[bytes, ...], packed: bytes) -> Any:
        self._guard()
        try:
            reply = await script.run(self._client, command, packed)
        except RedisError as exc:
            raise self._failure(exc) from None
        self._recovered()
        return reply

    def _guard(self) -> None:
        """Refuse at once while inside the backoff after a failure to reach Redis."""
        if self._down_since is not None and time.monotonic() < self._retry_at:
            self.refused_while_down += 1
            raise StoreUnavailableError(
                f"counter store {self._shown} is unreachable ({self._down_error}); "
                f"next attempt in {self._retry_at - time.monotonic():.2f} s"
            )

    def _recovered(self) -> None:
        if self._down_since is None:
            return
        log.warning(
            "counter store %s is reachable again after %.1f s (%d operations refused meanwhile)",
            self._shown,
            time.monotonic() - self._down_since,
            self.refused_while_down,
        )
        self._down_since = None
        self._backoff = 0.0
        self.refused_while_down = 0

    def _local_now(self) -> float:
        return self._server_clock.local.now() if self._server_clock is not None else 0.0

    def _key(self, bucket: BucketKey) -> str:
        return f"{self._counter_prefix}{bucket.key}@{bucket.window_start}"

    def _earlier_keys(self, bucket: BucketKey) -> list[str]:
        size, start = bucket.window_seconds, bucket.window_start
        base = self._counter_prefix + bucket.key
        return [f"{base}@{start - k * size}" for k in range(bucket.history, 0, -1)]

    def _failure(self, exc: RedisError) -> StoreError:
        """A StoreError naming the failure; the password never appears, whatever redis said.
        A failure to reach Redis starts (or prolongs) an outage: logged once, then backoff."""
        text = f"{type(exc).__name__}: {exc}"
        if self._password:
            text = text.replace(self._password, "***")
        message = f"counter store {self._shown}: {text}"
        if not isinstance(exc, _OUTAGE):
            return StoreError(message)
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            log.warning(
                "counter store %s is unreachable (%s); calls that need a counter cannot be "
                "checked until it is back; reconnecting with backoff (at most %.1f s apart)",
                self._shown,
                text,
                self._max_backoff,
            )
        self._down_error = text
        self._backoff = min(max(self._backoff * 2, FIRST_BACKOFF), self._max_backoff)
        self._retry_at = now + self._backoff
        return StoreUnavailableError(message)

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
