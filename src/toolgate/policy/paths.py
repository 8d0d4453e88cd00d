"""Condition paths: parsing `args.<a>.<b>` and `state.<tool|_global>.<counter>`, reading arguments.

A path names either a call argument (nested objects by dots) or a counter. State paths are split
into owner and counter only by the compiler, which knows which counters exist: tool names may
themselves contain dots (`github.create_issue`), so `state.github.create_issue.n` is resolved
against the declared counters instead of at the first dot as Intercept does.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

ARGS_PREFIX = "args."
STATE_PREFIX = "state."
GLOBAL_OWNER = "_global"  # the owner of counters declared under the "*" tool entry


class Missing(enum.Enum):
    """The value of a path that does not exist in the call's arguments."""

    MISSING = "missing"


MISSING = Missing.MISSING


class PathError(ValueError):
    """A path string that is not a valid condition path."""


@dataclass(frozen=True, slots=True)
class ArgPath:
    text: str
    parts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StatePath:
    text: str
    rest: str  # everything after "state."

    def splits(self) -> list[tuple[str, str]]:
        """Every (owner, counter) reading of the path, shortest owner first."""
        pieces = self.rest.split(".")
        return [
            (".".join(pieces[:i]), ".".join(pieces[i:]))
            for i in range(1, len(pieces))
            if all(pieces[:i]) and all(pieces[i:])
        ]


def parse_path(text: str) -> ArgPath | StatePath:
    if text.startswith(ARGS_PREFIX):
        return parse_arg_path(text)
    if text.startswith(STATE_PREFIX):
        path = StatePath(text, text[len(STATE_PREFIX) :])
        if not path.splits():
            raise PathError(f'a state path must look like "state.<tool>.<counter>", got "{text}"')
        return path
    raise PathError(f'path must start with "args." or "state.", got "{text}"')


def parse_arg_path(text: str) -> ArgPath:
    if not text.startswith(ARGS_PREFIX):
        raise PathError(f'path must start with "args.", got "{text}"')
    parts = tuple(text[len(ARGS_PREFIX) :].split("."))
    if not all(parts):
        raise PathError(f'path "{text}" has an empty segment')
    return ArgPath(text, parts)


def resolve(arguments: Mapping[str, object], parts: tuple[str, ...]) -> object:
    """The argument at `parts`, or MISSING when any step is absent or not an object."""
    current: object = arguments
    for part in parts:
        if not isinstance(current, Mapping):
            return MISSING
        current = current.get(part, MISSING)
        if current is MISSING:
            return MISSING
    return current
