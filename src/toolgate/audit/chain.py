"""The hash chain of the decision log: how a line is sealed and how it links to the one before.

Every line carries `"prev"`: the link of the previous line's exact bytes (without its newline),
`sha256:<hex>`, or `hmac-sha256:<hex>` when a key is configured; the first line of a new chain
carries `"genesis"`. The chain is computed over the bytes written, so it covers any event kind.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Final

from toolgate.errors import ConfigError

GENESIS: Final = "genesis"
KEY_ENV: Final = "TOOLGATE_AUDIT_KEY"
PLAIN_PREFIX: Final = "sha256:"
KEYED_PREFIX: Final = "hmac-sha256:"
_TAIL_CHUNK: Final = 4096


def link_of(line: bytes, key: bytes | None) -> str:
    """The value the next line's `prev` must hold."""
    if key is None:
        return PLAIN_PREFIX + hashlib.sha256(line).hexdigest()
    return KEYED_PREFIX + hmac.new(key, line, hashlib.sha256).hexdigest()


def seal(body: bytes, prev: str) -> bytes:
    """The event's JSON object with `"prev"` appended as its last field (no newline)."""
    if not body.endswith(b"}"):
        raise ValueError("an audit event must serialise to a JSON object")
    separator = b"" if body[:-1].strip() == b"{" else b","
    return body[:-1] + separator + b'"prev":"' + prev.encode() + b'"}'


def load_chain_key(key_file: Path | None) -> bytes | None:
    """The HMAC key: the key file when given, else $TOOLGATE_AUDIT_KEY, else none (plain hashes).
    Never part of the policy or the settings passed between processes."""
    if key_file is not None:
        try:
            key = key_file.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read audit key file {key_file}: {exc.strerror}") from None
        if not key:
            raise ConfigError(f"audit key file {key_file} is empty")
        return key
    value = os.environ.get(KEY_ENV, "")
    return value.encode() if value else None


def read_tail(fd: int, size: int) -> tuple[bytes | None, bool]:
    """The file's last complete line (without newline) and whether bytes follow it that lack a
    newline (a torn write). Reads backwards in chunks, so the cost does not grow with the file."""
    if size == 0:
        return None, False
    torn = os.pread(fd, 1, size - 1) != b"\n"
    span = _TAIL_CHUNK
    while True:
        start = max(0, size - span)
        data = os.pread(fd, size - start, start)
        end = data.rfind(b"\n")
        if end < 0:
            if start == 0:
                return None, torn
            span *= 2
            continue
        begin = data.rfind(b"\n", 0, end)
        if begin >= 0 or start == 0:
            return data[begin + 1 : end], torn
        span *= 2
