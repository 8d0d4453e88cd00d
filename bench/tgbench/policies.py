"""The policies the toolgate contenders run with, written as YAML files (Dialect A).

- empty: nothing listed, default allow; every call passes with no rule evaluated.
- hundred: a realistic allow-list of 100 rules over 25 tools using every condition operator, with
  eight rules on the called tool (`echo`), all of which the benchmark call passes, so each call is
  really evaluated; counters live in memory (`--counter-store memory://`).
- counters: the called tool carries `rate_limit: 1000000/minute` and a `state` counter with a
  bound, so each call reserves two counters in the default SQLite store.
- listing: hides HIDDEN_COUNT of the stub's filler tools, for the 10,000-tool tools/list run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import yaml

MESSAGE = "benchmark payload 0123456789"  # what every measured echo call sends
HIDDEN_COUNT = 100
LISTING_HIDDEN = [f"tool_{i:05d}" for i in range(50, 50 + HIDDEN_COUNT * 97, 97)]

EMPTY = 'version: "1"\ntools: {}\n'


def cond(path: str, op: str, value: Any) -> dict[str, Any]:
    return {"path": path, "op": op, "value": value}


def echo_rules() -> list[dict[str, Any]]:
    """Eight rules on `echo` that MESSAGE satisfies (string operators: echo has one string arg)."""
    return [
        {"name": "message present", "conditions": [cond("args.message", "exists", True)]},
        {
            "name": "printable text only",
            "conditions": [cond("args.message", "regex", r"^[A-Za-z0-9 .,:;!?'\-]{1,512}$")],
            "on_deny": "only short printable messages may be echoed",
        },
        {
            "name": "no secrets",
            "conditions": [
                cond("args.message", "not_in", ["password", "secret", "api key", "token"])
            ],
        },
        {"name": "not empty", "conditions": [cond("args.message", "neq", "")]},
        {
            "name": "no shell",
            "conditions": [cond("args.message", "regex", r"^(?!.*(rm -rf|sudo |curl )).*$")],
        },
        {"name": "no debug flag", "conditions": [cond("args.debug", "exists", False)]},
        {
            "name": "tagged as benchmark",
            "conditions": [cond("args.message", "regex", "^benchmark ")],
        },
        {
            "name": "known prefix",
            "conditions": [cond("args.message", "contains", "payload")],
        },
    ]


def numeric_tool(index: int) -> list[dict[str, Any]]:
    return [
        {
            "name": f"amount cap {index}",
            "conditions": [
                cond("args.amount", "gt", 0),
                cond("args.amount", "lte", 1000 * (index + 1)),
            ],
        },
        {"name": f"currency {index}", "conditions": [cond("args.currency", "in", ["USD", "EUR"])]},
        {"name": f"minimum {index}", "conditions": [cond("args.quantity", "gte", 1)]},
        {"name": f"maximum {index}", "conditions": [cond("args.quantity", "lt", 500)]},
    ]


def text_tool(index: int) -> list[dict[str, Any]]:
    return [
        {
            "name": f"path scope {index}",
            "conditions": [cond("args.path", "regex", rf"^/srv/data/team{index}/")],
        },
        {"name": f"no parent dirs {index}", "conditions": [cond("args.path", "neq", "..")]},
        {"name": f"mode {index}", "conditions": [cond("args.mode", "eq", "read")]},
        {
            "name": f"labels {index}",
            "conditions": [cond("args.labels", "contains", "reviewed")],
        },
    ]


def hundred_policy() -> dict[str, Any]:
    tools: dict[str, Any] = {"echo": {"rules": echo_rules()}}
    count = len(echo_rules())
    index = 0
    while count < 99:  # the 100th rule is admin_reset's
        rules = numeric_tool(index) if index % 2 == 0 else text_tool(index)
        rules = rules[: 99 - count]
        tools[f"{'payments' if index % 2 == 0 else 'files'}_op_{index:02d}"] = {"rules": rules}
        count += len(rules)
        index += 1
    tools["admin_reset"] = {"rules": [{"name": "never", "action": "deny"}]}
    return {
        "version": "1",
        "description": "benchmark: 100 rules over many tools, every operator",
        "default": "deny",
        "hide": ["internal_debug", "admin_shell", "reset_api_keys"],
        "tools": tools,
    }


def counters_policy() -> dict[str, Any]:
    return {
        "version": "1",
        "description": "benchmark: a rate limit and a state counter on the called tool",
        "tools": {
            "echo": {
                "rules": [
                    {"name": "echo rate", "rate_limit": "1000000/minute"},
                    {
                        "name": "daily echo budget",
                        "conditions": [cond("state.echo.calls", "lt", 1_000_000_000)],
                        "state": {"counter": "calls", "window": "day", "increment": 1},
                    },
                ]
            }
        },
    }


def listing_policy() -> dict[str, Any]:
    return {"version": "1", "hide": LISTING_HIDDEN, "tools": {}}


def rule_count(policy: dict[str, Any]) -> int:
    return sum(len(entry.get("rules", [])) for entry in policy["tools"].values())


def write_policies(directory: Path) -> dict[str, Path]:
    """Write every policy under `directory`; the paths by name."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "empty": EMPTY,
        "hundred": yaml.safe_dump(hundred_policy(), sort_keys=False),
        "counters": yaml.safe_dump(counters_policy(), sort_keys=False),
        "listing": yaml.safe_dump(listing_policy(), sort_keys=False),
    }
    paths = {}
    settled = time.time() - 60
    for name, text in files.items():
        path = directory / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        # toolgate re-reads a policy file modified in the last 2 s on every call (a guard for its
        # hot reload); benchmarks measure the steady state, so the files look a minute old.
        os.utime(path, (settled, settled))
        paths[name] = path
    return paths
