"""Choosing the counter store backend from a URL (the only place a concrete store is named).

    memory://                  counters in process memory, lost on exit
    sqlite:///abs/path.db      an SQLite file at an absolute path (the default kind)
    sqlite://relative.db       an SQLite file relative to the working directory
    /abs/path.db, rel.db, ~/x  a plain path: SQLite
    redis://…                  not available in this build

URLs may carry credentials (a Redis DSN), so every error message shows the URL with its
password masked.
"""

from __future__ import annotations

import re
from pathlib import Path

from toolgate.clock import Clock
from toolgate.errors import ConfigError
from toolgate.stores.base import CounterStore
from toolgate.stores.memory import MemoryCounterStore
from toolgate.stores.sqlite import SqliteCounterStore

# A scheme needs two or more letters, so a Windows drive ("C:\\x.db") still reads as a path.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):")
_REDIS_SCHEMES = frozenset({"redis", "rediss", "redis+unix", "unix", "redis+sentinel"})
_USERINFO = re.compile(r"^([^:/]*://).*@", re.DOTALL)
_FORMS = "memory://, sqlite:///abs/path.db, sqlite://relative.db or a file path"


def open_counter_store(url: str, *, clock: Clock | None = None) -> CounterStore:
    """Open the store `url` names; ConfigError for a URL that names none.

    Opening SQLite creates the file and its directories; a file that is not a counter store
    raises StoreError naming it.
    """
    text = url.strip()
    if not text:
        raise ConfigError(f"counter store URL is empty; expected {_FORMS}")
    match = _SCHEME.match(text)
    if match is None:
        return SqliteCounterStore(text, clock=clock)
    scheme = match.group(1).lower()
    if scheme == "memory":
        if text[match.end() :] != "//":
            raise _bad(url, "memory:// takes no host, path or options")
        return MemoryCounterStore(clock)
    if scheme == "sqlite":
        return SqliteCounterStore(_sqlite_path(url, text[match.end() :]), clock=clock)
    if scheme in _REDIS_SCHEMES:
        raise _bad(url, "Redis counter stores are not available in this build")
    raise _bad(url, f"unknown scheme {scheme!r}")


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
    return _USERINFO.sub(r"\1***@", url)
