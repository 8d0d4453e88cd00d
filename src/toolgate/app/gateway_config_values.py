"""Checks of single gateway-file values given as text: listen addresses, server names, URLs,
origins, Host entries, header names and values, commands, the aggregate path and separator.

Each check returns the value (normalised where that helps comparison) or raises `ConfigError`
with a message that says what is wrong without echoing secrets; the loader locates the message
at the offending node, and the `toolgate run --listen` flags reuse the same checks.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from typing import Final
from urllib.parse import SplitResult, urlsplit

from toolgate.app.gateway_config import SERVER_PATH_PREFIX, ListenAddress
from toolgate.errors import ConfigError

SERVER_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}\Z")
ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME: Final = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*\.?\Z")
_DOTTED_NUMBERS: Final = re.compile(r"[0-9.]+\Z")
_PATH: Final = re.compile(r"(?:/[A-Za-z0-9._~-]+)+\Z")
_TOOL_NAME_CHARS: Final = re.compile(r"[A-Za-z0-9_.-]{1,8}\Z")
# Headers the gateway itself sets on every upstream request; configuring them would break MCP.
RESERVED_HEADERS: Final = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "accept",
        "mcp-session-id",
        "mcp-protocol-version",
        "mcp-method",
        "mcp-name",
        "last-event-id",
    }
)
LOOPBACK_NAMES: Final = frozenset({"localhost"})


def parse_listen(text: str) -> ListenAddress:
    """`host:port`, `[ipv6]:port`; the host is an IP literal or a DNS name."""
    if not text or any(c.isspace() for c in text):
        raise ConfigError(f"{text!r} must look like 127.0.0.1:8080 or [::1]:8080")
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket:
            raise ConfigError(f"{text!r}: unclosed '[' (write [::1]:8080)")
        _ipv6(host, text)
        if not rest.startswith(":"):
            raise ConfigError(f"{text!r}: expected :PORT after ']' (write [::1]:8080)")
        port_text = rest[1:]
    else:
        host, colon, port_text = text.rpartition(":")
        if not colon:
            raise ConfigError(f"{text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
        if ":" in host:
            raise ConfigError(f"{text!r}: write an IPv6 address in brackets, e.g. [::1]:8080")
        if not host:
            raise ConfigError(
                f"{text!r}: missing host (127.0.0.1:PORT serves this machine only, "
                "0.0.0.0:PORT every interface)"
            )
        check_host(host, repr(text))
    return ListenAddress(host, _port(port_text, repr(text)), is_loopback(host))


def _ipv6(host: str, shown: str) -> None:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        raise ConfigError(f"{shown}: {host!r} is not an IPv6 address") from None


def check_host(host: str, shown: str) -> None:
    """An IPv4 literal or a DNS name (an IPv6 literal is checked by the caller)."""
    if _DOTTED_NUMBERS.match(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ConfigError(f"{shown}: {host!r} is not a valid IPv4 address") from None
    elif not _HOSTNAME.match(host):
        raise ConfigError(f"{shown}: {host!r} is not a valid host name")


def _port(text: str, shown: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 5 or int(text) > 65535:
        raise ConfigError(f"{shown}: the port must be a number from 0 to 65535")
    return int(text)


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def check_server_name(name: str) -> str:
    if not SERVER_NAME.match(name):
        raise ConfigError(
            f'server name "{name}" must be 1-63 characters of a-z, 0-9, "_" and "-", starting '
            f"with a letter or digit (it becomes the URL path {SERVER_PATH_PREFIX}<name>)"
        )
    return name


def _split_url(text: str, what: str) -> SplitResult:
    if not text.isascii() or any(c.isspace() or ord(c) < 0x20 for c in text):
        raise ConfigError(f"{what} must be an ASCII URL without spaces or control characters")
    try:
        parts = urlsplit(text)
        parts.hostname  # noqa: B018 - raises ValueError for a malformed [IPv6] host
    except ValueError:
        raise ConfigError(f"{what} is not a valid URL (check the [IPv6] host)") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ConfigError(f"{what} must be an http:// or https:// URL")
    if not parts.hostname:
        raise ConfigError(f"{what} has no host")
    if "@" in parts.netloc:
        raise ConfigError(
            f"{what} must not carry credentials; put them in headers from {{env: NAME}} "
            "or {file: PATH}"
        )
    try:
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise ConfigError(f"{what} has an invalid port") from None
    if "#" in text:
        raise ConfigError(f"{what} must not have a #fragment")
    return parts


def check_upstream_url(text: str) -> str:
    """An upstream MCP endpoint: http(s), a host, no credentials, no fragment."""
    _split_url(text, "url")
    return text


def url_is_loopback(text: str) -> bool:
    try:
        host = urlsplit(text).hostname or ""
    except ValueError:
        return False
    return is_loopback(host)


def check_https_url(text: str, what: str) -> str:
    """An OAuth URL: https, or http only for a loopback host (local testing)."""
    parts = _split_url(text, what)
    if parts.scheme.lower() != "https" and not is_loopback(parts.hostname or ""):
        raise ConfigError(f"{what} must use https:// (http:// is accepted for loopback only)")
    return text


def check_public_url(text: str) -> str:
    """The gateway's external base URL, without query or trailing slash."""
    parts = _split_url(text, "public_url")
    if parts.query:
        raise ConfigError("public_url must not have a ?query")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path}".rstrip("/")


def normalise_origin(text: str) -> str:
    """`scheme://host[:port]` as browsers send it in the Origin header."""
    what = f"origin {text!r}"
    parts = _split_url(text, what)
    if parts.path or parts.query:
        raise ConfigError(f"{what} must be scheme://host[:port] with no path (an Origin has none)")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def normalise_allowed_host(text: str) -> str:
    """A Host header value, compared exactly: `host` or `host:port`; IPv6 in brackets."""
    what = f"allowed host {text!r}"
    if not text or any(c.isspace() for c in text):
        raise ConfigError(f"{what} must look like gw.example or gw.example:8080")
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket:
            raise ConfigError(f"{what}: unclosed '['")
        _ipv6(host, what)
        if rest and not rest.startswith(":"):
            raise ConfigError(f"{what}: expected :PORT after ']'")
        port = rest[1:] if rest else None
    else:
        host, colon, port_text = text.partition(":")
        port = port_text if colon else None
        check_host(host, what)
    if port is not None:
        _port(port, what)
    return text.lower()


def check_header_name(name: str) -> str:
    if not _TOKEN.match(name):
        raise ConfigError(f'header name "{name}" is not a valid HTTP header name')
    folded = name.lower()
    if folded in RESERVED_HEADERS or folded.startswith("mcp-param-"):
        raise ConfigError(f'header "{name}" is set by the gateway and cannot be configured')
    return name


def header_value_problem(value: str) -> str | None:
    """Why `value` cannot be an HTTP header value, or None. Never quotes the value."""
    if any(c in "\r\n" for c in value):
        return "contains a line break"
    if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
        return "contains a control character"
    if value != value.strip(" \t"):
        return "has leading or trailing whitespace"
    if not value:
        return "is empty"
    return None


def check_env_name(name: str, what: str = "environment variable name") -> str:
    if not ENV_NAME.match(name):
        raise ConfigError(
            f'{what} "{name}" must be letters, digits and "_", not starting with a digit'
        )
    return name


def split_command(text: str) -> tuple[str, ...]:
    """A command given as one string, split as a POSIX shell would (no expansion happens)."""
    try:
        words = tuple(shlex.split(text))
    except ValueError as exc:
        raise ConfigError(f"command cannot be split into words: {exc}") from None
    if not words:
        raise ConfigError("command must not be empty")
    return words


def check_aggregate_path(path: str) -> str:
    if path == "/":
        return path
    if not _PATH.match(path) or any(part in (".", "..") for part in path.split("/")):
        raise ConfigError(
            f'path "{path}" must start with "/" and be segments of A-Z, a-z, 0-9, ".", "_", "~" '
            'and "-" (no trailing "/", no "." or ".." segments)'
        )
    if path.lower().startswith("/.well-known"):
        raise ConfigError(f'path "{path}" is reserved for metadata (/.well-known)')
    return path


def check_separator(separator: str) -> str:
    if not _TOOL_NAME_CHARS.match(separator):
        raise ConfigError(
            'separator must be 1-8 characters of A-Z, a-z, 0-9, "_", "." and "-" (aggregated '
            "tool names must stay valid MCP tool names)"
        )
    return separator
