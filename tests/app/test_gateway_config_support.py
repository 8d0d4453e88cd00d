"""Shared helpers (no tests) for the gateway file tests: write a gateway file and a valid policy
next to it, load it with a controlled environment, read back located errors as plain tuples."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from toolgate.app.gateway_config import GatewayConfig, GatewayConfigError
from toolgate.app.gateway_config_load import load_gateway_config

POLICY = """\
version: "1"
default: deny
tools:
  get_rate:
    rules: []
"""


def write_policy(directory: Path, name: str = "policy.yaml") -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(POLICY)
    return path


def write_gateway(directory: Path, text: str, name: str = "gateway.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def load(
    directory: Path,
    text: str,
    environ: Mapping[str, str] | None = None,
    name: str = "gateway.yaml",
) -> GatewayConfig:
    write_policy(directory)
    env = {"TOOLGATE_HOME": str(directory / "home")} if environ is None else environ
    return load_gateway_config(write_gateway(directory, text, name), env)


def errors(
    directory: Path,
    text: str,
    environ: Mapping[str, str] | None = None,
    name: str = "gateway.yaml",
) -> list[tuple[int, int, str, str]]:
    """(line, column, path, message) of every error loading `text` reports."""
    with pytest.raises(GatewayConfigError) as caught:
        load(directory, text, environ, name)
    return [(e.location.line, e.location.column, e.path, e.message) for e in caught.value.errors]


def only_error(
    directory: Path, text: str, environ: Mapping[str, str] | None = None
) -> tuple[int, int, str, str]:
    found = errors(directory, text, environ)
    assert len(found) == 1, found
    return found[0]


def at(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based (line, column) where `needle` starts in the dedented `text`."""
    source = textwrap.dedent(text)
    index = -1
    for _ in range(occurrence):
        index = source.index(needle, index + 1)
    line = source.count("\n", 0, index) + 1
    return line, index - (source.rfind("\n", 0, index) + 1) + 1
