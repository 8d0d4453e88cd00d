"""Where audit events go: the AuditSink contract, a chained JSON-lines file sink and a null sink."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from toolgate.audit.chain import GENESIS, link_of, read_tail, seal
from toolgate.audit.rotation import RotationPolicy, prune, retired_name, rotation_due
from toolgate.errors import ConfigError

_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT
_RDWR_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT


class AuditRecord(Protocol):
    """Anything that serialises to one JSON object: decision events and any later event kind."""

    def to_json(self) -> bytes: ...


class AuditSink(Protocol):
    async def emit(self, event: AuditRecord) -> None: ...

    async def aclose(self) -> None: ...


class JsonlAuditSink:
    """Appends one hash-chained JSON line per event (see `toolgate.audit.chain`).

    Each append holds an exclusive `flock` on `<log>.lock` while it finds the chain's last link,
    rotates if due, and writes the line in one O_APPEND write, so several processes sharing the
    log keep one unbroken chain. The last link is cached and re-read only when the file's size
    shows that someone else wrote, so the usual cost is a lock, two stats, a hash and a write.
    """

    def __init__(
        self,
        path: Path,
        *,
        key: bytes | None = None,
        rotation: RotationPolicy | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._key = key
        self._rotation = rotation or RotationPolicy()
        self._now = now
        self._prev = GENESIS
        self._end = -1  # the file size after our last write; -1 forces a resync
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = os.open(path.with_name(path.name + ".lock"), _FLAGS, 0o600)
            self._fd = os.open(path, _RDWR_FLAGS, 0o600)
        except OSError as exc:
            raise ConfigError(f"cannot open audit log {path}: {exc.strerror}") from None

    async def emit(self, event: AuditRecord) -> None:
        self.append(event.to_json())

    def append(self, body: bytes) -> None:
        """Seal `body` (one JSON object) into the chain and write it as one line."""
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        try:
            size, mtime = self._current()
            line = seal(body, self._prev)
            if rotation_due(self._rotation, size, mtime, self._now(), len(line) + 1):
                self._rotate()  # the chain continues: `line` links to the retired file's last
                size = 0
            os.write(self._fd, line + b"\n")
            self._prev = link_of(line, self._key)
            self._end = size + len(line) + 1
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_UN)

    def _current(self) -> tuple[int, float]:
        """Size and mtime of the active file, after following a rotation done by another
        process and re-reading the last link if anyone else wrote since our last append."""
        mine = os.fstat(self._fd)
        try:
            named = os.stat(self.path)
            replaced = (named.st_ino, named.st_dev) != (mine.st_ino, mine.st_dev)
        except FileNotFoundError:
            replaced = True
        if replaced:  # retired by someone else: its last line is where the chain continues
            self._resync(mine.st_size)
            os.close(self._fd)
            self._fd = os.open(self.path, _RDWR_FLAGS, 0o600)
            self._end = 0
            mine = os.fstat(self._fd)
        if mine.st_size != self._end:
            self._resync(mine.st_size)
            mine = os.fstat(self._fd)
        return mine.st_size, mine.st_mtime

    def _resync(self, size: int) -> None:
        last, torn = read_tail(self._fd, size)
        if torn:  # end the torn fragment so verify can report it; the chain skips it
            os.write(self._fd, b"\n")
        self._prev = GENESIS if last is None else link_of(last, self._key)
        self._end = size + (1 if torn else 0)

    def _rotate(self) -> None:
        os.rename(self.path, retired_name(self.path, self._now()))
        os.close(self._fd)
        self._fd = os.open(self.path, _RDWR_FLAGS, 0o600)
        self._end = 0
        prune(self.path, self._rotation.keep)

    async def aclose(self) -> None:
        for fd in (self._fd, self._lock):
            if fd >= 0:
                os.close(fd)
        self._fd = self._lock = -1


class NullAuditSink:
    async def emit(self, event: AuditRecord) -> None:
        return None

    async def aclose(self) -> None:
        return None


def load_or_create_salt(path: Path) -> bytes:
    """The installation's audit salt: 32 random bytes kept beside the state, created once."""
    try:
        data = path.read_bytes()
        if len(data) >= 16:
            return data
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot read audit salt {path}: {exc.strerror}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    salt = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, salt)
    finally:
        os.close(fd)
    return salt
