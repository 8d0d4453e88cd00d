"""OAuth resource-server mode: JWT access tokens checked against the issuer's JWKS.

Keys are generated here with `cryptography`; the JWKS is served by an `httpx.MockTransport`
(unit tests) or a real uvicorn process on a loopback port (the e2e test)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.warnings import InsecureKeyLengthWarning

from toolgate.clock import FakeClock, SystemClock
from toolgate.errors import ConfigError
from toolgate.identity.oauth import (
    JwksCache,
    OAuthAuthenticator,
    OAuthSettings,
    OAuthSettingsError,
    parse_jwks,
)
from toolgate.identity.principal import Principal, Refusal

pytestmark = pytest.mark.anyio

ISSUER = "https://auth.example.com"
AUDIENCE = "https://gateway.example.com"
JWKS_URL = "https://auth.example.com/jwks.json"
METADATA_URL = "https://gateway.example.com/.well-known/oauth-protected-resource"


# --- keys and tokens -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def rsa_key_2() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str | None, alg: str | None = "RS256") -> dict[str, Any]:
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    if kid is not None:
        jwk["kid"] = kid
    if alg is not None:
        jwk["alg"] = alg
    jwk["use"] = "sig"
    return jwk


def ec_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_at(clock: FakeClock, **overrides: Any) -> dict[str, Any]:
    now = int(clock.now())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": now,
        "exp": now + 3600,
        "scope": "tools:read tools:call",
        "client_id": "agent-1",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign(claims: dict[str, Any], key: Any, kid: str | None = "k1", alg: str = "RS256") -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def unsigned_token(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims).encode())
    return f"{head}.{body}.{b64url(signature)}"


# --- a fake authorization server's JWKS endpoint --------------------------------------------


class FakeJwksEndpoint:
    """Serves `document` (or `body`/`status` when set), or refuses connections when `down`."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.document: dict[str, Any] = {"keys": keys}
        self.body: bytes | None = None
        self.status = 200
        self.headers: dict[str, str] = {}
        self.down = False
        self.chunked = False
        self.requests = 0
        self.gate: anyio.Event | None = None  # when set, answers wait for it
        self.entered = anyio.Event()  # set by the first request

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        body = self.body if self.body is not None else json.dumps(self.document).encode()
        if self.chunked:  # no content-length: the size is only known by reading
            return httpx.Response(self.status, content=_chunks(body), headers=self.headers)
        return httpx.Response(self.status, content=body, headers=self.headers)


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 65_536):
        yield body[start : start + 65_536]


@pytest.fixture
def endpoint(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> FakeJwksEndpoint:
    return FakeJwksEndpoint([rsa_jwk(rsa_key, "k1"), ec_jwk(ec_key, "e1")])


@pytest.fixture
def settings() -> OAuthSettings:
    return OAuthSettings(issuer=ISSUER, audience=AUDIENCE, jwks_url=JWKS_URL)


@pytest.fixture
async def build(
    endpoint: FakeJwksEndpoint, clock: FakeClock, settings: OAuthSettings
) -> AsyncIterator[Builder]:
    """Makes authenticators over the fake endpoint; keyword arguments replace settings fields.
    The last one's JwksCache is `build.jwks`."""
    builder = Builder(endpoint, clock, settings)
    yield builder
    for client in builder.clients:
        await client.aclose()


class Builder:
    def __init__(self, endpoint: FakeJwksEndpoint, clock: FakeClock, settings: OAuthSettings):
        self.endpoint, self.clock, self.settings = endpoint, clock, settings
        self.clients: list[httpx.AsyncClient] = []
        self.jwks: JwksCache | None = None

    def __call__(
        self, metadata_url: str | None = METADATA_URL, timeout: float = 5.0, **changes: Any
    ) -> OAuthAuthenticator:
        chosen = OAuthSettings(**{**_fields(self.settings), **changes})
        client = httpx.AsyncClient(transport=httpx.MockTransport(self.endpoint.handle))
        self.clients.append(client)
        self.jwks = JwksCache(chosen, self.clock, client=client, timeout=timeout)
        return OAuthAuthenticator(chosen, self.jwks, self.clock, metadata_url)


def _fields(settings: OAuthSettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in OAuthSettings.__dataclass_fields__}


async def accepted(auth: OAuthAuthenticator, token: str, server: str = "files") -> Principal:
    result = await auth.authenticate(f"Bearer {token}", server)
    assert isinstance(result, Principal), result
    return result


async def refused(
    auth: OAuthAuthenticator, authorization: str | None, server: str = "files"
) -> Refusal:
    result = await auth.authenticate(authorization, server)
    assert isinstance(result, Refusal), result
    return result


# --- valid tokens ----------------------------------------------------------------------------


async def test_valid_token_becomes_a_principal_named_by_its_subject_with_its_claims(
    build: Builder, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    claims = claims_at(clock, tenant="acme", groups=["ops", "dev"])
    principal = await accepted(build(), sign(claims, rsa_key))
    assert principal.name == "alice"
    assert principal.grant_id is None and principal.policy is None
    assert principal.attributes["tenant"] == "acme"
    assert principal.attributes["groups"] == ["ops", "dev"]
    assert principal.attributes["client_id"] == "agent-1"
    assert principal.attributes["scopes"] == ["tools:read", "tools:call"]
    assert principal.attributes["exp"] == claims["exp"]


async def test_es256_token_from_an_ec_key_is_accepted(
    build: Builder, ec_key: ec.EllipticCurvePrivateKey, clock: FakeClock
) -> None:
    token = sign(claims_at(clock, sub="bob"), ec_key, kid="e1", alg="ES256")
    assert (await accepted(build(), token)).name == "bob"


async def test_ps256_token_is_accepted_by_an_rsa_key_that_names_no_algorithm(
    build: Builder, endpoint: FakeJwksEndpoint, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    endpoint.document = {"keys": [rsa_jwk(rsa_key, "k1", alg=None)]}
    token = sign(claims_at(clock), rsa_key, alg="PS256")
    assert (await accepted(build(), token)).name == "alice"


async def test_eddsa_token_is_accepted(
    build: Builder, endpoint: FakeJwksEndpoint, clock: FakeClock
) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    jwk = {**OKPAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "ed"}
    endpoint.document = {"keys": [jwk]}
    token = sign(claims_at(clock, sub="carol"), key, kid="ed", alg="EdDSA")
    assert (await accepted(build(), token)).name == "carol"


async def test_token_without_a_kid_is_checked_against_the_keys_of_its_algorithm(
    build: Builder, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    assert (await accepted(build(), sign(claims_at(clock), rsa_key, kid=None))).name == "alice"


async def test_identity_claim_setting_chooses_the_principal_name(
    build: Builder, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    token = sign(claims_at(clock, email="alice@example.com"), rsa_key)
    principal = await accepted(build(identity_claim="email"), token)
    assert principal.name == "alice@example.com"


@pytest.mark.parametrize("value", [None, "", "   ", 42, ["alice"]])
async def test_token_without_a_usable_identity_claim_is_refused(
    build: Builder, rsa_key: rsa.RSAPrivateKey, clock: FakeClock, value: object
) -> None:
    refusal = await refused(build(), "Bearer " + sign(claims_at(clock, sub=value), rsa_key))
    assert refusal.status == 401
    assert "sub claim" in refusal.message


# --- time ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds_after_exp", "ok"), [(-1, True), (59, True), (60, False), (61, False)]
)
async def test_expiry_is_enforced_with_the_configured_leeway(
    build: Builder, rsa_key: rsa.RSAPrivateKey, clock: FakeClock, seconds_after_exp: int, ok: bool
) -> None:
    token = sign(claims_at(clock, exp=int(clock.now()) + 100), rsa_key)
    auth = build()
    await accepted(auth, token)
    clock.advance(100 + seconds_after_exp)
    result = await auth.authenticate(f"Bearer {token}", "files")
    if ok:
        assert isinstance(result, Principal)
    else:
        assert isinstance(result, Refusal) and result.status == 401
        assert result.www_authenticate is not None
        assert 'error="invalid_token"' in result.www_authenticate
        assert 'error_description="token has expired"' in result.www_authenticate


async def test_zero_leeway_refuses_a_token_the_second_it_expires(
    build: Builder, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    token = sign(claims_at(clock, exp=int(clock.now()) + 10), rsa_key)
    auth = build(leeway_seconds=0)
    clock.advance(9)
    await accepted(auth, token)
    clock.advance(1)
    assert "expired" in (await refused(auth, f"Bearer {token}")).message


@pytest.mark.parametrize(("nbf_ahead", "ok"), [(60, True), (61, False), (3600, False)])
async def test_not_yet_valid_token_is_refused_beyond_the_leeway(
    build: Builder, rsa_key: rsa.RSAPrivateKey, clock: FakeClock, nbf_ahead: int, ok: bool
) -> None:
    token = sign(claims_at(clock, nbf=int(clock.now()) + nbf_ahead), rsa_key)
    result = await build().authenticate(f"Bearer {token}", "files")
    if ok:
        assert isinstance(result, Principal)
    else:
        assert isinstance(result, Refusal) and result.status == 401
        assert "not yet valid" in result.message


async def test_token_issued_in_the_future_is_refused(
    build: Builder, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    now = int(clock.now())
    token = sign(claims_at(clock, iat=now + 600, exp=now + 3600), rsa_key)
    assert "issued in the future" in (await refused(build(), f"Bearer {token}")).message


@pytest.mark.parametrize(
    ("claim", "value"),
    [("exp", None), ("exp", "tomorrow"), ("exp", True), ("nbf", "soon"), ("iat", [1])],
)
async def test_token_with_a_missing_or_malformed_time_claim_is_refused(
    build: Builder, rsa_key: rsa.RSAPrivateKey, clock: FakeClock, claim: str, value: object
) -> None:
    token = sign(claims_at(clock, **{claim: value}), rsa_key)
    refusal = await refused(build(), f"Bearer {token}")
    assert refusal.status == 401
    assert claim in refusal.message


# --- issuer and audience ---------------------------------------------------------------------


@pytest.mark.parametrize("issuer", ["https://evil.example.com", ISSUER + "/", None])
async def test_token_from_another_issuer_is_refused(
    build: Builder, rsa_key: rsa.RSAPrivateKey, clock: FakeClock, issuer: str | None
) -> None:
    refusal = await refused(build(), "Bearer " + sign(claims_at(clock, iss=issuer), rsa_key))
    assert refusal.status == 401
    assert "iss" in refusal.message


@pytest.mark.parametrize(
    "audience", ["https://other.example.com", [f"{AUDIENCE}/other"], AUDIENCE + "/mcp", None]
)
async def test_token_for_another_audience_is_refused(
    build: Builder, rsa_key: rsa.RSAPrivateKey, clock: FakeClock, audience: object
) -> None:
    refusal = await refused(build(), "Bearer " + sign(claims_at(clock, aud=audience), rsa_key))
    assert refusal.status == 401
    assert "aud" in refusal.message


async def test_audience_list_containing_the_gateway_is_accepted_for_every_server(
    build: Builder, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    token = sign(claims_at(clock, aud=["https://other.example.com", AUDIENCE]), rsa_key)
    auth = build()
    await accepted(auth, token, server="files")
    await accepted(auth, token, server="github")


async def test_server_audience_is_accepted_for_that_server_only(
    build: Builder, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    token = sign(claims_at(clock, aud=f"{AUDIENCE}/mcp/files"), rsa_key)
    auth = build()
    await accepted(auth, token, server="files")
    refusal = await refused(auth, f"Bearer {token}", server="github")
    assert refusal.status == 401
    assert "audience" in refusal.message


async def test_no_server_name_accepts_only_the_gateway_audience(
    build: Builder, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    auth = build()
    await accepted(auth, sign(claims_at(clock), rsa_key), server="")
    token = sign(claims_at(clock, aud=f"{AUDIENCE}/mcp/"), rsa_key)
    assert (await refused(auth, f"Bearer {token}", server="")).status == 401


# --- forged and damaged tokens ---------------------------------------------------------------


async def test_unsigned_alg_none_token_is_refused(build: Builder, clock: FakeClock) -> None:
    for alg in ("none", "None", "NONE"):
        token = unsigned_token({"alg": alg, "kid": "k1"}, claims_at(clock))
        refusal = await refused(build(), f"Bearer {token}")
        assert refusal.status == 401
        assert "algorithm is not accepted" in refusal.message


async def test_hs256_token_signed_with_the_public_key_as_secret_is_refused(
    build: Builder, endpoint: FakeJwksEndpoint, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    secrets = [pem, json.dumps(endpoint.document["keys"][0]).encode()]
    auth = build()
    for secret in secrets:
        header = {"alg": "HS256", "typ": "JWT", "kid": "k1"}
        unsigned = unsigned_token(header, claims_at(clock)).rsplit(".", 1)[0]
        mac = hmac.new(secret, unsigned.encode(), hashlib.sha256).digest()
        refusal = await refused(auth, f"Bearer {unsigned}.{b64url(mac)}")
        assert refusal.status == 401
        assert "algorithm is not accepted" in refusal.message


async def test_algorithm_allowed_but_not_the_keys_own_is_refused(
    build: Builder, ec_key: ec.EllipticCurvePrivateKey, clock: FakeClock
) -> None:
    # an ES256 token naming the RSA key's kid: never verified with the wrong key type
    token = sign(claims_at(clock), ec_key, kid="k1", alg="ES256")
    refusal = await refused(build(), f"Bearer {token}")
    assert "does not match its signing key" in refusal.message


async def test_tampered_payload_fails_the_signature_check(
    build: Builder, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    token = sign(claims_at(clock), rsa_key)
    head, _, signature = token.split(".")
    forged = b64url(json.dumps(claims_at(clock, sub="admin")).encode())
    refusal = await refused(build(), f"Bearer {head}.{forged}.{signature}")
    assert refusal.status == 401
    assert "signature is invalid" in refusal.message


async def test_token_signed_by_an_unpublished_key_is_refused(
    build: Builder, rsa_key_2: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    refusal = await refused(build(), "Bearer " + sign(claims_at(clock), rsa_key_2, kid="k1"))
    assert "signature is invalid" in refusal.message


async def test_short_rsa_keys_are_not_trusted(
    build: Builder, endpoint: FakeJwksEndpoint, clock: FakeClock
) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    endpoint.document = {"keys": [rsa_jwk(weak, "weak")]}
    with pytest.warns(InsecureKeyLengthWarning):  # PyJWT signs, warning
        token = sign(claims_at(clock), weak, kid="weak")
    refusal = await refused(build(), f"Bearer {token}")
    assert "signing key is not acceptable" in refusal.message


async def test_published_private_and_symmetric_keys_are_ignored(
    build: Builder, endpoint: FakeJwksEndpoint, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    private = RSAAlgorithm.to_jwk(rsa_key, as_dict=True)
    endpoint.document = {
        "keys": [
            {**private, "kid": "k1", "alg": "RS256"},
            {"kty": "oct", "k": b64url(b"secret"), "kid": "h1"},
        ]
    }
    refusal = await refused(build(), "Bearer " + sign(claims_at(clock), rsa_key))
    assert refusal.status == 503
    assert "no usable signing key" in refusal.message


@pytest.mark.parametrize(("claim", "value"), [("scope", 7), ("scope", ["a", 1]), ("scp", {})])
async def test_malformed_scope_claim_is_refused(
    build: Builder, rsa_key: rsa.RSAPrivateKey, clock: FakeClock, claim: str, value: object
) -> None:
    claims = claims_at(clock, scope=None)
    claims[claim] = value
    assert (
        "scope claim is malformed"
        in (await refused(build(), "Bearer " + sign(claims, rsa_key))).message
    )


GARBAGE_AUTHORIZATION = [
    "",
    "   ",
    "Bearer",
    "Bearer ",
    "bearer    ",
    "Basic YWxpY2U6c2VjcmV0",
    "Bearer ...",
    "Bearer a.b.c",
    "Bearer a.b",
    "Bearer a.b.c.d.e",
    "Bearer " + "A" * 20_000,
    "Bearer " + "eyJ.eyJ." + "A" * 20_000,
    "A" * 20_000,
    "Bearer ťoken.ťoken.ťoken",
    "Bearer \x00\x01.\x02.\x03",
    'Bearer "quoted".x.y',
    "Bearer e30.e30.",
    "Bearer W10.W10.",
    "Bearer bnVsbA.bnVsbA.",
    "Bearer eyJhbGciOiJSUzI1NiJ9.e30.AAAA",
    "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6MX0.e30.AAAA",
    "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.bm90IGpzb24.AAAA",
    "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.W10.AAAA",
    "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.***",
]


@pytest.mark.parametrize("authorization", GARBAGE_AUTHORIZATION)
async def test_garbage_authorization_values_are_refused_with_401(
    build: Builder, authorization: str
) -> None:
    refusal = await refused(build(), authorization)
    assert refusal.status == 401
    assert refusal.www_authenticate is not None
    assert refusal.www_authenticate.startswith("Bearer")
    assert "A" * 100 not in refusal.message + refusal.www_authenticate  # never echoed


# --- challenges ------------------------------------------------------------------------------


async def test_missing_token_is_challenged_with_the_resource_metadata_and_scopes(
    build: Builder,
) -> None:
    refusal = await refused(build(required_scopes=("tools:read", "tools:call")), None)
    assert refusal.status == 401
    assert refusal.www_authenticate == (
        f'Bearer scope="tools:read tools:call", resource_metadata="{METADATA_URL}"'
    )


async def test_missing_token_without_metadata_url_or_scopes_gets_a_bare_challenge(
    build: Builder,
) -> None:
    refusal = await refused(build(metadata_url=None), None)
    assert (refusal.status, refusal.www_authenticate) == (401, "Bearer")


async def test_invalid_token_challenge_names_the_error_and_the_metadata(
    build: Builder, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    token = sign(claims_at(clock, iss="https://evil.example.com"), rsa_key)
    refusal = await refused(build(), f"Bearer {token}")
    assert refusal.www_authenticate == (
        'Bearer error="invalid_token", error_description="token issuer is not accepted", '
        f'resource_metadata="{METADATA_URL}"'
    )
    assert token not in refusal.message


async def test_missing_scope_is_refused_with_403_and_a_step_up_challenge_for_all_scopes(
    build: Builder, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    auth = build(required_scopes=("tools:read", "files:write"))
    refusal = await refused(auth, "Bearer " + sign(claims_at(clock), rsa_key))
    assert refusal.status == 403
    assert "files:write" in refusal.message and "tools:read" not in refusal.message
    assert refusal.www_authenticate == (
        'Bearer error="insufficient_scope", error_description="token lacks required scopes", '
        f'scope="tools:read files:write", resource_metadata="{METADATA_URL}"'
    )


@pytest.mark.parametrize(
    ("claim", "value"),
    [("scope", "files:write tools:read"), ("scp", ["tools:read", "files:write"])],
)
async def test_token_with_every_required_scope_is_accepted(
    build: Builder, rsa_key: rsa.RSAPrivateKey, clock: FakeClock, claim: str, value: object
) -> None:
    claims = claims_at(clock, scope=None)
    claims[claim] = value
    auth = build(required_scopes=("tools:read", "files:write"))
    principal = await accepted(auth, sign(claims, rsa_key))
    scopes = principal.attributes["scopes"]
    assert isinstance(scopes, list) and sorted(scopes) == ["files:write", "tools:read"]


def test_metadata_url_that_cannot_sit_in_a_header_is_a_config_error(
    settings: OAuthSettings, clock: FakeClock
) -> None:
    jwks = JwksCache(settings, clock, client=httpx.AsyncClient())
    for url in ['https://gw.example.com/"x', "", "https://gw.example.com/\n"]:
        with pytest.raises(ConfigError, match="resource_metadata_url"):
            OAuthAuthenticator(settings, jwks, clock, url)


# --- the JWKS cache --------------------------------------------------------------------------


async def test_unknown_kid_triggers_one_refetch_so_key_rotation_works(
    build: Builder,
    endpoint: FakeJwksEndpoint,
    rsa_key: rsa.RSAPrivateKey,
    rsa_key_2: rsa.RSAPrivateKey,
    clock: FakeClock,
) -> None:
    auth = build()
    await accepted(auth, sign(claims_at(clock), rsa_key))
    assert endpoint.requests == 1
    endpoint.document["keys"].append(rsa_jwk(rsa_key_2, "k2"))
    clock.advance(30)
    principal = await accepted(auth, sign(claims_at(clock, sub="rotated"), rsa_key_2, kid="k2"))
    assert principal.name == "rotated"
    assert endpoint.requests == 2


async def test_unknown_kids_refetch_at_most_once_per_30_seconds(
    build: Builder, endpoint: FakeJwksEndpoint, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    auth = build()
    await accepted(auth, sign(claims_at(clock), rsa_key))
    clock.advance(30)
    for n in range(50):
        token = sign(claims_at(clock), rsa_key, kid=f"garbage-{n}")
        assert "signing key is unknown" in (await refused(auth, f"Bearer {token}")).message
    assert endpoint.requests == 2
    clock.advance(29)
    await refused(auth, "Bearer " + sign(claims_at(clock), rsa_key, kid="garbage-x"))
    assert endpoint.requests == 2
    clock.advance(1)
    await refused(auth, "Bearer " + sign(claims_at(clock), rsa_key, kid="garbage-y"))
    assert endpoint.requests == 3


async def test_concurrent_requests_on_a_cold_cache_share_one_fetch(
    build: Builder, endpoint: FakeJwksEndpoint, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    auth = build()
    endpoint.gate = anyio.Event()
    token = sign(claims_at(clock), rsa_key)
    results: list[Principal | Refusal] = []

    async def call() -> None:
        results.append(await auth.authenticate(f"Bearer {token}", "files"))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(call)
            await endpoint.entered.wait()  # the first fetch is under way; the rest queue up
            endpoint.gate.set()
    assert len(results) == 20 and all(isinstance(r, Principal) for r in results)
    assert endpoint.requests == 1


async def test_keys_are_refetched_when_the_cache_expires(
    build: Builder, endpoint: FakeJwksEndpoint, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    auth = build(jwks_cache_seconds=300)
    token = sign(claims_at(clock, exp=int(clock.now()) + 10_000), rsa_key)
    await accepted(auth, token)
    clock.advance(299)
    await accepted(auth, token)
    assert endpoint.requests == 1
    endpoint.document = {"keys": []}  # the issuer retired every key
    clock.advance(1)
    await accepted(auth, token)  # the failed refresh keeps the last good set
    assert endpoint.requests == 2


async def test_jwks_outage_with_cached_keys_keeps_serving_them(
    build: Builder, endpoint: FakeJwksEndpoint, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    auth = build()
    token = sign(claims_at(clock, exp=int(clock.now()) + 10_000), rsa_key)
    await accepted(auth, token)
    endpoint.down = True
    clock.advance(301)
    await accepted(auth, token)
    assert endpoint.requests == 2
    for _ in range(10):  # the failed refresh is not retried on every request
        await accepted(auth, token)
    assert endpoint.requests == 2
    clock.advance(30)
    await accepted(auth, token)
    assert endpoint.requests == 3


async def test_jwks_outage_with_no_keys_is_a_503_refusal(
    build: Builder, endpoint: FakeJwksEndpoint, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    endpoint.down = True
    auth = build()
    token = sign(claims_at(clock), rsa_key)
    refusal = await refused(auth, f"Bearer {token}")
    assert refusal.status == 503
    assert JWKS_URL in refusal.message and "could not be reached" in refusal.message
    assert refusal.www_authenticate is None
    assert token not in refusal.message
    endpoint.down = False
    await refused(auth, f"Bearer {token}")  # retried only after a pause
    assert endpoint.requests == 1
    clock.advance(5)
    await accepted(auth, token)
    assert endpoint.requests == 2


@pytest.mark.parametrize(
    ("body", "status", "headers", "expected"),
    [
        (b"<html>oops</html>", 200, {}, "not JSON"),
        (b"[1, 2, 3]", 200, {}, "not a JWK set"),
        (b'{"keys": {"kty": "RSA"}}', 200, {}, "not a JWK set"),
        (b'{"keys": []}', 200, {}, "no usable signing key"),
        (b'{"keys": [1, "x", null, {"kty": "RSA", "n": "AQAB"}]}', 200, {}, "no usable"),
        (b'{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}', 200, {}, "usable"),
        (b"[" * 100_000 + b"]" * 100_000, 200, {}, "not JSON"),
        (b"x" * ((1 << 20) + 1), 200, {}, "larger than 1048576 bytes"),
        (b"{}", 200, {"content-length": str(1 << 30)}, "larger than 1048576 bytes"),
        (b"{}", 500, {}, "answered HTTP 500"),
        (b"", 302, {"location": "http://evil.example.com/jwks"}, "answered HTTP 302"),
        (json.dumps({"keys": [{}] * 101}).encode(), 200, {}, "101 keys"),
    ],
)
async def test_garbage_jwks_is_a_clear_503_refusal(
    build: Builder,
    endpoint: FakeJwksEndpoint,
    rsa_key: rsa.RSAPrivateKey,
    clock: FakeClock,
    body: bytes,
    status: int,
    headers: dict[str, str],
    expected: str,
) -> None:
    endpoint.body, endpoint.status, endpoint.headers = body, status, headers
    refusal = await refused(build(), "Bearer " + sign(claims_at(clock), rsa_key))
    assert refusal.status == 503
    assert expected in refusal.message


async def test_huge_jwks_without_a_content_length_is_cut_off_at_1_mib(
    build: Builder, endpoint: FakeJwksEndpoint, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    endpoint.chunked = True
    endpoint.body = b'{"keys": [' + b" " * (4 << 20) + b"]}"
    refusal = await refused(build(), "Bearer " + sign(claims_at(clock), rsa_key))
    assert refusal.status == 503
    assert "larger than 1048576 bytes" in refusal.message


async def test_chunked_jwks_within_the_limit_is_read_whole(
    build: Builder, endpoint: FakeJwksEndpoint, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    endpoint.chunked = True
    endpoint.document["keys"].append({"kty": "RSA", "kid": "padding", "x": "y" * 200_000})
    assert (await accepted(build(), sign(claims_at(clock), rsa_key))).name == "alice"


async def test_jwks_endpoint_that_never_answers_times_out_into_a_503(
    build: Builder, endpoint: FakeJwksEndpoint, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    endpoint.gate = anyio.Event()  # never set: the endpoint hangs
    with anyio.fail_after(10):
        refusal = await refused(build(timeout=0.2), "Bearer " + sign(claims_at(clock), rsa_key))
    assert refusal.status == 503
    assert "did not answer in time" in refusal.message


def test_parse_jwks_keeps_one_key_per_usable_algorithm(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    document = {
        "keys": [
            rsa_jwk(rsa_key, "r", alg=None),
            ec_jwk(ec_key, "e"),
            {**rsa_jwk(rsa_key, "enc"), "use": "enc"},
        ]
    }
    keys = parse_jwks(json.dumps(document).encode(), ("RS256", "PS256", "ES256"))
    assert sorted((k.kid or "", k.key.algorithm_name) for k in keys.keys) == [
        ("e", "ES256"),
        ("r", "PS256"),
        ("r", "RS256"),
    ]
    assert keys.kids == {"r", "e"}


# --- settings --------------------------------------------------------------------------------


def test_settings_defaults_are_asymmetric_algorithms_and_the_issuer_as_authorization_server(
    settings: OAuthSettings,
) -> None:
    assert settings.algorithms == ("RS256", "ES256", "PS256", "EdDSA")
    assert settings.authorization_servers == (ISSUER,)
    assert (settings.leeway_seconds, settings.jwks_cache_seconds) == (60, 300)


def test_plain_http_is_allowed_for_loopback_hosts() -> None:
    settings = OAuthSettings(
        issuer="http://127.0.0.1:9000",
        audience="http://localhost:8080",
        jwks_url="http://[::1]:9000/jwks",
        algorithms=["ES256"],  # type: ignore[arg-type]
    )
    assert settings.algorithms == ("ES256",)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"issuer": "http://auth.example.com"},
            "oauth.issuer: 'http://auth.example.com' must use https",
        ),
        ({"issuer": ""}, "oauth.issuer: must be a non-empty URL"),
        ({"issuer": "auth.example.com"}, "oauth.issuer: 'auth.example.com' is not an absolute"),
        (
            {"issuer": "https://auth.example.com?x=1"},
            "oauth.issuer: 'https://auth.example.com?x=1' must not have a query",
        ),
        (
            {"jwks_url": "http://10.0.0.1/jwks"},
            "oauth.jwks_url: 'http://10.0.0.1/jwks' must use https",
        ),
        ({"jwks_url": "https://u:p@auth.example.com/jwks"}, "must not carry credentials"),
        ({"jwks_url": "https://[::1/jwks"}, "oauth.jwks_url: 'https://[::1/jwks' is not a URL"),
        ({"audience": ""}, "oauth.audience: must be a non-empty URL"),
        ({"audience": "https://gw.example.com/#frag"}, "must not have a fragment"),
        ({"audience": "https://gw.example.com/ x"}, "contains spaces"),
        ({"algorithms": ("none",)}, "'none' (unsigned tokens) is never accepted"),
        ({"algorithms": ("RS256", "HS256")}, "'HS256' is not supported: HMAC tokens need"),
        ({"algorithms": ("RS1",)}, "'RS1' is not supported (supported: RS256"),
        ({"algorithms": "RS256"}, "oauth.algorithms: must be a non-empty list"),
        ({"algorithms": ()}, "oauth.algorithms: must be a non-empty list"),
        ({"leeway_seconds": -1}, "oauth.leeway_seconds: must be a whole number"),
        ({"leeway_seconds": 301}, "oauth.leeway_seconds"),
        ({"leeway_seconds": True}, "oauth.leeway_seconds"),
        ({"jwks_cache_seconds": 0}, "oauth.jwks_cache_seconds: must be a whole number"),
        ({"jwks_cache_seconds": 29}, "from 30 to 86400"),
        ({"identity_claim": ""}, "oauth.identity_claim: must be a claim name"),
        ({"required_scopes": ("tools read",)}, "oauth.required_scopes"),
        ({"required_scopes": ('a"b',)}, "oauth.required_scopes"),
        ({"authorization_servers": ("ftp://as",)}, "oauth.authorization_servers[0]"),
    ],
)
def test_invalid_settings_are_refused_with_a_located_message(
    settings: OAuthSettings, changes: dict[str, Any], expected: str
) -> None:
    with pytest.raises(OAuthSettingsError) as raised:
        OAuthSettings(**{**_fields(settings), **changes})
    assert expected in str(raised.value)


def test_every_settings_problem_is_reported_at_once() -> None:
    with pytest.raises(OAuthSettingsError) as raised:
        OAuthSettings(issuer="http://a.example", audience="", jwks_url="x", leeway_seconds=-5)
    message = str(raised.value)
    for field in ("oauth.issuer", "oauth.audience", "oauth.jwks_url", "oauth.leeway_seconds"):
        assert field in message


# --- a real JWKS server ----------------------------------------------------------------------

JWKS_APP = """
import os
import pathlib

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

DOCUMENT = pathlib.Path(os.environ["JWKS_FILE"])


async def jwks(request):
    return Response(DOCUMENT.read_bytes(), media_type="application/json")


app = Starlette(routes=[Route("/jwks.json", jwks)])
"""


@pytest.fixture
def jwks_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A uvicorn process serving the file it yields at the URL it yields (a loopback socket
    bound here and handed over, so there is no port race)."""
    (tmp_path / "jwks_app.py").write_text(JWKS_APP)
    document = tmp_path / "jwks.json"
    document.write_text('{"keys": []}')
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    args = [sys.executable, "-m", "uvicorn", "jwks_app:app", "--app-dir", str(tmp_path)]
    args += ["--fd", str(listener.fileno()), "--log-level", "warning"]
    env = {"JWKS_FILE": str(document), "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(args, pass_fds=[listener.fileno()], env=env)
    listener.close()
    try:
        yield f"http://127.0.0.1:{port}/jwks.json", document
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.e2e
async def test_tokens_are_checked_against_a_jwks_served_over_real_http_with_rotation(
    jwks_server: tuple[str, Path],
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    url, document = jwks_server
    document.write_text(json.dumps({"keys": [rsa_jwk(rsa_key, "k1")]}))
    clock = FakeClock(SystemClock().now())
    settings = OAuthSettings(issuer=ISSUER, audience=AUDIENCE, jwks_url=url)
    jwks = JwksCache(settings, clock, timeout=20.0)  # its own httpx client, a real socket
    auth = OAuthAuthenticator(settings, jwks, clock, METADATA_URL)
    try:
        with anyio.fail_after(60):
            assert (await accepted(auth, sign(claims_at(clock), rsa_key))).name == "alice"
            document.write_text(json.dumps({"keys": [ec_jwk(ec_key, "e2")]}))
            rotated = sign(claims_at(clock, sub="bob"), ec_key, kid="e2", alg="ES256")
            assert "unknown" in (await refused(auth, f"Bearer {rotated}")).message
            clock.advance(30)
            assert (await accepted(auth, rotated)).name == "bob"
            assert jwks.fetches == 2
    finally:
        await jwks.aclose()
