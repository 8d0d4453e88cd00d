"""RFC 9728 protected resource metadata: documents and the well-known paths they live at."""

from __future__ import annotations

import pytest

from toolgate.errors import ConfigError
from toolgate.identity.oauth import OAuthSettings
from toolgate.identity.resource_metadata import (
    WELL_KNOWN_PATH,
    gateway_metadata,
    metadata_path,
    metadata_url,
    protected_resource_metadata,
    server_metadata,
    server_resource,
    well_known_paths,
)

ISSUER = "https://auth.example.com"
AUDIENCE = "https://gateway.example.com"


@pytest.fixture
def settings() -> OAuthSettings:
    return OAuthSettings(
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks_url=f"{ISSUER}/jwks.json",
        required_scopes=("tools:read", "tools:call"),
    )


def test_gateway_metadata_names_the_audience_and_the_issuer(settings: OAuthSettings) -> None:
    assert gateway_metadata(settings) == {
        "resource": AUDIENCE,
        "authorization_servers": [ISSUER],
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["tools:read", "tools:call"],
        "resource_name": "toolgate",
    }


def test_server_metadata_names_the_servers_own_resource_uri(settings: OAuthSettings) -> None:
    document = server_metadata(settings, "files")
    assert document["resource"] == f"{AUDIENCE}/mcp/files"
    assert document["resource_name"] == "toolgate: files"
    assert document["authorization_servers"] == [ISSUER]


def test_configured_authorization_servers_replace_the_issuer() -> None:
    settings = OAuthSettings(
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks_url=f"{ISSUER}/jwks.json",
        authorization_servers=("https://login.example.com", "https://backup.example.com"),
    )
    document = gateway_metadata(settings)
    assert document["authorization_servers"] == [
        "https://login.example.com",
        "https://backup.example.com",
    ]
    assert "scopes_supported" not in document  # optional, and there are none to name


def test_well_known_paths_cover_the_gateway_and_every_server(settings: OAuthSettings) -> None:
    assert well_known_paths(settings, ["files", "github"]) == {
        "/.well-known/oauth-protected-resource": None,
        "/.well-known/oauth-protected-resource/mcp/files": "files",
        "/.well-known/oauth-protected-resource/mcp/github": "github",
    }


@pytest.mark.parametrize(
    ("resource", "path"),
    [
        ("https://gw.example.com", WELL_KNOWN_PATH),
        ("https://gw.example.com/", WELL_KNOWN_PATH),
        ("https://gw.example.com/mcp/files", f"{WELL_KNOWN_PATH}/mcp/files"),
        ("https://gw.example.com/tg/mcp/files/", f"{WELL_KNOWN_PATH}/tg/mcp/files"),
        ("https://gw.example.com/r?tenant=a", f"{WELL_KNOWN_PATH}/r?tenant=a"),
        ("http://127.0.0.1:8080/mcp/x", f"{WELL_KNOWN_PATH}/mcp/x"),
    ],
)
def test_metadata_path_inserts_the_well_known_prefix_before_the_resource_path(
    resource: str, path: str
) -> None:
    assert metadata_path(resource) == path


def test_metadata_url_is_absolute_on_the_resources_origin() -> None:
    assert metadata_url("https://gw.example.com:8443/mcp/files") == (
        "https://gw.example.com:8443/.well-known/oauth-protected-resource/mcp/files"
    )


@pytest.mark.parametrize(
    ("server", "resource"),
    [
        ("files", f"{AUDIENCE}/mcp/files"),
        ("a b/c", f"{AUDIENCE}/mcp/a%20b%2Fc"),
        ("../admin", f"{AUDIENCE}/mcp/..%2Fadmin"),
    ],
)
def test_server_resource_keeps_the_server_name_in_one_path_segment(
    server: str, resource: str
) -> None:
    assert server_resource(AUDIENCE + "/", server) == resource


def test_empty_server_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="server name is empty"):
        server_resource(AUDIENCE, "")


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("", "is not an absolute https URL"),
        ("gw.example.com/mcp", "is not an absolute https URL"),
        ("ftp://gw.example.com", "is not an absolute https URL"),
        ("https://[::1", "is not an absolute https URL"),
        ("http://gw.example.com", "must use https"),
        ("https://gw.example.com/#top", "must not have a fragment"),
        ("https://gw.example.com/#", "must not have a fragment"),
    ],
)
def test_garbage_resource_is_refused_with_a_clear_message(resource: str, expected: str) -> None:
    for build in (
        metadata_path,
        metadata_url,
        lambda r: protected_resource_metadata(r, authorization_servers=[ISSUER]),
    ):
        with pytest.raises(ConfigError, match=expected):
            build(resource)


@pytest.mark.parametrize("servers", [[], [""], [None]])
def test_metadata_without_an_authorization_server_is_refused(servers: list[object]) -> None:
    with pytest.raises(ConfigError, match="authorization_servers must list at least one"):
        protected_resource_metadata(AUDIENCE, authorization_servers=servers)  # type: ignore[arg-type]
