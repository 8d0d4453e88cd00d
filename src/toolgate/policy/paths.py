"""Condition paths: parsing `args.`, `state.`, `identity.`, `tool.` and `time.` paths; reading args.

An argument path is `args.` then dot-separated keys, each optionally followed by array steps:
`[N]` (the N-th element, 0-based) or `[*]` (every element; a condition over such a path holds when
ANY element satisfies it). State paths are split into owner and counter only by the compiler, which
knows which counters exist: tool names may themselves contain dots (`github.create_issue`), so
`state.github.create_issue.n` is resolved against the declared counters instead of at the first
dot as Intercept does. Fact paths (`identity.*`, `tool.risk|category`, `time.hour|weekday|minute`)
read the call's facts rather than its arguments.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

ARGS_PREFIX = "args."
STATE_PREFIX = "state."
GLOBAL_OWNER = "_global"  # the owner of counters declared under the "*" tool entry
FACT_NAMES: dict[str, tuple[str, ...] | None] = {
    "identity": None,  # any attribute: identity.name, identity.<attribute>
    "tool": ("risk", "category"),
    "time": ("hour", "minute", "weekday"),
}
MAX_INDEX = 1_000_000
_SEGMENT = re.compile(r"([^.\[\]]+)((?:\[(?:[0-9]+|\*)\])*)\Z")
_STEP = re.compile(r"\[([0-9]+|\*)\]")


class Missing(enum.Enum):
    """The value of a path that does not exist in the call's arguments."""

    MISSING = "missing"


class Star(enum.Enum):
    """The `[*]` step: every element of a list."""

    STAR = "*"


MISSING = Missing.MISSING
STAR = Star.STAR

#: One step of an argument path: an object key, a list index, or every element.
Step = str | int | Star


class PathError(ValueError):
    """A path string that is not a valid condition path."""


@dataclass(frozen=True, slots=True)
class ArgPath:
    text: str
    parts: tuple[Step, ...]

    @property
    def fans_out(self) -> bool:
        return STAR in self.parts


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


@dataclass(frozen=True, slots=True)
class FactPath:
    """`identity.<attribute>`, `tool.risk|category` or `time.hour|minute|weekday`."""

    text: str
    root: str
    name: str


def parse_path(text: str) -> ArgPath | StatePath | FactPath:
    if text.startswith(ARGS_PREFIX):
        return parse_arg_path(text)
    if text.startswith(STATE_PREFIX):
        path = StatePath(text, text[len(STATE_PREFIX) :])
        if not path.splits():
            raise PathError(f'a state path must look like "state.<tool>.<counter>", got "{text}"')
        return path
    root, _, name = text.partition(".")
    if root in FACT_NAMES:
        allowed = FACT_NAMES[root]
        if not name or (allowed is not None and name not in allowed):
            shown = "<attribute>" if allowed is None else "|".join(allowed)
            raise PathError(f'{root} paths must look like "{root}.{shown}", got "{text}"')
        return FactPath(text, root, name)
    raise PathError(
        f'path must start with "args.", "state.", "identity.", "tool." or "time.", got "{text}"'
    )


def parse_arg_path(text: str) -> ArgPath:
    if not text.startswith(ARGS_PREFIX):
        raise PathError(f'path must start with "args.", got "{text}"')
    parts: list[Step] = []
    for segment in text[len(ARGS_PREFIX) :].split("."):
        if not segment:
            raise PathError(f'path "{text}" has an empty segment')
        match = _SEGMENT.match(segment)
        if match is None:
            raise PathError(
                f'path "{text}": "{segment}" must be a key optionally followed by [N] or [*]'
            )
        parts.append(match.group(1))
        for step in _STEP.findall(match.group(2)):
            if step == "*":
                parts.append(STAR)
            elif int(step) > MAX_INDEX:
                raise PathError(f'path "{text}": index {step} is larger than {MAX_INDEX}')
            else:
                parts.append(int(step))
    return ArgPath(text, tuple(parts))


def resolve(arguments: object, parts: tuple[Step, ...]) -> object:
    """The argument at `parts`, or MISSING when any step is absent or of the wrong kind.

    A `[*]` step is not resolved here (use `resolve_all`); it reads as MISSING.
    """
    current: object = arguments
    for part in parts:
        if part.__class__ is str:
            if not isinstance(current, Mapping):
                return MISSING
            current = current.get(part, MISSING)
            if current is MISSING:
                return MISSING
        elif isinstance(part, int) and isinstance(current, list | tuple) and part < len(current):
            current = current[part]
        else:
            return MISSING
    return current


def resolve_all(arguments: Mapping[str, object], parts: tuple[Step, ...]) -> list[object]:
    """Every value a path with `[*]` steps reaches (an empty list when it reaches none)."""
    values: list[object] = [arguments]
    for part in parts:
        following: list[object] = []
        for value in values:
            if part is STAR:
                if isinstance(value, list | tuple):
                    following.extend(value)
            else:
                found = resolve(value, (part,))
                if found is not MISSING:
                    following.append(found)
        values = following
        if not values:
            break
    return values
