"""Authenticating HTTP requests with grant tokens: `Authorization: Bearer tg_…` → a Principal.

Anything short of a live grant for the requested server is a `Refusal`, never an exception:
no header, another scheme, a malformed, unknown, revoked or expired token get 401 with a
`WWW-Authenticate: Bearer …` challenge (RFC 6750; `error="invalid_token"` unless the header was
simply absent), a valid grant for another server gets 403. When the grant store cannot be read
(an unreadable file, an unreachable Redis) the request is refused with 503 (fail closed: a
revoke might have been missed).

The store is any `GrantVerifier` (SQLite, Redis or in-memory); it is awaited, so a store that
asks a server over the network does not block the event loop.
"""

from __future__ import annotations

import logging

from toolgate.clock import Clock
from toolgate.errors import ToolgateError
from toolgate.identity.grant_rules import GrantVerifier
from toolgate.identity.principal import Principal, Refusal

log = logging.getLogger("toolgate.grants")

REALM = "toolgate"
MAX_HEADER = 4096  # a grant token is 62 characters; anything far longer is not one
MISSING = "this server requires a grant token: send Authorization: Bearer <token>"
PROBLEMS = {
    "malformed": "the bearer token is not a toolgate grant token",
    "unknown": "the grant token is not valid (unknown or revoked)",
    "expired": "the grant has expired",
}


class GrantAuthenticator:
    """An `Authenticator` over a grant store: the Principal is the grant's label and attributes."""

    def __init__(
        self, store: GrantVerifier, clock: Clock, resource_metadata_url: str | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._resource_metadata = resource_metadata_url

    async def authenticate(self, authorization: str | None, server: str) -> Principal | Refusal:
        if authorization is None:
            return self._refuse(401, MISSING, None)
        if not isinstance(authorization, str) or len(authorization) > MAX_HEADER:
            return self._refuse(401, "the Authorization header is too long", "invalid_token")
        parts = authorization.strip().split(None, 1)
        if not parts:
            return self._refuse(401, "the Authorization header is empty", "invalid_token")
        if parts[0].lower() != "bearer":
            return self._refuse(
                401, "the Authorization header must use the Bearer scheme", "invalid_token"
            )
        token = parts[1].strip() if len(parts) == 2 else ""
        if not token:
            return self._refuse(401, "the Bearer token is empty", "invalid_token")
        try:
            found = await self._store.averify(token, self._clock.now())
        except ToolgateError as exc:
            log.warning("grant check failed, request refused: %s", exc)
            return Refusal(503, "grants cannot be checked right now; try again later")
        if isinstance(found, str):
            return self._refuse(401, PROBLEMS[found], "invalid_token")
        if found.server != server:
            return self._refuse(
                403,
                f'this grant is for server "{found.server}", not this one',
                "insufficient_scope",
            )
        attributes: dict[str, object] = {**found.attributes, "grant": found.id, "server": server}
        return Principal(
            name=found.label, attributes=attributes, grant_id=found.id, policy=found.policy
        )

    def _refuse(self, status: int, message: str, error: str | None) -> Refusal:
        return Refusal(status, message, self._challenge(message, error))

    def _challenge(self, message: str, error: str | None) -> str:
        params = [f"realm={_quoted(REALM)}"]
        if error is not None:
            params += [f"error={_quoted(error)}", f"error_description={_quoted(message)}"]
        if self._resource_metadata is not None:
            params.append(f"resource_metadata={_quoted(self._resource_metadata)}")
        return "Bearer " + ", ".join(params)


def _quoted(value: str) -> str:
    """An RFC 9110 quoted-string: printable ASCII only, with `"` and `\\` escaped."""
    kept = "".join(c for c in value if " " <= c <= "~")
    return '"' + kept.replace("\\", "\\\\").replace('"', '\\"') + '"'
