"""GrantStore: what is particular to grants in a shared SQLite file (the behaviour every grant
store shares is tests/contracts/test_grant_store_contract.py, run against this store too)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolgate.clock import FakeClock
from toolgate.errors import ConfigError, StoreError
from toolgate.identity.grants import (
    APPLICATION_ID,
    GRANTS_DB_ENV,
    GRANTS_FILE,
    Grant,
    GrantStore,
    grants_path,
)
from toolgate.identity.tokens import parse_token, token_hash

DAY = 86400.0


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "grants.sqlite3"


@pytest.fixture
def store(db: Path, clock: FakeClock) -> Iterator[GrantStore]:
    with GrantStore(db, clock=clock) as grants:
        yield grants


def file_bytes(db: Path) -> bytes:
    """The database and its write-ahead log: everything SQLite keeps on disk."""
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def test_a_created_grant_is_found_by_its_token(store: GrantStore, clock: FakeClock) -> None:
    grant, token = store.create("files", "agent-a", attributes={"team": "ops"})
    assert store.lookup(token) == grant
    assert grant.server == "files"
    assert grant.label == "agent-a"
    assert grant.attributes == {"team": "ops"}
    assert grant.created == clock.now()
    assert grant.status(clock.now()) == "live"
    parsed = parse_token(token)
    assert parsed is not None
    assert parsed.grant_id == grant.id


def test_only_the_tokens_hash_is_stored(store: GrantStore, db: Path) -> None:
    _, token = store.create("files", "agent-a")
    parsed = parse_token(token)
    assert parsed is not None
    stored = file_bytes(db)
    assert token_hash(token).encode() in stored  # the hash is there: the search can succeed
    assert token.encode() not in stored
    assert parsed.secret.encode() not in stored


def test_a_token_with_the_wrong_secret_is_not_found(store: GrantStore) -> None:
    _, token = store.create("files", "agent-a")
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert store.lookup(forged) is None
    assert store.verify(forged) == "unknown"


@pytest.mark.parametrize(
    "garbage", ["", "Bearer", "x" * 10_000, "é" * 62, "tg_gr_0123456789ab_" + "A" * 43]
)
def test_garbage_tokens_are_not_found_and_never_raise(store: GrantStore, garbage: str) -> None:
    store.create("files", "agent-a")
    assert store.lookup(garbage) is None


def test_a_second_live_grant_with_the_same_label_for_the_same_server_is_refused(
    store: GrantStore,
) -> None:
    first, _ = store.create("files", "agent-a")
    with pytest.raises(
        ConfigError, match=rf'already has a live grant labelled "agent-a" \({first.id}'
    ):
        store.create("files", "agent-a")
    store.create("billing", "agent-a")  # another server: another counter space


def test_an_expired_grant_gives_up_its_label_and_stays_listed_as_expired(
    store: GrantStore, clock: FakeClock
) -> None:
    old, _ = store.create("files", "agent-a", expires=clock.now() + DAY)
    clock.advance(2 * DAY)
    new, _ = store.create("files", "agent-a")
    listed = {g.id: g for g in store.list(include_revoked=True)}
    assert listed[old.id].status(clock.now()) == "expired"
    assert listed[new.id].status(clock.now()) == "live"
    assert [g.id for g in store.list()] == [new.id]


def test_a_grant_stops_working_when_it_expires(store: GrantStore, clock: FakeClock) -> None:
    grant, token = store.create("files", "agent-a", expires=clock.now() + 60)
    clock.advance(59)
    assert store.lookup(token) == grant
    clock.advance(1)
    assert store.lookup(token) is None
    assert store.verify(token) == "expired"
    assert store.list()[0].status(clock.now()) == "expired"


@pytest.mark.parametrize("offset", [0.0, -DAY, float("nan"), float("inf"), float("-inf")])
def test_an_expiry_that_is_not_a_future_time_is_refused(
    store: GrantStore, clock: FakeClock, offset: float
) -> None:
    with pytest.raises(ConfigError, match="not in the future"):
        store.create("files", "agent-a", expires=clock.now() + offset)
    assert store.list() == []


def test_a_revoked_grant_is_refused_on_its_next_lookup(store: GrantStore) -> None:
    grant, token = store.create("files", "agent-a")
    assert store.lookup(token) is not None
    revoked = store.revoke(grant.id)
    assert store.lookup(token) is None
    assert revoked.revoked is not None
    assert revoked.status(revoked.revoked) == "revoked"


def test_a_revoke_by_another_store_on_the_same_file_is_seen_on_the_next_lookup(
    db: Path, clock: FakeClock
) -> None:
    with GrantStore(db, clock=clock) as server, GrantStore(db, clock=clock) as cli:
        grant, token = cli.create("files", "agent-a")
        assert server.lookup(token) == grant  # loads the server's map
        cli.revoke(grant.id)
        assert server.lookup(token) is None


def test_a_grant_created_by_another_store_is_found_at_once(db: Path, clock: FakeClock) -> None:
    with GrantStore(db, clock=clock) as server, GrantStore(db, clock=clock) as cli:
        _, first = cli.create("files", "agent-a")
        assert server.lookup(first) is not None
        grant, second = cli.create("files", "agent-b")
        assert server.lookup(second) == grant


def test_lookups_reread_the_grants_only_after_another_connection_commits(
    db: Path, clock: FakeClock
) -> None:
    with GrantStore(db, clock=clock) as server, GrantStore(db, clock=clock) as cli:
        _, token = cli.create("files", "agent-a")
        server.lookup(token)
        statements: list[str] = []
        server._conn.set_trace_callback(statements.append)
        for _ in range(5):
            assert server.lookup(token) is not None
        assert not any("FROM grants" in s for s in statements)
        cli.create("files", "agent-b")
        assert server.lookup(token) is not None
        assert sum("FROM grants" in s for s in statements) == 1
        server._conn.set_trace_callback(None)


def test_rotation_keeps_label_and_attributes_and_kills_the_old_token_at_once(
    db: Path, clock: FakeClock, tmp_path: Path
) -> None:
    policy = tmp_path / "p.yaml"
    with GrantStore(db, clock=clock) as server, GrantStore(db, clock=clock) as cli:
        old, old_token = cli.create(
            "files", "agent-a", policy, {"team": "ops"}, expires=clock.now() + DAY
        )
        assert server.lookup(old_token) == old
        clock.advance(10)
        new, new_token = cli.rotate(old.id)
        assert server.lookup(old_token) is None
        assert server.lookup(new_token) == new
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
        retired = cli.get(old.id)
        assert retired is not None
        assert retired.rotated_to == new.id
        assert retired.status(clock.now()) == "revoked"


@pytest.mark.parametrize("grant_id", ["gr_000000000000", "nonsense", "", "gr_" + "é" * 12])
def test_rotating_or_revoking_an_unknown_grant_is_refused(store: GrantStore, grant_id: str) -> None:
    with pytest.raises(ConfigError, match="grant"):
        store.rotate(grant_id)
    with pytest.raises(ConfigError, match="grant"):
        store.revoke(grant_id)


def test_list_filters_by_server_and_hides_revoked_grants_unless_asked(store: GrantStore) -> None:
    a, _ = store.create("files", "a")
    b, _ = store.create("billing", "b")
    c, _ = store.create("files", "c")
    store.revoke(c.id)
    assert [g.id for g in store.list()] == [a.id, b.id]
    assert [g.id for g in store.list("files")] == [a.id]
    assert [g.id for g in store.list("files", include_revoked=True)] == [a.id, c.id]
    assert store.list("nothing") == []


def test_a_grants_policy_is_kept_as_an_absolute_path(store: GrantStore, tmp_path: Path) -> None:
    _, token = store.create("files", "a", policy=tmp_path / "p.yaml")
    found = store.lookup(token)
    assert found is not None
    assert found.policy == tmp_path / "p.yaml"
    with pytest.raises(ConfigError, match="must be absolute"):
        store.create("files", "b", policy=Path("relative.yaml"))


@pytest.mark.parametrize(
    "server", ["", "Files", "-files", "_x", "a b", "a/b", "a" * 64, "fïles", "files\n", "a.b"]
)
def test_bad_server_names_are_refused(store: GrantStore, server: str) -> None:
    with pytest.raises(ConfigError, match=r"server name .* is invalid"):
        store.create(server, "agent")


@pytest.mark.parametrize("server", ["a", "files", "0-api_v2", "a" * 63])
def test_good_server_names_are_accepted(store: GrantStore, server: str) -> None:
    grant, _ = store.create(server, "agent")
    assert grant.server == server


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("", "must not be empty"),
        ("a" * 129, "at most 128"),
        ("agent\x00a", "control"),
        ("agent\na", "control"),
        ("agent\u2028a", "control"),
        (" agent", "whitespace"),
        ("agent ", "whitespace"),
    ],
)
def test_bad_labels_are_refused(store: GrantStore, label: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        store.create("files", label)


def test_labels_may_hold_spaces_and_any_printable_text(store: GrantStore) -> None:
    grant, token = store.create("files", "Agent Ünïcode (prod) #1")
    assert store.lookup(token) == grant
    assert store.create("files", "a" * 128)[0].label == "a" * 128


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"name": "x"}, "reserved"),
        ({"grant": "x"}, "reserved"),
        ({"server": "x"}, "reserved"),
        ({"": "x"}, "attribute name .* is invalid"),
        ({"1team": "x"}, "attribute name .* is invalid"),
        ({"te am": "x"}, "attribute name .* is invalid"),
        ({"team": "a\x07b"}, "control"),
        ({"team": "x" * 1025}, "at most 1024"),
        ({f"k{i}": "v" for i in range(65)}, "at most 64 attributes"),
    ],
)
def test_bad_attributes_are_refused(
    store: GrantStore, attributes: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        store.create("files", "agent", attributes=attributes)


def test_a_non_database_file_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "grants.sqlite3"
    content = b"# my notes, not a database\n" + bytes(range(256))
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="is not an SQLite database; refusing"):
        GrantStore(path)
    assert path.read_bytes() == content


def test_a_directory_at_the_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        GrantStore(tmp_path)


def test_another_applications_database_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "grants.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="database of another application"):
        GrantStore(path)
    assert path.read_bytes() == before


def test_a_database_with_another_application_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "counters.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id=0x54474354")  # toolgate's counter store
    conn.execute("CREATE TABLE counters (key TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="belongs to another application"):
        GrantStore(path)
    assert path.read_bytes() == before


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "grants.sqlite3"
    GrantStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.commit()
    conn.close()
    with pytest.raises(ConfigError, match="schema version 99, newer"):
        GrantStore(path)


def test_the_file_is_marked_as_a_toolgate_grants_database(db: Path) -> None:
    GrantStore(db).close()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_reopening_keeps_the_grants(db: Path, clock: FakeClock) -> None:
    with GrantStore(db, clock=clock) as first:
        grant, token = first.create("files", "agent-a", attributes={"team": "ops"})
    with GrantStore(db, clock=clock) as second:
        assert second.lookup(token) == grant


def test_a_damaged_row_fails_closed_naming_the_grant(store: GrantStore, db: Path) -> None:
    grant, token = store.create("files", "agent-a")
    conn = sqlite3.connect(db)
    conn.execute("UPDATE grants SET attributes = '[1, 2]' WHERE id = ?", (grant.id,))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=f"grant {grant.id} is damaged"):
        store.lookup(token)


def test_a_closed_store_refuses_to_work(db: Path) -> None:
    store = GrantStore(db)
    _, token = store.create("files", "agent-a")
    store.close()
    store.close()
    with pytest.raises(StoreError, match="is closed"):
        store.lookup(token)


def test_the_grants_path_is_the_option_then_the_environment_then_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(GRANTS_DB_ENV, raising=False)
    assert grants_path(None, tmp_path) == tmp_path / GRANTS_FILE
    monkeypatch.setenv(GRANTS_DB_ENV, str(tmp_path / "env.sqlite3"))
    assert grants_path(None, tmp_path) == tmp_path / "env.sqlite3"
    assert grants_path(tmp_path / "opt.sqlite3", tmp_path) == tmp_path / "opt.sqlite3"


def test_status_tells_expired_from_revoked() -> None:
    grant = Grant("gr_000000000000", "files", "a", None, {}, 0.0, expires=100.0)
    assert grant.status(50.0) == "live"
    assert grant.status(100.0) == "expired"
    assert Grant("gr_000000000000", "s", "a", None, {}, 0.0, 100.0, revoked=50.0).status(200.0) == (
        "revoked"
    )
    assert Grant("gr_000000000000", "s", "a", None, {}, 0.0, 100.0, revoked=150.0).status(
        200.0
    ) == ("expired")
