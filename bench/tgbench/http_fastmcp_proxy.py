"""PEER, not toolgate: a fastmcp 4.1 proxy serving Streamable HTTP in front of an HTTP upstream.

Usage: python bench/tgbench/http_fastmcp_proxy.py <upstream URL>

The HTTP twin of fastmcp_proxy.py: `fastmcp.server.create_proxy(URL, mode="auto")` (fastmcp
picks its Streamable HTTP client transport for an http URL and discovers the upstream's era),
the same small policy middleware, and fastmcp's own `http_app()` under uvicorn with its
defaults (event-stream answers, stateful sessions). The socket is bound first so that port 0
works; the URL is printed on stderr as `fastmcp-proxy: serving at http://HOST:PORT/mcp`.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import uvicorn
from fastmcp.server import create_proxy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tgbench.fastmcp_proxy import PolicyMiddleware

HOST = "127.0.0.1"
PATH = "/mcp"


def main() -> None:
    if len(sys.argv) != 2 or not sys.argv[1].startswith(("http://", "https://")):
        sys.exit("usage: http_fastmcp_proxy.py <upstream http(s) URL>")
    proxy = create_proxy(sys.argv[1], mode="auto", name="fastmcp-http-proxy")
    proxy.add_middleware(PolicyMiddleware())
    app = proxy.http_app(path=PATH, transport="http")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(2048)
    sock.setblocking(False)
    config = uvicorn.Config(
        app, lifespan="on", log_level="warning", access_log=False, server_header=False
    )
    port = sock.getsockname()[1]
    print(f"fastmcp-proxy: serving at http://{HOST}:{port}{PATH}", file=sys.stderr, flush=True)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
