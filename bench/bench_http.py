"""toolgate's HTTP gateway side by side with a direct connection and a fastmcp 4.1 proxy.

Starts bench/http_stub_server.py (a fast Streamable HTTP MCP upstream), then `toolgate serve`
(empty and 100-rule policies) and a fastmcp HTTP proxy in front of it, and measures, interleaved:
sequential tools/call latency over one keep-alive connection in both protocol eras (raw JSON-RPC
POSTs with httpx), throughput with 32 clients in flight, the `mcp` SDK client's latency, RSS idle
and with 1,000 open handshake-era sessions, and (with --profile) where toolgate's time goes.
Writes bench/results/http.json and the `## HTTP gateway` section of docs/benchmarks.md.

    .venv/bin/python bench/bench_http.py              the full run (a few minutes)
    .venv/bin/python bench/bench_http.py --profile    … plus a cProfile run of the gateway
    .venv/bin/python bench/bench_http.py --quick      a smoke run (seconds; http-quick.json)
    .venv/bin/python bench/bench_http.py --report-only   regenerate the docs section

No timing is asserted anywhere: the numbers are for reading side by side, not for passing.
"""

from __future__ import annotations

import sys

from tgbench.http_runner import main

if __name__ == "__main__":
    sys.exit(main())
