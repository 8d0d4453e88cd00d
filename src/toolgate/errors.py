"""The exception tree every toolgate layer raises from.

ToolgateError
├── PolicyError                 a policy file could not be loaded
│   └── PolicyValidationError   ... with located errors (file:line:col: path: message)
├── EvaluationError             a call could not be evaluated (fail closed: deny)
├── StoreError                  a counter store failed (fail closed: deny)
├── UpstreamError               the upstream could not be started or reached
└── ConfigError                 bad settings / CLI input
"""

from __future__ import annotations

from dataclasses import dataclass


class ToolgateError(Exception):
    """Base of every error toolgate raises on purpose."""


@dataclass(frozen=True, slots=True)
class Location:
    """Where in a source file something sits; 1-based line and column."""

    file: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class LocatedError:
    """One validation problem: where it is, which policy path, and what is wrong."""

    location: Location
    path: str
    message: str

    def render(self) -> str:
        loc = self.location
        return f"{loc.file}:{loc.line}:{loc.column}: {self.path}: {self.message}"


class PolicyError(ToolgateError):
    """A policy file could not be read or parsed."""


class PolicyValidationError(PolicyError):
    """A policy file has one or more located errors; all of them are carried."""

    def __init__(self, errors: list[LocatedError]) -> None:
        self.errors = errors
        super().__init__("\n".join(e.render() for e in errors))


class EvaluationError(ToolgateError):
    """A call's facts could not be evaluated against the policy."""


class StoreError(ToolgateError):
    """A counter store operation failed."""


class UpstreamError(ToolgateError):
    """The upstream MCP server could not be started or reached."""


class ConfigError(ToolgateError):
    """Settings or command-line input are invalid."""
