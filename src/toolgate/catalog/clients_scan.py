"""Scanning the servers the client configs start, once each, and naming their policy files.

A server listed by several clients with the same command is scanned once and shares one policy;
two different servers with the same name get `name`, `name-2`, …. The server's own `env` from the
config is set in this process while it is scanned (the child inherits it) and restored after, so
servers that need an API key can start without the key ever appearing on a command line. A server
that fails to scan is recorded with the reason and skipped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from toolgate.catalog.classify import classify_tool
from toolgate.catalog.clients import ClientConfig, StdioServer
from toolgate.catalog.scan import scan_server
from toolgate.catalog.scan_report import ClassifiedTool, classify_all
from toolgate.errors import ToolgateError

UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class ScannedServer:
    name: str
    slug: str
    argv: tuple[str, ...]
    tools: tuple[ClassifiedTool, ...]
    policy_path: Path


@dataclass(frozen=True, slots=True)
class ScanFailure:
    name: str
    argv: tuple[str, ...]
    reason: str


def slug(name: str, taken: set[str]) -> str:
    base = UNSAFE.sub("-", name).strip("-.") or "server"
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base}-{number}"
    taken.add(candidate)
    return candidate


async def scan_configs(
    configs: list[ClientConfig], policy_dir: Path, wait: float
) -> tuple[list[ScannedServer], list[ScanFailure]]:
    """Scan every unwrapped stdio server of `configs` once."""
    scanned: dict[tuple[str, ...], ScannedServer] = {}
    failed: dict[tuple[str, ...], ScanFailure] = {}
    taken: set[str] = set()
    for config in configs:
        for server in config.servers:
            if server.wrapped_policy is not None or server.argv in scanned or server.argv in failed:
                continue
            try:
                tools = await _scan(server, wait)
            except ToolgateError as exc:
                failed[server.argv] = ScanFailure(server.name, server.argv, str(exc))
                continue
            name = slug(server.name, taken)
            path = policy_dir / f"{name}.yaml"
            scanned[server.argv] = ScannedServer(server.name, name, server.argv, tools, path)
    return list(scanned.values()), list(failed.values())


def policies_for(config: ClientConfig, scanned: list[ScannedServer]) -> dict[str, Path]:
    """The policy each of `config`'s servers gets: by its command (only saved ones are wrapped
    by the caller)."""
    by_argv = {server.argv: server.policy_path for server in scanned}
    return {s.name: by_argv[s.argv] for s in config.servers if s.argv in by_argv}


async def _scan(server: StdioServer, wait: float) -> tuple[ClassifiedTool, ...]:
    with environment(server.env):
        result = await scan_server(server.argv, wait)
    return classify_all(result, classify_tool)


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
