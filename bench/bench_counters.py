"""Counter reservation latency: memory vs SQLite vs Redis, store alone and via the Ledger.

Usage: python bench/bench_counters.py [--calls N] [--rounds R] [--dir DIR] [--redis URL]
                                     [--only memory,sqlite,redis]

Every contender runs in the same process, interleaved round by round (A B C … A B C …) after a
warm-up, so machine noise hits them alike. Each sample is one awaited reservation that succeeds
(limits are far away), timed with perf_counter_ns. Prints a table of p50/p95/p99 µs per call and
writes bench/results/counters.json (a run limited with --only writes counters-<backends>.json
instead, so it never replaces the full run's file). The SQLite file lives in a temporary
directory under --dir (default bench/results/, i.e. the disk the project sits on; /tmp may be a
RAM disk).

Redis: against --redis URL, or else a redis-server started here on a free loopback port (no
persistence); without either the Redis rows are left out. A PING on the store's own connection
is measured in the same interleaved rounds, and each Redis row reports `ratio_to_ping` (p50 over
the PING's p50; target <= 1.3: a reservation costs one round trip).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import anyio

from toolgate.clock import SystemClock
from toolgate.policy.decision import MINUTE, Bound, Charge, CounterRef, Window
from toolgate.quota.ledger import Ledger
from toolgate.stores.base import BucketKey, CounterStore, ReserveItem
from toolgate.stores.memory import MemoryCounterStore
from toolgate.stores.redis_counters import RedisCounterStore
from toolgate.stores.sqlite import SqliteCounterStore

RESULTS = Path(__file__).parent / "results"
TARGET_US = {"memory": 5.0, "sqlite": 100.0}  # docs/benchmarks.md
TARGET_PING_RATIO = 1.3  # Redis: a reservation within 1.3x a PING round trip
SLIDING_MINUTE = Window(60, "minute", sliding=True)
BACKENDS = frozenset({"memory", "sqlite", "redis"})
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


def charges(count: int, window: Window = MINUTE) -> list[Charge]:
    return [
        Charge(CounterRef(f"tool{i}", "_rate_minute", window), Decimal(1), Bound(FAR, False), "r")
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


def redis_contenders(store: RedisCounterStore) -> list[Contender]:
    sliding = charges(1, SLIDING_MINUTE)
    ledger = Ledger(store, "bench-redis", SystemClock())
    return [
        Contender("redis", "ping", 0, store.ping),
        *contenders_for("redis", store),
        Contender("redis", "sliding", 1, lambda: ledger.reserve(sliding)),
    ]


@contextmanager
def redis_url(given: str | None, directory: Path) -> Iterator[str | None]:
    """The Redis to measure: `given`, or a redis-server started here, or None without one."""
    if given is not None:
        yield given
        return
    exe = shutil.which("redis-server")
    if exe is None:
        print("redis-server not found: Redis rows left out", file=sys.stderr)
        yield None
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen([*args, "--dir", str(directory)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


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


def summarise(contender: Contender, ping_p50: float | None) -> dict[str, object]:
    data = sorted(contender.samples)
    row: dict[str, object] = {
        "name": contender.name,
        "backend": contender.backend,
        "level": contender.level,
        "charges": contender.charges,
        "samples": len(data),
        "p50_us": percentile(data, 0.50),
        "p95_us": percentile(data, 0.95),
        "p99_us": percentile(data, 0.99),
        "mean_us": statistics.fmean(data) / 1000,
        "target_us": TARGET_US.get(contender.backend),
    }
    if contender.backend == "redis" and ping_p50:
        row["ratio_to_ping"] = percentile(data, 0.50) / ping_p50
        row["target_ratio_to_ping"] = TARGET_PING_RATIO
    return row


async def run(
    calls: int, rounds: int, directory: Path, redis: str | None, only: frozenset[str] = BACKENDS
) -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory(dir=directory) as tmp, redis_url(redis, Path(tmp)) as url:
        memory = MemoryCounterStore()
        sqlite = SqliteCounterStore(Path(tmp) / "counters.db")
        contenders: list[Contender] = []
        if "memory" in only:
            contenders += contenders_for("memory", memory)
        if "sqlite" in only:
            contenders += contenders_for("sqlite", sqlite)
        shared = None if url is None or "redis" not in only else RedisCounterStore(url)
        if shared is not None:
            contenders += redis_contenders(shared)
        for contender in contenders:  # warm-up: caches, statement cache, WAL file
            await measure(contender, max(calls // rounds, 200), keep=False)
        for _ in range(rounds):
            for contender in contenders:
                await measure(contender, calls // rounds, keep=True)
        await memory.aclose()
        await sqlite.aclose()
        if shared is not None:
            await shared.aclose()
    ping = next((c for c in contenders if c.level == "ping"), None)
    ping_p50 = None if ping is None else percentile(sorted(ping.samples), 0.50)
    return [summarise(c, ping_p50) for c in contenders]


def backends(text: str) -> frozenset[str]:
    """`--only`: a comma-separated subset of BACKENDS; anything else is refused by name."""
    chosen = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(chosen - BACKENDS)
    if not chosen or unknown:
        raise argparse.ArgumentTypeError(
            f"--only takes a comma-separated subset of {', '.join(sorted(BACKENDS))}, got {text!r}"
        )
    return chosen


def results_name(only: frozenset[str]) -> str:
    """counters.json for a full run; a partial run gets its own file, never overwriting it."""
    return "counters.json" if only == BACKENDS else f"counters-{'-'.join(sorted(only))}.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="timed calls per contender")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument("--dir", type=Path, default=RESULTS, help="where the SQLite file lives")
    parser.add_argument("--redis", help="a Redis URL to measure (default: start redis-server)")
    parser.add_argument(
        "--only",
        type=backends,
        default=BACKENDS,
        help="comma-separated backends to measure (default: memory,sqlite,redis)",
    )
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    args.dir.mkdir(parents=True, exist_ok=True)
    rows = anyio.run(run, args.calls, args.rounds, args.dir, args.redis, args.only)

    print(f"{'contender':<20} {'p50 µs':>8} {'p95 µs':>8} {'p99 µs':>8} {'target':>8} {'/PING':>6}")
    for row in rows:
        target = row["target_us"]
        shown = f"{target:>8.0f}" if isinstance(target, float) else f"{'x1.3':>8}"
        ratio = row.get("ratio_to_ping")
        print(
            f"{row['name']:<20} {row['p50_us']:>8.2f} {row['p95_us']:>8.2f} "
            f"{row['p99_us']:>8.2f} {shown} "
            + (f"{ratio:>6.2f}" if isinstance(ratio, float) else "")
        )
    out = RESULTS / results_name(args.only)
    report = {
        "benchmark": "counter reservation",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor()},
        "versions": {
            "python": sys.version.split()[0],
            "sqlite": sqlite3.sqlite_version,
            "redis-py": version("redis"),
        },
        "method": {"calls_per_contender": args.calls, "rounds": args.rounds, "interleaved": True},
        "results": rows,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
