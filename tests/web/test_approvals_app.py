"""The approvals admin app: its JSON API, its page, its authorizers and every refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount

from toolgate.clock import FakeClock
from toolgate.errors import ToolgateError
from toolgate.stores.approvals import Approval, ApprovalRequest, ApprovalStatus
from toolgate.stores.approvals_memory import MemoryApprovalStore
from toolgate.web.approvals_app import (
    MAX_BODY,
    Authorize,
    build_approvals_app,
    loopback_authorizer,
    token_authorizer,
)

pytestmark = pytest.mark.anyio

BASE = "http://127.0.0.1:8765"
TOKEN = "s3cret-admin-token-0123456789"
KEYS = {
    "id", "status", "tool", "server", "identity", "rule_id", "rule_name", "message", "arguments",
    "mode", "created_at", "expires_at", "resolved_at", "resolved_by", "reason", "consumed_at",
    "joined",
}  # fmt: skip


def approval_request(
    tool: str = "delete_file",
    arguments: dict[str, Any] | None = None,
    identity: str | None = "agent-a",
    fingerprint: str = "sha256:" + "ab" * 32,
) -> ApprovalRequest:
    return ApprovalRequest(
        fingerprint=fingerprint,
        tool=tool,
        arguments={"path": "/srv/report.csv"} if arguments is None else arguments,
        rule_id="r-delete",
        rule_name="deletes need approval",
        policy_revision="rev-1",
        identity=identity,
        server="files",
        session="sess-1",
        message="deleting files needs a human",
        decision_id="dec-1",
        mode="queue",
        timeout_seconds=300.0,
    )


@pytest.fixture
async def store() -> AsyncIterator[MemoryApprovalStore]:
    approvals = MemoryApprovalStore()
    yield approvals
    await approvals.aclose()


async def pending(store: MemoryApprovalStore, clock: FakeClock, **fields: Any) -> Approval:
    fields.setdefault("fingerprint", f"sha256:{len(await store.list(now=clock.now())):064x}")
    approval, created = await store.request(
        approval_request(**fields), dedupe_seconds=None, now=clock.now()
    )
    assert created
    return approval


class Heard:
    """An on_resolved listener that keeps what it heard."""

    def __init__(self) -> None:
        self.approvals: list[Approval] = []

    async def __call__(self, approval: Approval) -> None:
        self.approvals.append(approval)


def client(
    store: MemoryApprovalStore,
    clock: FakeClock,
    *,
    authorize: Authorize | None = None,
    heard: Heard | None = None,
    base: str = BASE,
    root_path: str = "",
) -> httpx.AsyncClient:
    app = build_approvals_app(
        store,
        clock,
        authorize=authorize or loopback_authorizer("carol"),
        on_resolved=heard,
        root_path=root_path,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)


# --- the JSON API -----------------------------------------------------------------------------


async def test_listing_shows_pending_approvals_with_every_field_and_utc_times(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    waiting = await pending(store, clock, arguments={"path": "/x", "amount": Decimal("1.10")})
    other = await pending(store, clock, tool="send_mail")
    await store.resolve(other.id, approve=False, by="bob", reason=None, now=clock.now())
    async with client(store, clock) as http:
        answer = await http.get("/api/approvals")
    assert answer.status_code == 200
    [shown] = answer.json()["approvals"]
    assert set(shown) == KEYS
    assert shown["id"] == waiting.id
    assert shown["status"] == "pending"
    assert shown["created_at"] == "2026-01-01T00:00:00.000000Z"
    assert shown["expires_at"] == "2026-01-01T00:05:00.000000Z"
    assert shown["resolved_at"] is None
    assert b'"amount":1.10' in answer.content  # the exact number, not a float


async def test_listing_by_status_all_and_limit(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    first = await pending(store, clock)
    clock.advance(1)
    second = await pending(store, clock)
    await store.resolve(first.id, approve=True, by="bob", reason=None, now=clock.now())
    async with client(store, clock) as http:
        everything = (await http.get("/api/approvals?status=all")).json()["approvals"]
        approved = (await http.get("/api/approvals?status=approved")).json()["approvals"]
        newest = (await http.get("/api/approvals?status=all&limit=1")).json()["approvals"]
    assert [a["id"] for a in everything] == [second.id, first.id]
    assert [a["id"] for a in approved] == [first.id]
    assert [a["id"] for a in newest] == [second.id]


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("status=bogus", "status 'bogus' is not one of pending"),
        ("limit=0", "limit 0 is not between 1 and 1000"),
        ("limit=ten", "limit 'ten' is not a whole number"),
        ("limit=5000", "limit 5000 is not between"),
    ],
)
async def test_a_bad_status_or_limit_is_a_400_saying_why(
    store: MemoryApprovalStore, clock: FakeClock, query: str, said: str
) -> None:
    async with client(store, clock) as http:
        answer = await http.get(f"/api/approvals?{query}")
    assert answer.status_code == 400
    assert said in answer.json()["error"]


async def test_one_approval_by_id_unknown_is_404_and_malformed_is_400(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    approval = await pending(store, clock)
    async with client(store, clock) as http:
        found = await http.get(f"/api/approvals/{approval.id}")
        unknown = await http.get("/api/approvals/apr_00000000000000ff")
        malformed = await http.get("/api/approvals/apr_XYZ")
    assert found.status_code == 200
    assert found.json()["tool"] == "delete_file"
    assert unknown.status_code == 404
    assert "apr_00000000000000ff does not exist" in unknown.json()["error"]
    assert malformed.status_code == 400
    assert "is not an approval id" in malformed.json()["error"]


async def test_approving_records_reason_and_approver_and_tells_the_listener(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    approval = await pending(store, clock)
    heard = Heard()
    clock.advance(30)
    async with client(store, clock, heard=heard) as http:
        answer = await http.post(
            f"/api/approvals/{approval.id}/approve", json={"reason": "looks fine", "by": "dave"}
        )
    assert answer.status_code == 200
    assert answer.json()["status"] == "approved"
    assert answer.json()["resolved_at"] == "2026-01-01T00:00:30.000000Z"
    stored = await store.get(approval.id, clock.now())
    assert stored is not None
    assert (stored.status, stored.reason, stored.resolved_by) == (
        ApprovalStatus.APPROVED,
        "looks fine",
        "dave",
    )
    assert [a.id for a in heard.approvals] == [approval.id]


async def test_denying_with_an_empty_body_uses_the_default_approver(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    approval = await pending(store, clock)
    async with client(store, clock) as http:
        answer = await http.post(
            f"/api/approvals/{approval.id}/deny", headers={"content-type": "application/json"}
        )
    assert answer.status_code == 200
    assert (answer.json()["status"], answer.json()["resolved_by"]) == ("denied", "carol")


async def test_resolving_twice_is_a_409_naming_the_status(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    approval = await pending(store, clock)
    heard = Heard()
    async with client(store, clock, heard=heard) as http:
        first = await http.post(f"/api/approvals/{approval.id}/approve", json={})
        second = await http.post(f"/api/approvals/{approval.id}/deny", json={})
    assert first.status_code == 200
    assert second.status_code == 409
    assert "is approved, not pending" in second.json()["error"]
    assert len(heard.approvals) == 1


async def test_a_lapsed_approval_cannot_be_approved(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    approval = await pending(store, clock)
    clock.advance(301)
    async with client(store, clock) as http:
        answer = await http.post(f"/api/approvals/{approval.id}/approve", json={})
    assert answer.status_code == 409
    assert "is expired" in answer.json()["error"]


async def test_the_identity_that_asked_cannot_approve_its_own_call(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    approval = await pending(store, clock, identity="agent-a")
    async with client(store, clock) as http:
        answer = await http.post(f"/api/approvals/{approval.id}/approve", json={"by": "agent-a"})
    assert answer.status_code == 403
    assert "self-approval" in answer.json()["error"]
    stored = await store.get(approval.id, clock.now())
    assert stored is not None and stored.status is ApprovalStatus.PENDING


async def test_resolving_an_unknown_approval_is_404(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    async with client(store, clock) as http:
        answer = await http.post("/api/approvals/apr_0123456789abcdef/approve", json={})
        verb = await http.post("/api/approvals/apr_0123456789abcdef/maybe", json={})
        malformed = await http.post("/api/approvals/nope/approve", json={})
    assert answer.status_code == 404
    assert verb.status_code == 404
    assert "approve or deny" in verb.json()["error"]
    assert malformed.status_code == 400


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"{not json", "the body is not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"approve"', "must be a JSON object"),
        (b'{"reason": 5}', "reason must be a string"),
        (b'{"by": ""}', "must be a non-empty string"),
        (b'{"by": "a\\u0007b"}', "printable characters"),
        (b'{"by": 7}', "must be a non-empty string"),
        (b'{"reson": "typo"}', "unknown field(s) 'reson'"),
        ('{"reason": "' + "x" * 2001 + '"}', "at most 2000 characters"),
        (b"\xff\xfe", "the body is not JSON"),
    ],
)
async def test_a_garbage_body_is_a_400_and_decides_nothing(
    store: MemoryApprovalStore, clock: FakeClock, body: bytes | str, said: str
) -> None:
    approval = await pending(store, clock)
    async with client(store, clock) as http:
        answer = await http.post(
            f"/api/approvals/{approval.id}/approve",
            content=body,
            headers={"content-type": "application/json"},
        )
    assert answer.status_code == 400
    assert said in answer.json()["error"]
    stored = await store.get(approval.id, clock.now())
    assert stored is not None and stored.status is ApprovalStatus.PENDING


async def test_a_body_over_64_kib_is_413_whether_declared_or_streamed(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    approval = await pending(store, clock)
    big = b'{"reason": "' + b"x" * MAX_BODY + b'"}'

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    headers = {"content-type": "application/json"}
    url = f"/api/approvals/{approval.id}/approve"
    async with client(store, clock) as http:
        declared = await http.post(url, content=big, headers=headers)
        streamed = await http.post(url, content=chunks(), headers=headers)
    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert "larger than 64 KiB" in streamed.json()["error"]


async def test_a_post_to_the_api_that_is_not_json_is_415(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    approval = await pending(store, clock)
    async with client(store, clock) as http:
        form = await http.post(f"/api/approvals/{approval.id}/approve", data={"reason": "x"})
        bare = await http.post(f"/api/approvals/{approval.id}/approve")
    assert form.status_code == 415
    assert bare.status_code == 415
    assert "application/json" in form.json()["error"]


async def test_a_listener_that_fails_does_not_undo_the_decision(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    approval = await pending(store, clock)

    async def broken(_: Approval) -> None:
        raise RuntimeError("notifier down")

    app = build_approvals_app(
        store, clock, authorize=loopback_authorizer("carol"), on_resolved=broken
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        answer = await http.post(f"/api/approvals/{approval.id}/approve", json={})
    assert answer.status_code == 200
    assert answer.json()["status"] == "approved"


async def test_a_failing_store_is_a_503_with_its_message(clock: FakeClock) -> None:
    closed = MemoryApprovalStore()
    await closed.aclose()
    async with client(closed, clock) as http:
        api = await http.get("/api/approvals")
        page = await http.get("/")
    assert api.status_code == 503
    assert "approval store is closed" in api.json()["error"]
    assert page.status_code == 503
    assert "approval store is closed" in page.text


# --- host and origin --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/approvals", "/"])
async def test_a_host_that_is_not_allowed_is_refused(
    store: MemoryApprovalStore, clock: FakeClock, path: str
) -> None:
    async with client(store, clock, base="http://attacker.example:8765") as http:
        answer = await http.get(path)
    assert answer.status_code == 403
    assert "attacker.example" in answer.text


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:9999"])
async def test_a_cross_site_post_is_refused_on_api_and_page(
    store: MemoryApprovalStore, clock: FakeClock, origin: str
) -> None:
    approval = await pending(store, clock)
    async with client(store, clock) as http:
        api = await http.post(
            f"/api/approvals/{approval.id}/approve", json={}, headers={"origin": origin}
        )
        page = await http.post(
            f"/{approval.id}", data={"action": "approve"}, headers={"origin": origin}
        )
    assert (api.status_code, page.status_code) == (403, 403)
    assert "cross-site" in api.json()["error"]
    stored = await store.get(approval.id, clock.now())
    assert stored is not None and stored.status is ApprovalStatus.PENDING


async def test_a_post_from_the_pages_own_origin_is_accepted(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    approval = await pending(store, clock)
    async with client(store, clock) as http:
        answer = await http.post(
            f"/{approval.id}", data={"action": "approve"}, headers={"origin": BASE}
        )
    assert answer.status_code == 303


# --- the token authorizer ---------------------------------------------------------------------


async def test_the_api_behind_a_token_needs_the_bearer_token(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    approval = await pending(store, clock)
    guard = token_authorizer(TOKEN, "admin")
    async with client(store, clock, authorize=guard) as http:
        missing = await http.get("/api/approvals")
        wrong = await http.get("/api/approvals", headers={"authorization": "Bearer nope"})
        basic = await http.get("/api/approvals", headers={"authorization": f"Basic {TOKEN}"})
        right = await http.post(
            f"/api/approvals/{approval.id}/approve",
            json={"by": "erin"},
            headers={"authorization": f"Bearer {TOKEN}"},
        )
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert (wrong.status_code, basic.status_code) == (403, 403)
    assert right.status_code == 200
    assert right.json()["resolved_by"] == "erin"


async def test_the_page_token_is_exchanged_once_for_a_strict_http_only_cookie(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    approval = await pending(store, clock)
    guard = token_authorizer(TOKEN, "admin")
    async with client(store, clock, authorize=guard) as http:
        without = await http.get("/")
        wrong = await http.get("/?token=wrong")
        opened = await http.get(f"/{approval.id}?token={TOKEN}&x=1")
        cookie = opened.headers["set-cookie"]
        page = await http.get(f"/{approval.id}")  # the client now carries the cookie
        api = await http.get("/api/approvals")  # the cookie is not an API credential
        decided = await http.post(f"/{approval.id}", data={"action": "deny", "reason": "no"})
    assert without.status_code == 401
    assert "?token=" in without.text
    assert wrong.status_code == 403
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/{approval.id}?x=1"
    assert TOKEN not in cookie
    assert "httponly" in cookie.lower()
    assert "samesite=strict" in cookie.lower()
    assert page.status_code == 200
    assert "admin" in page.text
    assert api.status_code == 401
    assert decided.status_code == 303
    stored = await store.get(approval.id, clock.now())
    assert stored is not None
    assert (stored.status, stored.resolved_by, stored.reason) == (
        ApprovalStatus.DENIED,
        "admin",
        "no",
    )


async def test_a_forged_cookie_is_refused(store: MemoryApprovalStore, clock: FakeClock) -> None:
    guard = token_authorizer(TOKEN, "admin")
    async with client(store, clock, authorize=guard) as http:
        http.cookies.set("toolgate_approvals", TOKEN)
        answer = await http.get("/")
    assert answer.status_code == 401


def test_a_short_admin_token_is_refused() -> None:
    with pytest.raises(ToolgateError, match="at least 16 characters"):
        token_authorizer("short", "admin")


# --- the page ---------------------------------------------------------------------------------


async def test_the_index_lists_pending_then_recently_resolved(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    waiting = await pending(store, clock, tool="wire_money")
    done = await pending(store, clock, tool="send_mail")
    await store.resolve(done.id, approve=True, by="bob", reason=None, now=clock.now())
    async with client(store, clock) as http:
        answer = await http.get("/")
    assert answer.status_code == 200
    page = answer.text
    pending_part, resolved_part = page.split("Recently resolved")
    assert f'href="/{waiting.id}"' in pending_part
    assert "wire_money" in pending_part and "send_mail" not in pending_part
    assert done.id in resolved_part
    assert 'Deciding as <b id="approver">carol</b>' in page


async def test_an_empty_index_says_nothing_is_waiting(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    async with client(store, clock) as http:
        answer = await http.get("/")
    assert answer.status_code == 200
    assert "Nothing is waiting for a decision." in answer.text


async def test_agent_supplied_text_is_escaped_on_the_page(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    approval = await pending(
        store,
        clock,
        tool="<img src=x onerror=alert(1)>",
        arguments={"q": "<script>alert('x')</script>", '"><b>': "&amp;"},
        identity="<i>agent</i>",
    )
    async with client(store, clock) as http:
        detail = (await http.get(f"/{approval.id}")).text
        index = (await http.get("/")).text
    for page in (detail, index):
        assert "<script>" not in page
        assert "<img" not in page
        assert "<i>agent" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in detail
    assert "&amp;amp;" in detail
    assert "&lt;img src=x onerror=alert(1)&gt;" in index


async def test_the_page_forbids_framing_scripts_and_caching(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    approval = await pending(store, clock)
    async with client(store, clock) as http:
        answer = await http.get(f"/{approval.id}")
    policy = answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'none'" in policy
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "same-origin"


async def test_the_approval_page_shows_arguments_and_the_decision_form(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    approval = await pending(store, clock, arguments={"path": "/srv/a", "n": 2})
    async with client(store, clock) as http:
        page = (await http.get(f"/{approval.id}")).text
    assert "&quot;path&quot;: &quot;/srv/a&quot;,\n  &quot;n&quot;: 2" in page  # indented
    assert f'action="/{approval.id}"' in page
    assert 'id="approve"' in page and 'id="deny"' in page
    assert 'name="reason"' in page


async def test_approving_through_the_form_redirects_back_and_records_it(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    approval = await pending(store, clock)
    heard = Heard()
    async with client(store, clock, heard=heard) as http:
        answer = await http.post(
            f"/{approval.id}", data={"action": "approve", "reason": "ticket 42"}
        )
        after = await http.get(answer.headers["location"])
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/{approval.id}"
    assert 'id="approve"' not in after.text  # decided: no form any more
    assert "ticket 42" in after.text
    stored = await store.get(approval.id, clock.now())
    assert stored is not None
    assert (stored.status, stored.reason, stored.resolved_by) == (
        ApprovalStatus.APPROVED,
        "ticket 42",
        "carol",
    )
    assert len(heard.approvals) == 1


async def test_a_refused_form_decision_shows_why_on_the_page(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    mine = await pending(store, clock, identity="carol")
    done = await pending(store, clock)
    await store.resolve(done.id, approve=False, by="bob", reason=None, now=clock.now())
    async with client(store, clock) as http:
        self_approved = await http.post(f"/{mine.id}", data={"action": "approve"})
        twice = await http.post(f"/{done.id}", data={"action": "approve"})
        unknown = await http.post("/apr_00000000000000aa", data={"action": "approve"})
    assert self_approved.status_code == 403
    assert "self-approval refused" in self_approved.text
    assert twice.status_code == 409
    assert "is denied, not pending" in twice.text
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("form", "status", "said"),
    [
        ({"action": "maybe"}, 400, "approve or deny"),
        ({"reason": "no action"}, 400, "approve or deny"),
        ({"action": "approve", "token": "x"}, 400, "unknown form field"),
        ({"action": "approve", "reason": "x" * 2001}, 400, "at most 2000"),
    ],
)
async def test_a_garbage_form_is_refused_and_decides_nothing(
    store: MemoryApprovalStore, clock: FakeClock, form: dict[str, str], status: int, said: str
) -> None:
    approval = await pending(store, clock)
    async with client(store, clock) as http:
        answer = await http.post(f"/{approval.id}", data=form)
    assert answer.status_code == status
    assert said in answer.text
    stored = await store.get(approval.id, clock.now())
    assert stored is not None and stored.status is ApprovalStatus.PENDING


async def test_form_posts_that_are_repeated_oversized_or_not_forms_are_refused(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    approval = await pending(store, clock)
    form = {"content-type": "application/x-www-form-urlencoded"}
    async with client(store, clock) as http:
        twice = await http.post(
            f"/{approval.id}", content=b"action=approve&action=deny", headers=form
        )
        bad_utf8 = await http.post(f"/{approval.id}", content=b"action=\xff", headers=form)
        huge = await http.post(
            f"/{approval.id}", content=b"reason=" + b"x" * MAX_BODY, headers=form
        )
        as_json = await http.post(f"/{approval.id}", json={"action": "approve"})
    assert twice.status_code == 400
    assert "given twice" in twice.text
    assert bad_utf8.status_code == 400
    assert huge.status_code == 413
    assert as_json.status_code == 415


async def test_an_unknown_or_malformed_page_id_is_404(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    async with client(store, clock) as http:
        unknown = await http.get("/apr_00000000000000aa")
        malformed = await http.get("/favicon.ico")
    assert unknown.status_code == 404
    assert malformed.status_code == 404
    assert "not an approval id" in malformed.text


async def test_mounted_under_a_prefix_links_and_redirects_keep_it(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    approval = await pending(store, clock)
    inner = build_approvals_app(
        store, clock, authorize=loopback_authorizer("carol"), root_path="/approvals"
    )
    outer = Starlette(routes=[Mount("/approvals", app=inner)])
    transport = httpx.ASGITransport(app=outer)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        index = await http.get("/approvals/")
        api = await http.get(f"/approvals/api/approvals/{approval.id}")
        decided = await http.post(f"/approvals/{approval.id}", data={"action": "deny"})
    assert f'href="/approvals/{approval.id}"' in index.text
    assert api.json()["id"] == approval.id
    assert decided.headers["location"] == f"/approvals/{approval.id}"


async def test_an_authorizer_that_ignores_by_names_the_approver_itself(
    store: MemoryApprovalStore, clock: FakeClock
) -> None:
    approval = await pending(store, clock)

    async def grant_label(request: Request) -> str | Response:
        if request.headers.get("authorization") != "Bearer grant":
            return JSONResponse({"error": "no grant"}, 401)
        return "ops-grant"

    async with client(store, clock, authorize=grant_label) as http:
        refused = await http.post(f"/api/approvals/{approval.id}/approve", json={})
        answer = await http.post(
            f"/api/approvals/{approval.id}/approve",
            json={"by": "mallory"},
            headers={"authorization": "Bearer grant"},
        )
    assert refused.status_code == 401
    assert answer.json()["resolved_by"] == "ops-grant"


async def test_the_token_redirect_never_leaves_the_site() -> None:
    authorize = token_authorizer(TOKEN, "admin")
    scope = {
        "type": "http",
        "method": "GET",
        "path": "//evil.example/x",
        "query_string": f"token={TOKEN}".encode(),
        "headers": [(b"host", b"127.0.0.1:8765")],
        "scheme": "http",
        "server": ("127.0.0.1", 8765),
        "root_path": "",
    }
    answer = await authorize(Request(scope))
    assert isinstance(answer, Response)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/evil.example/x"
