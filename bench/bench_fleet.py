"""Decisions per second of a fleet of gateway processes sharing one counter store.

Usage: python bench/bench_fleet.py [--calls N] [--depth D] [--gateways 1,2,4] [--redis URL]
                                   [--dir DIR] [--max-seconds S]

For each backend (Redis, then SQLite for contrast) and each fleet size, starts that many
`toolgate run` processes in front of the in-repo stub server, all sharing one store and one
namespace, with a policy whose every call reserves a counter (a limit far away). Each gateway
is driven by its own raw pipelined client (`--depth` calls in flight, in a thread of this
process) for `--calls` calls; decisions/s is the fleet's total calls over the wall time from the
first write to the last answer. Each run is bounded by --max-seconds (the run is abandoned and
reported as such past it). Redis: --redis URL, or a redis-server started here on a free
loopback port (no persistence). Prints a table and writes bench/results/fleet.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tgbench.paths import PYTHON, stub_command
from tgbench.rawclient import RawProcess

RESULTS = Path(__file__).resolve().parent / "results"
POLICY = """
version: "1"
default: deny
tools:
  echo:
    rules:
      - rate_limit: 1000000000/day
"""


@contextmanager
def redis_url(given: str | None) -> Iterator[str | None]:
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
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.02)  # waiting for the server we just started, bounded
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def run_fleet(
    work: Path, dsn: str, gateways: int, calls: int, depth: int, max_seconds: float
) -> dict[str, Any]:
    policy = work / "policy.yaml"
    policy.write_text(POLICY)
    procs: list[RawProcess] = []
    try:
        for index in range(gateways):
            home = work / f"gw-{gateways}-{index}"
            home.mkdir(parents=True)
            argv = [PYTHON, "-m", "toolgate", "run", "-c", str(policy)]
            argv += ["--state-dir", str(home / "state"), "--audit-log", str(home / "audit.jsonl")]
            argv += ["--state-dsn", dsn, "--namespace", "bench", "--", *stub_command()]
            procs.append(RawProcess(argv, home / "stderr.log", dict(os.environ)))
        for proc in procs:
            proc.handshake()
            proc.pipelined(200, depth, "echo", {"message": "warm"})  # warm-up
        errors_before = sum(p.errors for p in procs)
        threads = [
            threading.Thread(
                target=proc.pipelined,
                args=(calls, depth, "echo", {"message": "hello"}),
                daemon=True,
            )
            for proc in procs
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, max_seconds - (time.perf_counter() - started)))
        elapsed = time.perf_counter() - started
        if any(thread.is_alive() for thread in threads):
            return {"gateways": gateways, "abandoned_after_s": round(elapsed, 1)}
        total = calls * gateways
        return {
            "gateways": gateways,
            "calls": total,
            "seconds": round(elapsed, 3),
            "decisions_per_s": round(total / elapsed),
            "refused": sum(p.errors for p in procs) - errors_before,
        }
    finally:
        for proc in procs:
            proc.close(wait=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4000, help="calls per gateway")
    parser.add_argument("--depth", type=int, default=32, help="calls in flight per gateway")
    parser.add_argument("--gateways", default="1,2,4")
    parser.add_argument("--redis", help="a Redis URL to measure (default: start redis-server)")
    parser.add_argument("--dir", type=Path, default=RESULTS, help="where the SQLite file lives")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="bound on each run")
    args = parser.parse_args()
    sizes = [int(n) for n in args.gateways.split(",")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    args.dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    with redis_url(args.redis) as redis, tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        backends: list[tuple[str, str]] = []
        if redis is not None:
            backends.append(("redis", redis))
        for name, _ in [("sqlite", "")]:
            backends.append((name, ""))
        for backend, dsn in backends:
            for size in sizes:
                run_dir = work / f"{backend}-{size}"
                run_dir.mkdir()
                url = dsn or f"sqlite:///{run_dir / 'shared.sqlite3'}"
                if backend == "redis":
                    subprocess.run([PYTHON, "-c", _FLUSH, url], check=True)
                row = run_fleet(run_dir, url, size, args.calls, args.depth, args.max_seconds)
                row["backend"] = backend
                rows.append(row)
                print(json.dumps(row), flush=True)
    base = {r["backend"]: r.get("decisions_per_s") for r in rows if r["gateways"] == sizes[0]}
    print(f"\n| backend | gateways | decisions/s | × {sizes[0]} gateway | refused |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        rate, first = r.get("decisions_per_s"), base.get(r["backend"])
        scale = f"{rate / first:.2f}" if rate and first else "—"
        shown = rate if rate else f"abandoned after {r.get('abandoned_after_s')} s"
        print(f"| {r['backend']} | {r['gateways']} | {shown} | {scale} | {r.get('refused', '—')} |")
    out = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "calls_per_gateway": args.calls,
        "depth": args.depth,
        "rows": rows,
    }
    (RESULTS / "fleet.json").write_text(json.dumps(out, indent=2) + "\n")


_FLUSH = "import redis, sys; redis.Redis.from_url(sys.argv[1]).flushdb()"

if __name__ == "__main__":
    main()
