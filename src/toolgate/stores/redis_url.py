"""Redis DSNs: which forms are accepted, and how every message shows them (password masked).

    redis://[[user]:password@]host[:port][/db]      TCP
    rediss://[[user]:password@]host[:port][/db]     TCP with TLS (certificates verified)
    unix://[[user]:password@]/path/to/redis.sock[?db=N]   a local socket

Query options other than `db` (unix sockets only) are refused, so a typo can never pass
unnoticed, and so can Sentinel/Cluster URLs (the reservation needs every key on one node).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from toolgate.errors import ConfigError, StoreError

SCHEMES = ("redis", "rediss", "unix")
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):")
FORMS = "redis://[:password@]host:port/db, rediss://… or unix:///path/to/redis.sock?db=N"
_USERINFO = re.compile(r"^([^:/]*://).*@", re.DOTALL)
_QUERY_SECRET = re.compile(r"([?&](?:password|pass|auth)=)[^&#]*", re.IGNORECASE)


def url_scheme(url: str) -> tuple[str, str] | None:
    """A store URL's scheme (lower case) and what follows its colon; None when `url` has no
    scheme (a plain path, which every store setting reads as an SQLite file)."""
    match = _URL_SCHEME.match(url)
    return None if match is None else (match.group(1).lower(), url[match.end() :])


def is_redis_url(url: str) -> bool:
    """Whether a state/counter store URL names Redis (and so do grants and approvals)."""
    found = url_scheme(url.strip())
    return found is not None and found[0] in SCHEMES


def redact(url: str) -> str:
    """`url` with its user-info and any password query option replaced by `***`."""
    return _QUERY_SECRET.sub(r"\1***", _USERINFO.sub(r"\1***@", url))


def describe_connection(kwargs: Mapping[str, Any]) -> tuple[str, str | None]:
    """Where a redis-py client connects (its pool's `connection_kwargs`), as a DSN with any
    credentials masked, and its password (to scrub from any text that might echo it)."""
    password = kwargs.get("password")
    secret = "***@" if password or kwargs.get("username") else ""
    db = kwargs.get("db", 0)
    if kwargs.get("path"):
        shown = f"unix://{secret}{kwargs['path']}?db={db}"
    else:
        shown = f"redis://{secret}{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{db}"
    return redact(shown), str(password) if password else None


def reply_text(value: object) -> str:
    """A Redis reply value as text (bytes decoded)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def reply_fields(reply: Any) -> dict[str, str]:
    """A flat [field, value, ...] reply (HGETALL from a script) as a map of text."""
    if not isinstance(reply, list) or len(reply) % 2:
        raise StoreError(f"unexpected reply from Redis: {type(reply).__name__}")
    return {reply_text(reply[k]): reply_text(reply[k + 1]) for k in range(0, len(reply), 2)}


def password_of(url: str) -> str | None:
    """The password a DSN carries, to scrub it from any text that might echo it."""
    try:
        return urlsplit(url).password or None
    except ValueError:
        return None


def check_url(url: str) -> None:
    """ConfigError (showing the redacted URL) unless `url` is a DSN this store can open."""
    try:
        parts = urlsplit(url)
        port = parts.port  # parses it: ValueError when not a number in 0..65535
    except ValueError as exc:
        raise _bad(url, f"malformed URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise _bad(url, f"unsupported scheme {scheme!r}")
    if parts.fragment:
        raise _bad(url, "fragments are not supported")
    options = parse_qsl(parts.query, keep_blank_values=True)
    if scheme == "unix":
        if not parts.path or parts.path == "/":
            raise _bad(url, "no socket path")
        if parts.hostname or port is not None:
            raise _bad(url, "a unix socket URL has no host or port (write unix:///path)")
        unknown = [k for k, _ in options if k != "db"]
        db = dict(options).get("db", "0")
    else:
        if not parts.hostname:
            raise _bad(url, "no host")
        if port == 0:
            raise _bad(url, "port 0")
        unknown = [k for k, _ in options]
        db = parts.path.lstrip("/") or "0"
    if unknown:
        raise _bad(url, f"unsupported option {unknown[0]!r}")
    if not db.isdigit() or not db.isascii():
        raise _bad(url, f"the database must be a number, got {db!r}")


def _bad(url: str, why: str) -> ConfigError:
    return ConfigError(f"invalid counter store URL {redact(url)!r}: {why}; expected {FORMS}")
