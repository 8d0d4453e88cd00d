"""Every toolgate benchmark in one run: `./dev bench` (or `.venv/bin/python bench/run_all.py`).

Starts each contender (direct, toolgate with three policies, a fastmcp proxy, an SDK relay) as a
long-lived stdio process in front of the same upstream, drives them interleaved with a raw JSON-RPC
client and with the `mcp` SDK client, measures latency, throughput with 32 calls in flight, memory
and 10,000-tool tools/list filtering, folds in the micro-benchmarks, prints a table, writes
bench/results/stdio.json and regenerates the results section of docs/benchmarks.md.

    bench/run_all.py                 the full run (a few minutes)
    bench/run_all.py --quick         a smoke run (seconds; writes bench/results/stdio-quick.json)
    bench/run_all.py --calls 5000    more timed calls per contender
    bench/run_all.py --report-only   regenerate docs/benchmarks.md from bench/results/stdio.json

No timing is asserted anywhere: the numbers are for reading side by side, not for passing.
"""

from __future__ import annotations

import sys

from tgbench.runner import main

if __name__ == "__main__":
    sys.exit(main())
