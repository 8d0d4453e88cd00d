"""What every grant store shares: the `Grant` record, the input rules and their messages, how a
presented token is judged, and the protocols the stores offer.

The SQLite (`grants`), Redis (`grants_redis`) and in-memory (`grants_memory`) stores keep grants
differently but must refuse the same inputs with the same words and answer `verify` the same
way, so a grant behaves identically whichever store holds it. Those rules live here, once.
"""

from __future__ import annotations

import builtins
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol, Self

from toolgate.errors import ConfigError
from toolgate.identity.tokens import hashes_equal, is_grant_id

SERVER_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
ATTRIBUTE_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
RESERVED_ATTRIBUTES = ("name", "grant", "server")  # identity.name is the label; the rest we set
MAX_LABEL = 128
MAX_ATTRIBUTE_VALUE = 1024
MAX_ATTRIBUTES = 64
ID_ATTEMPTS = 8  # fresh ids tried before giving up (48 random bits: a clash is already rare)

Status = Literal["live", "revoked", "expired"]
TokenProblem = Literal["malformed", "unknown", "expired"]


@dataclass(frozen=True, slots=True)
class Grant:
    """One grant as stored; never carries its token or the token's hash."""

    id: str
    server: str
    label: str
    policy: Path | None
    attributes: Mapping[str, str] = field(default_factory=dict)
    created: float = 0.0
    expires: float | None = None
    revoked: float | None = None
    rotated_to: str | None = None

    def expired(self, now: float) -> bool:
        return self.expires is not None and self.expires <= now

    def status(self, now: float) -> Status:
        """ "expired" if it ran out before it was revoked (or now), else "revoked" or "live"."""
        if self.expired(self.revoked if self.revoked is not None else now):
            return "expired"
        return "revoked" if self.revoked is not None else "live"


class GrantVerifier(Protocol):
    """What the gateway's authenticator needs: judge a token without blocking the event loop."""

    async def averify(self, token: str, now: float) -> Grant | TokenProblem:
        """The non-revoked grant `token` belongs to, unexpired at `now`, or why there is none.

        Never raises for any `token`; StoreError only when the store cannot be read.
        """
        ...


class GrantRegistry(GrantVerifier, Protocol):
    """The management API every grant store offers (what `toolgate grants …` uses)."""

    @property
    def where(self) -> str:
        """The store as messages name it (a file path, a masked Redis DSN, "memory")."""
        ...

    def create(
        self,
        server: str,
        label: str,
        policy: Path | None = None,
        attributes: Mapping[str, str] | None = None,
        expires: float | None = None,
    ) -> tuple[Grant, str]: ...

    def get(self, grant_id: str) -> Grant | None: ...

    def list(
        self, server: str | None = None, include_revoked: bool = False
    ) -> builtins.list[Grant]: ...

    def revoke(
        self, grant_id: str | None = None, *, server: str | None = None, label: str | None = None
    ) -> Grant: ...

    def rotate(self, grant_id: str) -> tuple[Grant, str]: ...

    def verify(self, token: str, now: float | None = None) -> Grant | TokenProblem: ...

    def lookup(self, token: str) -> Grant | None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


# --- input rules --------------------------------------------------------------------------------


def check_server(server: str) -> None:
    if not isinstance(server, str) or SERVER_RE.fullmatch(server) is None:
        raise ConfigError(
            f"server name {shown(server)} is invalid: use 1-63 lowercase letters, digits, "
            '"-" or "_", starting with a letter or digit'
        )


def check_label(label: str) -> None:
    if not isinstance(label, str) or not label:
        raise ConfigError("label must not be empty")
    if len(label) > MAX_LABEL:
        raise ConfigError(f"label is {len(label)} characters long; at most {MAX_LABEL} allowed")
    if not label.isprintable():
        raise ConfigError(f"label {shown(label)} contains control or non-printable characters")
    if label != label.strip():
        raise ConfigError(f"label {shown(label)} must not start or end with whitespace")


def check_attributes(attributes: Mapping[str, str]) -> None:
    if len(attributes) > MAX_ATTRIBUTES:
        raise ConfigError(f"a grant has at most {MAX_ATTRIBUTES} attributes")
    for key, value in attributes.items():
        if not isinstance(key, str) or ATTRIBUTE_KEY_RE.fullmatch(key) is None:
            raise ConfigError(
                f"attribute name {shown(key)} is invalid: use up to 64 letters, digits, "
                '"_", "." or "-", starting with a letter or "_"'
            )
        if key in RESERVED_ATTRIBUTES:
            raise ConfigError(
                f'attribute name "{key}" is reserved (identity.name is the label; "grant" and '
                '"server" are set by toolgate)'
            )
        if not isinstance(value, str) or len(value) > MAX_ATTRIBUTE_VALUE:
            raise ConfigError(
                f'attribute "{key}" must be text of at most {MAX_ATTRIBUTE_VALUE} characters'
            )
        if not value.isprintable():
            raise ConfigError(f'attribute "{key}" contains control or non-printable characters')


def check_new_grant(
    server: str,
    label: str,
    policy: Path | None,
    attributes: Mapping[str, str] | None,
    expires: float | None,
    now: float,
) -> dict[str, str]:
    """Every input of `create`, checked (ConfigError); returns the attributes as a plain dict."""
    attrs = dict(attributes or {})
    check_server(server)
    check_label(label)
    check_attributes(attrs)
    if policy is not None and not policy.is_absolute():
        raise ConfigError(f"a grant's policy path must be absolute, got {policy}")
    if policy is not None and not str(policy).isprintable():
        raise ConfigError(f"a grant's policy path {shown(str(policy))} has unprintable characters")
    if expires is not None and not (math.isfinite(expires) and expires > now):
        raise ConfigError("the expiry is not in the future")
    return attrs


def check_revoke_target(grant_id: str | None, server: str | None, label: str | None) -> None:
    """A revoke names its grant by id alone, or by server and label together."""
    by_id = grant_id is not None and server is None and label is None
    by_label = grant_id is None and server is not None and label is not None
    if not (by_id or by_label):
        raise ConfigError("name the grant to revoke: its id, or its server and label")


def check_grant_id(grant_id: str) -> None:
    if not is_grant_id(grant_id):
        raise ConfigError(
            f"{shown(grant_id)} is not a grant id (gr_ and 12 hex digits, "
            "as `toolgate grants list` shows)"
        )


# --- refusals, worded once ----------------------------------------------------------------------


def label_taken(server: str, label: str, holder: str) -> ConfigError:
    return ConfigError(
        f'server "{server}" already has a live grant labelled {shown(label)} '
        f"({holder}): revoke or rotate it, or choose another label"
    )


def no_such_grant(grant_id: str, where: str) -> ConfigError:
    return ConfigError(f"no grant {grant_id} in {where}")


def already_revoked(grant_id: str) -> ConfigError:
    return ConfigError(f"grant {grant_id} is already revoked")


def no_live_label(server: str | None, label: str | None, where: str) -> ConfigError:
    return ConfigError(
        f'server "{server}" has no live grant labelled {shown(label or "")} in {where}'
    )


def cannot_rotate_expired(grant_id: str) -> ConfigError:
    return ConfigError(f"grant {grant_id} has expired; create a new grant instead of rotating it")


# --- judging a token ----------------------------------------------------------------------------


def judge(
    stored_hash: str | None, grant: Grant | None, presented_hash: str, now: float
) -> Grant | TokenProblem:
    """The verdict on a well-formed token whose grant id led to `grant` (None: no non-revoked
    grant has that id) stored with `stored_hash`: the grant, "unknown" or "expired"."""
    if grant is None or stored_hash is None or grant.revoked is not None:
        return "unknown"
    if not hashes_equal(stored_hash, presented_hash):
        return "unknown"
    return "expired" if grant.expired(now) else grant


# --- stored forms -------------------------------------------------------------------------------


def encode_attributes(attributes: Mapping[str, str]) -> str:
    return json.dumps(dict(attributes), sort_keys=True, ensure_ascii=False)


def decode_attributes(text: object) -> dict[str, str]:
    """Stored attributes back as a dict; ValueError when they are not a map of text."""
    attributes: object = json.loads(str(text))
    if not isinstance(attributes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
    ):
        raise ValueError("attributes are not a map of text")
    return {str(k): str(v) for k, v in attributes.items()}


def number(value: object) -> float:
    """A stored timestamp as a float; TypeError for anything that is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a timestamp is {type(value).__name__}, not a number")
    return float(value)


def shown(text: object) -> str:
    """A value for an error message: quoted, control characters escaped, long ones cut."""
    if not isinstance(text, str):
        return type(text).__name__
    cut = text if len(text) <= 60 else text[:60] + "…"
    return json.dumps(cut, ensure_ascii=False)
