"""Policy decision time as policies grow to 10,000 tools: exact names, globs and CEL expressions.

Usage: python bench/bench_policy_scaling.py [--calls N] [--rounds R] [--sizes 10,100,...] [--quick]

For each flavour and size a Dialect A policy is compiled once (its load time is reported), then
single pure `evaluate` calls are timed with perf_counter_ns, scenarios interleaved round by round
after a warm-up so machine noise hits them alike. Every timed call is allowed (fully evaluated).

- exact: N tools by exact name, one operator rule each; the call names the last one.
- glob: N glob keys (`svc<i>_*`), one operator rule each; the call matches the last one. A tool's
  rule set is resolved on its first call and cached (4,096 names), so two rows: `glob, cached`
  (the steady state, the same tool name again) and `glob, first call` (a new tool name every
  call: a scan of every glob key, linear in N).
- cel: N tools by exact name, each with one `expr:` condition (CEL, two arithmetic conversions,
  a comparison and a list membership); the call names the last one.

Target (the issue's): p50 <= 10 µs and flat in the number of tools for exact names. Glob and CEL
rows carry no target: they are reported as they are. Writes bench/results/policy_scaling.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from toolgate.policy import CallFacts, Policy, evaluate, load_policy_text

TARGET_P50_US = 10.0
NOW = 1_767_225_600.0
SIZES = (10, 100, 1_000, 10_000)
RESULTS = Path(__file__).resolve().parent / "results" / "policy_scaling.json"
ARGUMENTS = {"symbol": "BTCUSDT", "side": "BUY", "quantity": 0.25, "price": 64000.5}
CEL = 'double(args.quantity) * double(args.price) <= {limit}.0 && args.side in ["BUY", "SELL"]'


def _operator_rule(index: int) -> str:
    return (
        "    rules:\n"
        f"      - name: size {index}\n"
        f"        conditions: [{{path: args.quantity, op: lte, value: {index + 1}}}]\n"
    )


def _cel_rule(index: int) -> str:
    expr = CEL.format(limit=50_000 + index)
    return f"    rules:\n      - name: cel {index}\n        conditions: [{{expr: '{expr}'}}]\n"


def _document(keys: Iterator[str], rule: Callable[[int], str]) -> str:
    lines = ['version: "1"\n', "default: deny\n", "tools:\n"]
    for index, key in enumerate(keys):
        lines.append(f'  "{key}":\n')
        lines.append(rule(index))
    return "".join(lines)


def _load(text: str) -> tuple[Policy, float]:
    start = time.perf_counter()
    policy = load_policy_text(text, "bench.yaml")
    return policy, (time.perf_counter() - start) * 1000


@dataclass
class Scenario:
    name: str
    flavour: str
    tools: int
    policy: Policy
    load_ms: float
    facts: list[CallFacts]  # cycled through; one entry = the same call every time
    samples: list[int] = field(default_factory=list)

    @property
    def target(self) -> float | None:
        return TARGET_P50_US if self.flavour == "exact" else None


def scenarios(sizes: tuple[int, ...], first_calls: int) -> list[Scenario]:
    built: list[Scenario] = []
    for n in sizes:
        policy, load_ms = _load(_document((f"tool_{i}" for i in range(n)), _operator_rule))
        facts = [CallFacts(f"tool_{n - 1}", ARGUMENTS, NOW)]
        built.append(Scenario(f"exact, {n:,} tools", "exact", n, policy, load_ms, facts))
    for n in sizes:
        text = _document((f"svc{i}_*" for i in range(n)), _operator_rule)
        policy, load_ms = _load(text)
        same = [CallFacts(f"svc{n - 1}_op", ARGUMENTS, NOW)]
        built.append(Scenario(f"glob, cached, {n:,} globs", "glob", n, policy, load_ms, same))
        # A new name per call (more names than the plan cache holds): every call scans N globs.
        # Its own copy of the policy, so its cache churn never evicts the cached row's tool.
        policy, load_ms = _load(text)
        fresh = [CallFacts(f"svc{n - 1}_op{k}", ARGUMENTS, NOW) for k in range(first_calls)]
        built.append(
            Scenario(f"glob, first call, {n:,} globs", "glob-first", n, policy, load_ms, fresh)
        )
    for n in sizes:
        policy, load_ms = _load(_document((f"tool_{i}" for i in range(n)), _cel_rule))
        facts = [CallFacts(f"tool_{n - 1}", ARGUMENTS, NOW)]
        built.append(Scenario(f"cel, {n:,} tools", "cel", n, policy, load_ms, facts))
    return built


def _budget(scenario: Scenario, calls: int) -> int:
    """Calls per round: a first-call glob scan costs O(N), so those rows take fewer samples."""
    if scenario.flavour != "glob-first":
        return calls
    return max(50, min(calls, 2_000_000 // (scenario.tools * 20)))


def run(all_scenarios: list[Scenario], calls: int, rounds: int) -> None:
    clock = time.perf_counter_ns
    for scenario in all_scenarios:  # warm-up; the first-call rows stay cold by construction
        if scenario.flavour != "glob-first":
            for _ in range(2_000):
                evaluate(scenario.policy, scenario.facts[0])
    cursor = dict.fromkeys((s.name for s in all_scenarios), 0)
    gc.disable()
    try:
        for _ in range(rounds):
            for scenario in all_scenarios:
                policy, pool, samples = scenario.policy, scenario.facts, scenario.samples
                at = cursor[scenario.name]
                for _ in range(_budget(scenario, calls)):
                    facts = pool[at % len(pool)]
                    at += 1
                    start = clock()
                    evaluate(policy, facts)
                    samples.append(clock() - start)
                cursor[scenario.name] = at
    finally:
        gc.enable()


def _percentile(samples: list[int], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1000


def rows(all_scenarios: list[Scenario]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for s in all_scenarios:
        row: dict[str, object] = {
            "name": s.name,
            "flavour": s.flavour,
            "tools": s.tools,
            "samples": len(s.samples),
            "p50_us": round(_percentile(s.samples, 0.50), 3),
            "p99_us": round(_percentile(s.samples, 0.99), 3),
            "mean_us": round(statistics.fmean(s.samples) / 1000, 3),
            "load_ms": round(s.load_ms, 1),
        }
        if s.target is not None:
            row["target_us"] = s.target
        out.append(row)
    return out


def flat(found: list[dict[str, object]]) -> bool:
    """Exact names: the largest policy's p50 within 1.5x (or 0.5 µs) of the smallest one's."""
    exact = [float(r["p50_us"]) for r in found if r["flavour"] == "exact"]  # type: ignore[arg-type]
    return bool(exact) and max(exact) <= max(1.5 * min(exact), min(exact) + 0.5)


def report(found: list[dict[str, object]]) -> None:
    print(f"python {platform.python_version()} on {platform.machine()} ({sys.platform})")
    header = f"{'scenario':<32} {'p50 µs':>9} {'p99 µs':>9} {'mean µs':>9} {'load ms':>9}"
    print(header)
    print("-" * len(header))
    for r in found:
        target = r.get("target_us")
        flag = "" if target is None or float(r["p50_us"]) <= float(target) else "  (over target)"  # type: ignore[arg-type]
        print(
            f"{r['name']:<32} {r['p50_us']:>9.2f} {r['p99_us']:>9.2f} {r['mean_us']:>9.2f}"
            f" {r['load_ms']:>9.1f}{flag}"
        )
    verdict = "flat" if flat(found) else "NOT flat"
    print(f"target: p50 <= {TARGET_P50_US:.0f} µs for exact names, flat in tools ({verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2_000, help="calls per scenario per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--quick", action="store_true", help="a smoke run: few calls, no JSON")
    args = parser.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    calls, rounds = (100, 1) if args.quick else (args.calls, args.rounds)
    all_scenarios = scenarios(sizes, first_calls=10_000)
    for scenario in all_scenarios:
        decision = evaluate(scenario.policy, scenario.facts[-1])
        assert decision.allowed, (scenario.name, decision)
    started = time.perf_counter()
    run(all_scenarios, calls, rounds)
    found = rows(all_scenarios)
    report(found)
    if args.quick:
        return
    document = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "method": {
            "calls_per_round": calls,
            "rounds": rounds,
            "interleaved": True,
            "first_call_rows": "a new tool name per call, fewer samples",
            "exact_flat": flat(found),
            "timed_s": round(time.perf_counter() - started, 1),
        },
        "results": found,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(RESULTS.parents[2])}")


if __name__ == "__main__":
    main()
