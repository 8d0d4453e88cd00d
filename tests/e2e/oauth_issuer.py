"""A local stand-in for an OAuth 2.1 authorization server, for end-to-end tests of toolgate's
resource-server mode: RSA signing keys generated with `cryptography`, access tokens signed with
PyJWT, and the issuer's JWKS (at `/.well-known/jwks.json` unless told otherwise) and RFC 8414
metadata (`/.well-known/oauth-authorization-server`, and the same document as OpenID Connect
discovery) served over plain HTTP on a loopback port by a thread, so toolgate (another process)
fetches them for real.

    issuer = Issuer()                      # a free port is reserved; nothing listens yet
    with issuer.running():                 # http://127.0.0.1:P serves the JWKS
        token = issuer.mint("alice", audience=AUDIENCE, team="platform")
        issuer.rotate()                    # a new key is published and signs from now on
        issuer.jwks_status = 503           # the JWKS endpoint fails; metadata still answers
        issuer.jwks_body = b"<html>"       # ... or answers 200 with garbage
        issuer.stop(); issuer.start()      # down and back up on the same port

The issuer can be stopped and started again on its port, to stand for an authorization server
that is down at the gateway's start or goes down while it runs.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATHS = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")
TOKEN_LIFETIME = 300  # seconds: long enough for any test, short as a real access token's
STOP_WAIT = 5.0  # seconds for the serving thread to end after shutdown


@dataclass(frozen=True)
class IssuerKey:
    """One RSA signing key: the private half signs tokens, the public half is published."""

    kid: str
    private: rsa.RSAPrivateKey

    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK, as an authorization server lists it in its JWKS."""
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def sign(self, claims: Mapping[str, Any], *, kid: str | None = None) -> str:
        """An RS256 JWT over `claims`, its header naming `kid` (this key's own by default)."""
        return jwt.encode(
            dict(claims), self.private, algorithm="RS256", headers={"kid": kid or self.kid}
        )


def new_key(kid: str) -> IssuerKey:
    """A fresh 2048-bit RSA key (the smallest PyJWT accepts when it enforces key length)."""
    return IssuerKey(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))


def reserve_port() -> int:
    """A loopback port free right now, for a server that starts later on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Issuer:
    """The authorization server: its keys, the tokens it mints, and its HTTP endpoints.

    `published` is what the JWKS lists and `signing` the key new tokens are signed with; both
    may change while the issuer serves (key rotation). `jwks_requests` counts the JWKS fetches
    it answered or refused, so a test can tell whether a relying party came back for keys."""

    def __init__(self, first_kid: str = "key-1", *, jwks_path: str = JWKS_PATH) -> None:
        self.port = reserve_port()
        self.jwks_path = jwks_path  # where the keys are; the metadata's jwks_uri says so
        self.url = f"http://127.0.0.1:{self.port}"
        self.signing = new_key(first_kid)
        self.published: list[IssuerKey] = [self.signing]
        self.jwks_status = 200  # anything else: the JWKS endpoint answers this error status
        self.jwks_body: bytes | None = None  # when set, served as the JWKS instead (garbage)
        self.jwks_requests = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._rotations = 1

    @property
    def jwks_url(self) -> str:
        return self.url + self.jwks_path

    # --- tokens -----------------------------------------------------------------------------

    def claims(self, subject: str, audience: str | list[str], **extra: Any) -> dict[str, Any]:
        """The claims of a valid access token for `subject`; `extra` adds or overrides any."""
        now = int(time.time())
        base: dict[str, Any] = {
            "iss": self.url,
            "sub": subject,
            "aud": audience,
            "iat": now,
            "exp": now + TOKEN_LIFETIME,
            "scope": "mcp",
        }
        return {**base, **extra}

    def mint(self, subject: str, audience: str | list[str], **extra: Any) -> str:
        """A valid access token signed with the current signing key."""
        return self.signing.sign(self.claims(subject, audience, **extra))

    def rotate(self, *, retire_old: bool = False) -> IssuerKey:
        """Start signing with a new key, published first in the JWKS (the old one stays listed
        for tokens already issued unless `retire_old`)."""
        self._rotations += 1
        key = new_key(f"key-{self._rotations}")
        with self._lock:
            self.published = [key] if retire_old else [key, *self.published]
            self.signing = key
        return key

    # --- documents ----------------------------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [key.public_jwk() for key in self.published]}

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 authorization-server metadata (also served as OpenID Connect discovery)."""
        return {
            "issuer": self.url,
            "jwks_uri": self.jwks_url,
            "authorization_endpoint": self.url + "/authorize",
            "token_endpoint": self.url + "/token",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
        }

    def answer(self, path: str) -> tuple[int, bytes]:
        """The status and body for a GET of `path`."""
        if path == self.jwks_path:
            with self._lock:
                self.jwks_requests += 1
                status, body = self.jwks_status, self.jwks_body
            if status != 200:
                return status, _json({"error": "temporarily_unavailable"})
            return 200, _json(self.jwks()) if body is None else body
        if path in METADATA_PATHS:
            return 200, _json(self.metadata())
        return 404, _json({"error": "not_found"})

    # --- serving ------------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        """Listen on the issuer's port and serve from a daemon thread."""
        if self._server is not None:
            raise RuntimeError(f"the issuer at {self.url} is already running")
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        server.daemon_threads = True
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        self._server, self._thread = server, thread

    def stop(self) -> None:
        """Stop listening: connections to the port are refused until `start` again."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        thread.join(STOP_WAIT)
        if thread.is_alive():
            raise RuntimeError(f"the issuer at {self.url} did not stop within {STOP_WAIT} s")

    @contextmanager
    def running(self) -> Iterator[Issuer]:
        self.start()
        try:
            yield self
        finally:
            self.stop()


def _json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document).encode()


def _handler_for(issuer: Issuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """GET only; every answer closes its connection (HTTP/1.0), so a stopped
        issuer leaves no kept-alive connection for a client to reuse."""

        def do_GET(self) -> None:
            status, data = issuer.answer(self.path.split("?", 1)[0])
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read what matters from `Issuer.jwks_requests`."""

    return Handler
