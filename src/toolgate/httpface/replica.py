"""Replica-tagged session ids, so a load balancer can keep a handshake-era session on the gateway
replica that holds it.

A session lives in one process (it may own a stdio child), so every request of it must reach that
process. A replica with a name issues session ids `<replica>.<random>`; the load balancer routes a
request carrying `Mcp-Session-Id` (or the legacy transport's `session_id` query parameter) by the
part before the first "." and spreads the rest freely (docs/deployment.md). The random part is
URL-safe base64, which has no ".", so the split is unambiguous.

A replica handed another replica's id answers "session not found" (the client re-initializes),
says which replica owns the id, and warns in its log at most once a minute.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

log = logging.getLogger("toolgate.http")

RANDOM_BYTES: Final = 24  # the random part: secrets.token_urlsafe(RANDOM_BYTES)
_RANDOM_CHARS: Final = (RANDOM_BYTES * 4 + 2) // 3  # unpadded base64url of that many bytes
REPLICA_RULE: Final = "1 to 32 characters of a-z, 0-9 and -, starting with a letter or digit"
_REPLICA: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_TAGGED: Final = re.compile(rf"([a-z0-9][a-z0-9-]{{0,31}})\.[A-Za-z0-9_-]{{{_RANDOM_CHARS}}}")
WARN_EVERY_SECONDS: Final = 60.0
_SHOWN_CHARS: Final = 40  # of a rejected name, in an error message


def replica_name_problem(name: str) -> str | None:
    """Why `name` cannot name a replica, or None when it can."""
    if _REPLICA.fullmatch(name) is not None:
        return None
    shown = name if len(name) <= _SHOWN_CHARS else name[:_SHOWN_CHARS] + "…"
    return f"{shown!r} is not a replica name ({REPLICA_RULE})"


def new_session_id(replica: str | None) -> tuple[str, str]:
    """A fresh session id, tagged with `replica` when there is one, and its random part."""
    token = secrets.token_urlsafe(RANDOM_BYTES)
    return (token if replica is None else f"{replica}.{token}"), token


def tag_of(session_id: str) -> str | None:
    """The replica a well-formed tagged id names; None for an untagged or malformed one."""
    match = _TAGGED.fullmatch(session_id)
    return match.group(1) if match is not None else None


def misrouted_message(owner: str, replica: str | None) -> str:
    """The 404 answer's message for a session id of replica `owner` that reached `replica`."""
    here = f'replica "{replica}"' if replica is not None else "a gateway without a replica name"
    return (
        f'Session not found: it belongs to replica "{owner}" and this is {here}. The load '
        "balancer is not routing by the session id prefix (see docs/deployment.md), or that "
        "replica has stopped; initialize a new session"
    )


@dataclass(slots=True)
class MisrouteLog:
    """Warns that the load balancer sent another replica's session here, at most once every
    `every` seconds (counting the ones it kept quiet about), so a misconfigured balancer is
    noticed without one log line per request."""

    every: float = WARN_EVERY_SECONDS
    clock: Callable[[], float] = time.monotonic
    _last: float | None = field(default=None, init=False)
    _quiet: int = field(default=0, init=False)

    def note(self, owner: str, replica: str | None) -> bool:
        """Record one misrouted request; True when it was logged."""
        now = self.clock()
        if self._last is not None and now - self._last < self.every:
            self._quiet += 1
            return False
        here = f'replica "{replica}"' if replica is not None else "this gateway (no replica name)"
        also = f" ({self._quiet} more since the last warning)" if self._quiet else ""
        log.warning(
            'a request for a session of replica "%s" reached %s%s: the load balancer is not '
            "routing by the session id prefix (Mcp-Session-Id, or session_id for the legacy "
            "transport), or that replica has stopped; see docs/deployment.md",
            owner,
            here,
            also,
        )
        self._last, self._quiet = now, 0
        return True


MISROUTES: Final = MisrouteLog()  # one per process: every served server's table shares it
