"""The ApprovalStore contract: the memory, SQLite and Redis stores pass every test here unchanged.

Times come from the fake clock; the store never reads a clock of its own. Waits are bounded by
`anyio.fail_after`; nothing here sleeps.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis.asyncio
from tests.conftest import RedisServer

from toolgate.clock import FakeClock
from toolgate.errors import StoreError
from toolgate.stores.approvals import (
    Approval,
    ApprovalError,
    ApprovalNotFound,
    ApprovalNotPending,
    ApprovalRequest,
    ApprovalStore,
    SelfApprovalError,
)
from toolgate.stores.approvals import ApprovalStatus as Status
from toolgate.stores.approvals_memory import RETENTION_SECONDS, MemoryApprovalStore
from toolgate.stores.approvals_redis import RedisApprovalStore
from toolgate.stores.approvals_sqlite import SqliteApprovalStore

pytestmark = pytest.mark.anyio

TIMEOUT = 300.0  # the requests' timeout_seconds
BOUND = 10.0  # seconds any wait here may take before the test fails
ID_RE = re.compile(r"apr_[0-9a-f]{16}")


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def approvals(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApprovalStore]:
    """Each backend in turn; a new backend joins by adding a branch here."""
    store: ApprovalStore
    if request.param == "memory":
        store = MemoryApprovalStore()
    elif request.param == "sqlite":
        store = SqliteApprovalStore(tmp_path / "approvals.sqlite3")
    else:
        server: RedisServer = request.getfixturevalue("fresh_redis")
        store = RedisApprovalStore(redis.asyncio.Redis(host="127.0.0.1", port=server.port))
    yield store
    await store.aclose()


def ask(
    fingerprint: str = "fp-refund",
    *,
    identity: str | None = "agent-a",
    timeout: float = TIMEOUT,
    arguments: dict[str, Any] | None = None,
) -> ApprovalRequest:
    return ApprovalRequest(
        fingerprint=fingerprint,
        tool="create_refund",
        arguments={"amount": Decimal("12.50"), "order": "A-1"} if arguments is None else arguments,
        rule_id="tools.create_refund.rules[0]",
        rule_name="large refunds",
        policy_revision="rev-1",
        identity=identity,
        server="billing",
        session="sess-1",
        message="refunds over 10 need a human",
        decision_id="dec_0001",
        mode="queue",
        timeout_seconds=timeout,
    )


async def open_one(
    store: ApprovalStore, clock: FakeClock, fingerprint: str = "fp-refund", **kw: Any
) -> Approval:
    approval, created = await store.request(
        ask(fingerprint, **kw), dedupe_seconds=None, now=clock.now()
    )
    assert created
    return approval


async def resolved(
    store: ApprovalStore, clock: FakeClock, outcome: Status, fingerprint: str = "fp-refund"
) -> Approval:
    """A new approval brought to `outcome` (approved, denied, consumed or expired)."""
    approval = await open_one(store, clock, fingerprint)
    if outcome is Status.PENDING:
        return approval
    if outcome is Status.EXPIRED:
        clock.advance(TIMEOUT)
        got = await store.get(approval.id, clock.now())
        assert got is not None
        return got
    approve = outcome is not Status.DENIED
    done = await store.resolve(
        approval.id, approve=approve, by="alice", reason=None, now=clock.now()
    )
    if outcome is Status.CONSUMED:
        used = await store.consume(approval.id, clock.now())
        assert used is not None
        return used
    return done


# -- request: create or join --


async def test_a_new_call_opens_a_pending_approval_that_keeps_the_whole_request(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    approval, created = await approvals.request(ask(), dedupe_seconds=60, now=clock.now())
    assert created
    assert ID_RE.fullmatch(approval.id)
    assert approval.status is Status.PENDING
    assert (approval.created_at, approval.expires_at) == (clock.now(), clock.now() + TIMEOUT)
    assert (approval.resolved_at, approval.resolved_by, approval.reason) == (None, None, None)
    assert approval.consumed_at is None and approval.joined == 0
    assert approval.request == ask()
    assert await approvals.get(approval.id, clock.now()) == approval


async def test_an_identical_request_joins_the_pending_approval_and_is_counted(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    first = await open_one(approvals, clock)
    clock.advance(5)
    second, created = await approvals.request(ask(), dedupe_seconds=60, now=clock.now())
    third, created_again = await approvals.request(ask(), dedupe_seconds=60, now=clock.now())
    assert not created and not created_again
    assert second.id == third.id == first.id
    assert (second.joined, third.joined) == (1, 2)
    stored = await approvals.get(first.id, clock.now())
    assert stored is not None and stored.joined == 2


async def test_a_request_exactly_dedupe_seconds_later_still_joins(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    first = await open_one(approvals, clock)
    clock.advance(60)
    joined, created = await approvals.request(ask(), dedupe_seconds=60, now=clock.now())
    assert not created and joined.id == first.id


async def test_a_pending_approval_older_than_dedupe_seconds_is_not_joined(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    first = await open_one(approvals, clock)
    clock.advance(60.5)
    second, created = await approvals.request(ask(), dedupe_seconds=60, now=clock.now())
    assert created and second.id != first.id
    assert await approvals.current("fp-refund", clock.now()) == second
    older = await approvals.get(first.id, clock.now())
    assert older is not None and older.status is Status.PENDING and older.joined == 0


async def test_without_a_dedupe_window_any_unexpired_pending_approval_is_joined(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    first = await open_one(approvals, clock)
    clock.advance(TIMEOUT - 1)
    joined, created = await approvals.request(ask(), dedupe_seconds=None, now=clock.now())
    assert not created and joined.id == first.id


async def test_a_lapsed_pending_approval_is_not_joined_and_is_marked_expired(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    first = await open_one(approvals, clock)
    clock.advance(TIMEOUT)
    second, created = await approvals.request(ask(), dedupe_seconds=None, now=clock.now())
    assert created and second.id != first.id
    old = await approvals.get(first.id, clock.now())
    assert old is not None and old.status is Status.EXPIRED


async def test_a_resolved_approval_is_not_joined(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    first = await resolved(approvals, clock, Status.APPROVED)
    second, created = await approvals.request(ask(), dedupe_seconds=None, now=clock.now())
    assert created and second.id != first.id


async def test_a_different_fingerprint_gets_its_own_approval(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    one = await open_one(approvals, clock, "fp-one")
    other, created = await approvals.request(ask("fp-two"), dedupe_seconds=60, now=clock.now())
    assert created and other.id != one.id
    assert (await approvals.current("fp-one", clock.now())) == one
    assert (await approvals.current("fp-two", clock.now())) == other


# -- current and expiry --


@pytest.mark.parametrize("outcome", [Status.PENDING, Status.APPROVED, Status.DENIED])
async def test_current_returns_a_pending_approved_or_denied_approval(
    approvals: ApprovalStore, clock: FakeClock, outcome: Status
) -> None:
    approval = await resolved(approvals, clock, outcome)
    assert approval.status is outcome
    assert await approvals.current("fp-refund", clock.now()) == approval


@pytest.mark.parametrize("outcome", [Status.CONSUMED, Status.EXPIRED])
async def test_current_never_returns_a_consumed_or_expired_approval(
    approvals: ApprovalStore, clock: FakeClock, outcome: Status
) -> None:
    approval = await resolved(approvals, clock, outcome)
    assert approval.status is outcome
    assert await approvals.current("fp-refund", clock.now()) is None


async def test_current_is_none_for_a_call_never_asked_about(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    await open_one(approvals, clock, "fp-other")
    assert await approvals.current("fp-unknown", clock.now()) is None


async def test_current_returns_the_newest_of_several_live_approvals(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    older = await resolved(approvals, clock, Status.APPROVED)
    clock.advance(1)
    newer = await open_one(approvals, clock)
    assert older.id != newer.id
    assert await approvals.current("fp-refund", clock.now()) == newer


async def test_current_skips_a_lapsed_newer_one_for_an_older_live_one(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    older = await open_one(approvals, clock, timeout=1000)
    clock.advance(100)  # beyond the dedupe window below: a second approval is opened
    newer, created = await approvals.request(ask(timeout=50), dedupe_seconds=10, now=clock.now())
    assert created
    clock.advance(50)  # the newer one lapses, the older one has 850 s left
    assert await approvals.current("fp-refund", clock.now()) == older
    lapsed = await approvals.get(newer.id, clock.now())
    assert lapsed is not None and lapsed.status is Status.EXPIRED


@pytest.mark.parametrize("outcome", [Status.PENDING, Status.APPROVED, Status.DENIED])
async def test_a_lapsed_approval_reads_as_expired(
    approvals: ApprovalStore, clock: FakeClock, outcome: Status
) -> None:
    approval = await resolved(approvals, clock, outcome)
    clock.advance(TIMEOUT - 0.5)
    still = await approvals.get(approval.id, clock.now())
    assert still is not None and still.status is outcome
    clock.advance(0.5)  # expires_at itself is already past
    lapsed = await approvals.get(approval.id, clock.now())
    assert lapsed is not None and lapsed.status is Status.EXPIRED
    assert lapsed.expires_at == approval.expires_at


@pytest.mark.parametrize("outcome", [Status.PENDING, Status.APPROVED, Status.DENIED])
async def test_expire_returns_each_lapsed_approval_exactly_once(
    approvals: ApprovalStore, clock: FakeClock, outcome: Status
) -> None:
    approval = await resolved(approvals, clock, outcome)
    assert await approvals.expire(clock.now()) == []
    clock.advance(TIMEOUT)
    marked = await approvals.expire(clock.now())
    assert [(a.id, a.status) for a in marked] == [(approval.id, Status.EXPIRED)]
    assert await approvals.expire(clock.now()) == []
    assert [a.status for a in await approvals.list(now=clock.now())] == [Status.EXPIRED]


async def test_expire_marks_every_lapsed_approval_oldest_first_and_leaves_the_rest(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    first = await open_one(approvals, clock, "fp-1", timeout=10)
    clock.advance(1)
    second = await resolved(approvals, clock, Status.APPROVED, "fp-2")
    consumed = await resolved(approvals, clock, Status.CONSUMED, "fp-3")
    lasting = await open_one(approvals, clock, "fp-4", timeout=10_000)
    clock.advance(TIMEOUT + 1)
    marked = await approvals.expire(clock.now())
    assert [a.id for a in marked] == [first.id, second.id]
    assert all(a.status is Status.EXPIRED for a in marked)
    for kept, status in ((consumed, Status.CONSUMED), (lasting, Status.PENDING)):
        now = await approvals.get(kept.id, clock.now())
        assert now is not None and now.status is status


async def test_an_approval_marked_expired_on_a_read_is_not_reported_by_expire_again(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    approval = await open_one(approvals, clock)
    clock.advance(TIMEOUT)
    assert await approvals.current("fp-refund", clock.now()) is None
    got = await approvals.get(approval.id, clock.now())
    assert got is not None and got.status is Status.EXPIRED
    assert await approvals.expire(clock.now()) == []


# -- resolve --


@pytest.mark.parametrize(("approve", "status"), [(True, Status.APPROVED), (False, Status.DENIED)])
async def test_resolving_records_who_why_and_restarts_the_clock(
    approvals: ApprovalStore, clock: FakeClock, approve: bool, status: Status
) -> None:
    approval = await open_one(approvals, clock)
    clock.advance(42.25)
    done = await approvals.resolve(
        approval.id, approve=approve, by="alice", reason="looks fine ✓", now=clock.now()
    )
    assert done.status is status
    assert (done.resolved_at, done.resolved_by, done.reason) == (
        clock.now(),
        "alice",
        "looks fine ✓",
    )
    assert done.expires_at == clock.now() + TIMEOUT
    assert done.created_at == approval.created_at
    assert await approvals.get(approval.id, clock.now()) == done


async def test_a_resolution_without_a_reason_keeps_none(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    approval = await open_one(approvals, clock)
    done = await approvals.resolve(
        approval.id, approve=True, by="bob", reason=None, now=clock.now()
    )
    assert done.reason is None


@pytest.mark.parametrize("second", [True, False])
async def test_resolving_twice_is_refused_as_not_pending(
    approvals: ApprovalStore, clock: FakeClock, second: bool
) -> None:
    approval = await open_one(approvals, clock)
    await approvals.resolve(approval.id, approve=True, by="alice", reason=None, now=clock.now())
    with pytest.raises(ApprovalNotPending, match="approved, not pending") as caught:
        await approvals.resolve(approval.id, approve=second, by="bob", reason=None, now=clock.now())
    assert caught.value.approval.status is Status.APPROVED
    assert caught.value.approval.resolved_by == "alice"


async def test_resolving_a_lapsed_approval_is_refused_and_it_is_marked_expired(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    approval = await open_one(approvals, clock)
    clock.advance(TIMEOUT)
    with pytest.raises(ApprovalNotPending, match="expired") as caught:
        await approvals.resolve(approval.id, approve=True, by="alice", reason=None, now=clock.now())
    assert caught.value.approval.status is Status.EXPIRED
    stored = await approvals.get(approval.id, clock.now())
    assert stored is not None and stored.status is Status.EXPIRED


async def test_resolving_an_unknown_id_is_refused_as_not_found(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    with pytest.raises(ApprovalNotFound, match="apr_0000000000000000"):
        await approvals.resolve(
            "apr_0000000000000000", approve=True, by="alice", reason=None, now=clock.now()
        )


async def test_the_identity_that_asked_cannot_resolve_its_own_request(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    approval = await open_one(approvals, clock, identity="agent-a")
    for approve in (True, False):
        with pytest.raises(SelfApprovalError, match="agent-a"):
            await approvals.resolve(
                approval.id, approve=approve, by="agent-a", reason=None, now=clock.now()
            )
    still = await approvals.get(approval.id, clock.now())
    assert still is not None and still.status is Status.PENDING
    done = await approvals.resolve(
        approval.id, approve=True, by="agent-b", reason=None, now=clock.now()
    )
    assert done.status is Status.APPROVED


async def test_an_anonymous_request_may_be_resolved_by_anyone(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    approval = await open_one(approvals, clock, identity=None)
    done = await approvals.resolve(
        approval.id, approve=False, by="agent-a", reason=None, now=clock.now()
    )
    assert done.status is Status.DENIED and done.request.identity is None


async def test_an_unnamed_approver_is_refused(approvals: ApprovalStore, clock: FakeClock) -> None:
    approval = await open_one(approvals, clock)
    with pytest.raises(ApprovalError, match="name the approver"):
        await approvals.resolve(approval.id, approve=True, by=" ", reason=None, now=clock.now())


# -- consume --


async def test_an_approved_approval_is_consumed_exactly_once(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    approval = await resolved(approvals, clock, Status.APPROVED)
    clock.advance(3)
    used = await approvals.consume(approval.id, clock.now())
    assert used is not None
    assert (used.id, used.status, used.consumed_at) == (approval.id, Status.CONSUMED, clock.now())
    assert used.resolved_by == "alice"
    assert await approvals.consume(approval.id, clock.now()) is None
    assert await approvals.get(approval.id, clock.now()) == used


@pytest.mark.parametrize("outcome", [Status.PENDING, Status.DENIED, Status.EXPIRED])
async def test_only_an_approved_approval_can_be_consumed(
    approvals: ApprovalStore, clock: FakeClock, outcome: Status
) -> None:
    approval = await resolved(approvals, clock, outcome)
    assert await approvals.consume(approval.id, clock.now()) is None
    after = await approvals.get(approval.id, clock.now())
    assert after is not None and after.status is outcome


async def test_an_approval_whose_retry_window_passed_cannot_be_consumed(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    approval = await resolved(approvals, clock, Status.APPROVED)
    clock.advance(TIMEOUT)
    assert await approvals.consume(approval.id, clock.now()) is None
    after = await approvals.get(approval.id, clock.now())
    assert after is not None and after.status is Status.EXPIRED


async def test_consuming_an_unknown_id_gives_none(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    assert await approvals.consume("apr_ffffffffffffffff", clock.now()) is None
    assert await approvals.get("apr_ffffffffffffffff", clock.now()) is None


async def test_simultaneous_consumes_of_one_approval_let_exactly_one_through(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    approval = await resolved(approvals, clock, Status.APPROVED)
    winners: list[Approval] = []

    async def attempt() -> None:
        used = await approvals.consume(approval.id, clock.now())
        if used is not None:
            winners.append(used)

    with anyio.fail_after(BOUND):
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(attempt)
    assert [w.id for w in winners] == [approval.id]


# -- record_answered --


async def test_an_approval_answered_in_band_is_stored_already_consumed(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    recorded = await approvals.record_answered(
        "apr_00000000000000aa", ask(), approved=True, by="user", now=clock.now()
    )
    assert recorded is not None
    assert (recorded.id, recorded.status) == ("apr_00000000000000aa", Status.CONSUMED)
    assert (recorded.resolved_at, recorded.resolved_by, recorded.consumed_at) == (
        clock.now(),
        "user",
        clock.now(),
    )
    assert recorded.request == ask()
    assert await approvals.get(recorded.id, clock.now()) == recorded
    assert await approvals.current("fp-refund", clock.now()) is None
    assert await approvals.consume(recorded.id, clock.now()) is None


async def test_a_denial_answered_in_band_answers_retries_until_it_expires(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    recorded = await approvals.record_answered(
        "apr_00000000000000bb", ask(), approved=False, by="user", now=clock.now()
    )
    assert recorded is not None and recorded.status is Status.DENIED
    assert recorded.consumed_at is None and recorded.expires_at == clock.now() + TIMEOUT
    assert await approvals.current("fp-refund", clock.now()) == recorded
    clock.advance(TIMEOUT)
    assert await approvals.current("fp-refund", clock.now()) is None


@pytest.mark.parametrize("approved", [True, False])
async def test_a_replayed_in_band_answer_is_refused(
    approvals: ApprovalStore, clock: FakeClock, approved: bool
) -> None:
    first = await approvals.record_answered(
        "apr_00000000000000cc", ask(), approved=approved, by="user", now=clock.now()
    )
    assert first is not None
    for again in (True, False):
        replay = await approvals.record_answered(
            "apr_00000000000000cc", ask("fp-else"), approved=again, by="x", now=clock.now()
        )
        assert replay is None
    assert await approvals.get(first.id, clock.now()) == first


async def test_an_in_band_answer_cannot_reuse_the_id_of_a_queued_approval(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    approval = await open_one(approvals, clock)
    replay = await approvals.record_answered(
        approval.id, ask(), approved=True, by="user", now=clock.now()
    )
    assert replay is None
    still = await approvals.get(approval.id, clock.now())
    assert still is not None and still.status is Status.PENDING


# -- wait --


async def test_wait_returns_at_once_for_an_approval_no_longer_pending(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    approval = await resolved(approvals, clock, Status.DENIED)
    with anyio.fail_after(BOUND):
        got = await approvals.wait(approval.id, timeout=3600, now=clock.now())
    assert got == approval


async def test_wait_wakes_when_the_approval_is_resolved_meanwhile(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    approval = await open_one(approvals, clock)
    results: list[Approval | None] = []

    waiting = anyio.Event()

    async def waiter() -> None:
        waiting.set()
        results.append(await approvals.wait(approval.id, timeout=3600, now=clock.now()))

    with anyio.fail_after(BOUND):
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await waiting.wait()  # resolved while (or just before) it waits: either way it wakes
            await approvals.resolve(
                approval.id, approve=True, by="alice", reason="ok", now=clock.now()
            )
    [got] = results
    assert got is not None and got.status is Status.APPROVED and got.reason == "ok"


async def test_several_waiters_on_one_approval_all_wake(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    approval = await open_one(approvals, clock)
    results: list[Approval | None] = []

    started: list[None] = []
    all_waiting = anyio.Event()

    async def waiter() -> None:
        started.append(None)
        if len(started) == 3:
            all_waiting.set()
        results.append(await approvals.wait(approval.id, timeout=3600, now=clock.now()))

    with anyio.fail_after(BOUND):
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(waiter)
            await all_waiting.wait()
            await approvals.resolve(
                approval.id, approve=False, by="alice", reason=None, now=clock.now()
            )
    assert [r.status if r else None for r in results] == [Status.DENIED] * 3


async def test_wait_gives_up_after_its_timeout_with_the_approval_still_pending(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    approval = await open_one(approvals, clock)
    with anyio.fail_after(BOUND):
        got = await approvals.wait(approval.id, timeout=0.05, now=clock.now())
    assert got == approval


async def test_wait_for_an_unknown_approval_gives_none(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    with anyio.fail_after(BOUND):
        assert await approvals.wait("apr_1234567890abcdef", timeout=3600, now=clock.now()) is None


# -- list --


async def test_list_shows_the_newest_first_filtered_by_status_and_limited(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    made: list[Approval] = []
    for n, outcome in enumerate([Status.PENDING, Status.APPROVED, Status.PENDING, Status.DENIED]):
        made.append(await resolved(approvals, clock, outcome, f"fp-{n}"))
        clock.advance(1)
    listed = await approvals.list(now=clock.now())
    assert [a.id for a in listed] == [a.id for a in reversed(made)]
    assert listed == await approvals.list(now=clock.now(), limit=100)
    pending = await approvals.list(now=clock.now(), status=Status.PENDING)
    assert [a.id for a in pending] == [made[2].id, made[0].id]
    assert [a.id for a in await approvals.list(now=clock.now(), limit=2)] == [
        made[3].id,
        made[2].id,
    ]
    one = await approvals.list(now=clock.now(), status=Status.PENDING, limit=1)
    assert [a.id for a in one] == [made[2].id]
    assert await approvals.list(now=clock.now(), status=Status.CONSUMED) == []


async def test_approvals_made_at_the_same_instant_list_in_the_order_they_were_made(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    made = [await open_one(approvals, clock, f"fp-{n}") for n in range(5)]
    listed = await approvals.list(now=clock.now())
    assert [a.id for a in listed] == [a.id for a in reversed(made)]


async def test_list_marks_lapsed_approvals_expired_first(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    short = await open_one(approvals, clock, "fp-short", timeout=5)
    long = await open_one(approvals, clock, "fp-long", timeout=500)
    clock.advance(10)
    expired = await approvals.list(now=clock.now(), status=Status.EXPIRED)
    assert [a.id for a in expired] == [short.id]
    pending = await approvals.list(now=clock.now(), status=Status.PENDING)
    assert [a.id for a in pending] == [long.id]


async def test_an_empty_store_lists_nothing(approvals: ApprovalStore, clock: FakeClock) -> None:
    assert await approvals.list(now=clock.now()) == []
    assert await approvals.expire(clock.now()) == []


# -- arguments --


async def test_arguments_round_trip_exactly_nested_values_and_unicode_included(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    arguments: dict[str, Any] = {
        "amount": Decimal("0.1"),
        "huge": 123456789012345678901234567890,
        "negative": -7,
        "ratio": Decimal("1E+400"),
        "flags": [True, False, None],
        "nested": {"list": [1, {"deeper": ["x", {"empty": {}}]}], "text": "naïve ✓ 日本 🚀"},
        "quotes": 'say "hi"\n\ttab\\',
        "ключ": "значение",
    }
    approval = await open_one(approvals, clock, arguments=arguments)
    assert approval.request.arguments == arguments
    again = await approvals.get(approval.id, clock.now())
    assert again is not None and again.request.arguments == arguments
    listed = await approvals.list(now=clock.now())
    assert listed[0].request.arguments == arguments
    assert isinstance(again.request.arguments["amount"], Decimal)


async def test_arguments_that_are_not_json_are_refused_with_a_store_error(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    for bad in ({"x": {1, 2}}, {"x": object()}, {"x": {1: "non-text key"}}):
        with pytest.raises(StoreError, match="cannot be stored as JSON"):
            await approvals.request(ask(arguments=bad), dedupe_seconds=None, now=clock.now())
    assert await approvals.list(now=clock.now()) == []


# -- garbage in --


@pytest.mark.parametrize("bad_timeout", [float("nan"), float("inf"), -1.0])
async def test_a_request_with_an_unusable_timeout_is_refused(
    approvals: ApprovalStore, clock: FakeClock, bad_timeout: float
) -> None:
    with pytest.raises(ValueError, match="timeout_seconds"):
        await approvals.request(ask(timeout=bad_timeout), dedupe_seconds=None, now=clock.now())


async def test_times_and_bounds_that_are_not_numbers_are_refused(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    with pytest.raises(ValueError, match="now must be"):
        await approvals.get("apr_0000000000000000", float("nan"))
    with pytest.raises(ValueError, match="dedupe_seconds"):
        await approvals.request(ask(), dedupe_seconds=float("nan"), now=clock.now())
    with pytest.raises(ValueError, match="limit"):
        await approvals.list(now=clock.now(), limit=0)
    with pytest.raises(ValueError, match="timeout"):
        await approvals.wait("apr_0000000000000000", timeout=-1, now=clock.now())
    with pytest.raises(ValueError, match="fingerprint"):
        await approvals.request(ask(""), dedupe_seconds=None, now=clock.now())


@pytest.mark.parametrize(
    "bad_id", ["", "apr_", "apr_XYZ0000000000000", "apr_00000000000000000", "x"]
)
async def test_an_in_band_answer_with_a_malformed_id_is_refused(
    approvals: ApprovalStore, clock: FakeClock, bad_id: str
) -> None:
    with pytest.raises(ValueError, match="malformed"):
        await approvals.record_answered(bad_id, ask(), approved=True, by="u", now=clock.now())


async def test_a_closed_store_refuses_every_operation(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    await approvals.aclose()
    with pytest.raises(StoreError, match="closed"):
        await approvals.request(ask(), dedupe_seconds=None, now=clock.now())
    with pytest.raises(StoreError, match="closed"):
        await approvals.consume("apr_0000000000000000", clock.now())


# -- retention (the stores that forget on `expire`; Redis uses key TTLs, see its own tests) --


async def test_finished_approvals_are_forgotten_a_retention_period_after_they_ended(
    approvals: ApprovalStore, clock: FakeClock
) -> None:
    if isinstance(approvals, RedisApprovalStore):
        pytest.skip("Redis forgets by key TTL (real time), tested in test_approvals_redis.py")
    consumed = await resolved(approvals, clock, Status.CONSUMED, "fp-1")  # ends now
    denied = await resolved(approvals, clock, Status.DENIED, "fp-2")  # ends TIMEOUT from now
    clock.advance(RETENTION_SECONDS - 1)
    await approvals.expire(clock.now())
    listed = await approvals.list(now=clock.now())
    assert [(a.id, a.status) for a in listed] == [
        (denied.id, Status.EXPIRED),
        (consumed.id, Status.CONSUMED),
    ]
    clock.advance(1)
    await approvals.expire(clock.now())
    assert await approvals.get(consumed.id, clock.now()) is None
    assert [a.id for a in await approvals.list(now=clock.now())] == [denied.id]
    clock.advance(TIMEOUT)
    await approvals.expire(clock.now())
    assert await approvals.list(now=clock.now()) == []
