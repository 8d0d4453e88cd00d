"""Counter reservation latency: memory vs SQLite, store alone and via the Ledger (1 and 3 charges).

Usage: python bench/bench_counters.py [--calls N] [--rounds R] [--dir DIR]

Every contender runs in the same process, interleaved round by round (A B C … A B C …) after a
warm-up, so machine noise hits them alike. Each sample is one awaited reservation that succeeds
(limits are far away), timed with perf_counter_ns. Prints a table of p50/p95/p99 µs per call and
writes bench/results/counters.json. The SQLite file lives in a temporary directory under --dir
(default bench/results/, i.e. the disk the project sits on; /tmp may be a RAM disk).
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import anyio

from toolgate.clock import SystemClock
from toolgate.policy.decision import MINUTE, Bound, Charge, CounterRef
from toolgate.quota.ledger import Ledger
from toolgate.stores.base import BucketKey, CounterStore, ReserveItem
from toolgate.stores.memory import MemoryCounterStore
from toolgate.stores.sqlite import SqliteCounterStore

RESULTS = Path(__file__).parent / "results"
TARGET_US = {"memory": 5.0, "sqlite": 100.0}  # docs/benchmarks.md
FAR = Decimal(10**15)  # a limit no run reaches: every sample is a successful reservation


@dataclass
class Contender:
    backend: str
    level: str  # "store": CounterStore.reserve; "ledger": Ledger.reserve (keys, windows, items)
    charges: int
    call: Callable[[], Awaitable[object]]
    samples: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.backend} {self.level} x{self.charges}"


def charges(count: int) -> list[Charge]:
    return [
        Charge(CounterRef(f"tool{i}", "_rate_minute", MINUTE), Decimal(1), Bound(FAR, False), "r")
        for i in range(count)
    ]


def contenders_for(backend: str, store: CounterStore) -> list[Contender]:
    clock = SystemClock()
    ledger = Ledger(store, f"bench-{backend}", clock)
    item = ReserveItem(BucketKey(f"store-{backend}", MINUTE.start(clock.now()), 60), Decimal(1))
    one, three = charges(1), charges(3)
    return [
        Contender(backend, "store", 1, lambda: store.reserve([item])),
        Contender(backend, "ledger", 1, lambda: ledger.reserve(one)),
        Contender(backend, "ledger", 3, lambda: ledger.reserve(three)),
    ]


async def measure(contender: Contender, calls: int, keep: bool) -> None:
    call, clock = contender.call, time.perf_counter_ns
    for _ in range(calls):
        start = clock()
        await call()
        elapsed = clock() - start
        if keep:
            contender.samples.append(elapsed)


def percentile(sorted_ns: list[int], q: float) -> float:
    index = min(len(sorted_ns) - 1, round(q * (len(sorted_ns) - 1)))
    return sorted_ns[index] / 1000


def summarise(contender: Contender) -> dict[str, object]:
    data = sorted(contender.samples)
    return {
        "name": contender.name,
        "backend": contender.backend,
        "level": contender.level,
        "charges": contender.charges,
        "samples": len(data),
        "p50_us": percentile(data, 0.50),
        "p95_us": percentile(data, 0.95),
        "p99_us": percentile(data, 0.99),
        "mean_us": statistics.fmean(data) / 1000,
        "target_us": TARGET_US[contender.backend],
    }


async def run(calls: int, rounds: int, directory: Path) -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        memory = MemoryCounterStore()
        sqlite = SqliteCounterStore(Path(tmp) / "counters.db")
        contenders = contenders_for("memory", memory) + contenders_for("sqlite", sqlite)
        for contender in contenders:  # warm-up: caches, statement cache, WAL file
            await measure(contender, max(calls // rounds, 200), keep=False)
        for _ in range(rounds):
            for contender in contenders:
                await measure(contender, calls // rounds, keep=True)
        await memory.aclose()
        await sqlite.aclose()
    return [summarise(c) for c in contenders]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="timed calls per contender")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument("--dir", type=Path, default=RESULTS, help="where the SQLite file lives")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    args.dir.mkdir(parents=True, exist_ok=True)
    rows = anyio.run(run, args.calls, args.rounds, args.dir)

    print(f"{'contender':<20} {'p50 µs':>8} {'p95 µs':>8} {'p99 µs':>8} {'target':>8}")
    for row in rows:
        print(
            f"{row['name']:<20} {row['p50_us']:>8.2f} {row['p95_us']:>8.2f} "
            f"{row['p99_us']:>8.2f} {row['target_us']:>8.0f}"
        )
    out = RESULTS / "counters.json"
    report = {
        "benchmark": "counter reservation",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor()},
        "versions": {"python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version},
        "method": {"calls_per_contender": args.calls, "rounds": args.rounds, "interleaved": True},
        "results": rows,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
