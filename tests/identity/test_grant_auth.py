"""GrantAuthenticator: an Authorization header becomes a Principal, a 401, a 403 or a 503."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from toolgate.clock import FakeClock
from toolgate.errors import StoreError
from toolgate.identity.grant_auth import GrantAuthenticator
from toolgate.identity.grant_rules import Grant, TokenProblem
from toolgate.identity.grants import GrantStore
from toolgate.identity.grants_memory import MemoryGrantStore
from toolgate.identity.principal import Principal, Refusal

METADATA = "https://gw.example/.well-known/oauth-protected-resource/mcp/files"


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[GrantStore]:
    with GrantStore(tmp_path / "grants.sqlite3", clock=clock) as grants:
        yield grants


@pytest.fixture
def auth(store: GrantStore, clock: FakeClock) -> GrantAuthenticator:
    return GrantAuthenticator(store, clock)


async def refused(auth: GrantAuthenticator, header: str | None, server: str = "files") -> Refusal:
    outcome = await auth.authenticate(header, server)
    assert isinstance(outcome, Refusal), outcome
    return outcome


@pytest.mark.anyio
async def test_a_valid_grant_becomes_a_principal_named_by_its_label(
    store: GrantStore, auth: GrantAuthenticator, tmp_path: Path
) -> None:
    grant, token = store.create("files", "agent-a", tmp_path / "p.yaml", {"team": "ops"})
    outcome = await auth.authenticate(f"Bearer {token}", "files")
    assert outcome == Principal(
        name="agent-a",
        attributes={"team": "ops", "grant": grant.id, "server": "files"},
        grant_id=grant.id,
        policy=tmp_path / "p.yaml",
    )


@pytest.mark.anyio
async def test_the_scheme_is_case_insensitive_and_spaces_around_the_token_are_allowed(
    store: GrantStore, auth: GrantAuthenticator
) -> None:
    _, token = store.create("files", "agent-a")
    for header in (f"bearer {token}", f"BEARER   {token}  ", f"  Bearer\t{token}"):
        assert isinstance(await auth.authenticate(header, "files"), Principal)


@pytest.mark.anyio
async def test_a_request_without_a_header_gets_a_challenge_without_an_error_code(
    auth: GrantAuthenticator,
) -> None:
    refusal = await refused(auth, None)
    assert refusal.status == 401
    assert "requires a grant token" in refusal.message
    assert refusal.www_authenticate == 'Bearer realm="toolgate"'


@pytest.mark.anyio
async def test_the_challenge_names_the_resource_metadata_when_configured(
    store: GrantStore, clock: FakeClock
) -> None:
    auth = GrantAuthenticator(store, clock, resource_metadata_url=METADATA)
    absent = await refused(auth, None)
    assert absent.www_authenticate == f'Bearer realm="toolgate", resource_metadata="{METADATA}"'
    bad = await refused(auth, "Bearer nope")
    assert bad.www_authenticate is not None
    assert bad.www_authenticate.endswith(f'resource_metadata="{METADATA}"')
    assert 'error="invalid_token"' in bad.www_authenticate


@pytest.mark.anyio
async def test_quotes_in_the_metadata_url_cannot_break_the_challenge(
    store: GrantStore, clock: FakeClock
) -> None:
    auth = GrantAuthenticator(store, clock, resource_metadata_url='https://x/"a\\b\r\n')
    refusal = await refused(auth, None)
    assert (
        refusal.www_authenticate
        == 'Bearer realm="toolgate", resource_metadata="https://x/\\"a\\\\b"'
    )


GOOD_SHAPE = "tg_gr_0123456789ab_" + "A" * 43


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("Bearer", "token is empty"),
        ("Bearer  ", "token is empty"),
        ("Basic dXNlcjpwYXNz", "Bearer scheme"),
        ("Token " + GOOD_SHAPE, "Bearer scheme"),
        (GOOD_SHAPE, "Bearer scheme"),
        ("Bearer " + "x" * 10_000, "too long"),
        ("Bearer " + "é" * 62, "not a toolgate grant token"),
        ("Bearer \udcff\x00", "not a toolgate grant token"),
        ("Bearer not-a-token", "not a toolgate grant token"),
        ("Bearer " + GOOD_SHAPE + " extra", "not a toolgate grant token"),
        ("Bearer " + GOOD_SHAPE, "unknown or revoked"),
    ],
)
async def test_garbage_authorization_headers_get_401_and_never_raise(
    store: GrantStore, auth: GrantAuthenticator, header: str, message: str
) -> None:
    store.create("files", "agent-a")
    refusal = await refused(auth, header)
    assert refusal.status == 401
    assert message in refusal.message
    assert refusal.www_authenticate is not None
    assert refusal.www_authenticate.startswith('Bearer realm="toolgate", error="invalid_token"')
    assert f'error_description="{refusal.message}"' in refusal.www_authenticate


@pytest.mark.anyio
async def test_a_valid_looking_token_with_a_wrong_secret_gets_401(
    store: GrantStore, auth: GrantAuthenticator
) -> None:
    _, token = store.create("files", "agent-a")
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    refusal = await refused(auth, f"Bearer {forged}")
    assert refusal.status == 401
    assert "unknown or revoked" in refusal.message


@pytest.mark.anyio
async def test_a_grant_for_another_server_gets_403(
    store: GrantStore, auth: GrantAuthenticator
) -> None:
    _, token = store.create("billing", "agent-a")
    refusal = await refused(auth, f"Bearer {token}", "files")
    assert refusal.status == 403
    assert 'for server "billing"' in refusal.message
    assert refusal.www_authenticate is not None
    assert 'error="insufficient_scope"' in refusal.www_authenticate


@pytest.mark.anyio
async def test_a_revoked_grant_is_refused_on_its_next_call(
    store: GrantStore, auth: GrantAuthenticator, tmp_path: Path, clock: FakeClock
) -> None:
    grant, token = store.create("files", "agent-a")
    assert isinstance(await auth.authenticate(f"Bearer {token}", "files"), Principal)
    with GrantStore(tmp_path / "grants.sqlite3", clock=clock) as other_process:
        other_process.revoke(grant.id)
    refusal = await refused(auth, f"Bearer {token}")
    assert refusal.status == 401
    assert "unknown or revoked" in refusal.message


@pytest.mark.anyio
async def test_an_expired_grant_is_refused_by_the_authenticators_clock(
    store: GrantStore, tmp_path: Path
) -> None:
    store_clock, auth_clock = FakeClock(), FakeClock()
    with GrantStore(tmp_path / "grants.sqlite3", clock=store_clock) as grants:
        _, token = grants.create("files", "agent-a", expires=store_clock.now() + 3600)
        auth = GrantAuthenticator(grants, auth_clock)
        assert isinstance(await auth.authenticate(f"Bearer {token}", "files"), Principal)
        auth_clock.advance(3600)
        refusal = await refused(auth, f"Bearer {token}")
    assert refusal.status == 401
    assert "expired" in refusal.message


@pytest.mark.anyio
async def test_an_unreadable_grant_store_fails_closed_with_503(
    store: GrantStore, auth: GrantAuthenticator
) -> None:
    _, token = store.create("files", "agent-a")
    store.close()
    refusal = await refused(auth, f"Bearer {token}")
    assert refusal.status == 503
    assert str(store.path) not in refusal.message


class FailingVerifier:
    """A grant store that cannot be reached: every verification is a StoreError."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, float]] = []

    async def averify(self, token: str, now: float) -> Grant | TokenProblem:
        self.asked.append((token, now))
        raise StoreError("grant store redis://***@10.0.0.9:6379/0: ConnectionError: refused")


@pytest.mark.anyio
async def test_a_store_that_cannot_be_reached_fails_closed_with_503_without_naming_it(
    clock: FakeClock,
) -> None:
    verifier = FailingVerifier()
    token = GOOD_SHAPE
    refusal = await refused(GrantAuthenticator(verifier, clock), f"Bearer {token}")
    assert refusal.status == 503
    assert "try again later" in refusal.message
    assert "10.0.0.9" not in refusal.message
    assert verifier.asked == [(token, clock.now())]  # asked once, at the authenticator's time


@pytest.mark.anyio
async def test_any_grant_verifier_serves_the_authenticator(clock: FakeClock) -> None:
    with MemoryGrantStore(clock=clock) as grants:
        grant, token = grants.create("files", "agent-a", attributes={"team": "ops"})
        auth = GrantAuthenticator(grants, clock)
        outcome = await auth.authenticate(f"Bearer {token}", "files")
        assert isinstance(outcome, Principal)
        assert (outcome.name, outcome.grant_id) == ("agent-a", grant.id)
        grants.revoke(grant.id)
        assert (await refused(auth, f"Bearer {token}")).status == 401
