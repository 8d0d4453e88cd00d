"""What the hash chain adds to writing one decision event: plain O_APPEND write vs the chained
JSONL sink (with and without an HMAC key). Prints a table of per-event p50/p99 in microseconds.

Usage: python bench/bench_audit.py [EVENTS]   (default 20000)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from toolgate.audit.event import DecisionEvent
from toolgate.audit.sink import JsonlAuditSink

EVENT = DecisionEvent(
    ts="2026-11-20T23:31:02.123456Z", decision_id="dec_5f0c2a9e", session="ses_1", identity="desk",
    method="tools/call", tool="withdraw", outcome="denied", reason="limit",
    rule="tools.withdraw.rules[0]", rule_name="daily withdrawal cap",
    message="Daily withdrawal limit reached", arg_keys=["address", "amount", "asset"],
    args_hash="sha256:" + "ab" * 32, policy_revision="3f2a9c0d1e4b", mode="enforce",
    decision_ms=0.041, upstream="not_sent", upstream_ms=None,
)  # fmt: skip


def measure(write: Callable[[bytes], None], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter_ns()
        write(EVENT.to_json())
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        fd = os.open(Path(tmp) / "plain.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        rows.append(("unchained write (before)", measure(lambda b: os.write(fd, b + b"\n"), count)))
        os.close(fd)
        for label, key in (("chained sink", None), ("chained sink, HMAC key", b"k" * 32)):
            sink = JsonlAuditSink(Path(tmp) / f"{label}.jsonl", key=key)
            rows.append((label, measure(sink.append, count)))
    base = statistics.median(rows[0][1])
    print(f"{'sink':28} {'p50 µs':>8} {'p99 µs':>8} {'added p50':>10}")
    for label, samples in rows:
        p50 = statistics.median(samples)
        p99 = statistics.quantiles(samples, n=100)[98]
        print(f"{label:28} {p50:8.2f} {p99:8.2f} {p50 - base:10.2f}")


if __name__ == "__main__":
    main()
