"""Who is calling over HTTP, and the contract every way of finding out honours.

A `Principal` is what a valid grant token or OAuth access token establishes: a name (the policy's
`identity.name`), attributes (`identity.<attribute>`), the servers it may call and, for a grant,
the policy that replaces the server's own. An `Authenticator` turns the request's Authorization
header into a Principal or a `Refusal` the face answers with 401 or 403.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Principal:
    # identity.name, and what `scope: identity` counters are kept under: a grant's label (unique
    # per server among live grants, kept by rotation) or an access token's subject
    name: str
    attributes: Mapping[str, object] = field(default_factory=dict)  # identity.<attribute>
    grant_id: str | None = None  # the grant that authenticated the request, when one did
    policy: Path | None = None  # a grant's own policy, used instead of the server's


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is not let in: 401 (no or bad credentials) or 403 (valid, not for this)."""

    status: int
    message: str
    www_authenticate: str | None = None


class Authenticator(Protocol):
    async def authenticate(self, authorization: str | None, server: str) -> Principal | Refusal:
        """Check the request's `Authorization` header value (None when absent) for `server`."""
        ...
