"""Counter windows: `minute hour day week`, durations, and `algorithm: fixed | sliding`."""

from __future__ import annotations

import pytest

from tests.quota.gate import gate
from toolgate.policy.windows import WindowError, parse_window

pytestmark = pytest.mark.anyio

MONDAY = 1_767_571_200  # 2026-01-05T00:00:00Z, a Monday
START = 1_767_225_600  # 2026-01-01T00:00:00Z (a Thursday): the fake clock's start


@pytest.mark.parametrize(
    ("text", "seconds", "at", "start"),
    [
        ("minute", 60, START + 61, START + 60),
        ("hour", 3600, START + 3601, START + 3600),
        ("day", 86400, START + 90000, START + 86400),
        ("week", 604800, START, MONDAY - 604800),
        ("week", 604800, MONDAY + 3 * 86400 + 5, MONDAY),
        ("week", 604800, MONDAY - 1, MONDAY - 604800),
        ("90s", 90, 185, 180),
        ("15m", 900, START + 1000, START + 900),
        ("12h", 43200, START + 50000, START + 43200),
        ("2d", 172800, START + 1, START),
        ("1h30m", 5400, 5401, 5400),
    ],
)
def test_fixed_windows_start_at_utc_multiples_and_weeks_on_monday(
    text: str, seconds: int, at: int, start: int
) -> None:
    window = parse_window(text)
    assert (window.seconds, window.start(at)) == (seconds, start)


@pytest.mark.parametrize(
    ("text", "algorithm", "problem"),
    [
        ("fortnight", "fixed", "window must be minute, hour, day, week or a duration"),
        ("0s", "fixed", "between 1s and 366d"),
        ("400d", "fixed", "between 1s and 366d"),
        ("1.5h", "fixed", "a duration"),
        ("minute", "leaky", "algorithm must be fixed or sliding"),
    ],
)
def test_unknown_windows_and_algorithms_are_refused(
    text: str, algorithm: str, problem: str
) -> None:
    with pytest.raises(WindowError, match=problem):
        parse_window(text, algorithm)


@pytest.mark.parametrize(
    ("text", "slice_seconds", "history"),
    [("minute", 6, 10), ("90s", 9, 10), ("7s", 1, 7), ("day", 8640, 10), ("week", 60480, 10)],
)
def test_a_sliding_window_is_counted_in_about_ten_slices(
    text: str, slice_seconds: int, history: int
) -> None:
    window = parse_window(text, "sliding")
    assert (window.bucket_seconds, window.history, window.sliding) == (
        slice_seconds, history, True,
    )  # fmt: skip


async def test_a_duration_window_resets_at_its_epoch_aligned_boundary() -> None:
    g = gate("tools:\n  t:\n    rules:\n      - rate_limit: 2/90s\n")
    g.clock.set(180.0)
    assert await g.calls(3) == ["allow", "allow", "limit"]
    g.clock.set(269.0)
    assert await g.call() == "limit"
    g.clock.set(270.0)
    assert await g.call() == "allow"


async def test_a_weekly_counter_resets_on_monday_midnight_utc() -> None:
    g = gate("tools:\n  t:\n    rules:\n      - rate_limit: {max: 1, window: week}\n")
    g.clock.set(MONDAY - 10.0)
    assert await g.calls(2) == ["allow", "limit"]
    g.clock.set(float(MONDAY))
    assert await g.call() == "allow"


FIXED = "tools:\n  t:\n    rules:\n      - rate_limit: {max: 10, window: minute}\n"
SLIDING = FIXED.replace("minute}", "minute, algorithm: sliding}")


async def test_a_fixed_window_admits_a_double_burst_across_its_boundary() -> None:
    g = gate(FIXED)
    g.clock.set(START + 59.0)
    assert (await g.calls(10)).count("allow") == 10
    g.clock.set(START + 60.0)
    assert (await g.calls(10)).count("allow") == 10  # 20 calls within one second


async def test_a_sliding_window_admits_no_double_burst_across_a_boundary() -> None:
    g = gate(SLIDING)
    g.clock.set(START + 59.0)
    assert (await g.calls(10)).count("allow") == 10
    g.clock.set(START + 60.0)
    assert await g.calls(3) == ["limit"] * 3
    g.clock.set(START + 118.0)  # under a minute after the burst (and within one slice more)
    assert await g.call() == "limit"
    g.clock.set(START + 59.0 + 60 + 6)  # the burst has left the window and its slice
    assert (await g.calls(11)).count("allow") == 10


async def test_a_sliding_window_never_admits_more_than_its_limit_in_any_minute() -> None:
    g = gate(SLIDING)
    admitted: list[float] = []
    for step in range(400):  # one call every 0.7 s for 280 s
        g.clock.set(START + step * 0.7)
        if await g.call() == "allow":
            admitted.append(g.clock.now())
    assert len(admitted) >= 40  # it still admits steadily
    for first in admitted:
        assert sum(1 for t in admitted if first <= t < first + 60) <= 10


async def test_a_sliding_state_counter_is_read_as_its_sliding_sum() -> None:
    g = gate(
        """
        tools:
          t:
            rules:
              - name: cap
                conditions: [{path: state.t.n, op: lte, value: 3}]
                state: {counter: n, window: minute, algorithm: sliding}
        """
    )
    g.clock.set(START + 50.0)
    assert await g.calls(2) == ["allow", "allow"]
    g.clock.set(START + 70.0)
    assert await g.calls(2) == ["allow", "limit"]
