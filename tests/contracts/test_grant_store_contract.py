"""The grant store contract: the memory, SQLite and Redis stores pass every test here unchanged.

Times come from the fake clock the store is given; nothing here sleeps.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.conftest import RedisServer

from toolgate.clock import FakeClock
from toolgate.errors import ConfigError, StoreError
from toolgate.identity.grant_rules import GrantRegistry
from toolgate.identity.grants import GrantStore
from toolgate.identity.grants_memory import MemoryGrantStore
from toolgate.identity.grants_redis import RedisGrantStore
from toolgate.identity.tokens import parse_token, token_hash

DAY = 86400.0
GOOD_SHAPE = "tg_gr_0123456789ab_" + "A" * 43

# Every byte a backend keeps, for the only-the-hash-is-stored test.
Stored = Callable[[], bytes]


@pytest.fixture(params=["memory", "sqlite", "redis"])
def backend(
    request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path
) -> Iterator[tuple[GrantRegistry, Stored | None]]:
    """Each store in turn, with a way to read everything it persisted (None: nothing is)."""
    store: GrantRegistry
    stored: Stored | None = None
    if request.param == "memory":
        store = MemoryGrantStore(clock=clock)
    elif request.param == "sqlite":
        db = tmp_path / "grants.sqlite3"
        store = GrantStore(db, clock=clock)
        stored = lambda: b"".join(p.read_bytes() for p in tmp_path.glob("grants.sqlite3*"))  # noqa: E731
    else:
        server: RedisServer = request.getfixturevalue("fresh_redis")
        store = RedisGrantStore.from_url(server.url, prefix="test:", clock=clock)
        stored = lambda: redis_dump(server)  # noqa: E731
    yield store, stored
    store.close()


@pytest.fixture
def store(backend: tuple[GrantRegistry, Stored | None]) -> GrantRegistry:
    return backend[0]


def redis_dump(server: RedisServer) -> bytes:
    """Every key and every value in the Redis server, as bytes."""
    out: list[bytes] = []
    with server.client() as client:
        for key in client.scan_iter(match="*"):
            out.append(key)
            kind = client.type(key)
            if kind == b"hash":
                for field, value in client.hgetall(key).items():
                    out += [field, value]
            elif kind == b"string":
                out.append(client.get(key) or b"")
            elif kind == b"zset":
                out += [member for member, _ in client.zrange(key, 0, -1, withscores=True)]
    return b"\n".join(out)


def forged(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


# -- create, get, list --


def test_a_created_grant_is_found_by_its_token_and_its_id(
    store: GrantRegistry, clock: FakeClock, tmp_path: Path
) -> None:
    policy = tmp_path / "p.yaml"
    grant, token = store.create("files", "agent-a", policy, {"team": "ops"})
    assert store.lookup(token) == grant
    assert store.verify(token) == grant
    assert store.get(grant.id) == grant
    assert (grant.server, grant.label, grant.policy) == ("files", "agent-a", policy)
    assert grant.attributes == {"team": "ops"}
    assert grant.created == clock.now()
    assert grant.status(clock.now()) == "live"
    parsed = parse_token(token)
    assert parsed is not None
    assert parsed.grant_id == grant.id


def test_an_unknown_id_gets_nothing(store: GrantRegistry) -> None:
    assert store.get("gr_000000000000") is None
    assert store.get("not an id") is None


def test_only_the_tokens_hash_is_stored(backend: tuple[GrantRegistry, Stored | None]) -> None:
    store, stored = backend
    if stored is None:
        pytest.skip("the memory store persists nothing")
    _, token = store.create("files", "agent-a")
    _, rotated = store.rotate(store.list()[0].id)
    everything = stored()
    for issued in (token, rotated):
        parsed = parse_token(issued)
        assert parsed is not None
        assert token_hash(issued).encode() in everything  # the search can succeed
        assert issued.encode() not in everything
        assert parsed.secret.encode() not in everything


def test_list_is_oldest_first_filters_by_server_and_hides_revoked_grants_unless_asked(
    store: GrantRegistry, clock: FakeClock
) -> None:
    a, _ = store.create("files", "a")
    b, _ = store.create("billing", "b")  # same time as a: creation order still holds
    clock.advance(1)
    c, _ = store.create("files", "c")
    store.revoke(c.id)
    assert [g.id for g in store.list()] == [a.id, b.id]
    assert [g.id for g in store.list("files")] == [a.id]
    assert [g.id for g in store.list(include_revoked=True)] == [a.id, b.id, c.id]
    assert [g.id for g in store.list("files", include_revoked=True)] == [a.id, c.id]
    assert store.list("nothing") == []


# -- verify and averify --


@pytest.mark.anyio
async def test_averify_agrees_with_verify(store: GrantRegistry, clock: FakeClock) -> None:
    grant, token = store.create("files", "agent-a", expires=clock.now() + 60)
    assert await store.averify(token, clock.now()) == grant
    assert await store.averify(forged(token), clock.now()) == "unknown"
    assert await store.averify(GOOD_SHAPE, clock.now()) == "unknown"
    assert await store.averify("nope", clock.now()) == "malformed"
    assert await store.averify(token, clock.now() + 60) == "expired"
    store.revoke(grant.id)
    assert await store.averify(token, clock.now()) == "unknown"
    if isinstance(store, RedisGrantStore):
        await store.aclose()


def test_a_token_with_the_wrong_secret_is_unknown(store: GrantRegistry) -> None:
    _, token = store.create("files", "agent-a")
    assert store.verify(forged(token)) == "unknown"
    assert store.lookup(forged(token)) is None


@pytest.mark.parametrize(
    "garbage",
    ["", "Bearer", "x" * 10_000, "é" * 62, "tg_gr_0123456789ab_" + "é" * 43, "\udcff" * 62],
)
def test_garbage_tokens_are_malformed_and_never_raise(store: GrantRegistry, garbage: str) -> None:
    store.create("files", "agent-a")
    assert store.verify(garbage) == "malformed"
    assert store.lookup(garbage) is None


def test_a_well_shaped_token_for_no_grant_is_unknown(store: GrantRegistry) -> None:
    store.create("files", "agent-a")
    assert store.verify(GOOD_SHAPE) == "unknown"


# -- expiry --


def test_a_grant_stops_working_when_it_expires(store: GrantRegistry, clock: FakeClock) -> None:
    grant, token = store.create("files", "agent-a", expires=clock.now() + 60)
    clock.advance(59)
    assert store.lookup(token) == grant
    clock.advance(1)
    assert store.lookup(token) is None
    assert store.verify(token) == "expired"
    assert store.verify(token, clock.now() - 1) == grant  # judged at the time given
    assert store.list()[0].status(clock.now()) == "expired"


@pytest.mark.parametrize("offset", [0.0, -DAY, float("nan"), float("inf"), float("-inf")])
def test_an_expiry_that_is_not_a_future_time_is_refused(
    store: GrantRegistry, clock: FakeClock, offset: float
) -> None:
    with pytest.raises(ConfigError, match="not in the future"):
        store.create("files", "agent-a", expires=clock.now() + offset)
    assert store.list(include_revoked=True) == []


def test_an_expired_grant_gives_up_its_label_and_stays_listed_as_expired(
    store: GrantRegistry, clock: FakeClock
) -> None:
    old, old_token = store.create("files", "agent-a", expires=clock.now() + DAY)
    clock.advance(2 * DAY)
    new, token = store.create("files", "agent-a")
    listed = {g.id: g for g in store.list(include_revoked=True)}
    assert listed[old.id].status(clock.now()) == "expired"
    assert listed[old.id].revoked == clock.now()
    assert listed[new.id].status(clock.now()) == "live"
    assert [g.id for g in store.list()] == [new.id]
    assert store.lookup(token) == new
    assert store.verify(old_token) == "unknown"


# -- label uniqueness --


def test_a_second_live_grant_with_the_same_label_for_the_same_server_is_refused(
    store: GrantRegistry,
) -> None:
    first, _ = store.create("files", "agent-a")
    with pytest.raises(
        ConfigError, match=rf'already has a live grant labelled "agent-a" \({first.id}\)'
    ):
        store.create("files", "agent-a")
    store.create("billing", "agent-a")  # another server: another counter space
    assert len(store.list()) == 2


def test_a_revoked_grants_label_can_be_given_again(store: GrantRegistry) -> None:
    first, _ = store.create("files", "agent-a")
    store.revoke(first.id)
    second, token = store.create("files", "agent-a")
    assert store.lookup(token) == second


def test_labels_with_colons_spaces_and_any_printable_text_are_kept_apart(
    store: GrantRegistry,
) -> None:
    a, token_a = store.create("files", "team:a b")
    b, token_b = store.create("files", "team:a")
    c, _ = store.create("files-x", "a b")
    u, token_u = store.create("files", "Agent Ünïcode (prod) #1")
    assert (store.lookup(token_a), store.lookup(token_b), store.lookup(token_u)) == (a, b, u)
    assert store.revoke(server="files", label="team:a").id == b.id
    assert {g.id for g in store.list()} == {a.id, c.id, u.id}


# -- revoke --


def test_a_revoked_grant_is_refused_on_its_next_verification(
    store: GrantRegistry, clock: FakeClock
) -> None:
    grant, token = store.create("files", "agent-a")
    assert store.lookup(token) == grant
    clock.advance(5)
    revoked = store.revoke(grant.id)
    assert revoked.revoked == clock.now()
    assert revoked.status(clock.now()) == "revoked"
    assert store.verify(token) == "unknown"
    assert store.get(grant.id) == revoked


def test_a_grant_can_be_revoked_by_server_and_label(store: GrantRegistry) -> None:
    grant, token = store.create("files", "agent-a")
    other, other_token = store.create("billing", "agent-a")
    assert store.revoke(server="files", label="agent-a").id == grant.id
    assert store.lookup(token) is None
    assert store.lookup(other_token) == other
    with pytest.raises(ConfigError, match='no live grant labelled "agent-a"'):
        store.revoke(server="files", label="agent-a")


def test_revoking_twice_is_refused(store: GrantRegistry) -> None:
    grant, _ = store.create("files", "agent-a")
    store.revoke(grant.id)
    with pytest.raises(ConfigError, match="already revoked"):
        store.revoke(grant.id)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"server": "files"}, {"label": "a"}, {"grant_id": "gr_000000000000", "server": "files"}],
)
def test_revoke_needs_an_id_or_a_server_and_label(
    store: GrantRegistry, kwargs: dict[str, str]
) -> None:
    with pytest.raises(ConfigError, match="name the grant"):
        store.revoke(**kwargs)


@pytest.mark.parametrize(
    ("grant_id", "message"),
    [
        ("gr_000000000000", "no grant gr_000000000000 in "),
        ("nonsense", "is not a grant id"),
        ("", "is not a grant id"),
        ("gr_" + "é" * 12, "is not a grant id"),
        ("gr_000000000000\n*", "is not a grant id"),
    ],
)
def test_rotating_or_revoking_an_unknown_grant_is_refused(
    store: GrantRegistry, grant_id: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        store.rotate(grant_id)
    with pytest.raises(ConfigError, match=message):
        store.revoke(grant_id)


# -- rotate --


def test_rotation_keeps_label_attributes_and_expiry_and_kills_the_old_token_at_once(
    store: GrantRegistry, clock: FakeClock, tmp_path: Path
) -> None:
    policy = tmp_path / "p.yaml"
    old, old_token = store.create(
        "files", "agent-a", policy, {"team": "ops"}, expires=clock.now() + DAY
    )
    clock.advance(10)
    new, new_token = store.rotate(old.id)
    assert store.verify(old_token) == "unknown"
    assert store.lookup(new_token) == new
    assert new.id != old.id
    assert new_token != old_token
    assert (new.server, new.label, new.policy, new.attributes, new.expires) == (
        old.server,
        old.label,
        old.policy,
        old.attributes,
        old.expires,
    )
    assert new.created == clock.now()
    retired = store.get(old.id)
    assert retired is not None
    assert retired.rotated_to == new.id
    assert retired.revoked == clock.now()
    assert retired.status(clock.now()) == "revoked"
    with pytest.raises(ConfigError, match="already has a live grant"):
        store.create("files", "agent-a")  # the new grant holds the label


def test_a_revoked_grant_cannot_be_rotated(store: GrantRegistry) -> None:
    grant, _ = store.create("files", "agent-a")
    store.revoke(grant.id)
    with pytest.raises(ConfigError, match="already revoked"):
        store.rotate(grant.id)


def test_an_expired_grant_cannot_be_rotated(store: GrantRegistry, clock: FakeClock) -> None:
    grant, _ = store.create("files", "agent-a", expires=clock.now() + 60)
    clock.advance(61)
    with pytest.raises(ConfigError, match="has expired"):
        store.rotate(grant.id)
    assert store.get(grant.id) == grant


# -- bad input --


@pytest.mark.parametrize(
    "server", ["", "Files", "-files", "_x", "a b", "a/b", "a" * 64, "fïles", "files\n", "a:b"]
)
def test_bad_server_names_are_refused(store: GrantRegistry, server: str) -> None:
    with pytest.raises(ConfigError, match=r"server name .* is invalid"):
        store.create(server, "agent")
    assert store.list(include_revoked=True) == []


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("", "must not be empty"),
        ("a" * 129, "at most 128"),
        ("agent\x00a", "control"),
        ("agent\u2028a", "control"),
        ("agent\udcffa", "control"),
        (" agent", "whitespace"),
    ],
)
def test_bad_labels_are_refused(store: GrantRegistry, label: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        store.create("files", label)


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"name": "x"}, "reserved"),
        ({"1team": "x"}, "attribute name .* is invalid"),
        ({"team": "a\x07b"}, "control"),
        ({"team": "x" * 1025}, "at most 1024"),
        ({f"k{i}": "v" for i in range(65)}, "at most 64 attributes"),
    ],
)
def test_bad_attributes_are_refused(
    store: GrantRegistry, attributes: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        store.create("files", "agent", attributes=attributes)


@pytest.mark.parametrize(
    ("policy", "message"),
    [(Path("relative.yaml"), "must be absolute"), (Path("/p/\udcff.yaml"), "unprintable")],
)
def test_bad_policy_paths_are_refused(store: GrantRegistry, policy: Path, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        store.create("files", "agent", policy=policy)


# -- closing --


def test_a_closed_store_refuses_to_work(store: GrantRegistry) -> None:
    _, token = store.create("files", "agent-a")
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.verify(token)
    with pytest.raises(StoreError, match="closed"):
        store.create("files", "agent-b")


def test_the_store_names_where_it_is(store: GrantRegistry) -> None:
    assert store.where
    with pytest.raises(ConfigError, match=re.escape(f"in {store.where}")):
        store.rotate("gr_000000000000")
