"""Accepting and resetting pins, audited: the one logic behind `toolgate pin accept|reset` and
the review page's Accept buttons.

`pin_file_for` finds a server's pin file as `toolgate run` does (its namespace from the command,
or the namespace given). `change_pins` applies accept/reset under the pin file's lock;
`audit_pin_changes` writes one pin event per change to the decision log.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from toolgate.app.settings import RunSettings
from toolgate.audit.event import PinEvent, timestamp
from toolgate.audit.sink import JsonlAuditSink
from toolgate.catalog import pins as logic
from toolgate.catalog.pins import PinChange
from toolgate.catalog.pins_file import PinFile, pin_path

PinVerb = Literal["accept", "reset"]


def pin_file_for(state_dir: Path, command: Sequence[str], namespace: str | None = None) -> PinFile:
    """The pin file `toolgate run --state-dir state_dir -- command` keeps."""
    settings = RunSettings(Path(), tuple(command), state_dir, Path(), namespace=namespace)
    resolved = settings.counter_namespace
    return PinFile(pin_path(state_dir, resolved), resolved)


def change_pins(verb: PinVerb, pins: PinFile, tools: Iterable[str] | None) -> list[PinChange]:
    """Accept (or reset) `tools`, every pinned tool when None; UnknownToolsError names any tool
    without a pin, and nothing is changed then."""
    operation = logic.accept if verb == "accept" else logic.reset
    names = None if tools is None else list(tools)
    return pins.update(lambda book: operation(book, names))


async def audit_pin_changes(
    changes: Sequence[PinChange], namespace: str, audit_log: Path, source: str
) -> None:
    """One pin event per change; `source` says who made it ("cli", "page")."""
    if not changes:
        return
    sink = JsonlAuditSink(audit_log)
    try:
        for change in changes:
            event = PinEvent(
                timestamp(time.time()),
                namespace,
                change.tool,
                change.kind,
                change.old_hash,
                change.new_hash,
                source,
            )
            await sink.emit(event)
    finally:
        await sink.aclose()
