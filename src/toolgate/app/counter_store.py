"""Choosing the counter store backend from a URL (the only place a concrete store is named).

    memory://                  counters in process memory, lost on exit
    sqlite:///abs/path.db      an SQLite file at an absolute path (the default kind)
    sqlite://relative.db       an SQLite file relative to the working directory
    /abs/path.db, rel.db, ~/x  a plain path: SQLite
    redis://[[user]:password@]host[:port][/db]   Redis (shared by every gateway process)
    rediss://…                 Redis over TLS
    unix:///path/redis.sock?db=N   Redis over a local socket

URLs may carry credentials (a Redis DSN), so every error message shows the URL with its
password masked.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from toolgate.clock import Clock
from toolgate.errors import ConfigError, StoreError
from toolgate.stores.base import CounterStore
from toolgate.stores.memory import MemoryCounterStore
from toolgate.stores.redis_url import SCHEMES as REDIS_SCHEMES
from toolgate.stores.redis_url import redact, url_scheme
from toolgate.stores.sqlite import SqliteCounterStore

if TYPE_CHECKING:
    from toolgate.stores.redis_counters import RedisCounterStore

# A scheme needs two or more letters, so a Windows drive ("C:\\x.db") still reads as a path.
_UNSUPPORTED_REDIS = frozenset({"redis+unix", "redis+sentinel", "redis+cluster"})
_FORMS = (
    "memory://, sqlite:///abs/path.db, sqlite://relative.db, a file path, "
    "redis://[:password@]host:port/db, rediss://… or unix:///path/to/redis.sock"
)


def open_counter_store(
    url: str,
    *,
    clock: Clock | None = None,
    prefix: str = "toolgate",
    server_time: bool = False,
) -> CounterStore:
    """Open the store `url` names; ConfigError for a URL that names none.

    `prefix` starts every Redis key; with `server_time` a Redis store computes windows on
    Redis's clock (see `window_clock`). Both are ignored by the embedded stores.

    Opening SQLite creates the file and its directories; a file that is not a counter store
    raises StoreError naming it. Opening Redis does not connect: the first operation does, and
    raises StoreError (password masked) when Redis cannot be reached.
    """
    text = url.strip()
    if not text:
        raise ConfigError(f"counter store URL is empty; expected {_FORMS}")
    found = url_scheme(text)
    if found is None:
        return SqliteCounterStore(text, clock=clock)
    scheme, rest = found
    if scheme == "memory":
        if rest != "//":
            raise _bad(url, "memory:// takes no host, path or options")
        return MemoryCounterStore(clock)
    if scheme == "sqlite":
        return SqliteCounterStore(_sqlite_path(url, rest), clock=clock)
    if scheme in REDIS_SCHEMES:
        # Imported here: the Redis client is heavy and most gateways never use it.
        from toolgate.stores.redis_counters import RedisCounterStore  # noqa: PLC0415

        # ConfigError itself for a bad DSN
        return RedisCounterStore(text, clock=clock, prefix=prefix, server_time=server_time)
    if scheme in _UNSUPPORTED_REDIS:
        raise _bad(url, f"{scheme}:// is not supported (write redis://, rediss:// or unix://)")
    raise _bad(url, f"unknown scheme {scheme!r}")


def window_clock(store: CounterStore, clock: Clock) -> Clock:
    """The clock a ledger over `store` computes windows with: Redis's for a Redis store opened
    with `server_time` (so every host agrees on window boundaries), else `clock`."""
    redis_store = _as_redis(store)
    return redis_store.clock if redis_store is not None else clock


async def prepare_counter_store(store: CounterStore) -> None:
    """Best-effort start-up work: a Redis store measures its offset to Redis's clock. An
    unreachable Redis is logged by the store and retried by the first call, never fatal."""
    redis_store = _as_redis(store)
    if redis_store is not None:
        with contextlib.suppress(StoreError):
            await redis_store.sync_clock()


def _as_redis(store: CounterStore) -> RedisCounterStore | None:
    """`store` as a Redis store, without importing the Redis client when nothing opened one."""
    module = sys.modules.get("toolgate.stores.redis_counters")
    if module is not None and isinstance(store, module.RedisCounterStore):
        redis_store: RedisCounterStore = store
        return redis_store
    return None


def _sqlite_path(url: str, rest: str) -> Path:
    """`//` then the path: `///abs` is absolute, `//rel` relative to the working directory."""
    if not rest.startswith("//"):
        raise _bad(url, "write sqlite:///abs/path.db or sqlite://relative.db")
    path = rest[2:]
    if not path or path == "/":
        raise _bad(url, "no database file named")
    if "?" in path or "#" in path:
        # Taken literally they would become part of the file name: refuse rather than guess.
        raise _bad(url, "query strings and fragments are not supported")
    return Path(path)


def _bad(url: str, why: str) -> ConfigError:
    return ConfigError(f"invalid counter store URL {redact_url(url)!r}: {why}; expected {_FORMS}")


def redact_url(url: str) -> str:
    """`url` with its whole user-info (user, password) replaced by `***`.

    Masks up to the last "@": a password with an unescaped "@" or "/" is masked too, at the
    price of sometimes masking more than needed. File URLs carry no credentials: kept as is.
    """
    if url.lower().startswith(("sqlite:", "memory:")):
        return url
    return redact(url)  # user-info, and a `password=` query option too
