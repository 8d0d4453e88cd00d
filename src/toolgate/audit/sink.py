"""Where audit events go: the AuditSink contract, a JSON-lines file sink and a null sink."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from toolgate.audit.event import DecisionEvent
from toolgate.errors import ConfigError


class AuditSink(Protocol):
    async def emit(self, event: DecisionEvent) -> None: ...

    async def aclose(self) -> None: ...


class JsonlAuditSink:
    """Appends one JSON line per event. Each event is a single O_APPEND write, so lines from
    several processes sharing the file do not interleave mid-line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigError(f"cannot open audit log {path}: {exc.strerror}") from None

    async def emit(self, event: DecisionEvent) -> None:
        os.write(self._fd, event.to_json() + b"\n")

    async def aclose(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class NullAuditSink:
    async def emit(self, event: DecisionEvent) -> None:
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
