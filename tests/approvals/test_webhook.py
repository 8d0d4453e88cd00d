"""The approval webhook against a real HTTP receiver on a loopback port: signed posts, retries
on 5xx/429 and connection errors only, order kept, a bounded queue, never a slowed call."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import orjson
import pytest

from tests.approvals.samples import sample_approval
from tests.e2e.http_servers import Receive, Scope, Send, asgi_server, free_port
from toolgate.approvals.webhook import MAX_BACKOFF, WebhookNotifier, verify_signature
from toolgate.clock import FakeClock
from toolgate.errors import ConfigError

pytestmark = pytest.mark.anyio
SECRET = b"receiver-shared-secret"
WAIT = 20.0


@dataclass
class Post:
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    """An ASGI app that records every request and answers with the scripted statuses (then
    200); with `hang` it never answers until released."""

    statuses: list[int] = field(default_factory=list)
    hang: bool = False
    posts: list[Post] = field(default_factory=list)
    release: anyio.Event = field(default_factory=anyio.Event)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = scope["query_string"].decode("latin-1")
        self.posts.append(Post(scope["path"], query, headers, body))
        if self.hang:
            await self.release.wait()
        status = self.statuses.pop(0) if self.statuses else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[str]:
    async with asgi_server(receiver) as base:
        try:
            yield f"{base}/hooks/toolgate?token=query-secret-token"
        finally:
            receiver.release.set()


@asynccontextmanager
async def working(notifier: WebhookNotifier) -> AsyncIterator[WebhookNotifier]:
    """The notifier with its worker running; stopped and closed on the way out."""
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(notifier.run)
            yield notifier
            tg.cancel_scope.cancel()
    finally:
        await notifier.aclose()


async def until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(WAIT):
        while not condition():  # noqa: ASYNC110 - the worker's counters offer no event
            await anyio.sleep(0.005)  # polling a condition, bounded by fail_after


def settled(notifier: WebhookNotifier, events: int) -> Callable[[], bool]:
    return lambda: notifier.delivered + notifier.failed >= events


def notifier_for(url: str, clock: FakeClock, **options: Any) -> WebhookNotifier:
    options.setdefault("first_backoff", 0.0)
    return WebhookNotifier(url, SECRET, clock, **options)


async def test_an_event_arrives_signed_with_every_field(clock: FakeClock) -> None:
    receiver = Receiver()
    async with receiving(receiver) as url, working(notifier_for(url, clock)) as notifier:
        notifier.submit("approval_requested", sample_approval())
        await until(settled(notifier, 1))
    assert (notifier.delivered, notifier.failed, notifier.dropped) == (1, 0, 0)
    [post] = receiver.posts
    assert post.path == "/hooks/toolgate" and post.query == "token=query-secret-token"
    assert post.headers["content-type"] == "application/json"
    assert post.headers["x-toolgate-event"] == "approval_requested"
    stamp = post.headers["x-toolgate-timestamp"]
    assert stamp == str(int(clock.now()))
    signature = post.headers["x-toolgate-signature"]
    assert verify_signature(SECRET, stamp, post.body, signature, now=clock.now())
    assert not verify_signature(b"other", stamp, post.body, signature, now=clock.now())
    assert not verify_signature(SECRET, stamp, post.body + b" ", signature, now=clock.now())
    body = post.json
    assert body["event"] == "approval_requested"
    assert body["delivery"] == post.headers["x-toolgate-delivery"]
    assert body["sent_at"] == "2026-01-01T00:00:00.000000Z"
    approval = body["approval"]
    assert approval["id"] == "apr_0123456789abcdef" and approval["status"] == "pending"
    assert approval["tool"] == "delete_file" and approval["identity"] == "alice"
    assert approval["arguments"] == {"path": "/srv/data/report.csv", "force": True}
    assert approval["expires_at"] == "2026-01-01T00:05:00.000000Z"


async def test_a_receiver_answering_503_twice_then_200_gets_exactly_three_posts(
    clock: FakeClock,
) -> None:
    receiver = Receiver(statuses=[503, 503, 200])
    async with receiving(receiver) as url, working(notifier_for(url, clock)) as notifier:
        notifier.submit("approval_requested", sample_approval())
        await until(settled(notifier, 1))
    assert (notifier.delivered, notifier.failed) == (1, 0)
    assert len(receiver.posts) == 3
    assert len({p.headers["x-toolgate-delivery"] for p in receiver.posts}) == 1  # one event
    assert len({p.body for p in receiver.posts}) == 1


async def test_a_429_is_retried(clock: FakeClock) -> None:
    receiver = Receiver(statuses=[429])
    async with receiving(receiver) as url, working(notifier_for(url, clock)) as notifier:
        notifier.submit("approval_requested", sample_approval())
        await until(settled(notifier, 1))
    assert (notifier.delivered, len(receiver.posts)) == (1, 2)


async def test_a_receiver_that_keeps_failing_gets_attempts_posts_then_one_warning(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = Receiver(statuses=[500] * 10)
    caplog.set_level(logging.WARNING, logger="toolgate.approvals")
    async with receiving(receiver) as url, working(notifier_for(url, clock, attempts=4)) as n:
        n.submit("approval_requested", sample_approval())
        await until(settled(n, 1))
    assert (n.delivered, n.failed, len(receiver.posts)) == (0, 1, 4)
    [record] = caplog.records
    text = record.getMessage()
    assert "gave up" in text and "after 4 attempt(s)" in text and "HTTP 500" in text
    assert "/hooks/toolgate" in text and "query-secret-token" not in text
    assert SECRET.decode() not in text


@pytest.mark.parametrize("status", [400, 401, 404, 410, 302])
async def test_a_client_error_answer_is_not_retried(clock: FakeClock, status: int) -> None:
    receiver = Receiver(statuses=[status, 200])
    async with receiving(receiver) as url, working(notifier_for(url, clock)) as notifier:
        notifier.submit("approval_requested", sample_approval())
        await until(settled(notifier, 1))
    assert (notifier.delivered, notifier.failed, len(receiver.posts)) == (0, 1, 1)


async def test_a_dead_url_never_slows_submit_and_the_worker_gives_up_after_attempts(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    assert not inspect.iscoroutinefunction(WebhookNotifier.submit)
    tries: list[httpx.Request] = []

    async def count(request: httpx.Request) -> None:
        tries.append(request)

    url = f"http://127.0.0.1:{free_port()}/hook?token=query-secret-token"  # nobody listens
    client = httpx.AsyncClient(event_hooks={"request": [count]})
    notifier = notifier_for(url, clock, attempts=3, client=client)
    caplog.set_level(logging.WARNING, logger="toolgate.approvals")
    notifier.submit("approval_requested", sample_approval())  # sync: returns at once
    assert tries == []  # submitting only queued it: nothing was attempted yet
    try:
        async with working(notifier):
            await until(settled(notifier, 1))
        assert (notifier.delivered, notifier.failed, len(tries)) == (0, 1, 3)
        [record] = caplog.records
        assert "ConnectError" in record.getMessage()
        assert "http://127.0.0.1:" in record.getMessage()
        assert "query-secret-token" not in record.getMessage()
        assert not client.is_closed  # a client passed in is the caller's to close
    finally:
        await client.aclose()


async def test_a_receiver_that_never_answers_is_given_up_on_after_the_timeout(
    clock: FakeClock,
) -> None:
    receiver = Receiver(hang=True)
    async with (
        receiving(receiver) as url,
        working(notifier_for(url, clock, attempts=2, timeout=0.2)) as notifier,
    ):
        notifier.submit("approval_requested", sample_approval())
        await until(settled(notifier, 1))
        assert (notifier.delivered, notifier.failed, len(receiver.posts)) == (0, 1, 2)


async def test_events_are_delivered_one_after_another_in_submission_order(
    clock: FakeClock,
) -> None:
    receiver = Receiver(statuses=[503, 200, 503])
    ids = [f"apr_{n:016x}" for n in range(6)]
    async with receiving(receiver) as url, working(notifier_for(url, clock)) as notifier:
        for approval_id in ids:
            notifier.submit("approval_requested", sample_approval(approval_id))
        await until(settled(notifier, len(ids)))
    assert notifier.delivered == len(ids)
    seen = [p.json["approval"]["id"] for p in receiver.posts]
    assert seen == [ids[0], ids[0], ids[1], ids[1], *ids[2:]]


async def test_a_full_queue_drops_and_counts_and_what_fits_is_delivered(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = Receiver()
    caplog.set_level(logging.WARNING, logger="toolgate.approvals")
    async with receiving(receiver) as url:
        notifier = notifier_for(url, clock, max_queue=2)
        for n in range(5):  # no worker yet: only two fit
            notifier.submit("approval_requested", sample_approval(f"apr_{n:016x}"))
        assert notifier.dropped == 3
        assert "queue is full" in caplog.records[0].getMessage()
        async with working(notifier):
            await until(settled(notifier, 2))
    assert (notifier.delivered, notifier.dropped) == (2, 3)
    assert [p.json["approval"]["id"] for p in receiver.posts] == [
        "apr_0000000000000000",
        "apr_0000000000000001",
    ]


async def test_after_close_submitting_drops_and_counts_without_raising(clock: FakeClock) -> None:
    notifier = notifier_for("http://127.0.0.1:9/hook", clock)
    await notifier.aclose()
    notifier.submit("approval_resolved", sample_approval())
    assert notifier.dropped == 1


async def test_closing_counts_events_still_queued_as_dropped(clock: FakeClock) -> None:
    notifier = notifier_for("http://127.0.0.1:9/hook", clock)
    notifier.submit("approval_requested", sample_approval("apr_0000000000000001"))
    notifier.submit("approval_requested", sample_approval("apr_0000000000000002"))
    await notifier.aclose()
    assert (notifier.dropped, notifier.delivered, notifier.failed) == (2, 0, 0)


async def test_closing_an_idle_notifier_ends_its_worker_without_an_error(clock: FakeClock) -> None:
    notifier = notifier_for("http://127.0.0.1:9/hook", clock)
    ended = anyio.Event()

    async def worker() -> None:
        await notifier.run()
        ended.set()

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker)
            await anyio.wait_all_tasks_blocked()
            await notifier.aclose()
        await ended.wait()


async def test_the_slack_form_posts_text_blocks_and_review_links(clock: FakeClock) -> None:
    receiver = Receiver()
    review = "https://gate.example/approvals"
    async with (
        receiving(receiver) as url,
        working(notifier_for(url, clock, slack=True, review_url=review)) as notifier,
    ):
        notifier.submit("approval_requested", sample_approval())
        await until(settled(notifier, 1))
    [post] = receiver.posts
    stamp = post.headers["x-toolgate-timestamp"]
    assert verify_signature(
        SECRET, stamp, post.body, post.headers["x-toolgate-signature"], now=clock.now()
    )
    message = post.json
    assert set(message) == {"text", "blocks"}
    assert "delete_file" in message["text"] and "alice" in message["text"]
    assert "deleting files needs a human" in message["text"]
    [actions] = [b for b in message["blocks"] if b["type"] == "actions"]
    links = {b["text"]["text"]: b["url"] for b in actions["elements"]}
    assert links == {
        "Approve": f"{review}/apr_0123456789abcdef",
        "Deny": f"{review}/apr_0123456789abcdef",
    }


async def test_backoff_doubles_from_the_first_wait_and_is_capped(clock: FakeClock) -> None:
    notifier = WebhookNotifier("http://127.0.0.1:9/", SECRET, clock, first_backoff=0.5)
    waits = [notifier.backoff(n) for n in range(10)]
    await notifier.aclose()
    assert waits[:4] == [0.5, 1.0, 2.0, 4.0]
    assert max(waits) == MAX_BACKOFF and waits == sorted(waits)


@pytest.mark.parametrize(
    ("url", "options", "expected"),
    [
        ("", {}, "URL is not valid"),
        ("not a url", {}, "URL is not valid"),
        ("ftp://host/hook?token=abc", {}, "URL is not valid"),
        ("http://", {}, "URL is not valid"),
        ("http://[::1/hook?token=abc", {}, "URL is not valid"),
        ("http://h/x", {"secret": b""}, "signing secret is empty"),
        ("http://h/x", {"max_queue": 0}, "max_queue and attempts must be at least 1"),
        ("http://h/x", {"attempts": 0}, "max_queue and attempts must be at least 1"),
        ("http://h/x", {"first_backoff": -1.0}, "first_backoff must be >= 0"),
        ("http://h/x", {"first_backoff": float("nan")}, "first_backoff must be >= 0"),
        ("http://h/x", {"timeout": 0.0}, "timeout must be > 0"),
        ("http://h/x", {"review_url": "javascript:alert(1)"}, "URL is not valid"),
    ],
)
def test_bad_settings_are_refused_clearly_without_echoing_the_url(
    clock: FakeClock, url: str, options: dict[str, Any], expected: str
) -> None:
    secret = options.pop("secret", SECRET)
    with pytest.raises(ConfigError, match=expected) as caught:
        WebhookNotifier(url, secret, clock, **options)
    assert "token=abc" not in str(caught.value)
