"""Redaction of argument values before they reach an audit sink, and of credentials in URLs.

Argument values are written only with `--audit-include-args`; even then they pass through a
`Redactor` first:

- keys whose name looks secret (password, secret, token, api_key, authorization, cookie,
  private_key, …; case-insensitive, `-`/`_` ignored) have their value masked, whatever it is;
- `--audit-redact-path args.card.number` masks the value at that path (`*` matches any key or
  list index);
- `--audit-redact-pattern REGEX` replaces every match inside string (and number) values.

Masked values become the string `"[REDACTED]"`. Redaction works on a copy; the call itself is
never changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from toolgate.errors import ConfigError

MASK: Final = "[REDACTED]"

# Compared against the key lower-cased with "-" and "_" removed; a key containing any of these
# is secret-like ("db_password", "X-Api-Key", "refreshToken", "session_cookie").
SECRET_KEY_PARTS: Final = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "authorization",
    "cookie",
    "privatekey",
    "credential",
    "accesskey",
    "sessionid",
    "signature",
)
# Values that are secrets whatever their key is called.
SECRET_VALUE_PATTERNS: Final = (
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)",
    r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+",
)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^@/\s]+)@")


def secret_key(name: str) -> bool:
    folded = name.lower().replace("-", "").replace("_", "")
    return any(part in folded for part in SECRET_KEY_PARTS)


def redact_url(text: str) -> str:
    """`text` with the password of every URL in it replaced: redis://:pw@h → redis://***@h."""

    def mask(match: re.Match[str]) -> str:
        user, sep, _ = match["userinfo"].partition(":")
        return f"{match['scheme']}{user + ':' if sep and user else ''}***@"

    return _URL_CREDENTIALS.sub(mask, text)


def _parse_path(path: str) -> tuple[str, ...]:
    parts = tuple(path.split("."))
    if parts and parts[0] == "args":
        parts = parts[1:]
    if not parts or any(not part for part in parts):
        raise ConfigError(f"--audit-redact-path must look like args.card.number, got {path!r}")
    return parts


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(
            f"--audit-redact-pattern {pattern!r} is not a valid regex: {exc}"
        ) from None


@dataclass(frozen=True, slots=True)
class Redactor:
    """Masks secret-like keys, configured paths and configured patterns in argument values."""

    paths: tuple[tuple[str, ...], ...] = ()
    patterns: tuple[re.Pattern[str], ...] = field(default=())

    @classmethod
    def build(cls, paths: Iterable[str] = (), patterns: Iterable[str] = ()) -> Redactor:
        """Raises ConfigError naming the flag when a path or a pattern is malformed."""
        compiled = [_compile(p) for p in (*SECRET_VALUE_PATTERNS, *patterns)]
        return cls(tuple(_parse_path(p) for p in paths), tuple(compiled))

    def arguments(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        redacted = self._value(dict(arguments), ())
        assert isinstance(redacted, dict)
        return redacted

    def _value(self, value: Any, at: tuple[str, ...]) -> Any:
        if at and self._path_hit(at):
            return MASK
        if isinstance(value, Mapping):
            return {
                str(k): MASK if secret_key(str(k)) else self._value(v, (*at, str(k)))
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self._value(v, (*at, str(i))) for i, v in enumerate(value)]
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return MASK if self._text(str(value)) != str(value) else value
        return value

    def _text(self, text: str) -> str:
        for pattern in self.patterns:
            text = pattern.sub(MASK, text)
        return text

    def _path_hit(self, at: tuple[str, ...]) -> bool:
        for path in self.paths:
            if len(path) == len(at) and all(p in ("*", a) for p, a in zip(path, at, strict=True)):
                return True
        return False


def redact_command(command: list[str]) -> list[str]:
    """A server command line fit for the log: URL passwords and the values of secret-like
    flags (`--api-key X`, `--token=X`) masked."""
    out: list[str] = []
    mask_next = False
    for arg in command:
        flag, eq, _ = arg.partition("=")
        if mask_next:
            out.append(MASK)
        elif flag.startswith("-") and eq and secret_key(flag.lstrip("-")):
            out.append(f"{flag}={MASK}")
        else:
            out.append(redact_url(arg))
        mask_next = arg.startswith("-") and not eq and secret_key(arg.lstrip("-"))
    return out
