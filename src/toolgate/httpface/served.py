"""What the face knows of one served endpoint, and of the gateway around it."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from toolgate.httpface.guard import FaceLimits
from toolgate.httpface.replies import refusal
from toolgate.httpface.sessions import InterceptorsFor, SessionTable
from toolgate.identity.principal import Authenticator, Principal, Refusal
from toolgate.pipeline.session import Session
from toolgate.transports.upstream import UpstreamFactory


@dataclass(slots=True)
class ServedServer:
    """One endpoint (`/mcp/<name>`, or the aggregated one): where its upstream sessions come
    from, which interceptors a caller's requests pass, and its live sessions."""

    name: str
    upstreams: UpstreamFactory
    interceptors: InterceptorsFor
    table: SessionTable
    listeners: set[Session] = field(default_factory=set)  # open 2026 subscriptions/listen

    def sessions(self) -> list[Session]:
        """Every session that can hear a tool-list change."""
        return [*self.table.sessions(), *self.listeners]


@dataclass(frozen=True, slots=True)
class Face:
    """The gateway-wide settings every handler needs."""

    limits: FaceLimits
    authenticator: Authenticator | None = None  # None: no credentials asked (loopback use)

    async def principal(self, request: Request, server: str) -> Principal | Response | None:
        if self.authenticator is None:
            return None
        verdict = await self.authenticator.authenticate(
            request.headers.get("authorization"), server
        )
        if isinstance(verdict, Refusal):
            headers = (
                {"WWW-Authenticate": verdict.www_authenticate} if verdict.www_authenticate else None
            )
            return refusal(verdict.status, verdict.message, headers=headers)
        return verdict
