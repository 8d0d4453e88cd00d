"""The measuring sessions. Each starts every contender as a long-lived process in front of the same
upstream, checks that a call really goes through, then drives them interleaved round by round."""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tgbench.contenders import Contender
from tgbench.policies import MESSAGE
from tgbench.rawclient import RawError, RawProcess
from tgbench.schedule import Plan, Sizes, rotated
from tgbench.sdkclient import SdkEntry, run_sdk_latency

TOOL = "echo"
ARGS = {"message": MESSAGE}
MIB = 2**20


@dataclass
class Slot:
    """One contender in one session."""

    contender: Contender
    argv: list[str]
    proc: RawProcess | None = None
    samples: list[int] = field(default_factory=list)
    error: str | None = None
    rss_idle: int | None = None
    rss_after: int | None = None
    burst_ns: list[int] = field(default_factory=list)
    burst_calls: int = 0
    listing: Any = None  # the first tools/list result
    audit: dict[str, float] | None = None  # toolgate's own timings of the timed calls
    cpu_s: float = 0.0  # CPU the process used during the timed sequential calls
    cpu_calls: int = 0
    burst_cpu_s: float = 0.0  # … and during the pipelined bursts
    burst_error: str | None = None  # the throughput run failed (the latency may still stand)

    def cpu(self) -> float:
        """This process's CPU seconds so far (0 if it cannot be read)."""
        try:
            return self.proc.cpu_seconds() if self.proc is not None else 0.0
        except Exception:
            return 0.0

    @property
    def key(self) -> str:
        return self.contender.key

    @property
    def live(self) -> bool:
        return self.proc is not None and self.error is None


@contextmanager
def quiet_gc() -> Iterator[None]:
    """No collector pauses in the client while a round is timed (collected between rounds)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def start(slots: Sequence[Slot], work: Path, tag: str) -> None:
    env = dict(os.environ)
    for slot in slots:
        stderr = work / f"{tag}-{slot.key}.stderr"
        try:
            slot.proc = RawProcess(slot.argv, stderr, env)
        except OSError as exc:
            slot.error = f"could not start: {exc}"
    for slot in slots:  # they all boot in parallel; handshake one by one
        if slot.proc is None:
            continue
        try:
            slot.listing = slot.proc.handshake()
            slot.proc.check_echo(TOOL, ARGS, MESSAGE)
        except (RawError, OSError, ValueError) as exc:
            slot.error = f"could not start or call: {exc}"[:400]


def stop(slots: Sequence[Slot]) -> None:
    for slot in slots:
        if slot.proc is not None:
            slot.proc.close()


def guarded_calls(slot: Slot, count: int, keep: bool) -> None:
    assert slot.proc is not None
    try:
        samples = slot.proc.timed_calls(count, TOOL, ARGS)
    except (RawError, OSError, ValueError) as exc:
        slot.error = f"failed during the run: {exc}"[:400]
        return
    if keep:
        slot.samples.extend(samples)


def measure_rss(slots: Sequence[Slot], attr: str) -> None:
    for slot in slots:
        if slot.live and slot.proc is not None:
            try:
                setattr(slot, attr, slot.proc.rss_bytes())
            except Exception:  # the process may be gone; then there is nothing to report
                setattr(slot, attr, None)


def raw_session(
    contenders: Sequence[Contender],
    upstream: Sequence[str],
    sizes: Sizes,
    work: Path,
    tag: str,
    throughput: bool,
) -> list[Slot]:
    """Latency (sequential calls), idle RSS and, if asked, pipelined throughput, raw client."""
    slots = [Slot(c, c.build(upstream, work)) for c in contenders]
    try:
        start(slots, work, tag)
        time.sleep(0.5)  # let start-up work settle before reading "idle" memory
        measure_rss(slots, "rss_idle")
        plan = sizes.latency
        for slot in slots:
            if slot.live:
                guarded_calls(slot, plan.warmup, keep=False)
        for index in range(plan.rounds):
            with quiet_gc():
                for slot in rotated([s for s in slots if s.live], index):
                    before = slot.cpu()
                    guarded_calls(slot, plan.per_round, keep=True)
                    slot.cpu_s += slot.cpu() - before
                    slot.cpu_calls += plan.per_round
        measure_rss(slots, "rss_after")
        for slot in slots:  # the check call and the warm-up come first in the log
            slot.audit = audit_timings(slot.argv, skip=1 + plan.warmup)
        if throughput:
            pipelined(slots, sizes.throughput, sizes.depth)
    finally:
        stop(slots)
    return slots


def pipelined(slots: Sequence[Slot], plan: Plan, depth: int) -> None:
    for slot in slots:
        if slot.live and slot.proc is not None:
            try:
                slot.proc.pipelined(plan.warmup, depth, TOOL, ARGS)
            except (RawError, OSError, ValueError) as exc:
                slot.burst_error = f"failed in the throughput warm-up: {exc}"[:400]
    for index in range(plan.rounds):
        with quiet_gc():
            running = [s for s in slots if s.live and s.burst_error is None]
            for slot in rotated(running, index):
                assert slot.proc is not None
                try:
                    before = slot.cpu()
                    slot.burst_ns.append(slot.proc.pipelined(plan.per_round, depth, TOOL, ARGS))
                    slot.burst_cpu_s += slot.cpu() - before
                    slot.burst_calls += plan.per_round
                except (RawError, OSError, ValueError) as exc:
                    slot.burst_error = f"failed in the throughput run: {exc}"[:400]


def sdk_session(
    contenders: Sequence[Contender], upstream: Sequence[str], sizes: Sizes, work: Path, tag: str
) -> list[SdkEntry]:
    entries = [
        SdkEntry(c.key, c.build(upstream, work), work / f"{tag}-{c.key}.stderr") for c in contenders
    ]
    run_sdk_latency(entries, sizes.latency, TOOL, ARGS)
    return entries


# -- tools/list of a 10,000-tool list --------------------------------------------------------------


@dataclass
class ListingRow:
    key: str
    samples: list[int] = field(default_factory=list)
    tools_returned: int | None = None
    preserved: bool | None = None
    note: str = ""
    error: str | None = None


def listing_session(
    contenders: Sequence[Contender],
    hidden: dict[str, frozenset[str]],
    upstream: Sequence[str],
    plan: Plan,
    budget_s: float,
    work: Path,
    tag: str,
) -> list[ListingRow]:
    """Time tools/list (write to last byte) and compare every contender's list with direct's."""
    slots = [Slot(c, c.build(upstream, work)) for c in contenders]
    rows = {c.key: ListingRow(c.key) for c in contenders}
    try:
        start(slots, work, tag)
        reference = next((s.listing for s in slots if s.contender.is_direct and s.live), None)
        for slot in slots:
            if slot.live and slot.proc is not None:
                try:
                    for _ in range(plan.warmup):
                        slot.proc.timed_list()
                except (RawError, OSError, ValueError) as exc:
                    slot.error = f"failed in the warm-up: {exc}"[:400]
        live = [s for s in slots if s.live]
        for index in range(plan.rounds):
            with quiet_gc():
                for slot in rotated(live, index):
                    assert slot.proc is not None
                    spent = 0
                    for _ in range(plan.per_round):
                        try:
                            elapsed, _raw = slot.proc.timed_list()
                        except (RawError, OSError, ValueError) as exc:
                            slot.error = f"failed during the run: {exc}"[:400]
                            break
                        rows[slot.key].samples.append(elapsed)
                        spent += elapsed
                        if spent > budget_s * 1e9:  # slow contenders get fewer samples
                            break
            live = [s for s in live if s.live]
        for slot in slots:
            row = rows[slot.key]
            row.error = slot.error
            if slot.proc is not None and slot.error is None:
                _, raw = slot.proc.timed_list()
                result = orjson.loads(raw)["result"]
                row.tools_returned = len(result.get("tools", []))
                if reference is not None:
                    row.preserved, row.note = compare(
                        reference, result, hidden.get(slot.key, frozenset())
                    )
    finally:
        stop(slots)
    return list(rows.values())


def compare(
    direct: dict[str, Any], got: dict[str, Any], hidden: frozenset[str]
) -> tuple[bool, str]:
    """Whether `got` is `direct` minus the hidden tools, every other field and the order intact."""
    expected = [t for t in direct.get("tools", []) if t.get("name") not in hidden]
    tools = got.get("tools", [])
    notes = []
    others = {k: v for k, v in got.items() if k != "tools"}
    direct_others = {k: v for k, v in direct.items() if k != "tools"}
    if others != direct_others:
        notes.append(f"result keys differ: {sorted(others)} vs {sorted(direct_others)}")
    if len(tools) != len(expected):
        notes.append(f"{len(tools)} tools returned, {len(expected)} expected")
    for mine, theirs in zip(tools, expected, strict=False):
        if mine != theirs:
            added = sorted(set(mine) - set(theirs))
            removed = sorted(set(theirs) - set(mine))
            changed = sorted(k for k in set(mine) & set(theirs) if mine[k] != theirs[k])
            notes.append(
                f"tool {theirs.get('name')!r} altered: added {added}, removed {removed}, "
                f"changed {changed}"
            )
            break
    return not notes, "; ".join(notes)


def audit_timings(argv: Sequence[str], skip: int) -> dict[str, float] | None:
    """p50 of toolgate's own decision_ms / upstream_ms from its audit log (after the first `skip`
    events), if it wrote one. upstream_ms runs from the decision to the upstream's answer."""
    if "--audit-log" not in argv:
        return None
    path = Path(argv[list(argv).index("--audit-log") + 1])
    if not path.exists():
        return None
    decision, upstream = [], []
    for line in path.read_bytes().splitlines()[skip:]:
        event = orjson.loads(line)
        if event.get("type") == "decision" and event.get("tool") == TOOL:
            if isinstance(event.get("decision_ms"), int | float):
                decision.append(float(event["decision_ms"]))
            if isinstance(event.get("upstream_ms"), int | float):
                upstream.append(float(event["upstream_ms"]))
    if not decision:
        return None
    found = {"audit_decision_ms_p50": statistics.median(decision), "audit_events": len(decision)}
    if upstream:
        found["audit_upstream_ms_p50"] = statistics.median(upstream)
    return found


__all__ = [
    "MIB",
    "ListingRow",
    "Slot",
    "audit_timings",
    "listing_session",
    "raw_session",
    "sdk_session",
]
