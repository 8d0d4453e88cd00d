"""RFC 9728 protected resource metadata for the HTTP gateway, and where to serve it.

An MCP client that is refused with 401 follows the `resource_metadata` URL (or probes the
well-known URIs) to learn which authorization server issues tokens for this resource. The
gateway is one resource (`<base>`) and each named server is another (`<base>/mcp/<server>`); a
token whose audience is the gateway is good for every server, one whose audience is a server's
URI only for that server (see `toolgate.identity.oauth`). These are pure functions: the HTTP
face serves the dictionaries they return as JSON at the paths they return.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, quote, urlsplit

from toolgate.errors import ConfigError

if TYPE_CHECKING:
    from toolgate.identity.oauth import OAuthSettings

WELL_KNOWN_PATH = "/.well-known/oauth-protected-resource"
SERVERS_PATH = "/mcp/"


def server_resource(base: str, server: str) -> str:
    """The canonical resource URI of the named server `server` under the gateway URI `base`.

    The server name is percent-encoded, so whatever names the configuration allows, the result
    is one path segment."""
    if not server:
        raise ConfigError("server_resource: the server name is empty")
    return base.rstrip("/") + SERVERS_PATH + quote(server, safe="")


def metadata_path(resource: str) -> str:
    """The path the metadata of `resource` is served at (RFC 9728 §3.1: the well-known prefix is
    inserted between the host and the resource's path), e.g. `https://gw.example/mcp/files` →
    `/.well-known/oauth-protected-resource/mcp/files`."""
    parts = _resource_parts(resource, "metadata_path")
    path = WELL_KNOWN_PATH + parts.path.rstrip("/")
    return f"{path}?{parts.query}" if parts.query else path


def metadata_url(resource: str) -> str:
    """The absolute URL of `resource`'s metadata document: what a 401's `resource_metadata`
    parameter points at."""
    parts = _resource_parts(resource, "metadata_url")
    return f"{parts.scheme}://{parts.netloc}{metadata_path(resource)}"


def protected_resource_metadata(
    resource: str,
    *,
    authorization_servers: Sequence[str],
    scopes_supported: Sequence[str] = (),
    resource_name: str | None = None,
) -> dict[str, object]:
    """The RFC 9728 metadata document of `resource`; `scopes_supported` is left out when empty
    (it is optional) and `bearer_methods_supported` is always the header only (tokens never in
    a query string or body)."""
    _resource_parts(resource, "protected_resource_metadata")
    servers = list(authorization_servers)
    if not servers or not all(isinstance(s, str) and s for s in servers):
        raise ConfigError(
            "protected_resource_metadata: authorization_servers must list at least one "
            f"issuer URL, got {servers!r}"
        )
    document: dict[str, object] = {
        "resource": resource,
        "authorization_servers": servers,
        "bearer_methods_supported": ["header"],
    }
    if scopes_supported:
        document["scopes_supported"] = list(scopes_supported)
    if resource_name:
        document["resource_name"] = resource_name
    return document


def gateway_metadata(settings: OAuthSettings) -> dict[str, object]:
    """The metadata of the gateway as a whole (resource = the configured audience)."""
    return protected_resource_metadata(
        settings.audience,
        authorization_servers=settings.authorization_servers,
        scopes_supported=settings.required_scopes,
        resource_name="toolgate",
    )


def server_metadata(settings: OAuthSettings, server: str) -> dict[str, object]:
    """The metadata of the named server `server` (resource = `<audience>/mcp/<server>`)."""
    return protected_resource_metadata(
        server_resource(settings.audience, server),
        authorization_servers=settings.authorization_servers,
        scopes_supported=settings.required_scopes,
        resource_name=f"toolgate: {server}",
    )


def well_known_paths(settings: OAuthSettings, servers: Sequence[str]) -> dict[str, str | None]:
    """Every path a metadata document is served at, mapped to the server it describes (None for
    the gateway as a whole): `/.well-known/oauth-protected-resource` and
    `/.well-known/oauth-protected-resource/mcp/<server>` when the audience has no path."""
    paths: dict[str, str | None] = {metadata_path(settings.audience): None}
    for server in servers:
        paths[metadata_path(server_resource(settings.audience, server))] = server
    return paths


def _resource_parts(resource: str, where: str) -> SplitResult:
    """Split `resource` after checking it is what RFC 9728 calls a resource identifier: an
    absolute https URL (http only on loopback, for local testing) without a fragment."""
    try:
        parts = urlsplit(resource) if isinstance(resource, str) else None
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"{where}: {resource!r} is not an absolute https URL")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(
            f"{where}: {resource!r} must use https (http is allowed only for loopback hosts)"
        )
    if parts.fragment or resource.endswith("#"):
        raise ConfigError(f"{where}: {resource!r} must not have a fragment")
    return parts


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and loopback IP addresses: the only hosts plain http is allowed to."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
