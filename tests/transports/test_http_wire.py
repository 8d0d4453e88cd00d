"""The lean HTTP/1.1 transport against scripted TCP servers that answer exactly the bytes each
test gives them: keep-alive reuse, every body framing, timeouts and answers that are not HTTP."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.e2e.http_servers import free_port

from toolgate.transports.http_wire import WireTransport

pytestmark = pytest.mark.anyio
WAIT = 10.0


@dataclass
class Served:
    url: str
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request's head and its Content-Length body (b"" when the client went away)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return b""
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + await reader.readexactly(length)


@asynccontextmanager
async def scripted(answers: list[bytes], *, close_after: bool = False) -> AsyncIterator[Served]:
    """A server answering requests, on whichever connection they come, with `answers` in
    turn; it closes the connection after each answer when `close_after`."""
    served = Served("")
    left = list(answers)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.connections += 1
        try:
            while left:
                request = await read_request(reader)
                if not request:
                    return
                served.requests.append(request)
                writer.write(left.pop(0))
                await writer.drain()
                if close_after:
                    return
            await reader.read()  # hold the connection until the client leaves
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", free_port())
    port = server.sockets[0].getsockname()[1]
    served.url = f"http://127.0.0.1:{port}/mcp"
    try:
        yield served
    finally:
        server.close()


def client(**timeouts: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=WireTransport(), timeout=httpx.Timeout(WAIT, **timeouts))


OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


async def test_a_kept_alive_connection_carries_the_next_request() -> None:
    async with scripted([OK, OK]) as served, client() as http:
        with anyio.fail_after(WAIT):
            first = await http.post(served.url, content=b'{"a":1}')
            second = await http.post(served.url, content=b'{"a":2}')
    assert (first.status_code, first.content, second.content) == (200, b"{}", b"{}")
    assert served.connections == 1
    assert served.requests[0].startswith(b"POST /mcp HTTP/1.1\r\n")
    assert served.requests[0].endswith(b'\r\n\r\n{"a":1}')


async def test_a_chunked_body_arrives_whole_and_the_connection_is_reused() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
    )
    async with scripted([chunked, OK]) as served, client() as http:
        with anyio.fail_after(WAIT):
            first = await http.get(served.url)
            second = await http.get(served.url)
    assert (first.content, second.content, served.connections) == (b"abcdefg", b"{}", 1)


async def test_a_body_ended_by_closing_the_connection_is_complete_and_not_reused() -> None:
    answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it"
    async with scripted([answer, answer], close_after=True) as served, client() as http:
        with anyio.fail_after(WAIT):
            first = await http.get(served.url)
            second = await http.get(served.url)
    assert (first.content, second.content, served.connections) == (b"all of it", b"all of it", 2)


async def test_the_status_reason_and_headers_are_those_sent() -> None:
    answer = b"HTTP/1.1 404 Not Here\r\nMcp-Session-Id: s-1\r\nContent-Length: 0\r\n\r\n"
    async with scripted([answer]) as served, client() as http:
        with anyio.fail_after(WAIT):
            response = await http.delete(served.url)
    assert (response.status_code, response.reason_phrase) == (404, "Not Here")
    assert response.headers["mcp-session-id"] == "s-1"


async def test_an_informational_answer_is_skipped() -> None:
    async with scripted([b"HTTP/1.1 100 Continue\r\n\r\n" + OK]) as served, client() as http:
        with anyio.fail_after(WAIT):
            response = await http.post(served.url, content=b"{}")
    assert (response.status_code, response.content) == (200, b"{}")


async def test_an_answer_that_is_not_http_is_a_protocol_error() -> None:
    async with scripted([b"SSH-2.0-OpenSSH_9.6\r\n\r\n"]) as served, client() as http:
        with anyio.fail_after(WAIT), pytest.raises(httpx.RemoteProtocolError, match="malformed"):
            await http.get(served.url)


async def test_a_server_that_hangs_up_without_answering_is_a_protocol_error() -> None:
    async with scripted([b""], close_after=True) as served, client() as http:
        with anyio.fail_after(WAIT), pytest.raises(httpx.RemoteProtocolError, match="without"):
            await http.get(served.url)


async def test_a_body_cut_short_is_a_protocol_error() -> None:
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nonly"
    async with scripted([cut], close_after=True) as served, client() as http:
        with anyio.fail_after(WAIT), pytest.raises(httpx.RemoteProtocolError, match="complete"):
            await http.get(served.url)


async def test_a_silent_server_is_a_read_timeout() -> None:
    async with scripted([b""]) as served, client(read=0.2) as http:
        with anyio.fail_after(WAIT), pytest.raises(httpx.ReadTimeout):
            await http.get(served.url)


async def test_nothing_listening_is_a_connect_error() -> None:
    async with client() as http:
        with anyio.fail_after(WAIT), pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{free_port()}/mcp")


async def test_a_stream_left_unread_closes_its_connection() -> None:
    long_body = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10
    async with scripted([long_body, OK]) as served, client() as http:
        with anyio.fail_after(WAIT):
            async with http.stream("GET", served.url) as response:
                assert response.status_code == 200
            second = await http.get(served.url)
    assert (second.content, served.connections) == (b"{}", 2)


async def test_a_closed_transport_refuses_requests() -> None:
    transport = WireTransport()
    await transport.aclose()
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(httpx.TransportError, match="closed"):
            await http.get("http://127.0.0.1:1/mcp")


# https ------------------------------------------------------------------------------------------


@dataclass
class Certificate:
    cert_pem: bytes
    key_pem: bytes


def self_signed(host: str = "127.0.0.1") -> Certificate:
    """A throwaway certificate for `host` (an IP address SAN), valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return Certificate(cert.public_bytes(serialization.Encoding.PEM), key_pem)


@asynccontextmanager
async def tls_server(certificate: Certificate, tmp_path: Path) -> AsyncIterator[Served]:
    """A TLS server answering every request with OK on a kept-alive connection."""
    (tmp_path / "cert.pem").write_bytes(certificate.cert_pem)
    (tmp_path / "key.pem").write_bytes(certificate.key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    served = Served("")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.connections += 1
        try:
            while request := await read_request(reader):
                served.requests.append(request)
                writer.write(OK)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            return
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", free_port(), ssl=context)
    port = server.sockets[0].getsockname()[1]
    served.url = f"https://127.0.0.1:{port}/mcp"
    try:
        yield served
    finally:
        server.close()


async def test_an_https_origin_is_reached_over_verified_tls_and_kept_alive(
    tmp_path: Path,
) -> None:
    certificate = self_signed()
    trusted = ssl.create_default_context(cadata=certificate.cert_pem.decode())
    transport = WireTransport(ssl_context=trusted)
    async with (
        tls_server(certificate, tmp_path) as served,
        httpx.AsyncClient(transport=transport, timeout=WAIT) as http,
    ):
        with anyio.fail_after(WAIT):
            first = await http.post(served.url, content=b'{"a":1}')
            second = await http.post(served.url, content=b'{"a":2}')
    assert (first.status_code, first.content, second.content) == (200, b"{}", b"{}")
    assert served.connections == 1
    assert served.requests[1].endswith(b'{"a":2}')


async def test_an_https_origin_with_an_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    async with tls_server(self_signed(), tmp_path) as served, client() as http:
        with anyio.fail_after(WAIT), pytest.raises(httpx.ConnectError, match="CERTIFICATE"):
            await http.get(served.url)
    assert served.requests == []
