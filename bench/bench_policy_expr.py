"""CEL `expr:` conditions against equivalent operator conditions: p50 of one `evaluate`.

Usage: python bench/bench_policy_expr.py [--calls N]

Each pair of policies says the same thing, once with operators and once as a CEL expression;
calls alternate between them so machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import statistics
import time

from toolgate.policy import CallFacts, evaluate, load_policy_text

PAIRS = {
    "one comparison": (
        "[{path: args.amount, op: lte, value: 500}]",
        "[{expr: 'args.amount <= 500'}]",
    ),
    "comparison and membership": (
        "[{path: args.amount, op: lte, value: 500}, {path: args.cur, op: in, value: [usd, eur]}]",
        '[{expr: \'args.amount <= 500 && args.cur in ["usd", "eur"]\'}]',
    ),
    "any element of 10": (
        "[{path: 'args.xs[*]', op: gt, value: 8}]",
        "[{expr: 'args.xs.exists(x, x > 8)'}]",
    ),
}
ARGS = {"amount": 100, "cur": "usd", "xs": list(range(10))}


def policy_text(conditions: str) -> str:
    rule = f"      - name: r\n        conditions: {conditions}\n"
    return f'version: "1"\ntools:\n  t:\n    rules:\n{rule}'


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20_000)
    calls = parser.parse_args().calls
    facts = CallFacts("t", ARGS, now=1_767_225_600.0)
    print(f"{'scenario':<28}{'operators p50 µs':>18}{'CEL p50 µs':>14}{'ratio':>8}")
    for name, (ops, cel) in PAIRS.items():
        policies = [load_policy_text(policy_text(p), "bench.yaml") for p in (ops, cel)]
        times: list[list[int]] = [[], []]
        for _ in range(calls):
            for index, compiled in enumerate(policies):
                start = time.perf_counter_ns()
                evaluate(compiled, facts)
                times[index].append(time.perf_counter_ns() - start)
        p50 = [statistics.median(t) / 1000 for t in times]
        print(f"{name:<28}{p50[0]:>18.2f}{p50[1]:>14.2f}{p50[1] / p50[0]:>8.1f}")


if __name__ == "__main__":
    main()
