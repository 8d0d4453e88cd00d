"""MemoryGrantStore: grants in this process's memory, for tests and embedded use.

The same API, rules and messages as the SQLite `GrantStore` (they share `grant_rules`), so code
written against one works against the other. Nothing is persisted and nothing is shared with
another process; only token hashes are kept, as in every store.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType

from toolgate.clock import Clock, SystemClock
from toolgate.errors import StoreError
from toolgate.identity.grant_rules import (
    ID_ATTEMPTS,
    Grant,
    TokenProblem,
    already_revoked,
    cannot_rotate_expired,
    check_grant_id,
    check_new_grant,
    check_revoke_target,
    judge,
    label_taken,
    no_live_label,
    no_such_grant,
)
from toolgate.identity.tokens import new_grant_id, new_token, parse_token, token_hash

WHERE = "the in-memory grant store"


class MemoryGrantStore:
    """Grants in a dict, in creation order. Thread-safe: one lock serialises every call."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._grants: dict[str, Grant] = {}  # id -> grant, oldest first
        self._hashes: dict[str, str] = {}  # id -> token hash
        self._closed = False

    @property
    def where(self) -> str:
        return WHERE

    def create(
        self,
        server: str,
        label: str,
        policy: Path | None = None,
        attributes: Mapping[str, str] | None = None,
        expires: float | None = None,
    ) -> tuple[Grant, str]:
        """See GrantStore.create: an expired grant gives its label up (it is revoked here)."""
        now = self._clock.now()
        attrs = check_new_grant(server, label, policy, attributes, expires, now)
        with self._lock:
            self._check_open()
            held = self._holder(server, label)
            if held is not None and held.expired(now):
                self._grants[held.id] = replace(held, revoked=now)
                held = None
            if held is not None:
                raise label_taken(server, label, held.id)
            grant = Grant(self._free_id(), server, label, policy, attrs, now, expires)
            token = new_token(grant.id)
            self._put(grant, token)
        return grant, token

    def get(self, grant_id: str) -> Grant | None:
        with self._lock:
            self._check_open()
            return self._grants.get(grant_id)

    def list(
        self, server: str | None = None, include_revoked: bool = False
    ) -> builtins.list[Grant]:
        """Grants, oldest first: every server's or one's, revoked ones only when asked for."""
        with self._lock:
            self._check_open()
            return [
                g
                for g in self._grants.values()
                if (server is None or g.server == server) and (include_revoked or g.revoked is None)
            ]

    def revoke(
        self, grant_id: str | None = None, *, server: str | None = None, label: str | None = None
    ) -> Grant:
        """See GrantStore.revoke."""
        check_revoke_target(grant_id, server, label)
        now = self._clock.now()
        with self._lock:
            self._check_open()
            grant = replace(self._target(grant_id, server, label), revoked=now)
            self._grants[grant.id] = grant
        return grant

    def rotate(self, grant_id: str) -> tuple[Grant, str]:
        """See GrantStore.rotate: same label, policy, attributes and expiry; old one revoked."""
        now = self._clock.now()
        with self._lock:
            self._check_open()
            old = self._target(grant_id, None, None)
            if old.expired(now):
                raise cannot_rotate_expired(old.id)
            new = Grant(
                self._free_id(),
                old.server,
                old.label,
                old.policy,
                dict(old.attributes),
                now,
                old.expires,
            )
            token = new_token(new.id)
            self._grants[old.id] = replace(old, revoked=now, rotated_to=new.id)
            self._put(new, token)
        return new, token

    def verify(self, token: str, now: float | None = None) -> Grant | TokenProblem:
        """See GrantStore.verify."""
        parsed = parse_token(token)
        if parsed is None:
            return "malformed"
        presented = token_hash(token)
        with self._lock:
            self._check_open()
            grant = self._grants.get(parsed.grant_id)
            stored = self._hashes.get(parsed.grant_id)
        return judge(stored, grant, presented, self._clock.now() if now is None else now)

    async def averify(self, token: str, now: float) -> Grant | TokenProblem:
        return self.verify(token, now)

    def lookup(self, token: str) -> Grant | None:
        found = self.verify(token)
        return found if isinstance(found, Grant) else None

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def __enter__(self) -> MemoryGrantStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _holder(self, server: str | None, label: str | None) -> Grant | None:
        """The non-revoked grant holding `label` on `server` (expired or not), if any."""
        for grant in self._grants.values():
            if grant.server == server and grant.label == label and grant.revoked is None:
                return grant
        return None

    def _target(self, grant_id: str | None, server: str | None, label: str | None) -> Grant:
        if grant_id is not None:
            check_grant_id(grant_id)
            grant = self._grants.get(grant_id)
            if grant is None:
                raise no_such_grant(grant_id, WHERE)
            if grant.revoked is not None:
                raise already_revoked(grant_id)
            return grant
        held = self._holder(server, label)
        if held is None:
            raise no_live_label(server, label, WHERE)
        return held

    def _free_id(self) -> str:
        for _ in range(ID_ATTEMPTS):
            candidate = new_grant_id()
            if candidate not in self._grants:
                return candidate
        raise StoreError(f"{WHERE}: no free grant id after {ID_ATTEMPTS} attempts")

    def _put(self, grant: Grant, token: str) -> None:
        self._grants[grant.id] = grant
        self._hashes[grant.id] = token_hash(token)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{WHERE} is closed")
