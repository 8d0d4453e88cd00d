"""Counter keys: fixed UTC-aligned windows, and keys no counter part can forge."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from toolgate.policy.decision import DAY, HOUR, MINUTE, CounterRef, Window
from toolgate.quota.keys import bucket_key, storage_key


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_calls_at_12_00_59_and_12_01_00_land_in_different_minute_buckets() -> None:
    ref = CounterRef("search", "_rate_minute", MINUTE)
    before = bucket_key("ns", ref, at("2026-03-05T12:00:59.999"))
    after = bucket_key("ns", ref, at("2026-03-05T12:01:00"))
    assert before.key == after.key
    assert before.window_start == at("2026-03-05T12:00:00")
    assert after.window_start == at("2026-03-05T12:01:00")


def test_day_buckets_roll_at_utc_midnight() -> None:
    ref = CounterRef("create_refund", "daily_spend", DAY)
    late = bucket_key("ns", ref, at("2026-03-05T23:59:59"))
    midnight = bucket_key("ns", ref, at("2026-03-06T00:00:00"))
    assert late.window_start == at("2026-03-05T00:00:00")
    assert midnight.window_start == at("2026-03-06T00:00:00")
    assert midnight.window_seconds == 86400


def test_hour_buckets_start_at_the_top_of_the_hour() -> None:
    ref = CounterRef("t", "c", HOUR)
    assert bucket_key("ns", ref, at("2026-03-05T07:59:59")).window_start == at("2026-03-05T07:00")


def test_tool_names_containing_separators_cannot_forge_another_counters_key() -> None:
    honest = CounterRef("a", "b", MINUTE, "identity", "alice")
    forgeries = [
        CounterRef('a","b', "b", MINUTE, "identity", "alice"),
        CounterRef("a:b", "", MINUTE, "identity", "alice"),
        CounterRef('a"', '"b', MINUTE, "identity", "alice"),
        CounterRef("a", 'b",60,"identity","alice', MINUTE),
    ]
    keys = {storage_key("ns", ref) for ref in [honest, *forgeries]}
    assert len(keys) == len(forgeries) + 1


def test_an_absent_part_differs_from_the_string_null() -> None:
    assert storage_key("ns", CounterRef("t", "c", MINUTE)) != storage_key(
        "ns", CounterRef("t", "c", MINUTE, scope_value="null")
    )


def test_namespace_and_window_length_are_part_of_the_key() -> None:
    ref = CounterRef("t", "c", MINUTE)
    assert storage_key("a", ref) != storage_key("b", ref)
    assert storage_key("a", ref) != storage_key("a", CounterRef("t", "c", HOUR))


def test_keys_are_ascii_even_for_non_ascii_and_lone_surrogate_names() -> None:
    key = storage_key("ns", CounterRef("überweisung", "\ud800", MINUTE))
    assert key.isascii()


text = st.text(max_size=8)
refs = st.builds(
    CounterRef,
    owner=text,
    name=text,
    window=st.sampled_from([MINUTE, HOUR, DAY, Window(90, "90s")]),
    scope=st.sampled_from(["global", "identity", "session"]),
    scope_value=st.none() | text,
    key_value=st.none() | text,
)


def identity(namespace: str, ref: CounterRef) -> tuple[object, ...]:
    """What makes a counter itself: windows of equal length are one counter, whatever the name."""
    return (
        namespace,
        ref.owner,
        ref.name,
        ref.window.seconds,
        ref.scope,
        ref.scope_value,
        ref.key_value,
    )


@given(text, refs, text, refs)
def test_two_counters_share_a_key_exactly_when_they_are_the_same_counter(
    ns_a: str, ref_a: CounterRef, ns_b: str, ref_b: CounterRef
) -> None:
    same_key = storage_key(ns_a, ref_a) == storage_key(ns_b, ref_b)
    assert same_key is (identity(ns_a, ref_a) == identity(ns_b, ref_b))


@given(text, refs)
def test_a_counter_always_gets_the_same_key(namespace: str, ref: CounterRef) -> None:
    assert storage_key(namespace, ref) == storage_key(namespace, replace(ref))
