"""Checks every request passes before it is read: Host and Origin (DNS rebinding, cross-site
pages), header size, content type, what the client accepts, and the body size."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from toolgate.httpface.replies import EVENT_STREAM, JSON, refusal

DEFAULT_MAX_BODY = 4 * 1024 * 1024
DEFAULT_MAX_HEADERS = 16 * 1024


@dataclass(frozen=True, slots=True)
class FaceLimits:
    """What the face lets in. `hosts` are `host:port` values the Host header may carry;
    `origins` the Origin values a browser page may send (besides the gateway's own)."""

    hosts: frozenset[str] = frozenset()
    origins: frozenset[str] = frozenset()
    max_body_bytes: int = DEFAULT_MAX_BODY
    max_header_bytes: int = DEFAULT_MAX_HEADERS
    max_sessions: int = 1000
    session_idle_seconds: float = 1800.0
    max_in_flight: int = 64  # requests one session may have waiting at once (then 429)


def header_problem(request: Request, limits: FaceLimits) -> Response | None:
    size = sum(len(name) + len(value) for name, value in request.scope["headers"])
    if size > limits.max_header_bytes:
        return refusal(431, f"request headers exceed {limits.max_header_bytes} bytes")
    host = request.headers.get("host")
    if limits.hosts and host not in limits.hosts:
        return refusal(403, "Forbidden: this Host is not served here")
    origin = request.headers.get("origin")
    if origin is not None and not _origin_allowed(origin, limits):
        return refusal(403, "Forbidden: requests from this Origin are not allowed")
    return None


def _origin_allowed(origin: str, limits: FaceLimits) -> bool:
    if origin in limits.origins:
        return True
    for scheme in ("http://", "https://"):
        if origin.startswith(scheme) and origin[len(scheme) :] in limits.hosts:
            return True
    return False


def post_problem(request: Request) -> Response | None:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != JSON:
        return refusal(415, "Unsupported Media Type: the body must be application/json")
    accept = request.headers.get("accept")
    if accept is not None and not _accepts(accept, JSON) and not _accepts(accept, EVENT_STREAM):
        return refusal(406, "Not Acceptable: accept application/json and text/event-stream")
    return None


def accepts_stream(request: Request) -> bool:
    accept = request.headers.get("accept")
    return accept is None or _accepts(accept, EVENT_STREAM)


def _accepts(accept: str, media: str) -> bool:
    kinds = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    return media in kinds or "*/*" in kinds or f"{media.split('/', maxsplit=1)[0]}/*" in kinds


async def read_body(request: Request, limit: int) -> bytes | Response:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            return refusal(400, "Bad Request: malformed Content-Length")
        if int(declared) > limit:
            return refusal(413, f"Payload Too Large: the limit is {limit} bytes")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return refusal(413, f"Payload Too Large: the limit is {limit} bytes")
    except ClientDisconnect:
        return refusal(400, "Bad Request: the client went away mid-body")
    return bytes(body)
