"""Telling people about approval requests through a signed webhook, without slowing any call.

`submit` only puts the event on a bounded in-memory queue (it never awaits and never raises; a
full queue drops the event and counts it), and one worker, `run`, posts the events one after
another in the order they were submitted. A post is retried on connection errors, timeouts and
HTTP 5xx or 429, waiting `first_backoff * 2**n` seconds (at most MAX_BACKOFF) between attempts,
up to `attempts` in all; any other answer that is not 2xx is final. A delivery that gives up is
logged once, naming the URL without its query string (which may carry a token).

Every post is signed so the receiver can tell it came from this gateway and is fresh:

    X-Toolgate-Timestamp: <unix seconds>
    X-Toolgate-Signature: sha256=<hex HMAC-SHA256(secret, b"<timestamp>." + body)>

Receivers check both with `verify_signature` (or the same three lines in their language).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
from dataclasses import dataclass
from typing import Final

import anyio
import httpx

from toolgate import __version__
from toolgate.approvals.webhook_body import EventKind, event_body, slack_body
from toolgate.clock import Clock
from toolgate.errors import ConfigError
from toolgate.stores.approvals import Approval

log = logging.getLogger("toolgate.approvals")

TIMESTAMP_HEADER: Final = "X-Toolgate-Timestamp"
SIGNATURE_HEADER: Final = "X-Toolgate-Signature"
SIGNATURE_PREFIX: Final = "sha256="
MAX_BACKOFF: Final = 30.0  # seconds between two attempts, at most
_MAX_TIMESTAMP_DIGITS: Final = 15


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The X-Toolgate-Signature value for `body` sent at `timestamp`."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


def verify_signature(
    secret: bytes, timestamp: str, body: bytes, header: str, *, now: float, tolerance: float = 300
) -> bool:
    """Whether `header` is this body's signature under `secret`, made at `timestamp` (unix
    seconds) no more than `tolerance` seconds from `now`. False for anything malformed; never
    raises."""
    if not isinstance(secret, bytes) or not secret or not isinstance(body, bytes):
        return False
    if not isinstance(timestamp, str) or not isinstance(header, str):
        return False
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        return False
    if not math.isfinite(now) or abs(now - int(timestamp)) > tolerance:
        return False
    if not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = sign(secret, timestamp, body)
    return hmac.compare_digest(expected.encode("ascii"), header.encode("utf-8", "replace"))


def redacted(url: httpx.URL) -> str:
    """scheme://host[:port]/path: the URL without credentials, query or fragment."""
    return str(httpx.URL(scheme=url.scheme, host=url.host, port=url.port, path=url.path))


def _target(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in {"http", "https"} or not parsed.host:
        raise ConfigError(
            "approval webhook URL is not valid: expected http(s)://host/path "
            "(the value is not shown: it may hold a token)"
        )
    return parsed


@dataclass(frozen=True, slots=True)
class _Event:
    kind: EventKind
    approval: Approval
    delivery: str  # the same on every attempt: receivers dedupe on it


class WebhookNotifier:
    """Posts approval events to one URL, signed, from one background worker.

    Call `submit` from the event loop's thread (it is not thread-safe). Run `run` in a task
    group once and cancel it to stop; then `aclose`. Counters: `delivered`, `failed` (gave up),
    `dropped` (the queue was full or closed)."""

    def __init__(
        self,
        url: str,
        secret: bytes,
        clock: Clock,
        *,
        slack: bool = False,
        review_url: str | None = None,
        max_queue: int = 1000,
        attempts: int = 5,
        first_backoff: float = 0.5,
        timeout: float = 5.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = _target(url)
        self.where = redacted(self._url)
        if not secret:
            raise ConfigError(f"approval webhook {self.where}: the signing secret is empty")
        if max_queue < 1 or attempts < 1:
            raise ConfigError(
                f"approval webhook {self.where}: max_queue and attempts must be at least 1"
            )
        if not (math.isfinite(first_backoff) and first_backoff >= 0):
            raise ConfigError(f"approval webhook {self.where}: first_backoff must be >= 0")
        if not (math.isfinite(timeout) and timeout > 0):
            raise ConfigError(f"approval webhook {self.where}: timeout must be > 0")
        if review_url is not None:
            _target(review_url)
        self._secret = secret
        self._clock = clock
        self._slack = slack
        self._review_url = review_url
        self._attempts = attempts
        self._first_backoff = first_backoff
        self._timeout = timeout
        self._send, self._receive = anyio.create_memory_object_stream[_Event](max_queue)
        self._own_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=timeout)
        self.delivered = 0
        self.failed = 0
        self.dropped = 0

    def submit(self, kind: EventKind, approval: Approval) -> None:
        """Queue one event for delivery. Never awaits, never raises."""
        try:
            self._send.send_nowait(_Event(kind, approval, "dlv_" + secrets.token_hex(8)))
        except anyio.WouldBlock:
            self._drop(kind, approval, "its queue is full")
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._drop(kind, approval, "it is closed")
        except Exception:  # never let a notification break the call that caused it
            self._drop(kind, approval, "of an unexpected error")
            log.debug("approval webhook submit failed", exc_info=True)

    async def run(self) -> None:
        """Deliver queued events one after another until cancelled or closed."""
        try:
            async for event in self._receive:
                await self._deliver(event)
        except anyio.ClosedResourceError:  # aclose() while waiting for the next event
            return

    async def aclose(self) -> None:
        """Stop taking events, drop (and count) those still queued, and release the HTTP
        client when this notifier made it. Cancel `run` first to stop a delivery under way."""
        left = self._receive.statistics().current_buffer_used
        self._send.close()
        self._receive.close()
        self.dropped += left
        if self._own_client:
            await self._client.aclose()

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (0 for the first retry)."""
        return float(min(self._first_backoff * 2**retry, MAX_BACKOFF))

    def _drop(self, kind: str, approval: Approval, why: str) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 100 == 0:
            log.warning(
                "approval webhook %s dropped %s for %s because %s (%d dropped so far)",
                self.where,
                kind,
                approval.id,
                why,
                self.dropped,
            )

    async def _deliver(self, event: _Event) -> None:
        try:
            body = self._body(event)
        except Exception as exc:  # a body that cannot be built must not stop the worker
            self.failed += 1
            log.warning(
                "approval webhook %s could not build %s for %s: %s",
                self.where,
                event.kind,
                event.approval.id,
                type(exc).__name__,
            )
            return
        problem = "no attempt made"
        for attempt in range(self._attempts):
            if attempt:
                await anyio.sleep(self.backoff(attempt - 1))
            try:
                retry, problem = await self._post(event, body)
            except Exception as exc:  # e.g. the client closed under it: never kill the worker
                retry, problem = False, f"unexpected {type(exc).__name__}"
            if not problem:
                self.delivered += 1
                return
            if not retry:
                break
        self.failed += 1
        log.warning(
            "approval webhook %s gave up on %s for %s after %d attempt(s): %s",
            self.where,
            event.kind,
            event.approval.id,
            attempt + 1,
            problem,
        )

    def _body(self, event: _Event) -> bytes:
        if self._slack:
            return slack_body(event.kind, event.approval, review_url=self._review_url)
        return event_body(
            event.kind, event.approval, delivery=event.delivery, sent_at=self._clock.now()
        )

    async def _post(self, event: _Event, body: bytes) -> tuple[bool, str]:
        """One attempt: (whether a retry may help, the problem or "" when delivered)."""
        timestamp = str(int(self._clock.now()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"toolgate/{__version__}",
            "X-Toolgate-Event": event.kind,
            "X-Toolgate-Delivery": event.delivery,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
        }
        status = 0
        with anyio.move_on_after(self._timeout):  # httpx times each phase; this bounds the whole
            try:
                request = self._client.build_request(
                    "POST", self._url, content=body, headers=headers
                )
                response = await self._client.send(request, stream=True)
                status = response.status_code
                await response.aclose()  # the answer's body is of no interest
            except httpx.TransportError as exc:  # connection refused, timeouts, protocol errors
                return True, self._scrub(f"{type(exc).__name__}: {exc}")
            except httpx.HTTPError as exc:
                return False, self._scrub(f"{type(exc).__name__}: {exc}")
        if status == 0:
            return True, f"no answer within {self._timeout:g}s"
        if 200 <= status < 300:
            return False, ""
        return status >= 500 or status == 429, f"answered HTTP {status}"

    def _scrub(self, text: str) -> str:
        """An error text without the URL's query string or credentials."""
        full = str(self._url)
        text = text.replace(full, self.where)
        for secret_part in (
            self._url.query.decode("ascii", "replace"),
            self._url.userinfo.decode(),
        ):
            if secret_part:
                text = text.replace(secret_part, "…")
        return text.rstrip(": ") or "error"
