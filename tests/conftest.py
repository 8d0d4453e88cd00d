"""Shared test configuration: anyio on asyncio, a fake clock, every counter store, and a real
redis-server for the Redis one."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from toolgate.clock import FakeClock
from toolgate.stores.base import CounterStore
from toolgate.stores.memory import MemoryCounterStore
from toolgate.stores.redis_counters import RedisCounterStore
from toolgate.stores.sqlite import SqliteCounterStore

REDIS_START_DEADLINE = 10.0  # seconds for redis-server to answer PING


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@dataclass(frozen=True)
class RedisServer:
    """A redis-server started for tests on a free loopback port (or a unix socket)."""

    port: int
    process: subprocess.Popen[bytes]
    socket: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        if self.socket is not None:
            return redis.Redis(unix_socket_path=str(self.socket), socket_timeout=5)
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)


def redis_server_path() -> str:
    """redis-server's path, or skip (locally) / fail (with TOOLGATE_REQUIRE_E2E) without it."""
    path = shutil.which("redis-server")
    if path is not None:
        return path
    message = "redis-server is not installed (run ./dev test, which installs it)"
    if os.environ.get("TOOLGATE_REQUIRE_E2E"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    # redis-server has no `--port 0`: ask the kernel for a free port, then hand it over.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(tmp: Path, port: int | None = None, unix_socket: Path | None = None) -> RedisServer:
    """Start redis-server (no persistence) and return once it answers PING (bounded wait).
    With `unix_socket` it listens on that socket only."""
    exe = redis_server_path()
    port = (0 if unix_socket else free_port()) if port is None else port
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", str(tmp)]
    if unix_socket is not None:
        args += ["--unixsocket", str(unix_socket)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = RedisServer(port, process, unix_socket)
    deadline = time.monotonic() + REDIS_START_DEADLINE
    with server.client() as client:
        while True:
            try:
                if client.ping():
                    return server
            except redis.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                stop_redis(server)
                pytest.fail(f"redis-server did not answer PING ({args})")
            time.sleep(0.02)  # polling the server's start-up, bounded by the deadline


def stop_redis(server: RedisServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture
def servers() -> Iterator[list[RedisServer]]:
    """Redis servers a test starts itself (fault tests), stopped at its end whatever happened."""
    started: list[RedisServer] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            stop_redis(server)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the whole session; tests flush it (see `fresh_redis`)."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    stop_redis(server)


@pytest.fixture
def fresh_redis(redis_server: RedisServer) -> RedisServer:
    """The session's redis-server, emptied (and its script cache flushed) for this test."""
    with redis_server.client() as client:
        client.flushall()
        client.script_flush()
    return redis_server


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(
    request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path
) -> AsyncIterator[CounterStore]:
    """Each backend in turn, so a behaviour suite runs against every one; a new backend joins
    by adding a branch here."""
    backend: CounterStore
    if request.param == "memory":
        backend = MemoryCounterStore(clock)
    elif request.param == "sqlite":
        backend = SqliteCounterStore(tmp_path / "counters.db", clock=clock)
    else:
        server: RedisServer = request.getfixturevalue("fresh_redis")
        backend = RedisCounterStore(server.url, clock=clock)
    yield backend
    await backend.aclose()
