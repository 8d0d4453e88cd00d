"""How much to measure, and in which order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Plan:
    warmup: int  # untimed calls per contender before the first round
    rounds: int  # interleaved rounds (A B C … then B C … A, and so on)
    per_round: int  # timed calls per contender per round

    @property
    def calls(self) -> int:
        return self.rounds * self.per_round


@dataclass(frozen=True)
class Sizes:
    latency: Plan
    throughput: Plan  # per_round = calls per pipelined burst
    depth: int  # calls in flight for the throughput run
    listing: Plan  # tools/list requests of the big list, per round at most per_round …
    listing_budget_s: float  # … and no more once this much time went on it (at least one)
    listing_tools: int


def sizes(quick: bool, calls: int | None) -> Sizes:
    if quick:
        latency = Plan(warmup=10, rounds=2, per_round=max(1, (calls or 40) // 2))
        return Sizes(latency, Plan(20, 2, 200), 32, Plan(1, 2, 1), 0.1, 1_000)
    rounds = 10
    latency = Plan(warmup=200, rounds=rounds, per_round=max(1, (calls or 2000) // rounds))
    return Sizes(latency, Plan(200, 5, 1000), 32, Plan(1, 10, 5), 0.4, 10_000)


def rotated(items: Sequence[T], index: int) -> list[T]:
    """`items` starting at position `index` (mod len), so no contender always goes first."""
    if not items:
        return []
    shift = index % len(items)
    return [*items[shift:], *items[:shift]]
