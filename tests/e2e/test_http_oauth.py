"""OAuth 2.1 resource-server mode through a real `toolgate serve`: JWT access tokens minted by a
local authorization server (tests/e2e/oauth_issuer.py) are checked against its JWKS, fetched over
HTTP; their claims reach the policy as `identity.*`; every bad token is refused with a challenge
that leads to the protected-resource metadata, before anything reaches the upstream; and the
gateway follows key rotation and JWKS outages without a restart.

The gateway refetches the JWKS for an unknown key id at most once per REFETCH_INTERVAL_SECONDS
(30 s), and after a failed refetch waits as long again. The rotation and mid-run outage tests
need such refetches, so their gateways are started and make their first fetch before any test
runs (`refetch_clocks_start_first`): the first interval runs out while the other tests run. The
outage test still needs two intervals from then (a failed refetch, then the one that recovers),
which is most of the module's minute.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm
from mcp.client.streamable_http import streamable_http_client

from mcp import Client
from tests.e2e.http_gateway import (
    Gateway,
    HandshakeSession,
    answer,
    opened,
    running_gateway,
    toolgate_cli,
    write_gateway,
)
from tests.e2e.http_servers import Recorded, recording_server
from tests.e2e.oauth_issuer import Issuer, IssuerKey, new_key, reserve_port
from tests.e2e.support import WAIT
from toolgate.identity.oauth import REFETCH_INTERVAL_SECONDS, RETRY_WITHOUT_KEYS_SECONDS

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

SERVER = "rec"
POLICY = """
version: "1"
tools:
  add:
    rules:
      - name: platform only
        conditions: [{path: identity.team, op: eq, value: platform}]
        on_deny: "only the platform team may add"
  echo:
    rules:
      - rate_limit: {max: 3, window: minute, scope: identity}
        name: three per subject
        on_deny: "three echoes a minute per subject"
"""
PLATFORM_ONLY = "[POLICY DENIED] only the platform team may add"
LIMIT_TEXT = "[POLICY DENIED] three echoes a minute per subject"
WELL_KNOWN = "/.well-known/oauth-protected-resource"
POLL = 0.2  # seconds between two looks at a condition polled with a deadline
CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


# --- worlds: an issuer, the recording upstream, and a gateway that trusts the issuer ------------


@dataclass
class World:
    """A running gateway that accepts the issuer's tokens for `audience` (its own origin)."""

    issuer: Issuer
    gateway: Gateway
    audience: str  # http://127.0.0.1:P, the gateway's canonical resource URI
    upstream: str  # the recording server's own URL, for direct connections
    seen: Recorded

    @property
    def url(self) -> str:
        return self.gateway.urls[SERVER]

    @property
    def metadata_url(self) -> str:
        return self.audience + WELL_KNOWN

    def token(self, subject: str, **claims: Any) -> str:
        return self.issuer.mint(subject, self.audience, **claims)

    def bearer(self, subject: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(subject, **claims)}"}


def oauth_gateway_file(directory: Path, upstream: str, issuer: Issuer) -> tuple[Path, str]:
    """The gateway file (OAuth only, no grants) and the audience: the listener's own origin, on a
    port chosen here, so the challenge's `resource_metadata` URL is one the test can fetch."""
    port = reserve_port()
    audience = f"http://127.0.0.1:{port}"
    auth = {"grants": False, "oauth": {"issuer": issuer.url, "audience": audience}}
    path = write_gateway(directory, {SERVER: {"url": upstream, "policy": POLICY}}, auth=auth)
    document = yaml.safe_load(path.read_text())
    document["listen"] = f"127.0.0.1:{port}"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path, audience


@asynccontextmanager
async def oauth_world(
    directory: Path, issuer: Issuer, upstream: tuple[str, Recorded]
) -> AsyncIterator[World]:
    """A gateway (no `jwks_url`: the default under the issuer) in front of the upstream."""
    url, seen = upstream
    config, audience = oauth_gateway_file(directory, url, issuer)
    home = directory / "home"
    home.mkdir()
    async with running_gateway(config, home) as gateway:
        yield World(issuer, gateway, audience, url, seen)


@dataclass
class Primed:
    """A world whose gateway fetched the JWKS (for `first_key`'s token) at `primed_at`."""

    world: World
    first_key: IssuerKey
    primed_at: float  # time.monotonic(), taken just before the first token was presented

    def refetch_deadline(self) -> float:
        """Seconds left until the gateway must have refetched for an unknown key id."""
        return self.primed_at + REFETCH_INTERVAL_SECONDS + WAIT - time.monotonic()


@dataclass
class OutageStart:
    """What the outage world saw when its issuer had just failed and rotated its key."""

    primed: Primed
    new_key: IssuerKey
    refused: httpx.Response  # a token of the new key, presented right then
    upstream_requests: tuple[int, int]  # what the upstream had seen before and after


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def upstream() -> AsyncIterator[tuple[str, Recorded]]:
    """One recording upstream behind every gateway of this module."""
    async with recording_server() as served:
        yield served


@pytest.fixture(scope="module")
async def world(
    tmp_path_factory: pytest.TempPathFactory, upstream: tuple[str, Recorded]
) -> AsyncIterator[World]:
    issuer = Issuer()
    with issuer.running():
        tmp = tmp_path_factory.mktemp("http-oauth")
        async with oauth_world(tmp, issuer, upstream) as started:
            yield started


@asynccontextmanager
async def primed_world(tmp: Path, upstream: tuple[str, Recorded]) -> AsyncIterator[Primed]:
    issuer = Issuer()
    with issuer.running():
        async with (
            oauth_world(tmp, issuer, upstream) as started,
            httpx.AsyncClient(timeout=WAIT) as http,
        ):
            first_key = issuer.signing
            primed_at = time.monotonic()
            opened = await initialize(http, started.url, started.bearer("primer"))
            assert opened.status_code == 200, opened.text
            assert issuer.jwks_requests == 1
            yield Primed(started, first_key, primed_at)


@pytest.fixture(scope="module")
async def rotation(
    tmp_path_factory: pytest.TempPathFactory, upstream: tuple[str, Recorded]
) -> AsyncIterator[Primed]:
    async with primed_world(tmp_path_factory.mktemp("http-oauth-rotation"), upstream) as primed:
        yield primed


@pytest.fixture(scope="module")
async def outage(
    tmp_path_factory: pytest.TempPathFactory, upstream: tuple[str, Recorded]
) -> AsyncIterator[OutageStart]:
    """Mid-run, the issuer's JWKS endpoint fails (503) and its key rotates; a token signed with
    the new key is presented at once, before the gateway may refetch."""
    async with AsyncExitStack() as stack:
        tmp = tmp_path_factory.mktemp("http-oauth-outage")
        primed = await stack.enter_async_context(primed_world(tmp, upstream))
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=WAIT))
        world = primed.world
        world.issuer.jwks_status = 503
        key = world.issuer.rotate()
        before = len(world.seen.requests())
        refused = await initialize(http, world.url, world.bearer("during-outage"))
        after = len(world.seen.requests())
        yield OutageStart(primed, key, refused, (before, after))


@pytest.fixture(scope="module", autouse=True)
def refetch_clocks_start_first(outage: OutageStart, rotation: Primed) -> None:
    """Start the worlds that wait for a JWKS refetch before any test runs (module docstring)."""


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=WAIT) as client:
        yield client


# --- helpers -----------------------------------------------------------------------------------


async def initialize(
    http: httpx.AsyncClient, url: str, headers: Mapping[str, str]
) -> httpx.Response:
    """A handshake-era initialize with these headers: 200 once the token is accepted."""
    return await HandshakeSession(http, url, headers).open()


async def tool_outcome(session: HandshakeSession, name: str, arguments: dict[str, Any]) -> str:
    """The text of a tools/call result: the tool's answer, or the policy's denial."""
    response = await session.call_tool(name, arguments)
    assert response.status_code == 200, response.text
    result = answer(response)["result"]
    return str(result["content"][0]["text"])


def challenge(response: httpx.Response) -> dict[str, str]:
    """The parameters of a `WWW-Authenticate: Bearer …` challenge (which must be there)."""
    header = response.headers.get("www-authenticate", "")
    assert header.startswith("Bearer"), f"no Bearer challenge: {response.headers!r}"
    return dict(CHALLENGE_PARAM.findall(header))


async def poll(
    what: str, seconds: float, check: Callable[[], Awaitable[httpx.Response]], done: Any
) -> httpx.Response:
    """Call `check` every POLL seconds until `done(response)`; fail after `seconds` naming
    `what` and the last response."""
    deadline = time.monotonic() + seconds
    while True:
        response = await check()
        if done(response):
            return response
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{what}: not within {seconds:.0f} s; last answer {response.status_code} "
                f"{response.headers.get('www-authenticate', '')} {response.text}"
            )
        await anyio.sleep(POLL)  # polling a condition, bounded by the deadline above


def unknown_key(response: httpx.Response) -> bool:
    """Whether the gateway refused the token because it does not know its signing key."""
    if response.status_code != 401:
        return False
    return challenge(response).get("error_description") == "token signing key is unknown"


def comparable(result: Any) -> Any:
    return result.model_dump(mode="json", exclude_none=True)


async def sdk_view(server: Any, mode: str) -> dict[str, Any]:
    """What the official SDK client sees: the tool names and an `add` call's result."""
    async with Client(server, mode=mode, read_timeout_seconds=WAIT) as client:
        names = sorted(t.name for t in (await client.list_tools()).tools)
        added = await client.call_tool("add", {"a": 2, "b": 3})
    return {"names": names, "add": comparable(added)}


# --- valid tokens ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_sdk_client_with_a_bearer_jwt_lists_and_calls_tools_as_a_direct_connection_does(
    world: World, mode: str
) -> None:
    headers = world.bearer(f"sdk-{mode}", team="platform")
    async with httpx2.AsyncClient(headers=headers, timeout=WAIT) as http:
        gated = await sdk_view(streamable_http_client(world.url, http_client=http), mode)
    direct = await sdk_view(world.upstream, mode)
    assert gated == direct
    assert gated["names"] == ["add", "echo", "slow"]
    assert gated["add"]["content"][0]["text"] == "5"
    assert gated["add"].get("isError") is not True


async def test_token_minted_for_the_servers_own_resource_uri_is_accepted(
    world: World, http: httpx.AsyncClient
) -> None:
    token = world.issuer.mint("own-resource", f"{world.audience}/mcp/{SERVER}", team="platform")
    session = await opened(http, world.url, {"Authorization": f"Bearer {token}"})
    assert await tool_outcome(session, "add", {"a": 20, "b": 22}) == "42"


async def test_policy_sees_token_claims_as_identity_attributes(
    world: World, http: httpx.AsyncClient
) -> None:
    platform = await opened(http, world.url, world.bearer("pat", team="platform"))
    sales = await opened(http, world.url, world.bearer("sam", team="sales"))
    no_team = await opened(http, world.url, world.bearer("nat"))
    assert await tool_outcome(platform, "add", {"a": 1, "b": 2}) == "3"
    assert await tool_outcome(sales, "add", {"a": 1, "b": 2}) == PLATFORM_ONLY
    assert await tool_outcome(no_team, "add", {"a": 1, "b": 2}) == PLATFORM_ONLY


async def test_identity_scoped_limit_counts_each_token_subject_separately(
    world: World, http: httpx.AsyncClient
) -> None:
    alice = await opened(http, world.url, world.bearer("limit-alice"))
    bob = await opened(http, world.url, world.bearer("limit-bob"))
    outcomes: dict[str, list[str]] = {"alice": [], "bob": []}
    for who, session, count in [("alice", alice, 2), ("bob", bob, 5), ("alice", alice, 3)]:
        for i in range(count):
            outcomes[who].append(await tool_outcome(session, "echo", {"message": f"{who} {i}"}))
    assert outcomes["alice"] == ["alice 0", "alice 1", "alice 0", LIMIT_TEXT, LIMIT_TEXT]
    assert outcomes["bob"] == ["bob 0", "bob 1", "bob 2", LIMIT_TEXT, LIMIT_TEXT]


async def test_a_new_session_with_another_token_of_the_same_subject_shares_its_counter(
    world: World, http: httpx.AsyncClient
) -> None:
    for i in range(3):  # a fresh token, and session, for every call: the subject is the key
        session = await opened(http, world.url, world.bearer("limit-carol", jti=f"t{i}"))
        assert await tool_outcome(session, "echo", {"message": f"call {i}"}) == f"call {i}"
    last = await opened(http, world.url, world.bearer("limit-carol", jti="t3"))
    assert await tool_outcome(last, "echo", {"message": "one more"}) == LIMIT_TEXT


async def test_policy_judges_each_request_by_the_claims_of_its_own_token(
    world: World, http: httpx.AsyncClient
) -> None:
    session = await opened(http, world.url, world.bearer("dana", team="platform"))
    assert await tool_outcome(session, "add", {"a": 1, "b": 1}) == "2"
    # Same subject, same session; the refreshed token no longer says platform.
    session.headers = {**session.headers, **world.bearer("dana", team="sales")}
    assert await tool_outcome(session, "add", {"a": 1, "b": 1}) == PLATFORM_ONLY


async def test_upstream_never_sees_the_clients_authorization_header_or_cookies(
    world: World, http: httpx.AsyncClient
) -> None:
    token = world.token("private", team="platform")
    headers = {"Authorization": f"Bearer {token}", "Cookie": "session=secret-cookie"}
    before = len(world.seen.requests())
    session = await opened(http, world.url, headers)
    assert await tool_outcome(session, "add", {"a": 1, "b": 2}) == "3"
    assert await tool_outcome(session, "echo", {"message": "hi"}) == "hi"
    requests = world.seen.requests()[before:]
    assert len(requests) >= 3, "the upstream saw too few requests for this test to mean much"
    for request in requests:
        assert "authorization" not in request["headers"], request
        assert "cookie" not in request["headers"], request
        assert not any(token in value for value in request["headers"].values()), request


# --- bad tokens --------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_public_key(world: World) -> str:
    """An HS256 token keyed with the issuer's public key: the classic key-confusion attack."""
    pem = world.issuer.signing.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": world.issuer.signing.kid}
    signing_input = f"{b64url(json.dumps(header).encode())}." + b64url(
        json.dumps(world.issuer.claims("mallory", world.audience)).encode()
    )
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def unsigned(world: World) -> str:
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    claims = b64url(json.dumps(world.issuer.claims("mallory", world.audience)).encode())
    return f"{header}.{claims}."


ROGUE = new_key("rogue")  # a key the issuer never published
NOW = int(time.time())


@dataclass(frozen=True)
class BadToken:
    authorization: Callable[[World], str | None]  # the Authorization header value, or none
    description: str | None  # the challenge's error_description; None: no error at all


BAD_TOKENS = {
    "expired": BadToken(
        lambda w: "Bearer " + w.token("m", iat=NOW - 7200, exp=NOW - 3600),
        "token has expired",
    ),
    "not yet valid": BadToken(
        lambda w: "Bearer " + w.token("m", nbf=int(time.time()) + 3600),
        "token is not yet valid",
    ),
    "wrong audience": BadToken(
        lambda w: "Bearer " + w.issuer.mint("m", "https://other.example"),
        "token audience is not this resource",
    ),
    "another server's audience": BadToken(
        lambda w: "Bearer " + w.issuer.mint("m", f"{w.audience}/mcp/other"),
        "token audience is not this resource",
    ),
    "wrong issuer": BadToken(
        lambda w: "Bearer " + w.token("m", iss="https://login.other.example"),
        "token issuer is not accepted",
    ),
    "no subject": BadToken(
        lambda w: (
            "Bearer "
            + w.issuer.signing.sign(
                {k: v for k, v in w.issuer.claims("m", w.audience).items() if k != "sub"}
            )
        ),
        "token has no usable sub claim",
    ),
    "bad signature": BadToken(
        lambda w: (
            "Bearer " + ROGUE.sign(w.issuer.claims("m", w.audience), kid=w.issuer.signing.kid)
        ),
        "token signature is invalid",
    ),
    "unknown kid": BadToken(
        lambda w: "Bearer " + ROGUE.sign(w.issuer.claims("m", w.audience)),
        "token signing key is unknown",
    ),
    "alg none": BadToken(lambda w: "Bearer " + unsigned(w), "token algorithm is not accepted"),
    "HS256 keyed with the public key": BadToken(
        lambda w: "Bearer " + hs256_with_public_key(w), "token algorithm is not accepted"
    ),
    "garbage": BadToken(lambda w: "Bearer not a token at all", "malformed bearer token"),
    "three garbage segments": BadToken(lambda w: "Bearer aaaa.bbbb.cccc", "malformed token"),
    "no header": BadToken(lambda w: None, None),
    "another scheme": BadToken(lambda w: "Basic dXNlcjpwYXNz", None),
}


@pytest.mark.parametrize("case", BAD_TOKENS.values(), ids=list(BAD_TOKENS))
async def test_bad_token_gets_401_with_a_metadata_challenge_and_never_reaches_the_upstream(
    world: World, http: httpx.AsyncClient, case: BadToken
) -> None:
    value = case.authorization(world)
    headers = {} if value is None else {"Authorization": value}
    before = len(world.seen.requests())
    response = await initialize(http, world.url, headers)
    assert response.status_code == 401, response.text
    params = challenge(response)
    assert params["resource_metadata"] == world.metadata_url
    if case.description is None:
        assert "error" not in params
        assert "access token is required" in answer(response)["error"]["message"]
    else:
        assert params["error"] == "invalid_token"
        assert params["error_description"] == case.description
        assert answer(response)["error"]["message"] == f"access token refused: {case.description}"
    assert len(world.seen.requests()) == before, "a refused request reached the upstream"


async def test_protected_resource_metadata_is_served_where_the_challenge_points(
    world: World, http: httpx.AsyncClient
) -> None:
    refused = await initialize(http, world.url, {})
    pointed = challenge(refused)["resource_metadata"]
    document = await http.get(pointed)  # no credentials: the metadata is public
    assert document.status_code == 200, document.text
    assert document.headers["content-type"].startswith("application/json")
    assert document.json() == {
        "resource": world.audience,
        "authorization_servers": [world.issuer.url],
        "bearer_methods_supported": ["header"],
        "resource_name": "toolgate",
    }
    own = await http.get(f"{world.audience}{WELL_KNOWN}/mcp/{SERVER}")
    assert own.status_code == 200, own.text
    assert own.json()["resource"] == f"{world.audience}/mcp/{SERVER}"
    assert own.json()["authorization_servers"] == [world.issuer.url]


async def test_invalid_oauth_section_stops_serve_with_located_errors(
    tmp_path: Path, upstream: tuple[str, Recorded]
) -> None:
    oauth = {
        "issuer": "http://login.example",  # plain http to a host that is not loopback
        "jwks_url": "ftp://login.example/keys",
        "leeway_seconds": "lots",
    }  # and no audience
    config = write_gateway(
        tmp_path,
        {SERVER: {"url": upstream[0], "policy": POLICY}},
        auth={"grants": False, "oauth": oauth},
    )
    home = tmp_path / "home"
    home.mkdir()
    done = toolgate_cli(home, "serve", "-c", str(config))
    stderr = done.stderr.decode()
    assert done.returncode != 0, stderr
    for problem in (
        'auth.oauth: missing required key "audience"',
        "auth.oauth: issuer must use https://",
        "auth.oauth: leeway_seconds must be a number of seconds",
        "nothing was started",
    ):
        assert problem in stderr
    assert re.search(r"gateway\.yaml:\d+:\d+: auth\.oauth: jwks_url", stderr), stderr
    assert "toolgate: serving" not in stderr


# --- keys that change and a JWKS that fails ------------------------------------------------------


async def test_jwks_unreachable_at_startup_fails_closed_with_503_and_recovers_when_back(
    tmp_path: Path, upstream: tuple[str, Recorded], http: httpx.AsyncClient
) -> None:
    issuer = Issuer()  # its port is reserved, but nothing answers there yet
    async with oauth_world(tmp_path, issuer, upstream) as world:
        headers = world.bearer("early")
        before = len(world.seen.requests())
        refused = await initialize(http, world.url, headers)
        assert refused.status_code == 503, refused.text
        message = answer(refused)["error"]["message"]
        assert message.startswith("access tokens cannot be checked: ")
        assert f"(the jwks_uri of {issuer.url}'s metadata) is unavailable" in message
        assert "the issuer's metadata could not be reached" in message
        assert len(world.seen.requests()) == before

        issuer.jwks_status = 503  # up, but its JWKS endpoint fails
        with issuer.running():
            failing = await poll(
                "the gateway reporting the JWKS endpoint's 503",
                RETRY_WITHOUT_KEYS_SECONDS + WAIT,
                lambda: initialize(http, world.url, headers),
                lambda r: "answered HTTP 503" in r.text,
            )
            assert failing.status_code == 503
            issuer.jwks_status = 200
            accepted = await poll(
                "a token accepted once the JWKS answers",
                RETRY_WITHOUT_KEYS_SECONDS + WAIT,
                lambda: initialize(http, world.url, headers),
                lambda r: r.status_code != 503,
            )
        assert accepted.status_code == 200, accepted.text
        assert f"JWKS fetch from {issuer.jwks_url} failed" in world.gateway.stderr()


def private_jwks() -> bytes:
    """A JWKS that publishes a private key: whoever reads it can mint tokens."""
    key = new_key("leaked")
    jwk = RSAAlgorithm.to_jwk(key.private, as_dict=True)
    return json.dumps({"keys": [{**jwk, "kid": key.kid, "use": "sig"}]}).encode()


GARBAGE_JWKS = {
    "not JSON": (b"<html>down for maintenance</html>", "the key set is not JSON"),
    "no keys list": (b'{"keys": "none"}', "the key set is not a JWK set"),
    "only a private key": (private_jwks(), "the key set has no usable signing key"),
    "only a symmetric key": (
        b'{"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}]}',
        "the key set has no usable signing key",
    ),
}


@pytest.mark.parametrize(("body", "problem"), GARBAGE_JWKS.values(), ids=list(GARBAGE_JWKS))
async def test_garbage_jwks_fails_closed_with_503_naming_the_problem(
    tmp_path: Path,
    upstream: tuple[str, Recorded],
    http: httpx.AsyncClient,
    body: bytes,
    problem: str,
) -> None:
    issuer = Issuer()
    issuer.jwks_body = body
    with issuer.running():
        async with oauth_world(tmp_path, issuer, upstream) as world:
            before = len(world.seen.requests())
            refused = await initialize(http, world.url, world.bearer("garbage"))
            assert refused.status_code == 503, refused.text
            message = answer(refused)["error"]["message"]
            assert f"key set at {issuer.jwks_url} is unavailable: {problem}" in message
            assert issuer.jwks_requests == 1
            assert len(world.seen.requests()) == before


async def test_jwks_url_is_discovered_from_the_issuers_metadata_when_not_configured(
    tmp_path: Path, upstream: tuple[str, Recorded], http: httpx.AsyncClient
) -> None:
    issuer = Issuer(jwks_path="/oauth2/v1/keys")  # as Okta serves it, say
    with issuer.running():
        async with oauth_world(tmp_path, issuer, upstream) as world:
            response = await initialize(http, world.url, world.bearer("discovered"))
            assert response.status_code == 200, response.text


async def test_rotated_signing_key_is_accepted_without_restarting_the_gateway(
    rotation: Primed, http: httpx.AsyncClient
) -> None:
    world = rotation.world
    old_token = world.token("before-rotation")  # signed with the first key
    new = world.issuer.rotate()
    new_token = world.token("after-rotation")
    assert new.kid != rotation.first_key.kid
    accepted = await poll(
        "a token of the rotated key accepted",
        rotation.refetch_deadline(),
        lambda: initialize(http, world.url, {"Authorization": f"Bearer {new_token}"}),
        lambda r: not unknown_key(r),
    )
    assert accepted.status_code == 200, accepted.text
    assert world.issuer.jwks_requests == 2  # one refetch, not one per unknown-kid request
    old = await initialize(http, world.url, {"Authorization": f"Bearer {old_token}"})
    assert old.status_code == 200, old.text  # still published: tokens already issued live on
    assert world.gateway.process.poll() is None


async def test_jwks_outage_mid_run_refuses_what_it_cannot_check_and_recovers_when_back(
    outage: OutageStart, http: httpx.AsyncClient
) -> None:
    world = outage.primed.world
    refused = outage.refused  # the new key's token while the JWKS was failing
    assert refused.status_code == 401, refused.text
    params = challenge(refused)
    assert params["error"] == "invalid_token"
    assert params["error_description"] == "token signing key is unknown"
    assert params["resource_metadata"] == world.metadata_url
    assert outage.upstream_requests[0] == outage.upstream_requests[1]

    old_key = outage.primed.first_key
    known = old_key.sign(world.issuer.claims("known-key", world.audience))
    still = await initialize(http, world.url, {"Authorization": f"Bearer {known}"})
    assert still.status_code == 200, still.text  # the last good key set keeps serving
    forged = ROGUE.sign(world.issuer.claims("forger", world.audience), kid=old_key.kid)
    forged_answer = await initialize(http, world.url, {"Authorization": f"Bearer {forged}"})
    assert forged_answer.status_code == 401
    assert challenge(forged_answer)["error_description"] == "token signature is invalid"

    new_token = outage.new_key.sign(world.issuer.claims("after-outage", world.audience))
    fetches = world.issuer.jwks_requests
    refused_again = await poll(
        "the gateway trying the failing JWKS again",
        outage.primed.refetch_deadline(),
        lambda: initialize(http, world.url, {"Authorization": f"Bearer {new_token}"}),
        lambda r: world.issuer.jwks_requests > fetches,
    )
    assert refused_again.status_code == 401, refused_again.text
    assert challenge(refused_again)["error_description"] == "token signing key is unknown"
    assert f"JWKS fetch from {world.issuer.jwks_url} failed" in world.gateway.stderr()

    world.issuer.jwks_status = 200  # back; the gateway tries again an interval after its failure
    accepted = await poll(
        "a token of the new key accepted once the JWKS is back",
        REFETCH_INTERVAL_SECONDS + WAIT,
        lambda: initialize(http, world.url, {"Authorization": f"Bearer {new_token}"}),
        lambda r: r.status_code == 200,
    )
    assert accepted.status_code == 200
    assert world.gateway.process.poll() is None
