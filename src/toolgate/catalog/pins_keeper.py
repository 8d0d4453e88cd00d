"""The pins of one running gateway: the stored book, reloaded when the file changes, and what
this session has listed.

Trust on first use: when the server has no pins at all when the gateway starts, the tools of
the first complete tools/list (every page, up to the one without `nextCursor`) are pinned as
accepted. From then on a tool that is new or whose definition changed is not approved until
`toolgate pin accept`. A pin file that became unreadable while running is reported and left
alone: the last good pins stay in force and are kept in memory only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from toolgate.catalog.pins import Pin, PinBook, PinChange, Verdict, observe, short, verdict
from toolgate.catalog.pins_file import PinFile, PinFileError

log = logging.getLogger("toolgate.pins")


def iso(epoch_seconds: float) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


class PinKeeper:
    def __init__(self, file: PinFile, now: Callable[[], float], *, required: bool = True) -> None:
        """An unreadable pin file raises PinFileError when pinning is `required` (the policy
        enables it); otherwise it is reported, and every tool is unapproved until it is fixed."""
        self.file = file
        self._now = now
        self._stamp = file.stamp()
        try:
            self._book: dict[str, Pin] = file.load()
        except PinFileError as exc:
            if required:
                raise
            log.warning("%s", exc)
            self._book = {}
            self.first_use = False
        else:
            self.first_use = not self._book
        self.current: dict[str, str] = {}  # this session's latest definition of each tool
        self.listed = False

    @property
    def namespace(self) -> str:
        return self.file.namespace

    def book(self) -> PinBook:
        """The pins in force, reloaded when `toolgate pin` changed the file."""
        stamp = self.file.stamp()
        if stamp != self._stamp:
            try:
                self._book = self.file.load()
            except PinFileError as exc:
                log.error("%s; keeping the pins loaded before", exc)
            self._stamp = stamp
        return self._book

    def observe(self, listed: Mapping[str, str], *, last_page: bool) -> list[PinChange]:
        """Record one tools/list page; returns the changes seen for the first time."""
        self.current.update(listed)
        self.listed = True
        trust = self.first_use
        when = iso(self._now())
        book = self.book()
        preview, changes = observe(book, listed, when, trust_new=trust)
        if preview != book:

            def record(stored: dict[str, Pin]) -> tuple[dict[str, Pin], list[PinChange]]:
                updated, found = observe(stored, listed, when, trust_new=trust)
                return updated, found

            try:
                changes = self.file.update(record)
                self._book, self._stamp = self.file.load(), self.file.stamp()
            except PinFileError as exc:
                log.error("%s; pin changes are kept in memory only", exc)
                self._book = preview
        if last_page:
            self.first_use = False
        return changes

    def verdict(self, tool: str) -> Verdict:
        """Whether `tool` may be used now. Before this session has listed tools, the stored pin
        alone decides: a tool is allowed only if its last seen definition was accepted."""
        return verdict(self.book(), tool, self.current.get(tool))


def refusal(found: Verdict, namespace: str) -> str:
    """What the agent (and the person reading its transcript) is told about a blocked tool."""
    command = f"run `toolgate pin accept --namespace {namespace} {found.tool}`"
    if found.state == "changed":
        return (
            f'tool "{found.tool}" changed since it was approved (definition '
            f"{short(found.accepted)} → {short(found.current)}); {command} after reviewing it"
        )
    if found.state == "new":
        return (
            f'tool "{found.tool}" is new since this server\'s tools were approved (definition '
            f"{short(found.current)}); {command} after reviewing it"
        )
    return (
        f'tool "{found.tool}" has no approved definition and was not listed in this session; '
        "list the tools first"
    )
