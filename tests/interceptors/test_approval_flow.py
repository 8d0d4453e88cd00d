"""The approval flow (ApprovalDesk) driven through the real enforcement interceptor, with a memory
approval store, a fake clock and a fake client link: queue, hold and inline in both eras, single
use, binding to the call's arguments, expiry, and the audit events of every change."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from tests.audit.test_event_kinds import schema_errors
from tests.interceptors.rig import Rig, answer
from tests.interceptors.rig import build as build_rig

from toolgate.approvals.request_state import SealedState, StateSealer
from toolgate.audit.event import ApprovalEvent
from toolgate.clock import FakeClock
from toolgate.interceptors import approval_flow
from toolgate.interceptors.approval_flow import ApprovalDesk, NoticeKind
from toolgate.interceptors.approval_watch import ApprovalWatcher
from toolgate.jsonrpc.message import Message, parse, result_response
from toolgate.pipeline.types import Deferred, Forward, Outcome, Respond
from toolgate.policy.model import Approvals
from toolgate.stores.approvals import Approval, ApprovalStatus
from toolgate.stores.approvals_memory import MemoryApprovalStore

pytestmark = pytest.mark.anyio

KEY = b"k" * 32
ARGS = {"to": "acme", "amount": 250}
OTHER = {"to": "mallory", "amount": 250}
ELICITING = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
}
MUTE = {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}
ACCEPT = {"action": "accept", "content": {"approve": True}}


def policy(mode: str, *, timeout: str = "10m", wait: str = "30s") -> str:
    return f"""
version: "1"
approvals:
  mode: {mode}
  wait: {wait}
tools:
  pay:
    rules:
      - {{name: human, action: require_approval, on_deny: "payments need a human",
          approval_timeout: {timeout}}}
"""


@dataclass
class FakeLink:
    """The client as a deferred decision sees it: answers toolgate's question with `reply`
    (None: no answer), and keeps what it was asked and told."""

    can_ask: bool = True
    reply: dict[str, Any] | None = None
    error: bool = False
    asked: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)

    async def ask(self, method: str, params: dict[str, Any]) -> Message | None:
        self.asked.append((method, params))
        if self.error:
            data = orjson.dumps({"jsonrpc": "2.0", "id": 1, "error": {"code": -1, "message": "x"}})
        elif self.reply is None:
            return None
        else:
            data = result_response(1, self.reply)
        message = parse(data)
        assert isinstance(message, Message)
        return message

    async def notify(self, data: bytes) -> None:
        self.notes.append(orjson.loads(data))


@dataclass
class Desk:
    rig: Rig
    desk: ApprovalDesk
    store: MemoryApprovalStore
    clock: FakeClock
    watcher: ApprovalWatcher
    notices: list[tuple[NoticeKind, str]]
    next_id: int = 100

    async def call(self, arguments: dict[str, Any], **params: Any) -> Outcome:
        self.next_id += 1
        body = {"name": "pay", "arguments": arguments, **params}
        request = {"jsonrpc": "2.0", "id": self.next_id, "method": "tools/call", "params": body}
        message = parse(orjson.dumps(request))
        assert isinstance(message, Message)

        async def unchanged(_: Message) -> Outcome:
            return Forward()

        return await self.rig.enforcer(message, self.rig.session, unchanged)

    def changes(self) -> list[tuple[str, str]]:
        return [
            (e.change, e.approval_id) for e in self.rig.sink.events if isinstance(e, ApprovalEvent)
        ]

    async def only(self, status: ApprovalStatus | None = None) -> Approval:
        (approval,) = await self.store.list(now=self.clock.now(), status=status)
        return approval

    async def resolve(self, approval_id: str, *, approve: bool, reason: str | None = None) -> None:
        await self.store.resolve(
            approval_id, approve=approve, by="alice", reason=reason, now=self.clock.now()
        )


def build(tmp_path: Path, text: str, *, can_elicit: bool = False) -> Desk:
    rig = build_rig(tmp_path, text)
    clock = rig.enforcer.clock
    assert isinstance(clock, FakeClock)
    store = MemoryApprovalStore()
    notices: list[tuple[NoticeKind, str]] = []

    def announce(kind: NoticeKind, approval: Approval, config: Approvals) -> None:
        notices.append((kind, approval.id))

    watcher = ApprovalWatcher(store, rig.enforcer.audit, clock)
    desk = ApprovalDesk(
        store, StateSealer(KEY, clock), rig.enforcer.audit, clock, announce=announce,
        watcher=watcher,
    )  # fmt: skip
    rig.enforcer.approvals = desk
    if can_elicit:
        rig.session.client_capabilities = {"elicitation": {}}
    return Desk(rig, desk, store, clock, watcher, notices)


def result(outcome: Outcome) -> dict[str, Any]:
    decoded: dict[str, Any] = answer(outcome)["result"]
    return decoded


def text(outcome: Outcome) -> str:
    block: str = result(outcome)["content"][0]["text"]
    return block


def approval_id(outcome: Outcome) -> str:
    meta: str = result(outcome)["_meta"]["dev.toolgate/approval"]["id"]
    return meta


# --- queue -----------------------------------------------------------------------------------


async def test_a_queued_call_is_forwarded_once_after_approval(tmp_path: Path) -> None:
    desk = build(tmp_path, policy("queue"))
    first = await desk.call(ARGS)
    pending = approval_id(first)
    assert text(first).startswith("[APPROVAL REQUIRED] payments need a human: approval id")
    assert result(first)["isError"] is True
    assert isinstance(await desk.call(ARGS), Respond)  # still pending
    await desk.resolve(pending, approve=True)
    assert isinstance(await desk.call(ARGS), Forward)
    used = await desk.store.get(pending, desk.clock.now())
    assert used is not None and used.status is ApprovalStatus.CONSUMED
    again = await desk.call(ARGS)
    assert approval_id(again) != pending
    assert desk.changes() == [
        ("requested", pending),
        ("approved", pending),
        ("consumed", pending),
        ("requested", approval_id(again)),
    ]
    assert desk.notices == [
        ("approval_requested", pending),
        ("approval_requested", approval_id(again)),
    ]


async def test_a_denied_call_is_refused_with_the_approver_and_reason(tmp_path: Path) -> None:
    desk = build(tmp_path, policy("queue"))
    pending = approval_id(await desk.call(ARGS))
    await desk.resolve(pending, approve=False, reason="unknown payee")
    refused = await desk.call(ARGS)
    assert text(refused).startswith(f"[POLICY DENIED] approval {pending} was denied by alice")
    assert "unknown payee" in text(refused)


async def test_an_approval_does_not_cover_other_arguments(tmp_path: Path) -> None:
    desk = build(tmp_path, policy("queue"))
    pending = approval_id(await desk.call(ARGS))
    await desk.resolve(pending, approve=True)
    other = await desk.call(OTHER)
    assert isinstance(other, Respond) and approval_id(other) != pending
    assert isinstance(await desk.call(ARGS), Forward)


async def test_an_unanswered_approval_lapses_and_the_watcher_logs_it(tmp_path: Path) -> None:
    desk = build(tmp_path, policy("queue", timeout="2s"))
    pending = approval_id(await desk.call(ARGS))
    desk.clock.advance(3)
    await desk.watcher.sweep()
    assert ("expired", pending) in desk.changes()
    assert approval_id(await desk.call(ARGS)) != pending


async def test_an_approval_used_after_it_lapsed_is_not_forwarded(tmp_path: Path) -> None:
    desk = build(tmp_path, policy("queue", timeout="2s"))
    pending = approval_id(await desk.call(ARGS))
    await desk.resolve(pending, approve=True)
    desk.clock.advance(3)  # the approved call was not retried in time
    late = await desk.call(ARGS)
    assert isinstance(late, Respond) and approval_id(late) != pending


async def test_simultaneous_retries_of_one_approval_forward_exactly_one(tmp_path: Path) -> None:
    desk = build(tmp_path, policy("queue"))
    pending = approval_id(await desk.call(ARGS))
    await desk.resolve(pending, approve=True)
    outcomes: list[Outcome] = []

    async def retry() -> None:
        outcomes.append(await desk.call(ARGS))

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(retry)
    assert sum(isinstance(o, Forward) for o in outcomes) == 1
    assert [c for c in desk.changes() if c[0] == "consumed"] == [("consumed", pending)]


# --- inline, handshake era -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "error", "forwarded", "said"),
    [
        (ACCEPT, False, True, None),
        ({"action": "accept", "content": {"approve": False}}, False, False, "declined"),
        ({"action": "decline"}, False, False, "the user declined this call"),
        ({"action": "cancel"}, False, False, "dismissed"),
        ({"action": "accept", "content": {"approve": "yes"}}, False, False, "could not be read"),
        ({"surprise": 1}, False, False, "could not be read"),
        (None, True, False, "could not be read"),
        (None, False, False, "no answer to the approval question"),
    ],
)
async def test_an_inline_answer_decides_the_call(
    tmp_path: Path, reply: dict[str, Any] | None, error: bool, forwarded: bool, said: str | None
) -> None:
    desk = build(tmp_path, policy("inline"), can_elicit=True)
    deferred = await desk.call(ARGS)
    assert isinstance(deferred, Deferred)
    link = FakeLink(reply=reply, error=error)
    outcome = await deferred.resolve(link)
    (method, params) = link.asked[0]
    assert method == "elicitation/create"
    assert params["message"].startswith('payments need a human. Allow tool "pay"')
    assert params["requestedSchema"]["required"] == ["approve"]
    assert isinstance(outcome, Forward) is forwarded
    if said is not None:
        assert said in text(outcome)
    kinds = [change for change, _ in desk.changes()]
    if forwarded:
        assert kinds == ["requested", "approved", "consumed"]
    elif reply is None and not error:
        assert kinds == ["requested", "expired"]
    else:
        assert kinds == ["requested", "denied"]
    assert len({approval for _, approval in desk.changes()}) == 1
    assert desk.notices == []  # nobody else needs telling: the client's user answered


async def test_an_inline_call_whose_answer_cannot_travel_is_queued(tmp_path: Path) -> None:
    desk = build(tmp_path, policy("inline"), can_elicit=True)
    deferred = await desk.call(ARGS)
    assert isinstance(deferred, Deferred)
    link = FakeLink(can_ask=False)
    outcome = await deferred.resolve(link)
    assert link.asked == []
    assert (await desk.only()).request.mode == "queue"
    assert text(outcome).startswith("[APPROVAL REQUIRED]")


async def test_an_inline_policy_queues_a_client_that_cannot_elicit(tmp_path: Path) -> None:
    desk = build(tmp_path, policy("inline"))
    outcome = await desk.call(ARGS)
    assert isinstance(outcome, Respond)
    assert (await desk.only()).request.mode == "queue"


# --- inline, 2026-07-28 ----------------------------------------------------------------------


async def ask_modern(desk: Desk, arguments: dict[str, Any] = ARGS) -> str:
    asked = result(await desk.call(arguments, _meta=ELICITING))
    assert asked["resultType"] == "input_required"
    question = asked["inputRequests"]["dev.toolgate/approval"]
    assert question["method"] == "elicitation/create"
    state: str = asked["requestState"]
    return state


def forwarded_params(outcome: Outcome) -> dict[str, Any]:
    assert isinstance(outcome, Forward) and outcome.data is not None
    params: dict[str, Any] = orjson.loads(outcome.data)["params"]
    return params


async def test_a_modern_answer_forwards_the_call_without_toolgates_input(tmp_path: Path) -> None:
    desk = build(tmp_path, policy("inline"))
    state = await ask_modern(desk)
    responses = {"dev.toolgate/approval": ACCEPT, "other/input": {"x": 1}}
    outcome = await desk.call(ARGS, _meta=ELICITING, inputResponses=responses, requestState=state)
    params = forwarded_params(outcome)
    assert params["inputResponses"] == {"other/input": {"x": 1}}
    assert "requestState" not in params and params["arguments"] == ARGS
    replay = await desk.call(ARGS, _meta=ELICITING, inputResponses=responses, requestState=state)
    assert (
        text(replay) == "[POLICY DENIED] this approval answer was already used; a new one is needed"
    )
    assert [c for c, _ in desk.changes()] == ["requested", "approved", "consumed"]


async def test_a_modern_answer_is_bound_to_its_arguments(tmp_path: Path) -> None:
    desk = build(tmp_path, policy("inline"))
    state = await ask_modern(desk)
    moved = await desk.call(
        OTHER, _meta=ELICITING, inputResponses={"dev.toolgate/approval": ACCEPT}, requestState=state
    )
    assert "differs from the call that was approved" in text(moved)


@pytest.mark.parametrize(
    ("state", "why"),
    [
        ("tgs1.", "malformed"),
        ("tgs1.e30.AAAA", "signature"),
        ("tgs1." + "A" * 5000, "malformed"),
    ],
)
async def test_a_garbage_modern_state_is_refused(tmp_path: Path, state: str, why: str) -> None:
    desk = build(tmp_path, policy("inline"))
    outcome = await desk.call(
        ARGS, _meta=ELICITING, inputResponses={"dev.toolgate/approval": ACCEPT}, requestState=state
    )
    assert text(outcome).startswith("[POLICY DENIED] the approval state of this retry is not valid")
    assert why in text(outcome)


async def test_a_modern_state_from_another_key_or_past_its_expiry_is_refused(
    tmp_path: Path,
) -> None:
    desk = build(tmp_path, policy("inline", timeout="2s"))
    state = await ask_modern(desk)
    forged = StateSealer(b"x" * 32, desk.clock).seal(
        SealedState("sha256:whatever", "00" * 16, desk.clock.now() + 60, True, None)
    )
    outcome = await desk.call(ARGS, _meta=ELICITING, requestState=forged)
    assert "signature does not match" in text(outcome)
    desk.clock.advance(3)
    late = await desk.call(
        ARGS, _meta=ELICITING, inputResponses={"dev.toolgate/approval": ACCEPT}, requestState=state
    )
    assert "expired" in text(late)


async def test_a_modern_client_that_cannot_elicit_is_queued(tmp_path: Path) -> None:
    desk = build(tmp_path, policy("inline"))
    outcome = await desk.call(ARGS, _meta=MUTE)
    assert result(outcome)["resultType"] == "complete"
    assert text(outcome).startswith("[APPROVAL REQUIRED]")


async def test_an_approved_calls_upstream_question_is_carried_without_asking_again(
    tmp_path: Path,
) -> None:
    desk = build(tmp_path, policy("inline"))
    state = await ask_modern(desk)
    approved = await desk.call(
        ARGS, _meta=ELICITING, inputResponses={"dev.toolgate/approval": ACCEPT}, requestState=state
    )
    assert isinstance(approved, Forward) and approved.on_response is not None
    upstream_asks = {
        "resultType": "input_required",
        "inputRequests": {"up/q": {"method": "elicitation/create", "params": {"message": "?"}}},
        "requestState": "upstream-state-1",
    }
    response = parse(result_response(desk.next_id, upstream_asks))
    assert isinstance(response, Message)
    rewritten = await approved.on_response(response)
    assert rewritten is not None
    wrapped = orjson.loads(rewritten)["result"]["requestState"]
    assert wrapped.startswith("tgs1.") and wrapped != "upstream-state-1"
    second = await desk.call(
        ARGS, _meta=ELICITING, inputResponses={"up/q": {"action": "accept"}}, requestState=wrapped
    )
    params = forwarded_params(second)
    assert params["requestState"] == "upstream-state-1"
    assert params["inputResponses"] == {"up/q": {"action": "accept"}}


# --- hold --------------------------------------------------------------------------------------


async def test_a_held_call_is_forwarded_once_approved_with_progress_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(approval_flow, "PROGRESS_EVERY", 0.02)
    desk = build(tmp_path, policy("hold"))
    deferred = await desk.call(ARGS, _meta={"progressToken": "tok-1"})
    assert isinstance(deferred, Deferred)
    link = FakeLink()
    outcome: list[Outcome] = []

    async def held() -> None:
        outcome.append(await deferred.resolve(link))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(held)
            while len(link.notes) < 2:  # noqa: ASYNC110 - waiting on the fake link's notes
                await anyio.sleep(0.01)
            await desk.resolve((await desk.only()).id, approve=True)
    assert isinstance(outcome[0], Forward)
    note = link.notes[0]
    assert note["method"] == "notifications/progress"
    assert note["params"]["progressToken"] == "tok-1" and note["params"]["progress"] == 1
    assert (await desk.only()).status is ApprovalStatus.CONSUMED
    assert (await desk.only()).request.mode == "hold"


async def test_a_held_call_without_a_progress_token_gets_no_notifications(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(approval_flow, "PROGRESS_EVERY", 0.02)
    desk = build(tmp_path, policy("hold", wait="200ms"))
    deferred = await desk.call(ARGS)
    assert isinstance(deferred, Deferred)
    link = FakeLink()
    with anyio.fail_after(5):
        outcome = await deferred.resolve(link)
    assert link.notes == []
    assert text(outcome).startswith("[POLICY DENIED] no human answered approval apr_")
    assert "stays open" in text(outcome)
    assert (await desk.only()).status is ApprovalStatus.PENDING


async def test_a_held_call_that_is_denied_says_so(tmp_path: Path) -> None:
    desk = build(tmp_path, policy("hold"))
    deferred = await desk.call(ARGS)
    assert isinstance(deferred, Deferred)
    await desk.resolve((await desk.only()).id, approve=False, reason="freeze")
    with anyio.fail_after(5):
        outcome = await deferred.resolve(FakeLink())
    assert "was denied by alice: freeze" in text(outcome)


# --- audit ---------------------------------------------------------------------------------------


async def test_every_change_is_an_approval_event_of_the_published_shape(tmp_path: Path) -> None:
    desk = build(tmp_path, policy("queue", timeout="2s"))
    used = approval_id(await desk.call(ARGS))
    await desk.resolve(used, approve=True)
    await desk.watcher.sweep()  # logs the approval made elsewhere
    assert isinstance(await desk.call(ARGS), Forward)
    refused = approval_id(await desk.call(OTHER))
    await desk.resolve(refused, approve=False, reason="no")
    await desk.call(OTHER)
    lapsing = approval_id(await desk.call({"to": "later"}))
    desk.clock.advance(1)
    await desk.call({"to": "later"})
    desk.clock.advance(2)
    await desk.watcher.sweep()
    events = [e for e in desk.rig.sink.events if isinstance(e, ApprovalEvent)]
    for event in events:
        assert schema_errors(orjson.loads(event.to_json())) == [], event
    seen = {(e.change, e.approval_id) for e in events}
    assert {("requested", used), ("approved", used), ("consumed", used)} <= seen
    assert {("requested", refused), ("denied", refused), ("requested", lapsing)} <= seen
    assert ("expired", lapsing) in seen
    approved = next(e for e in events if e.change == "approved")
    assert approved.by == "alice"
    # each change is logged once, however many retries met it
    assert len([e for e in events if e.change == "approved"]) == 1
