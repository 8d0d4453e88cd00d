"""Tool-definition pins: what was approved per tool, what was seen since, and the verdict.

Pure: a `PinBook` maps tool names to `Pin`s and every operation returns a new book. A pin keeps
the definition hash the user accepted (None for a tool that was never accepted), the latest hash
seen, and when the tool was first seen. A tool is approved only while its latest definition is
the accepted one; a change is reported once, when a hash is first seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal, TypeAlias

PinState = Literal["accepted", "changed", "new"]
ChangeKind = Literal["pinned", "new", "changed", "accepted", "reset"]


@dataclass(frozen=True, slots=True)
class Pin:
    first_seen: str  # ISO-8601 UTC
    accepted: str | None  # the accepted definition hash; None when never accepted
    latest: str  # the latest definition hash seen
    latest_seen: str

    @property
    def state(self) -> PinState:
        if self.accepted is None:
            return "new"
        return "accepted" if self.accepted == self.latest else "changed"


PinBook: TypeAlias = Mapping[str, Pin]


@dataclass(frozen=True, slots=True)
class PinChange:
    """One change to a tool's pin, as audited."""

    tool: str
    kind: ChangeKind
    old_hash: str | None
    new_hash: str | None


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a tool may be used, and why not (`state` is the reason when it may not)."""

    tool: str
    allowed: bool
    state: PinState | Literal["unknown"]
    accepted: str | None = None
    current: str | None = None


def short(definition: str | None) -> str:
    """`sha256:` and the first 12 hex digits, as shown to people."""
    if definition is None:
        return "none"
    algorithm, _, digest = definition.partition(":")
    return f"{algorithm}:{digest[:12]}…" if digest else definition[:19]


def observe(
    book: PinBook, listed: Mapping[str, str], now: str, *, trust_new: bool
) -> tuple[dict[str, Pin], list[PinChange]]:
    """Record the definitions in one tools/list page. `trust_new` pins tools never seen before
    as accepted (trust on first use); otherwise they are recorded as new and not approved."""
    updated = dict(book)
    changes: list[PinChange] = []
    for tool, definition in listed.items():
        pin = updated.get(tool)
        if pin is None:
            accepted = definition if trust_new else None
            updated[tool] = Pin(now, accepted, definition, now)
            kind: ChangeKind = "pinned" if trust_new else "new"
            changes.append(PinChange(tool, kind, None, definition))
        elif pin.latest != definition:
            updated[tool] = replace(pin, latest=definition, latest_seen=now)
            if definition != pin.accepted:
                changes.append(PinChange(tool, "changed", pin.accepted or pin.latest, definition))
    return updated, changes


def verdict(book: PinBook, tool: str, current: str | None) -> Verdict:
    """May `tool` be used? `current` is its definition hash in this session's latest listing,
    or None when the session has not listed it: then the stored pin alone decides."""
    pin = book.get(tool)
    if pin is None:
        return Verdict(tool, False, "new" if current else "unknown", None, current)
    seen = current or pin.latest
    if pin.accepted is None:
        return Verdict(tool, False, "new", None, seen)
    if pin.accepted != seen:
        return Verdict(tool, False, "changed", pin.accepted, seen)
    return Verdict(tool, True, "accepted", pin.accepted, seen)


class UnknownToolsError(ValueError):
    """Tools named for accept or reset that have no pin."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names


def accept(book: PinBook, tools: Iterable[str] | None) -> tuple[dict[str, Pin], list[PinChange]]:
    """Accept the latest definition of `tools` (every tool when None)."""
    names = list(book) if tools is None else list(dict.fromkeys(tools))
    missing = [name for name in names if name not in book]
    if missing:
        raise UnknownToolsError(missing)
    updated = dict(book)
    changes: list[PinChange] = []
    for name in names:
        pin = book[name]
        if pin.accepted != pin.latest:
            updated[name] = replace(pin, accepted=pin.latest)
            changes.append(PinChange(name, "accepted", pin.accepted, pin.latest))
    return updated, changes


def reset(book: PinBook, tools: Iterable[str] | None) -> tuple[dict[str, Pin], list[PinChange]]:
    """Forget the pins of `tools` (every pin when None)."""
    names = list(book) if tools is None else list(dict.fromkeys(tools))
    missing = [name for name in names if name not in book]
    if missing:
        raise UnknownToolsError(missing)
    updated = {name: pin for name, pin in book.items() if name not in names}
    changes = [PinChange(name, "reset", book[name].accepted, None) for name in names]
    return updated, changes
