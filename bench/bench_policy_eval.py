"""Policy evaluation latency: p50/p99 of `evaluate` as policies grow in rules and tools.

Usage: python bench/bench_policy_eval.py [--calls N] [--rounds R]

Each scenario compiles a Dialect A policy once, then times single `evaluate` calls with
perf_counter_ns, interleaving scenarios round by round after a warm-up so machine noise hits them
alike. The target is a p50 of at most 10 µs that stays flat as the number of tools grows (rules are
indexed by tool name); a tool's own rule count is the only thing evaluation scales with, which the
"100 rules on the called tool" row shows.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from toolgate.policy import CallFacts, CounterRef, Policy, evaluate, load_policy_text
from toolgate.policy.evaluator import counters_needed

TARGET_P50_US = 10.0
NOW = 1_767_225_600.0


def _rule(index: int) -> str:
    return (
        f"      - name: rule {index}\n"
        f"        conditions: [{{path: args.amount, op: lte, value: {1000 + index}}}]\n"
    )


def _policy(tools: int, rules_per_tool: int, extra: str = "") -> Policy:
    lines = ['version: "1"\n', "tools:\n"]
    for tool in range(tools):
        lines.append(f"  tool_{tool}:\n    rules:\n")
        lines.extend(_rule(index) for index in range(rules_per_tool))
        lines.append(extra)
    return load_policy_text("".join(lines), "bench.yaml")


TYPICAL_EXTRA = """\
      - name: hourly
        rate_limit: 100/hour
      - name: spend
        conditions: [{path: state.tool_%d.spend, op: lte, value: 1000000}]
        state: {counter: spend, window: day, increment_from: args.amount}
"""


def _typical(tools: int) -> Policy:
    lines = ['version: "1"\n', "tools:\n"]
    for tool in range(tools):
        lines.append(f"  tool_{tool}:\n    rules:\n")
        lines.append(_rule(0))
        lines.append(TYPICAL_EXTRA % tool)
    return load_policy_text("".join(lines), "bench.yaml")


@dataclass
class Scenario:
    name: str
    policy: Policy
    tools: int
    facts: CallFacts
    samples: list[int] = field(default_factory=list)

    @property
    def rules(self) -> int:
        return self.policy.rule_count


def _facts(policy: Policy, tool: str) -> CallFacts:
    facts = CallFacts(tool, {"amount": 250, "currency": "usd"}, NOW)
    needed: dict[CounterRef, Decimal] = dict.fromkeys(counters_needed(policy, facts), Decimal(7))
    return facts.with_counters(needed)


def scenarios() -> list[Scenario]:
    built = [
        ("1 rule", _policy(1, 1), 1),
        ("100 rules, 100 tools x 1", _policy(100, 1), 100),
        ("100 rules on the called tool", _policy(1, 100), 1),
        ("1,000 tools x 1 rule", _policy(1000, 1), 1000),
        ("1 tool, rate limit + spend", _typical(1), 1),
        ("1,000 tools, rate limit + spend", _typical(1000), 1000),
    ]
    # The called tool is the last one listed: nothing depends on its position.
    return [Scenario(name, p, n, _facts(p, f"tool_{n - 1}")) for name, p, n in built]


def run(all_scenarios: list[Scenario], calls: int, rounds: int) -> None:
    clock: Callable[[], int] = time.perf_counter_ns
    for scenario in all_scenarios:  # warm-up
        for _ in range(2_000):
            evaluate(scenario.policy, scenario.facts)
    gc.disable()
    try:
        for _ in range(rounds):
            for scenario in all_scenarios:
                policy, facts, samples = scenario.policy, scenario.facts, scenario.samples
                for _ in range(calls):
                    start = clock()
                    evaluate(policy, facts)
                    samples.append(clock() - start)
    finally:
        gc.enable()


def _percentile(samples: list[int], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1000


def report(all_scenarios: list[Scenario]) -> None:
    print(f"python {platform.python_version()} on {platform.machine()} ({sys.platform})")
    header = (
        f"{'scenario':<34} {'tools':>6} {'rules':>6} {'p50 µs':>8} {'p99 µs':>8} {'mean µs':>8}"
    )
    print(header)
    print("-" * len(header))
    for s in all_scenarios:
        p50, p99 = _percentile(s.samples, 0.50), _percentile(s.samples, 0.99)
        mean = statistics.fmean(s.samples) / 1000
        flag = "" if p50 <= TARGET_P50_US else "  (over target)"
        print(f"{s.name:<34} {s.tools:>6} {s.rules:>6} {p50:>8.2f} {p99:>8.2f} {mean:>8.2f}{flag}")
    print(f"target: p50 <= {TARGET_P50_US:.0f} µs, flat in the number of tools")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5_000, help="calls per scenario per round")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    all_scenarios = scenarios()
    for scenario in all_scenarios:
        decision = evaluate(scenario.policy, scenario.facts)
        assert decision.allowed, (scenario.name, decision)
    run(all_scenarios, args.calls, args.rounds)
    report(all_scenarios)


if __name__ == "__main__":
    main()
