"""The pin file of one guarded server: JSON in the state dir, read strictly, written atomically.

`<state-dir>/pins/<namespace>.json`. Every update holds an exclusive lock on a sibling lock file
for its read-modify-write, so the gateway recording a change and `toolgate pin accept` never
lose each other's writes; the new content replaces the old with one rename. A file that cannot
be read as a pin file is an error naming the file, and is never overwritten.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import orjson

from toolgate.catalog.pins import Pin, PinBook
from toolgate.errors import ConfigError

FORMAT_VERSION = 1
T = TypeVar("T")
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


class PinFileError(ConfigError):
    """The pin file exists but is not a readable pin file."""


def pin_path(state_dir: Path, namespace: str) -> Path:
    safe = _SAFE.sub("_", namespace)
    if safe != namespace or safe.startswith("."):
        safe = f"{safe.lstrip('.')}-{hashlib.sha256(namespace.encode()).hexdigest()[:8]}"
    return state_dir / "pins" / f"{safe}.json"


class PinFile:
    def __init__(self, path: Path, namespace: str) -> None:
        self.path = path
        self.namespace = namespace

    def exists(self) -> bool:
        return self.path.exists()

    def stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def load(self) -> dict[str, Pin]:
        """The pins, or {} when there is no file yet; PinFileError when it is unreadable."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise PinFileError(f"cannot read pin file {self.path}: {exc.strerror}") from None
        return self._parse(data)

    def update(self, change: Callable[[dict[str, Pin]], tuple[dict[str, Pin], T]]) -> T:
        """Apply `change` to the stored pins under the lock and write the result."""
        with self._locked():
            book, result = change(self.load())
            self._write(book)
        return result

    def _parse(self, data: bytes) -> dict[str, Pin]:
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise self._garbage(f"not JSON ({exc})") from None
        if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
            raise self._garbage(f'not a version {FORMAT_VERSION} pin file (no "version": 1)')
        tools = doc.get("tools")
        if not isinstance(tools, dict):
            raise self._garbage('"tools" must be an object')
        return {name: self._pin(name, entry) for name, entry in tools.items()}

    def _pin(self, name: str, entry: Any) -> Pin:
        fields = ("first_seen", "accepted", "latest", "latest_seen")
        if not isinstance(entry, dict) or not all(k in entry for k in fields):
            raise self._garbage(f'tool "{name}" must have {", ".join(fields)}')
        values = [entry[k] for k in fields]
        if not all(isinstance(v, str) for i, v in enumerate(values) if i != 1) or not (
            values[1] is None or isinstance(values[1], str)
        ):
            raise self._garbage(f'tool "{name}" has a field of the wrong type')
        return Pin(*values)

    def _garbage(self, why: str) -> PinFileError:
        return PinFileError(
            f"pin file {self.path} is unreadable: {why}; fix or remove it "
            "(`toolgate pin reset` will not overwrite it)"
        )

    def _write(self, book: PinBook) -> None:
        tools = {
            name: {
                "first_seen": pin.first_seen,
                "accepted": pin.accepted,
                "latest": pin.latest,
                "latest_seen": pin.latest_seen,
            }
            for name, pin in sorted(book.items())
        }
        doc = {"version": FORMAT_VERSION, "namespace": self.namespace, "tools": tools}
        data = orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            temporary.write_bytes(data)
            os.replace(temporary, self.path)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise PinFileError(f"cannot write pin file {self.path}: {exc.strerror}") from None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise PinFileError(f"cannot lock pin file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
