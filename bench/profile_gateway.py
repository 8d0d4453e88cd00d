"""Where does toolgate's time go? Profile the gateway process with cProfile under a benchmark load.

Usage: python bench/profile_gateway.py [--policy empty|hundred|counters|listing] [--calls N]
                                       [--pipelined] [--list-tools N] [--top K] [--out FILE.prof]

Runs `python -m cProfile -m toolgate run …` in front of the in-repo stub, drives it with the raw
JSON-RPC client (sequential calls, 32 in flight with --pipelined, or with --list-tools N that
many tools/list requests of an N-tool list), closes stdin so the gateway
exits and cProfile writes its stats, then prints the functions with the most own time and the
most cumulative time. cProfile slows Python code several-fold and does not see inside uvloop's C
event loop, so read the shares, not the absolute times.
"""

from __future__ import annotations

import argparse
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from tgbench.paths import PYTHON, stub_command
from tgbench.policies import MESSAGE, write_policies
from tgbench.rawclient import RawProcess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--policy", default="hundred", choices=("empty", "hundred", "counters", "listing")
    )
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--pipelined", action="store_true", help="32 calls in flight")
    parser.add_argument("--list-tools", type=int, help="time tools/list of this many tools")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, help="keep the .prof file here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
        work = Path(tmp)
        policy = write_policies(work / "policies")[args.policy]
        prof = args.out or work / "gateway.prof"
        argv = [PYTHON, "-m", "cProfile", "-o", str(prof), "-m", "toolgate", "run"]
        argv += ["-c", str(policy), "--state-dir", str(work / "state")]
        argv += ["--audit-log", str(work / "audit.jsonl")]
        if args.policy != "counters":
            argv += ["--counter-store", "memory://"]
        argv += ["--", *stub_command(args.list_tools or 1)]
        proc = RawProcess(argv, work / "gateway.stderr", dict(os.environ))
        try:
            proc.handshake()
            started = time.perf_counter()
            if args.list_tools:
                for _ in range(args.calls):
                    proc.timed_list()
            elif args.pipelined:
                proc.pipelined(args.calls, 32, "echo", {"message": MESSAGE})
            else:
                proc.timed_calls(args.calls, "echo", {"message": MESSAGE})
            elapsed = time.perf_counter() - started
        finally:
            proc.close(wait=30)
        print(f"{args.calls} calls in {elapsed:.2f} s under the profiler ({args.policy} policy)")
        if not prof.exists():
            sys.exit(f"no profile written; see {work / 'gateway.stderr'}")
        stats = pstats.Stats(str(prof))
        stats.strip_dirs().sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
