"""The live policy: loaded from its file, reloaded when the file changes, kept on a bad edit.

`current()` checks the file's identity (inode, size, mtime) on every call — a stat, a few
microseconds — so the very next call after an edit sees the new policy; `watch()` polls in the
background so clients can be told about list changes even when no call arrives.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import anyio

from toolgate.errors import PolicyError, PolicyValidationError
from toolgate.policy.loader import load_policy
from toolgate.policy.model import Policy

log = logging.getLogger("toolgate.policy")

Stamp = tuple[int, int, int]
# on_load listeners get (revision loaded or None, revision in force, rendered located errors)
LoadListener = Callable[[str | None, str | None, list[str]], None]
POLL_SECONDS = 0.5
# File timestamps are coarse (a few ms): two edits that close together can share a stamp, so
# for a short while after an edit the content itself is compared too.
RECENT_NS = 2_000_000_000


def _stamp(path: Path) -> Stamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _digest(path: Path) -> bytes | None:
    try:
        return hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return None


class PolicySource:
    """Holds the policy in force and reloads it from `path` when the file changes."""

    def __init__(self, path: Path, loader: Callable[[Path], Policy] = load_policy) -> None:
        self.path = path
        self._loader = loader
        self._stamp = _stamp(path)
        self._digest = _digest(path)
        self._policy = loader(path)  # the first load's errors propagate to the caller
        self._rejected: Stamp | None = None
        self._rejected_digest: bytes | None = None
        self._listeners: list[Callable[[Policy, Policy], None]] = []
        self._load_listeners: list[LoadListener] = []
        self.reloads = 0

    def on_load(self, listener: LoadListener) -> None:
        """`listener(revision, in_force, errors)` runs after each reload attempt: `revision` is
        the new revision on success, None (with the rendered errors) on a rejected reload."""
        self._load_listeners.append(listener)

    def on_change(self, listener: Callable[[Policy, Policy], None]) -> None:
        """`listener(old, new)` runs after each successful reload."""
        self._listeners.append(listener)

    def current(self) -> Policy:
        stamp = _stamp(self.path)
        if stamp is None:
            return self._policy  # a file briefly missing mid-save: keep what is in force
        if stamp not in (self._stamp, self._rejected):
            self._reload(stamp)
        elif time.time_ns() - stamp[2] < RECENT_NS:
            digest = _digest(self.path)
            if digest not in (self._digest, self._rejected_digest):
                self._reload(stamp)
        return self._policy

    def _reload(self, stamp: Stamp) -> None:
        digest = _digest(self.path)
        try:
            policy = self._loader(self.path)
        except PolicyValidationError as exc:
            self._rejected, self._rejected_digest = stamp, digest
            log.error(
                "policy reload rejected; keeping revision %s in force:\n%s",
                self._policy.revision,
                "\n".join(e.render() for e in exc.errors),
            )
            self._loaded(None, [e.render() for e in exc.errors])
            return
        except PolicyError as exc:
            self._rejected, self._rejected_digest = stamp, digest
            log.error("policy reload failed; keeping revision %s: %s", self._policy.revision, exc)
            self._loaded(None, [f"{self.path}: {exc}"])
            return
        old, self._policy, self._stamp, self._rejected = self._policy, policy, stamp, None
        self._digest = digest
        self.reloads += 1
        log.info("policy reloaded: revision %s -> %s", old.revision, policy.revision)
        self._loaded(policy.revision, [])
        for listener in self._listeners:
            listener(old, policy)

    def _loaded(self, revision: str | None, errors: list[str]) -> None:
        for listener in self._load_listeners:
            listener(revision, self._policy.revision, errors)

    async def watch(self, interval: float = POLL_SECONDS) -> None:
        while True:
            await anyio.sleep(interval)
            self.current()
