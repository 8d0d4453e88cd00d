"""Concrete parts the HTTP gateway is built from: the authenticator its configuration asks for
(with the grant store: Redis when the state store is Redis, else the SQLite grants file), each
server's upstream factory, and the audit redactor."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskGroup

from toolgate.app.gateway_config import (
    GatewayConfig,
    OAuthConfig,
    ServerConfig,
)
from toolgate.clock import Clock
from toolgate.identity.grant_auth import GrantAuthenticator
from toolgate.identity.grant_rules import GrantVerifier
from toolgate.identity.grants import GrantStore
from toolgate.identity.principal import Authenticator, Principal, Refusal

if TYPE_CHECKING:
    from toolgate.identity.oauth import OAuthSettings
    from toolgate.transports.http_upstream import HttpUpstream
from toolgate.identity.resource_metadata import metadata_url
from toolgate.stores.redis_url import is_redis_url
from toolgate.transports.stdio_upstream import StdioUpstreams
from toolgate.transports.upstream import UpstreamFactory, UpstreamSession

GRANT_TOKEN_PREFIX = "Bearer tg_"  # noqa: S105 - the grant token format, not a secret


def oauth_settings(oauth: OAuthConfig) -> OAuthSettings:
    # imported here: JWT and crypto libraries load only when OAuth is configured
    from toolgate.identity.oauth import OAuthSettings  # noqa: PLC0415

    return OAuthSettings(
        issuer=oauth.issuer,
        audience=oauth.audience,
        jwks_url=oauth.jwks_url,  # None: discovered from the issuer's metadata
        leeway_seconds=int(oauth.leeway_seconds),
        identity_claim=oauth.identity_claim,
        required_scopes=oauth.required_scopes,
        authorization_servers=oauth.authorization_servers,
    )


def make_authenticator(config: GatewayConfig, clock: Clock) -> Authenticator | None:
    """Grants, OAuth, both (a `tg_` token is a grant, any other bearer token a JWT), or none
    when the file says `insecure_no_auth` or asks for neither."""
    auth = config.auth
    metadata = metadata_url(auth.oauth.audience) if auth.oauth else None
    grants = None
    if auth.grants and auth.grants_db is not None:
        grants = GrantAuthenticator(open_grant_store(config, clock), clock, metadata)
    oauth = None
    if auth.oauth is not None:
        from toolgate.identity.oauth import JwksCache, OAuthAuthenticator  # noqa: PLC0415

        settings = oauth_settings(auth.oauth)
        oauth = OAuthAuthenticator(settings, JwksCache(settings, clock), clock, metadata)
    if grants is not None and oauth is not None:
        return _Either(grants, oauth)
    return grants or oauth


def open_grant_store(config: GatewayConfig, clock: Clock) -> GrantVerifier:
    """Redis when the state store is Redis (every replica then sees every grant, and a revoke
    takes effect everywhere on the next request), under the state prefix; else the SQLite
    grants file. (A gateway file naming a grants file beside Redis state is refused, located,
    by the loader.)"""
    dsn = config.state.dsn.strip()
    if not is_redis_url(dsn):
        return GrantStore(config.auth.grants_db, clock=clock)
    # imported here: the Redis client is heavy and most gateways never use it
    from toolgate.identity.grants_redis import RedisGrantStore  # noqa: PLC0415

    return RedisGrantStore.from_url(dsn, prefix=f"{config.state.prefix}:", clock=clock)


class _Either:
    """Grant tokens and OAuth access tokens side by side, told apart by the grant prefix."""

    def __init__(self, grants: Authenticator, oauth: Authenticator) -> None:
        self._grants = grants
        self._oauth = oauth

    async def authenticate(self, authorization: str | None, server: str) -> Principal | Refusal:
        if authorization is not None and authorization.startswith(GRANT_TOKEN_PREFIX):
            return await self._grants.authenticate(authorization, server)
        return await self._oauth.authenticate(authorization, server)


def make_upstreams(server: ServerConfig) -> UpstreamFactory:
    if server.command is not None:
        return StdioUpstreams(
            server.command,
            env=server.env,
            cwd=str(server.cwd) if server.cwd is not None else None,
            timeout=server.timeout_seconds,
        )
    assert server.url is not None
    # imported here: the HTTP client stack (~15 MiB) loads only for servers reached by URL
    from toolgate.transports.http_upstream import HttpUpstream  # noqa: PLC0415

    transport = server.transport if server.transport in ("streamable", "sse") else "auto"
    return HttpUpstreams(
        HttpUpstream(
            server.url,
            headers=server.headers,
            transport=transport,  # type: ignore[arg-type]
            timeout=server.timeout_seconds,
        )
    )


class HttpUpstreams:
    """A remote server as an `UpstreamFactory`. Its HTTP client and stream readers live in a
    task of the gateway's task group, so they are opened and closed by the same task."""

    def __init__(self, upstream: HttpUpstream) -> None:
        self._upstream = upstream
        self._ready = anyio.Event()
        self._done = anyio.Event()
        self._shared: UpstreamSession | None = None

    @property
    def description(self) -> str:
        return self._upstream.where

    def bind(self, tg: TaskGroup) -> None:
        tg.start_soon(self._hold)

    async def _hold(self) -> None:
        async with self._upstream:
            self._ready.set()
            await self._done.wait()

    async def session(self) -> UpstreamSession:
        await self._ready.wait()
        return self._upstream.open_session()

    async def stateless(self) -> UpstreamSession:
        await self._ready.wait()
        if self._shared is None:
            self._shared = self._upstream.open_session()
        return self._shared

    async def aclose(self) -> None:
        self._done.set()
