"""Finding the key set from the issuer's metadata when no `jwks_url` is configured."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.identity.test_oauth import rsa_jwk

from toolgate.clock import FakeClock
from toolgate.errors import ToolgateError
from toolgate.identity.oauth import (
    JwksCache,
    JwksUnavailableError,
    OAuthSettings,
    jwks_uri_of,
    metadata_urls,
)

pytestmark = pytest.mark.anyio

ISSUER = "https://auth.example.com"
KEYS_AT = "https://keys.example.com/oauth2/v1/keys"


class Issuer:
    """Serves metadata documents and a key set by URL; anything else is 404."""

    def __init__(self, documents: dict[str, Any]) -> None:
        self.documents = documents
        self.asked: list[str] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.asked.append(url)
        if url not in self.documents:
            return httpx.Response(404)
        body = self.documents[url]
        return httpx.Response(200, content=body if isinstance(body, bytes) else json.dumps(body))


def cache(issuer: Issuer, clock: FakeClock, name: str = ISSUER) -> JwksCache:
    client = httpx.AsyncClient(transport=httpx.MockTransport(issuer.handle))
    settings = OAuthSettings(issuer=name, audience="https://gateway.example.com")
    return JwksCache(settings, clock, client=client)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_metadata_is_looked_for_where_rfc_8414_and_openid_connect_put_it() -> None:
    assert metadata_urls("https://auth.example.com") == [
        "https://auth.example.com/.well-known/oauth-authorization-server",
        "https://auth.example.com/.well-known/openid-configuration",
    ]
    assert metadata_urls("https://auth.example.com/tenant/7/") == [
        "https://auth.example.com/.well-known/oauth-authorization-server/tenant/7",
        "https://auth.example.com/.well-known/openid-configuration/tenant/7",
        "https://auth.example.com/tenant/7/.well-known/openid-configuration",
    ]


async def test_the_key_set_is_fetched_from_the_metadatas_jwks_uri(
    clock: FakeClock, key: rsa.RSAPrivateKey
) -> None:
    issuer = Issuer(
        {
            f"{ISSUER}/.well-known/oauth-authorization-server": {
                "issuer": ISSUER,
                "jwks_uri": KEYS_AT,
            },
            KEYS_AT: {"keys": [rsa_jwk(key, "k1")]},
        }
    )
    jwks = cache(issuer, clock)
    keys = await jwks.get("k1")
    assert keys.kids == frozenset({"k1"})
    assert jwks.url == KEYS_AT
    await jwks.get("k1")
    assert issuer.asked.count(f"{ISSUER}/.well-known/oauth-authorization-server") == 1


async def test_an_openid_connect_issuer_is_found_when_rfc_8414_has_nothing(
    clock: FakeClock, key: rsa.RSAPrivateKey
) -> None:
    name = f"{ISSUER}/realms/main"
    issuer = Issuer(
        {
            f"{name}/.well-known/openid-configuration": {"issuer": name, "jwks_uri": KEYS_AT},
            KEYS_AT: {"keys": [rsa_jwk(key, "k1")]},
        }
    )
    jwks = cache(issuer, clock, name)
    assert (await jwks.get("k1")).kids == frozenset({"k1"})
    assert len(issuer.asked) == 4  # three metadata locations, then the key set


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ({"issuer": "https://evil.example.com", "jwks_uri": KEYS_AT}, "not 'https://auth"),
        ({"issuer": ISSUER}, "jwks_uri: must be a non-empty URL"),
        ({"issuer": ISSUER, "jwks_uri": "http://keys.example.com/k"}, "must use https"),
        ({"issuer": ISSUER, "jwks_uri": 7}, "jwks_uri: must be a non-empty URL"),
        (b"<html>", "is not JSON"),
        ([1, 2], "is not a JSON object"),
    ],
)
async def test_unusable_metadata_leaves_no_key_set_and_says_why(
    clock: FakeClock, document: Any, says: str
) -> None:
    issuer = Issuer({f"{ISSUER}/.well-known/oauth-authorization-server": document})
    jwks = cache(issuer, clock)
    with pytest.raises(JwksUnavailableError, match="unavailable") as raised:
        await jwks.get("k1")
    assert says in str(raised.value)
    assert KEYS_AT not in issuer.asked  # nothing was fetched from an unchecked document


async def test_no_metadata_anywhere_names_every_place_tried(clock: FakeClock) -> None:
    jwks = cache(Issuer({}), clock)
    with pytest.raises(JwksUnavailableError) as raised:
        await jwks.get()
    text = str(raised.value)
    assert "no metadata for the issuer was found" in text
    assert "oauth-authorization-server answered HTTP 404" in text
    assert "openid-configuration answered HTTP 404" in text


async def test_discovery_is_retried_after_a_failure_and_then_succeeds(
    clock: FakeClock, key: rsa.RSAPrivateKey
) -> None:
    issuer = Issuer({})
    jwks = cache(issuer, clock)
    with pytest.raises(JwksUnavailableError):
        await jwks.get("k1")
    issuer.documents = {
        f"{ISSUER}/.well-known/oauth-authorization-server": {"issuer": ISSUER, "jwks_uri": KEYS_AT},
        KEYS_AT: {"keys": [rsa_jwk(key, "k1")]},
    }
    clock.advance(60)
    assert (await jwks.get("k1")).kids == frozenset({"k1"})


def test_a_metadata_document_for_the_issuer_gives_its_jwks_uri() -> None:
    body = json.dumps({"issuer": ISSUER, "jwks_uri": KEYS_AT}).encode()
    assert jwks_uri_of(body, ISSUER, "here") == KEYS_AT
    with pytest.raises(ToolgateError, match="here"):
        jwks_uri_of(b"{}", ISSUER, "here")
