"""Replica-tagged session ids: their format, which replica an id names, the 404 a replica answers
for another replica's session (both transports), and the throttled warning it logs."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest

from tests.httpface.fakes import (
    BASE_URL,
    HOST,
    DenyTool,
    FakeUpstreams,
    Rig,
    assert_refused,
    initialize,
    single_server_interceptors,
    streaming,
    tool_call,
)
from toolgate.httpface.app import build_app
from toolgate.httpface.guard import FaceLimits
from toolgate.httpface.replica import (
    MisrouteLog,
    misrouted_message,
    new_session_id,
    replica_name_problem,
    tag_of,
)
from toolgate.httpface.served import Face, ServedServer
from toolgate.httpface.sessions import SessionTable
from toolgate.identity.principal import Principal

pytestmark = pytest.mark.anyio

RANDOM_PART = re.compile(r"[A-Za-z0-9_-]{32}")
A_TOKEN = "x" * 32  # a well-formed random part
SSE = {"Accept": "text/event-stream"}
GARBAGE_NAMES = [
    "",
    "-a",
    "A",
    "replica_1",
    "a.b",
    "a b",
    " a",
    "a\n",
    "é",
    "a" * 33,
    "\0",
    "a/b",
    "${HOME}",
    "x" * 10_000,
]


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def table(replica: str | None, misroutes: MisrouteLog | None = None) -> SessionTable:
    return SessionTable(
        FakeUpstreams(),
        lambda _: (),
        max_sessions=10,
        idle_seconds=60.0,
        advertise_tools_list_changed=False,
        replica=replica,
        misroutes=misroutes or MisrouteLog(),
    )


@contextlib.asynccontextmanager
async def replica_face(replica: str | None, misroutes: MisrouteLog) -> AsyncIterator[Rig]:
    """The face with one fake-upstream server whose session ids carry `replica`'s tag."""
    upstreams = FakeUpstreams()
    deny = DenyTool("secret")
    asked: list[Principal | None] = []
    interceptors = single_server_interceptors(deny, asked)
    limits = FaceLimits(hosts=frozenset({HOST}))
    sessions = SessionTable(
        upstreams,
        interceptors,
        max_sessions=limits.max_sessions,
        idle_seconds=limits.session_idle_seconds,
        advertise_tools_list_changed=True,
        replica=replica,
        misroutes=misroutes,
    )
    served = ServedServer("files", upstreams, interceptors, sessions)
    app = build_app({"files": served}, Face(limits))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield Rig(app, "files", upstreams, served, deny, client, asked)


# the id format -----------------------------------------------------------------------------------


def test_a_named_replica_issues_ids_tagged_with_its_name() -> None:
    ids = {new_session_id("gw-2")[0] for _ in range(50)}
    assert len(ids) == 50
    for session_id in ids:
        replica, dot, token = session_id.partition(".")
        assert (replica, dot) == ("gw-2", ".")
        assert RANDOM_PART.fullmatch(token), session_id


def test_an_unnamed_replica_issues_untagged_ids() -> None:
    session_id, token = new_session_id(None)
    assert session_id == token
    assert "." not in session_id
    assert RANDOM_PART.fullmatch(session_id)


async def test_the_table_opens_sessions_under_tagged_ids_it_can_find_again() -> None:
    async with anyio.create_task_group() as tg:
        sessions = table("a")
        sessions.bind(tg)
        entry = await sessions.open(None)
        assert entry.id.startswith("a.")
        assert tag_of(entry.id) == "a"
        assert sessions.get(entry.id) is entry
        assert entry.id not in entry.session.id  # the counter name is not the bearer id
        assert entry.id.split(".", 1)[1][:16] in entry.session.id
        await sessions.aclose()
        tg.cancel_scope.cancel()


# owner_of ----------------------------------------------------------------------------------------


def test_owner_of_names_the_other_replica_of_a_well_formed_id() -> None:
    assert table("b").owner_of(f"a.{A_TOKEN}") == "a"
    assert table("b").owner_of(f"gw-10.{A_TOKEN}") == "gw-10"
    assert table(None).owner_of(f"a.{A_TOKEN}") == "a"  # an unnamed gateway issues none


def test_owner_of_is_none_for_our_own_and_for_untagged_ids() -> None:
    assert table("a").owner_of(f"a.{A_TOKEN}") is None
    assert table("a").owner_of(A_TOKEN) is None
    assert table(None).owner_of(new_session_id(None)[0]) is None


@pytest.mark.parametrize(
    "session_id",
    [
        "",
        ".",
        "a.",
        f".{A_TOKEN}",
        f"A.{A_TOKEN}",
        f"-a.{A_TOKEN}",
        f"{'a' * 33}.{A_TOKEN}",
        f"a.{A_TOKEN}x",
        f"a.{A_TOKEN[:-1]}",
        f"a.{A_TOKEN[:-1]}.",
        f"a.b.{A_TOKEN}",
        f"a.{A_TOKEN[:-1]}=",
        f"é.{A_TOKEN}",
        f"a.{A_TOKEN}\n",
        f" a.{A_TOKEN}",
        "a." + "x" * 100_000,
        "\0" * 40,
    ],
)
def test_owner_of_ignores_malformed_ids(session_id: str) -> None:
    assert table("b").owner_of(session_id) is None


@pytest.mark.parametrize("name", GARBAGE_NAMES)
def test_a_garbage_replica_name_is_refused_with_the_rule(name: str) -> None:
    problem = replica_name_problem(name)
    assert problem is not None
    assert "is not a replica name" in problem
    assert "a-z, 0-9 and -" in problem
    assert len(problem) < 200  # a huge value is cut short


@pytest.mark.parametrize("name", ["a", "0", "gw-1", "a" * 32, "9-"])
def test_a_good_replica_name_passes(name: str) -> None:
    assert replica_name_problem(name) is None


# the 404 for another replica's session ---------------------------------------------------------


async def test_a_session_of_another_replica_gets_404_naming_the_owner() -> None:
    async with replica_face("b", MisrouteLog()) as rig:
        answer = await rig.post(tool_call(1, "echo"), session=f"a.{A_TOKEN}")
    error = assert_refused(answer, 404, says="session not found")
    assert 'replica "a"' in error["message"]
    assert 'replica "b"' in error["message"]
    assert "not routing by the session id prefix" in error["message"]
    assert "docs/deployment.md" in error["message"]
    assert rig.upstreams.sessions == []


async def test_an_unknown_session_of_our_own_or_untagged_gets_the_plain_404() -> None:
    async with replica_face("b", MisrouteLog()) as rig:
        for session_id in (f"b.{A_TOKEN}", A_TOKEN, "a.garbage"):
            answer = await rig.post(tool_call(1, "echo"), session=session_id)
            error = assert_refused(answer, 404, says="session not found")
            assert "replica" not in error["message"], session_id


async def test_a_replicas_own_session_still_works_through_the_face() -> None:
    async with replica_face("b", MisrouteLog()) as rig:
        session_id = await rig.open_session()
        assert session_id.startswith("b.")
        answer = await rig.post(tool_call(2, "echo"), session=session_id)
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["content"][0]["text"] == "called echo"


async def test_legacy_sse_ids_carry_the_tag_and_a_foreign_one_gets_the_named_404() -> None:
    async with replica_face("a", MisrouteLog()) as rig:
        async with streaming(rig.app, "GET", f"{rig.path}/sse", SSE) as stream:
            event = await stream.event()
            endpoint = event.data.decode()
            session_id = parse_qs(urlsplit(endpoint).query)["session_id"][0]
            assert tag_of(session_id) == "a"
            posted = await rig.post(initialize(1), path=endpoint)
            assert posted.status_code == 202, posted.text
        foreign = f"{rig.path}/messages?session_id=c.{A_TOKEN}"
        answer = await rig.post(initialize(1), path=foreign)
    error = assert_refused(answer, 404, says='belongs to replica "c"')
    assert 'this is replica "a"' in error["message"]


def test_the_message_for_an_unnamed_gateway_says_it_has_no_name() -> None:
    text = misrouted_message("a", None)
    assert 'replica "a"' in text
    assert "without a replica name" in text


# the throttled warning ---------------------------------------------------------------------------


async def test_misrouted_requests_are_logged_at_most_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock()
    misroutes = MisrouteLog(clock=clock)
    caplog.set_level(logging.WARNING, logger="toolgate.http")
    async with replica_face("b", misroutes) as rig:
        for _ in range(3):
            await rig.post(tool_call(1, "echo"), session=f"a.{A_TOKEN}")
        clock.now = 59.0
        await rig.post(tool_call(1, "echo"), session=f"a.{A_TOKEN}")
        clock.now = 60.0
        await rig.post(tool_call(1, "echo"), session=f"c.{A_TOKEN}")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings
    assert 'session of replica "a" reached replica "b"' in warnings[0]
    assert "not routing by the session id prefix" in warnings[0]
    assert "more since" not in warnings[0]
    assert 'session of replica "c"' in warnings[1]
    assert "(3 more since the last warning)" in warnings[1]


def test_the_misroute_log_reports_whether_it_logged() -> None:
    clock = ManualClock()
    misroutes = MisrouteLog(every=10.0, clock=clock)
    assert misroutes.note("a", "b") is True
    assert misroutes.note("a", "b") is False
    clock.now = 10.0
    assert misroutes.note("a", None) is True
