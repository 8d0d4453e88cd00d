"""OAuth 2.1 resource-server mode: JWT access tokens issued by an external authorization server.

The gateway validates `Authorization: Bearer <jwt>` itself (MCP authorization: a server MUST
validate tokens and their audience and MUST NOT pass them on): the signature against the
issuer's JWKS, then issuer, audience, expiry, not-before and issued-at with a bounded clock
skew, then the required scopes. A valid token becomes a `Principal` whose attributes are the
token's claims (`identity.<claim>` in policies) plus `scopes`.

Choices, each fail closed:
* Only asymmetric algorithms (RS*, PS*, ES*, EdDSA). `none` is never accepted, and HMAC (HS*)
  is not supported at all: a resource server would need the authorization server's shared
  secret, and mixing HS with public keys is the classic key-confusion attack.
* Audience: a token is accepted for the named server `s` when its `aud` (string or list)
  contains the configured audience (the gateway's canonical URI: good for every server) or
  `<audience>/mcp/<s>` (the server's own canonical URI, what an MCP client asks for with RFC
  8707 `resource=` when it connects to `/mcp/<s>`: good for that server only).
* `exp`, `iss` and `aud` are required; a token without expiry would be a credential forever.
* JWKS keys that carry private or secret members are ignored (whoever publishes them has
  published the means to mint tokens), as are `oct` keys and keys whose `use` is not `sig`.
* A JWKS outage with no key set known is a server-side failure: 503, not 401.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import jwt

from toolgate.clock import Clock
from toolgate.errors import ConfigError, ToolgateError
from toolgate.identity.principal import Principal, Refusal
from toolgate.identity.resource_metadata import is_loopback_host, server_resource

logger = logging.getLogger(__name__)

SUPPORTED_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip
DEFAULT_ALGORITHMS = ("RS256", "ES256", "PS256", "EdDSA")
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHM_BY_CURVE = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")

MAX_LEEWAY_SECONDS = 300
MIN_JWKS_CACHE_SECONDS = 30  # the refetch rate limit: caching for less would not refetch sooner
MAX_JWKS_CACHE_SECONDS = 86_400
MAX_JWKS_BYTES = 1 << 20  # 1 MiB
MAX_JWKS_KEYS = 100
JWKS_TIMEOUT_SECONDS = 10.0  # the whole fetch, connect to last byte
REFETCH_INTERVAL_SECONDS = 30.0  # at most one fetch per interval once a key set is known
RETRY_WITHOUT_KEYS_SECONDS = 5.0  # ... and per this interval while none is
MAX_TOKEN_CHARS = 16_384

_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 scope-token
_BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 b64token
_HEADER_TEXT = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")  # what may not sit in a quoted value


class OAuthSettingsError(ConfigError):
    """The OAuth resource-server settings are invalid; the message lists every problem."""


class JwksError(ToolgateError):
    """The JWKS could not be fetched or is not a usable key set."""


class JwksUnavailableError(ToolgateError):
    """No key set is known, so no token can be checked (answered with 503)."""


@dataclass(frozen=True, slots=True)
class OAuthSettings:
    """How to check access tokens: who issues them, for which audience, with which keys."""

    issuer: str  # the `iss` every token must carry, exactly
    audience: str  # the gateway's canonical resource URI (see the module docstring)
    jwks_url: str | None = None  # None: the `jwks_uri` of the issuer's metadata (RFC 8414)
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    leeway_seconds: int = 60  # clock skew allowed on exp, nbf and iat
    identity_claim: str = "sub"  # the claim that names the principal
    required_scopes: tuple[str, ...] = ()
    authorization_servers: tuple[str, ...] = ()  # for the metadata; empty means (issuer,)
    jwks_cache_seconds: int = 300

    def __post_init__(self) -> None:
        for name in ("algorithms", "required_scopes", "authorization_servers"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        if self.authorization_servers == ():
            object.__setattr__(self, "authorization_servers", (self.issuer,))
        problems = _settings_problems(self)
        if problems:
            raise OAuthSettingsError("invalid OAuth settings:\n  " + "\n  ".join(problems))


def _settings_problems(settings: OAuthSettings) -> list[str]:
    problems = [
        *_url_problems("issuer", settings.issuer, query_allowed=False),
        *(
            _url_problems("jwks_url", settings.jwks_url, query_allowed=True)
            if settings.jwks_url is not None
            else []
        ),
        *_url_problems("audience", settings.audience, query_allowed=False),
        *_algorithm_problems(settings.algorithms),
    ]
    if not _is_int_between(settings.leeway_seconds, 0, MAX_LEEWAY_SECONDS):
        problems.append(
            f"oauth.leeway_seconds: must be a whole number of seconds from 0 to "
            f"{MAX_LEEWAY_SECONDS}, got {settings.leeway_seconds!r}"
        )
    if not _is_int_between(
        settings.jwks_cache_seconds, MIN_JWKS_CACHE_SECONDS, MAX_JWKS_CACHE_SECONDS
    ):
        problems.append(
            f"oauth.jwks_cache_seconds: must be a whole number of seconds from "
            f"{MIN_JWKS_CACHE_SECONDS} to {MAX_JWKS_CACHE_SECONDS}, "
            f"got {settings.jwks_cache_seconds!r}"
        )
    claim = settings.identity_claim
    if not isinstance(claim, str) or not claim or _HEADER_TEXT.search(claim):
        problems.append(f"oauth.identity_claim: must be a claim name, got {claim!r}")
    scopes = settings.required_scopes
    if not isinstance(scopes, tuple) or not all(
        isinstance(s, str) and _SCOPE_TOKEN.fullmatch(s) for s in scopes
    ):
        problems.append(
            "oauth.required_scopes: must be a list of scope names (printable ASCII, no spaces, "
            f"quotes or backslashes), got {scopes!r}"
        )
    servers = settings.authorization_servers
    if not isinstance(servers, tuple) or not servers:
        problems.append(f"oauth.authorization_servers: must list issuer URLs, got {servers!r}")
    else:
        for index, server in enumerate(servers):
            problems += _url_problems(
                f"authorization_servers[{index}]", server, query_allowed=False
            )
    return problems


def _url_problems(field: str, value: object, *, query_allowed: bool) -> list[str]:
    where = f"oauth.{field}"
    if not isinstance(value, str) or not value:
        return [f"{where}: must be a non-empty URL, got {value!r}"]
    if " " in value or _HEADER_TEXT.search(value):
        return [f"{where}: {value!r} contains spaces, quotes, backslashes or non-ASCII"]
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return [f"{where}: {value!r} is not a URL"]
    if parts.scheme not in ("https", "http") or not host:
        return [f"{where}: {value!r} is not an absolute https:// URL"]
    problems = []
    if parts.scheme == "http" and not is_loopback_host(host):
        problems.append(
            f"{where}: {value!r} must use https (http is allowed only for loopback hosts)"
        )
    if parts.username is not None or parts.password is not None:
        problems.append(f"{where}: {value!r} must not carry credentials")
    if "#" in value:
        problems.append(f"{where}: {value!r} must not have a fragment")
    if parts.query and not query_allowed:
        problems.append(f"{where}: {value!r} must not have a query")
    return problems


def _algorithm_problems(algorithms: object) -> list[str]:
    where = "oauth.algorithms"
    if not isinstance(algorithms, tuple) or not algorithms:
        return [f"{where}: must be a non-empty list of algorithm names, got {algorithms!r}"]
    problems = []
    for name in algorithms:
        if not isinstance(name, str):
            problems.append(f"{where}: {name!r} is not an algorithm name")
        elif name.lower() == "none":
            problems.append(f"{where}: 'none' (unsigned tokens) is never accepted")
        elif name.upper().startswith("HS"):
            problems.append(
                f"{where}: {name!r} is not supported: HMAC tokens need the authorization "
                "server's shared secret; use an asymmetric algorithm and its JWKS"
            )
        elif name not in SUPPORTED_ALGORITHMS:
            problems.append(
                f"{where}: {name!r} is not supported (supported: {', '.join(SUPPORTED_ALGORITHMS)})"
            )
    return problems


def _is_int_between(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One verification key bound to one algorithm (a JWK usable with several yields several)."""

    kid: str | None
    key: jwt.PyJWK


@dataclass(frozen=True, slots=True)
class KeySet:
    """The usable keys of one fetched JWKS."""

    keys: tuple[SigningKey, ...]

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(k.kid for k in self.keys if k.kid is not None)

    def candidates(self, kid: str | None, algorithm: str) -> list[jwt.PyJWK]:
        """The keys that may have signed a token with this `kid` (any key when None) and alg."""
        return [
            k.key
            for k in self.keys
            if k.key.algorithm_name == algorithm and (kid is None or k.kid == kid)
        ]


def parse_jwks(body: bytes, algorithms: Sequence[str]) -> KeySet:
    """The signing keys in a JWKS document usable with `algorithms`; JwksError when there are
    none or the document is not a JWK set."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise JwksError(f"the key set is not JSON ({type(error).__name__})") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError('the key set is not a JWK set (expected an object with a "keys" list)')
    jwks: list[object] = document["keys"]
    if len(jwks) > MAX_JWKS_KEYS:
        raise JwksError(f"the key set has {len(jwks)} keys (at most {MAX_JWKS_KEYS} are read)")
    keys = [key for jwk in jwks for key in _signing_keys(jwk, algorithms)]
    if not keys:
        raise JwksError(
            f"the key set has no usable signing key for the algorithms {', '.join(algorithms)}"
        )
    return KeySet(tuple(keys))


def _signing_keys(jwk: object, allowed: Sequence[str]) -> list[SigningKey]:
    """One SigningKey per allowed algorithm the JWK can verify; none for unusable JWKs."""
    if not isinstance(jwk, dict):
        return []
    kid, kty, alg = jwk.get("kid"), jwk.get("kty"), jwk.get("alg")
    if jwk.get("use", "sig") != "sig" or kty == "oct" or not isinstance(kty, str):
        return []
    if any(member in jwk for member in PRIVATE_JWK_MEMBERS):
        return []
    if kid is not None and not isinstance(kid, str):
        return []
    if alg is not None:
        algorithms = [alg] if isinstance(alg, str) else []
    elif kty == "RSA":
        algorithms = list(RSA_ALGORITHMS)
    elif kty == "EC":
        algorithms = [EC_ALGORITHM_BY_CURVE.get(str(jwk.get("crv")), "")]
    else:
        algorithms = ["EdDSA"] if kty == "OKP" else []
    keys = []
    for algorithm in algorithms:
        if algorithm not in allowed:
            continue
        try:
            keys.append(SigningKey(kid, jwt.PyJWK(jwk, algorithm=algorithm)))
        except (jwt.PyJWTError, ValueError, TypeError, KeyError, OverflowError):
            continue  # a key that cannot be built is skipped, like PyJWKSet does
    return keys


class JwksCache:
    """The issuer's key set, fetched with httpx and kept for `jwks_cache_seconds`.

    Without a configured `jwks_url` the key set's URL is the `jwks_uri` of the issuer's
    metadata, found at the RFC 8414 location (`/.well-known/oauth-authorization-server` inserted
    before the issuer's path), else at OpenID Connect Discovery's; the document must name the
    configured issuer exactly. Discovery is part of the first fetch and retried like one.

    A token with an unknown `kid` triggers a refetch (key rotation), but fetches happen at most
    once per `refetch_interval` (once per `retry_without_keys` while no key set is known), so a
    stream of garbage kids cannot make the gateway hammer the authorization server. When a
    refetch fails, the last good key set keeps being served. Concurrent callers share one fetch.
    """

    def __init__(
        self,
        settings: OAuthSettings,
        clock: Clock,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = JWKS_TIMEOUT_SECONDS,
        max_bytes: int = MAX_JWKS_BYTES,
        refetch_interval: float = REFETCH_INTERVAL_SECONDS,
        retry_without_keys: float = RETRY_WITHOUT_KEYS_SECONDS,
    ) -> None:
        self._url = settings.jwks_url
        self._issuer = settings.issuer
        self._algorithms = settings.algorithms
        self._cache_seconds = float(settings.jwks_cache_seconds)
        self._clock = clock
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(follow_redirects=False)
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._refetch_interval = refetch_interval
        self._retry_without_keys = retry_without_keys
        self._lock = anyio.Lock()
        self._keys: KeySet | None = None
        self._fetched_at = -math.inf
        self._next_attempt = -math.inf
        self._last_error = "not fetched yet"
        self.fetches = 0  # attempts made, for operators and tests

    @property
    def url(self) -> str:
        return self._url or f"(the jwks_uri of {self._issuer}'s metadata)"

    async def get(self, kid: str | None = None) -> KeySet:
        """The current key set, refreshed first when it is stale or lacks `kid` (rate limits
        permitting). Raises JwksUnavailableError when no key set is known."""
        if self._needs_fetch(kid):
            async with self._lock:
                if self._needs_fetch(kid):  # unless a caller we waited for has just fetched
                    await self._refresh()
        if self._keys is None:
            raise JwksUnavailableError(
                f"the authorization server's key set at {self.url} is unavailable: "
                f"{self._last_error}"
            )
        return self._keys

    async def aclose(self) -> None:
        """Close the HTTP client when this cache created it."""
        if self._owns_client:
            await self._client.aclose()

    def _needs_fetch(self, kid: str | None) -> bool:
        now = self._clock.monotonic()
        if now < self._next_attempt:
            return False
        if self._keys is None or now - self._fetched_at >= self._cache_seconds:
            return True
        return kid is not None and kid not in self._keys.kids

    async def _refresh(self) -> None:
        started = self._clock.monotonic()
        self.fetches += 1
        what = "the key set URL" if self._url is not None else "the issuer's metadata"
        try:
            keys = await self._fetch()
        except (
            JwksError,
            httpx.HTTPError,
            httpx.InvalidURL,
            httpx.StreamError,
            TimeoutError,
            OSError,
        ) as error:
            self._last_error = _describe_fetch_error(error, what)
            wait = self._retry_without_keys if self._keys is None else self._refetch_interval
            self._next_attempt = started + wait
            logger.warning("JWKS fetch from %s failed: %s", self.url, self._last_error)
            return
        self._keys = keys
        self._fetched_at = started
        self._next_attempt = started + self._refetch_interval
        self._last_error = ""

    async def _fetch(self) -> KeySet:
        if self._url is None:
            self._url = await self._discover()
            logger.info("the key set of %s is at %s", self._issuer, self._url)
        status, body = await self._get(self._url, "the key set")
        if status != httpx.codes.OK:
            raise JwksError(f"the key set URL answered HTTP {status}")
        return parse_jwks(body, self._algorithms)

    async def _discover(self) -> str:
        """The `jwks_uri` of the first metadata document found for the issuer."""
        tried: list[str] = []
        for url in metadata_urls(self._issuer):
            status, body = await self._get(url, "the issuer's metadata")
            if status == httpx.codes.OK:
                return jwks_uri_of(body, self._issuer, url)
            tried.append(f"{url} answered HTTP {status}")
        raise JwksError("no metadata for the issuer was found: " + "; ".join(tried))

    async def _get(self, url: str, what: str) -> tuple[int, bytes]:
        """The status and body of one GET, the body bounded by `max_bytes`."""
        body = bytearray()
        with anyio.fail_after(self._timeout):
            request = self._client.build_request(
                "GET", url, headers={"Accept": "application/json"}, timeout=self._timeout
            )
            response = await self._client.send(request, stream=True)
            try:
                if response.status_code != httpx.codes.OK:
                    return response.status_code, b""
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self._max_bytes:
                    raise JwksError(self._too_large(what))
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise JwksError(self._too_large(what))
            finally:
                await response.aclose()
        return response.status_code, bytes(body)

    def _too_large(self, what: str) -> str:
        return f"{what} is larger than {self._max_bytes} bytes"


def metadata_urls(issuer: str) -> list[str]:
    """Where an issuer's metadata may be: RFC 8414's location, then OpenID Connect's (both the
    path-inserted form and the path-appended form an OIDC issuer with a path uses)."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    origin = f"{parts.scheme}://{parts.netloc}"
    urls = [
        f"{origin}/.well-known/oauth-authorization-server{path}",
        f"{origin}/.well-known/openid-configuration{path}",
        f"{origin}{path}/.well-known/openid-configuration",
    ]
    return list(dict.fromkeys(urls))


def jwks_uri_of(body: bytes, issuer: str, where: str) -> str:
    """The `jwks_uri` of a metadata document that names `issuer`; JwksError saying what is
    wrong with it otherwise."""
    try:
        document = json.loads(body)
    except ValueError:
        raise JwksError(f"the issuer's metadata at {where} is not JSON") from None
    if not isinstance(document, dict):
        raise JwksError(f"the issuer's metadata at {where} is not a JSON object")
    if document.get("issuer") != issuer:
        raise JwksError(
            f"the metadata at {where} is for issuer {str(document.get('issuer'))[:200]!r}, "
            f"not {issuer!r}"
        )
    uri = document.get("jwks_uri")
    problems = _url_problems("jwks_uri", uri, query_allowed=True)
    if problems:
        raise JwksError(f"the issuer's metadata at {where}: {problems[0]}")
    assert isinstance(uri, str)
    return uri


def _describe_fetch_error(error: Exception, what: str) -> str:
    if isinstance(error, JwksError):
        return str(error)
    if isinstance(error, TimeoutError | httpx.TimeoutException):
        return f"{what} did not answer in time"
    return f"{what} could not be reached ({type(error).__name__}: {error})"


class OAuthAuthenticator:
    """Turns `Authorization: Bearer <jwt>` into a Principal, or a Refusal with the RFC 6750 /
    RFC 9728 `WWW-Authenticate` challenge an MCP client needs to get (or step up) a token."""

    def __init__(
        self,
        settings: OAuthSettings,
        jwks: JwksCache,
        clock: Clock,
        resource_metadata_url: str | None = None,
    ) -> None:
        if resource_metadata_url is not None and (
            not resource_metadata_url or _HEADER_TEXT.search(resource_metadata_url)
        ):
            raise ConfigError(
                f"OAuthAuthenticator: resource_metadata_url {resource_metadata_url!r} cannot "
                "be sent in a WWW-Authenticate header"
            )
        self._settings = settings
        self._jwks = jwks
        self._clock = clock
        self._metadata_url = resource_metadata_url

    async def authenticate(self, authorization: str | None, server: str) -> Principal | Refusal:
        """Check the Authorization header value for the named server `server`."""
        token = _bearer_token(authorization)
        if token is None:
            return Refusal(
                401,
                "an OAuth access token is required (Authorization: Bearer <token>)",
                self._challenge(),
            )
        if not token:
            return self._invalid("malformed bearer token")
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError, TypeError, RecursionError):
            return self._invalid("malformed token")
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in self._settings.algorithms:
            return self._invalid("token algorithm is not accepted")
        if kid is not None and not isinstance(kid, str):
            return self._invalid("malformed token key id")
        try:
            keys = await self._jwks.get(kid)
        except JwksUnavailableError as error:
            return Refusal(503, f"access tokens cannot be checked: {error}")
        claims = self._verified_claims(token, alg, kid, keys, server)
        if isinstance(claims, Refusal):
            return claims
        return self._principal(claims)

    def _verified_claims(
        self, token: str, alg: str, kid: str | None, keys: KeySet, server: str
    ) -> dict[str, Any] | Refusal:
        candidates = keys.candidates(kid, alg)
        if not candidates:
            if kid is not None and kid in keys.kids:
                return self._invalid("token algorithm does not match its signing key")
            return self._invalid("token signing key is unknown")
        audiences = [self._settings.audience]
        if server:  # the server's own resource URI: a token for it is good for it alone
            audiences.append(server_resource(self._settings.audience, server))
        for key in candidates:
            try:
                claims = jwt.decode(
                    token,
                    key=key,
                    algorithms=[alg],
                    audience=audiences,
                    issuer=self._settings.issuer,
                    options={
                        "verify_exp": False,  # checked below against the injected clock
                        "verify_nbf": False,
                        "verify_iat": False,
                        "require": ["exp", "iss", "aud"],
                        "enforce_minimum_key_length": True,
                    },
                )
            except jwt.InvalidSignatureError:
                continue  # another key with this kid (or, without a kid, any key) may match
            except (jwt.PyJWTError, ValueError, TypeError, OverflowError, RecursionError) as e:
                return self._invalid(_describe_token_error(e))
            problem = self._time_problem(claims)
            return self._invalid(problem) if problem else claims
        return self._invalid("token signature is invalid")

    def _time_problem(self, claims: Mapping[str, Any]) -> str | None:
        now, leeway = self._clock.now(), self._settings.leeway_seconds
        times = {name: claims.get(name) for name in ("exp", "nbf", "iat")}
        for name, value in times.items():
            if value is not None and not _is_number(value):
                return f"token {name} claim is not a number"
        exp, nbf, iat = times["exp"], times["nbf"], times["iat"]
        if exp is None or exp <= now - leeway:
            return "token has expired"
        if nbf is not None and nbf > now + leeway:
            return "token is not yet valid"
        if iat is not None and iat > now + leeway:
            return "token was issued in the future"
        return None

    def _principal(self, claims: dict[str, Any]) -> Principal | Refusal:
        claim = self._settings.identity_claim
        name = claims.get(claim)
        if not isinstance(name, str) or not name.strip():
            return self._invalid(f"token has no usable {claim} claim")
        scopes = _scopes(claims)
        if scopes is None:
            return self._invalid("token scope claim is malformed")
        missing = [s for s in self._settings.required_scopes if s not in scopes]
        if missing:
            required = " ".join(self._settings.required_scopes)
            return Refusal(
                403,
                f"access token lacks required scopes: {' '.join(missing)}",
                self._challenge(
                    "insufficient_scope", "token lacks required scopes", scope=required
                ),
            )
        attributes: dict[str, object] = {**claims, "scopes": scopes}
        return Principal(name=name, attributes=MappingProxyType(attributes))

    def _invalid(self, description: str) -> Refusal:
        return Refusal(
            401,
            f"access token refused: {description}",
            self._challenge("invalid_token", description),
        )

    def _challenge(
        self, error: str | None = None, description: str | None = None, scope: str | None = None
    ) -> str:
        params = []
        if error is not None:
            params.append(f'error="{error}"')
        if description is not None:
            params.append(f'error_description="{_HEADER_TEXT.sub("", description)}"')
        scope = scope if scope is not None else " ".join(self._settings.required_scopes)
        if scope:
            params.append(f'scope="{scope}"')
        if self._metadata_url is not None:
            params.append(f'resource_metadata="{self._metadata_url}"')
        return "Bearer " + ", ".join(params) if params else "Bearer"


def _bearer_token(authorization: str | None) -> str | None:
    """The token of a `Bearer` Authorization value; None when there is no bearer credential at
    all (absent, empty, another scheme), "" when there is one but it is malformed."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    if len(token) > MAX_TOKEN_CHARS or not _BEARER_TOKEN.fullmatch(token):
        return ""
    return token if token.count(".") == 2 else ""


def _scopes(claims: Mapping[str, Any]) -> list[str] | None:
    """The granted scopes: `scope` (space-separated, RFC 9068) or else `scp` (a list, or a
    space-separated string); None when the claim present is malformed."""
    value = claims.get("scope", claims.get("scp"))
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return list(value)
    return None


def _is_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


_TOKEN_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "token has expired"),
    (jwt.ImmatureSignatureError, "token is not yet valid"),
    (jwt.InvalidAudienceError, "token audience is not this resource"),
    (jwt.InvalidIssuerError, "token issuer is not accepted"),
    (jwt.InvalidAlgorithmError, "token algorithm is not accepted"),
    (jwt.InvalidKeyError, "token signing key is not acceptable"),
    (jwt.InvalidSignatureError, "token signature is invalid"),
    (jwt.exceptions.InvalidSubjectError, "token sub claim is not a string"),
    (jwt.exceptions.InvalidJTIError, "token jti claim is not a string"),
)


def _describe_token_error(error: Exception) -> str:
    """A short description for the client; never the token or its contents."""
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"token has no {error.claim} claim"
    for kind, description in _TOKEN_ERRORS:
        if isinstance(error, kind):
            return description
    return "malformed token"
