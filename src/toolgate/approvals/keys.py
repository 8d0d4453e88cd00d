"""The secret that signs the request state toolgate hands a client when it asks a person in-band.

Where it comes from, first match wins:

1. `$TOOLGATE_APPROVAL_KEY`: at least 32 bytes, written as hex (64 or more hex digits) or as
   base64url (43 or more characters, padding optional). A value that is both valid hex and
   valid base64url is read as hex. Replicas behind one load balancer must share this key (a
   client may retry on any of them), so set the same value on every replica, e.g.
   `export TOOLGATE_APPROVAL_KEY=$(openssl rand -hex 32)`.
2. The file `<state dir>/approval.key`: 64 hex digits, created on first use from 32 random bytes
   with mode 0600. Creation is atomic (a temporary file linked into place, which fails if the
   key exists), so processes starting at the same moment all end up with the one key. Its
   content can be copied into the variable above to share it.

A key that is present but unusable is an error (naming the variable or the file, never showing
the key), never silently replaced: a new key would invalidate every state handed out.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import secrets
import stat
import tempfile
from pathlib import Path
from typing import Final

from toolgate.errors import ConfigError

KEY_ENV: Final = "TOOLGATE_APPROVAL_KEY"
KEY_FILE: Final = "approval.key"
MIN_KEY_BYTES: Final = 32
FILE_KEY_BYTES: Final = 32

_MAX_FILE_BYTES: Final = 4096
_HEX: Final = re.compile(r"[0-9a-fA-F]+")
_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]+={0,2}")


def approval_key(state_dir: Path) -> bytes:
    """The approval signing key: from $TOOLGATE_APPROVAL_KEY, else from (or newly into)
    `state_dir/approval.key`. Raises ConfigError when either is unusable."""
    value = os.environ.get(KEY_ENV)
    if value is not None:
        return decode_env_key(value)
    return file_key(state_dir / KEY_FILE)


def decode_env_key(value: str) -> bytes:
    """The key written in the environment variable, hex or base64url."""
    text = value.strip()
    if not text:
        raise ConfigError(f"{KEY_ENV} is set but empty; unset it or give a key of 32+ bytes")
    key = _decode(text)
    if key is None:
        raise ConfigError(
            f"{KEY_ENV} is not a key: expected hex digits or base64url text "
            f"(e.g. the output of `openssl rand -hex 32`)"
        )
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"{KEY_ENV} is too short: it decodes to {len(key)} bytes, at least "
            f"{MIN_KEY_BYTES} are needed"
        )
    return key


def _decode(text: str) -> bytes | None:
    if len(text) % 2 == 0 and _HEX.fullmatch(text):
        return bytes.fromhex(text)
    if not _BASE64URL.fullmatch(text):
        return None
    bare = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
    except (binascii.Error, ValueError):  # a length no base64 text has
        return None


def file_key(path: Path) -> bytes:
    """The key kept in `path`, created first if there is none."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    _create(path)
    return _read(path)


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            data = handle.read(_MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigError(f"cannot read approval key file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"approval key file {path} is not a regular file")
    if os.name == "posix" and info.st_mode & 0o077:
        raise ConfigError(
            f"approval key file {path} is readable by others (mode "
            f"{stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}`"
        )
    text = data.strip()
    if (
        len(data) > _MAX_FILE_BYTES
        or len(text) != 2 * FILE_KEY_BYTES
        or not _HEX.fullmatch(text.decode("latin-1"))
    ):
        raise ConfigError(
            f"approval key file {path} is not a key: expected {2 * FILE_KEY_BYTES} hex digits; "
            f"delete it to have a new one made (states handed out with the old key stop working)"
        )
    return bytes.fromhex(text.decode("ascii"))


def _create(path: Path) -> None:
    """Write a new random key to a temporary file, then link it into place; when another process
    got there first the link fails and its key is the one everybody reads."""
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)  # mode 0600
    except OSError as exc:
        raise ConfigError(
            f"cannot create approval key file {path}: {exc.strerror or exc}"
        ) from None
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_hex(FILE_KEY_BYTES).encode("ascii") + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    except OSError as exc:
        raise ConfigError(
            f"cannot create approval key file {path}: {exc.strerror or exc}"
        ) from None
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()
