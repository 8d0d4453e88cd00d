"""The HTTP contenders: how each one is started in front of the HTTP stub's URL.

- direct: the client talks to the stub itself (the limit); nothing is started.
- toolgate: `toolgate serve -c GATEWAY.yaml`, one `url` server named `stub` behind a policy,
  memory counters, the default JSONL audit log under a private home, no authentication.
- fastmcp-proxy: bench/tgbench/http_fastmcp_proxy.py (peer).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from tgbench.paths import HERE, PYTHON

SERVER_NAME = "stub"
MAX_SESSIONS = 5000  # the 1,000-session measure plus every other client's sessions fit


@dataclass(frozen=True)
class HttpContender:
    key: str
    label: str
    kind: str  # "direct", "toolgate" or "peer"
    build: Callable[[str, Path], list[str]] | None  # (upstream URL, work dir) -> argv
    policy: str | None = None
    skip: str | None = None

    @property
    def is_direct(self) -> bool:
        return self.kind == "direct"


def gateway_file(upstream_url: str, policy: Path, home: Path) -> Path:
    """A gateway file serving the stub at /mcp/stub behind `policy`; returns its path."""
    home.mkdir(parents=True, exist_ok=True)
    document = {
        "listen": "127.0.0.1:0",
        "home": str(home),
        "log_level": "warning",
        "state": {"dsn": "memory://"},
        "auth": {"grants": False, "insecure_no_auth": True},
        "http": {"max_sessions": MAX_SESSIONS},
        "servers": {
            SERVER_NAME: {"url": upstream_url, "transport": "streamable", "policy": str(policy)}
        },
    }
    path = home / "gateway.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def toolgate(policy: Path, profile: Path | None = None) -> Callable[[str, Path], list[str]]:
    def build(upstream_url: str, work: Path) -> list[str]:
        config = gateway_file(upstream_url, policy, work / f"home-{policy.stem}")
        runner = [PYTHON, "-m", "cProfile", "-o", str(profile)] if profile else [PYTHON]
        return [*runner, "-m", "toolgate", "serve", "-c", str(config)]

    return build


def fastmcp_proxy(upstream_url: str, _work: Path) -> list[str]:
    return [PYTHON, str(HERE / "http_fastmcp_proxy.py"), upstream_url]


def all_contenders(policies: dict[str, Path]) -> list[HttpContender]:
    fastmcp_missing = importlib.util.find_spec("fastmcp") is None
    return [
        HttpContender("direct", "direct (client → stub)", "direct", None),
        HttpContender(
            "toolgate-empty",
            "toolgate serve, empty policy",
            "toolgate",
            toolgate(policies["empty"]),
            policy="empty",
        ),
        HttpContender(
            "toolgate-100",
            "toolgate serve, 100-rule policy",
            "toolgate",
            toolgate(policies["hundred"]),
            policy="hundred",
        ),
        HttpContender(
            "fastmcp-proxy",
            "fastmcp 4.1 HTTP proxy + middleware (peer)",
            "peer",
            fastmcp_proxy,
            skip="fastmcp is not installed (pip install fastmcp==4.1.2)"
            if fastmcp_missing
            else None,
        ),
    ]
