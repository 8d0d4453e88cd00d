"""The contenders: how each one is started in front of a given upstream command."""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tgbench.paths import HERE, PYTHON

Builder = Callable[[Sequence[str], Path], list[str]]


@dataclass(frozen=True)
class Contender:
    key: str
    label: str
    kind: str  # "direct", "toolgate" or "peer"
    build: Builder  # (upstream command, a fresh private work directory) -> argv
    skip: str | None = None  # why it cannot run here, when it cannot
    policy: str | None = None  # toolgate: which policy file (see policies.py)

    @property
    def is_direct(self) -> bool:
        return self.kind == "direct"


_serial = itertools.count(1)


def toolgate_argv(policy: Path, memory_counters: bool) -> Builder:
    def build(upstream: Sequence[str], work: Path) -> list[str]:
        run = work / f"tg-{next(_serial)}"
        run.mkdir(parents=True, exist_ok=True)
        argv = [PYTHON, "-m", "toolgate", "run", "-c", str(policy)]
        argv += ["--state-dir", str(run / "state"), "--audit-log", str(run / "audit.jsonl")]
        if memory_counters:
            argv += ["--counter-store", "memory://"]
        return [*argv, "--", *upstream]

    return build


def direct(upstream: Sequence[str], _work: Path) -> list[str]:
    return list(upstream)


def script(name: str) -> Builder:
    def build(upstream: Sequence[str], _work: Path) -> list[str]:
        return [PYTHON, str(HERE / name), "--", *upstream]

    return build


def missing(module: str, pin: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return f"{module} is not installed (pip install {pin})"
    return None


def all_contenders(policies: dict[str, Path]) -> list[Contender]:
    return [
        Contender("direct", "direct (client → server)", "direct", direct),
        Contender(
            "toolgate-empty",
            "toolgate, empty policy",
            "toolgate",
            toolgate_argv(policies["empty"], memory_counters=True),
            policy="empty",
        ),
        Contender(
            "toolgate-100",
            "toolgate, 100-rule policy",
            "toolgate",
            toolgate_argv(policies["hundred"], memory_counters=True),
            policy="hundred",
        ),
        Contender(
            "toolgate-sqlite",
            "toolgate, SQLite counters",
            "toolgate",
            toolgate_argv(policies["counters"], memory_counters=False),
            policy="counters",
        ),
        Contender(
            "fastmcp-proxy",
            "fastmcp 4.1 proxy + middleware (peer)",
            "peer",
            script("fastmcp_proxy.py"),
            skip=missing("fastmcp", "fastmcp==4.1.2"),
        ),
        Contender(
            "sdk-relay",
            "mcp SDK Server+Client relay (baseline)",
            "peer",
            script("sdk_relay.py"),
        ),
        Contender(
            "floor-relay",
            "floor: bare uvloop byte relay (baseline)",
            "peer",
            script("floor_relay.py"),
        ),
    ]


def listing_contender(policies: dict[str, Path]) -> Contender:
    return Contender(
        "toolgate-hide100",
        "toolgate, `hide:` list of 100 tool names",
        "toolgate",
        toolgate_argv(policies["listing"], memory_counters=True),
        policy="listing",
    )


NOT_RUN = {
    "mcp-proxy": "mcp-proxy 0.13 (PyPI) requires mcp<2 (the project pins mcp 2.3.0) and bridges "
    "stdio to SSE/Streamable HTTP rather than relaying stdio to stdio; not a stdio contender.",
    "toolgate-redis": "Redis counters are not a counter store of toolgate yet "
    "(--counter-store takes memory:// or sqlite:///PATH).",
}
