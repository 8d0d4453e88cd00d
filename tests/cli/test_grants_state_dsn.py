"""`toolgate grants …` and `toolgate approvals …` with `--state-dsn`: a Redis DSN reaches the
grants and approvals a gateway fleet keeps in that Redis; anything else keeps today's SQLite
files; a bad DSN exits 2 naming the option, an unreachable Redis exits 1 with it masked. Also
the gateway side: which grant store a gateway file leads to."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import anyio
import pytest
import yaml
from tests.conftest import RedisServer, free_port
from typer.testing import CliRunner, Result

from toolgate.app.gateway_config import StateConfig
from toolgate.app.gateway_config_fields import Secrets
from toolgate.app.gateway_config_load import load_gateway_config
from toolgate.app.gateway_config_sections import AUTH_KEYS, SectionReader
from toolgate.app.gateway_parts import open_grant_store
from toolgate.cli.main import app
from toolgate.clock import SystemClock
from toolgate.errors import ConfigError
from toolgate.identity.grants import GRANTS_DB_ENV, GrantStore
from toolgate.identity.grants_redis import RedisGrantStore
from toolgate.policy.located import LMap
from toolgate.policy.schema import Fields, Issues
from toolgate.policy.yaml_source import parse_yaml
from toolgate.stores.approvals import Approval, ApprovalRequest, ApprovalStatus
from toolgate.stores.approvals_redis import RedisApprovalStore
from toolgate.stores.approvals_sqlite import APPROVALS_DB_ENV

runner = CliRunner()
PASSWORD = "pw-91c4e7-never-shown"
STATE_ENV = "TOOLGATE_STATE_DSN"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own TOOLGATE_HOME and no state DSN or files from the environment."""
    monkeypatch.setenv("TOOLGATE_HOME", str(tmp_path / "home"))
    for name in (STATE_ENV, GRANTS_DB_ENV, APPROVALS_DB_ENV):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


@pytest.fixture
def redis_grants(fresh_redis: RedisServer) -> Iterator[RedisGrantStore]:
    """What a gateway with `state: {dsn: <url>}` (default prefix) reads its grants from."""
    with RedisGrantStore.from_url(fresh_redis.url, prefix="toolgate:") as store:
        yield store


def cli(*args: str) -> Result:
    return runner.invoke(app, list(args))


def created(*args: str) -> dict[str, str]:
    result = cli("grants", "create", "--server", "files", "--label", "agent-a", "--json", *args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    return {"id": data["grant"]["id"], "token": data["token"]}


# -- grants ----------------------------------------------------------------------------------------


def test_a_grant_created_with_a_redis_state_dsn_is_the_gateways_to_verify(
    fresh_redis: RedisServer, redis_grants: RedisGrantStore, home: Path
) -> None:
    issued = created("--state-dsn", fresh_redis.url)
    found = redis_grants.lookup(issued["token"])
    assert found is not None
    assert (found.id, found.label, found.server) == (issued["id"], "agent-a", "files")
    assert not (home / "state" / "grants.sqlite3").exists()  # nothing went to the file


def test_list_revoke_and_rotate_reach_redis_through_the_environment(
    fresh_redis: RedisServer, redis_grants: RedisGrantStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STATE_ENV, fresh_redis.url)
    first = created()
    listed = cli("grants", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert [g["id"] for g in json.loads(listed.stdout)["grants"]] == [first["id"]]
    rotated = cli("grants", "rotate", first["id"], "--json")
    assert rotated.exit_code == 0, rotated.output
    second = json.loads(rotated.stdout)
    assert redis_grants.verify(first["token"]) == "unknown"
    assert redis_grants.lookup(second["token"]) is not None
    revoked = cli("grants", "revoke", "--server", "files", "--label", "agent-a")
    assert revoked.exit_code == 0, revoked.output
    assert redis_grants.verify(second["token"]) == "unknown"
    assert "no grants in redis://127.0.0.1" in cli("grants", "list").stdout


def test_the_state_prefix_chooses_the_key_space(fresh_redis: RedisServer) -> None:
    issued = created("--state-dsn", fresh_redis.url, "--state-prefix", "acme")
    with RedisGrantStore.from_url(fresh_redis.url, prefix="acme:") as acme:
        assert acme.lookup(issued["token"]) is not None
    with RedisGrantStore.from_url(fresh_redis.url) as default:
        assert default.verify(issued["token"]) == "unknown"


@pytest.mark.parametrize("dsn", ["memory://", "sqlite:///var/lib/toolgate/counters.sqlite3"])
def test_a_state_dsn_that_is_not_redis_keeps_the_grants_file(home: Path, dsn: str) -> None:
    issued = created("--state-dsn", dsn)
    with GrantStore(home / "state" / "grants.sqlite3") as file:
        assert file.lookup(issued["token"]) is not None


@pytest.mark.parametrize(
    ("dsn", "said"),
    [
        ("garbage", "is not a state store URL"),
        ("http://127.0.0.1:6379/0", "is not a state store URL"),
        ("redis+sentinel://127.0.0.1:26379", "is not a state store URL"),
        ("memory://x", "is not a state store URL"),
        (f"redis://:{PASSWORD}@127.0.0.1:99999/0", "malformed URL"),
        (f"redis://:{PASSWORD}@/0", "no host"),
        ("redis://127.0.0.1:6379/zero", "must be a number"),
        (f"redis://:{PASSWORD}@127.0.0.1:6379/0?timeout=1", "unsupported option"),
        ("  ", "must not be empty"),
        ("redis://h\x1b[2J:1/0", "--state-dsn"),
    ],
)
def test_a_bad_state_dsn_exits_2_naming_the_option_and_never_its_password(
    dsn: str, said: str
) -> None:
    for command in (["grants", "list"], ["approvals", "list"]):
        result = cli(*command, "--state-dsn", dsn)
        assert result.exit_code == 2, result.output
        assert "--state-dsn" in result.stderr
        assert said in result.stderr
        assert PASSWORD not in result.output
        assert "\x1b" not in result.output


@pytest.mark.parametrize("prefix", ["", " acme", "acme "])
def test_a_bad_state_prefix_exits_2(fresh_redis: RedisServer, prefix: str) -> None:
    result = cli("grants", "list", "--state-dsn", fresh_redis.url, "--state-prefix", prefix)
    assert result.exit_code == 2
    assert "--state-prefix" in result.stderr


def test_a_grants_file_and_a_redis_state_dsn_together_exit_2(
    fresh_redis: RedisServer, tmp_path: Path
) -> None:
    result = cli(
        "grants", "list", "--state-dsn", fresh_redis.url, "--grants-db", str(tmp_path / "g.db")
    )
    assert result.exit_code == 2
    assert "--grants-db" in result.stderr
    assert not (tmp_path / "g.db").exists()


def test_an_unreachable_redis_exits_1_with_the_dsn_masked() -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    for command in (["grants", "list"], ["grants", "create", "--server", "f", "--label", "a"]):
        result = cli(*command, "--state-dsn", url)
        assert result.exit_code == 1, result.output
        assert "redis://***@127.0.0.1" in result.stderr
        assert PASSWORD not in result.output


# -- approvals -------------------------------------------------------------------------------------


def ask(fingerprint: str = "fp-1") -> ApprovalRequest:
    return ApprovalRequest(
        fingerprint=fingerprint,
        tool="create_refund",
        arguments={"amount": Decimal("12.50")},
        rule_id="tools.create_refund.rules[0]",
        rule_name="large refunds",
        policy_revision="rev-1",
        identity="agent-a",
        server="billing",
        session="sess-1",
        message="refunds over 10 need a human",
        decision_id="dec_0001",
        mode="queue",
        timeout_seconds=300.0,
    )


def pending_in_redis(url: str, prefix: str = "toolgate:") -> Approval:
    """An approval asked for by a gateway whose state is the Redis at `url`."""

    async def ask_one() -> Approval:
        store = RedisApprovalStore.from_url(url, prefix=prefix)
        try:
            approval, _ = await store.request(ask(), dedupe_seconds=None, now=SystemClock().now())
            return approval
        finally:
            await store.aclose()

    return anyio.run(ask_one)


def status_in_redis(url: str, approval_id: str) -> ApprovalStatus:
    async def read() -> ApprovalStatus:
        store = RedisApprovalStore.from_url(url)
        try:
            found = await store.get(approval_id, SystemClock().now())
            assert found is not None
            return found.status
        finally:
            await store.aclose()

    return anyio.run(read)


def test_approvals_are_listed_shown_and_decided_in_redis(
    fresh_redis: RedisServer, home: Path
) -> None:
    approval = pending_in_redis(fresh_redis.url)
    listed = cli("approvals", "list", "--state-dsn", fresh_redis.url, "--json")
    assert listed.exit_code == 0, listed.output
    assert [a["id"] for a in json.loads(listed.stdout)["approvals"]] == [approval.id]
    shown = cli("approvals", "show", approval.id, "--state-dsn", fresh_redis.url)
    assert shown.exit_code == 0, shown.output
    assert "create_refund" in shown.stdout
    decided = cli(
        "approvals", "approve", approval.id, "--by", "alice", "--state-dsn", fresh_redis.url
    )
    assert decided.exit_code == 0, decided.output
    assert status_in_redis(fresh_redis.url, approval.id) is ApprovalStatus.APPROVED
    assert not (home / "state" / "approvals.sqlite3").exists()


def test_approvals_under_another_prefix_are_not_listed(fresh_redis: RedisServer) -> None:
    approval = pending_in_redis(fresh_redis.url, prefix="acme:")
    theirs = cli(
        "approvals", "list", "--state-dsn", fresh_redis.url, "--state-prefix", "acme", "--json"
    )
    assert theirs.exit_code == 0, theirs.output
    assert [a["id"] for a in json.loads(theirs.stdout)["approvals"]] == [approval.id]
    ours = cli("approvals", "list", "--state-dsn", fresh_redis.url)
    assert ours.exit_code == 0, ours.output
    assert "no pending approvals in redis://127.0.0.1" in ours.stdout


def test_approvals_with_an_unreachable_redis_exit_1_with_the_dsn_masked() -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    for command in (["approvals", "list"], ["approvals", "deny", "apr_0123456789abcdef"]):
        result = cli(*command, "--state-dsn", url)
        assert result.exit_code == 1, result.output
        assert "redis://***@127.0.0.1" in result.stderr
        assert PASSWORD not in result.output


def test_an_approvals_file_and_a_redis_state_dsn_together_exit_2(
    fresh_redis: RedisServer, tmp_path: Path
) -> None:
    for option in ("--approvals-db", "--state-dir"):
        result = cli("approvals", "list", "--state-dsn", fresh_redis.url, option, str(tmp_path))
        assert result.exit_code == 2
        assert "--approvals-db and --state-dir" in result.stderr


# -- the gateway's side ----------------------------------------------------------------------------


def gateway_file(tmp_path: Path, state: dict[str, str], auth: dict[str, object]) -> Path:
    policy = tmp_path / "policy.yaml"
    policy.write_text('version: "1"\ntools: {}\n')
    document = {
        "listen": "127.0.0.1:0",
        "state": state,
        "auth": auth,
        "servers": {"files": {"command": ["true"], "policy": str(policy)}},
    }
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_gateway_with_redis_state_verifies_grants_the_cli_created_there(
    fresh_redis: RedisServer, tmp_path: Path, home: Path
) -> None:
    issued = created("--state-dsn", fresh_redis.url, "--state-prefix", "fleet")
    config = load_gateway_config(
        gateway_file(tmp_path, {"dsn": fresh_redis.url, "prefix": "fleet"}, {"grants": True}),
        {"TOOLGATE_HOME": str(home)},
    )
    store = open_grant_store(config, SystemClock())
    assert isinstance(store, RedisGrantStore)

    async def check() -> None:
        try:
            found = await store.averify(issued["token"], SystemClock().now())
            assert not isinstance(found, str)
            assert found.id == issued["id"]
        finally:
            await store.aclose()

    anyio.run(check)


def test_a_gateway_without_redis_state_keeps_the_grants_file(tmp_path: Path, home: Path) -> None:
    config = load_gateway_config(
        gateway_file(tmp_path, {"dsn": "memory://"}, {"grants": True}),
        {"TOOLGATE_HOME": str(home)},
    )
    store = open_grant_store(config, SystemClock())
    assert isinstance(store, GrantStore)
    assert store.path == home / "state" / "grants.sqlite3"
    store.close()


def test_an_explicit_grants_file_with_redis_state_is_refused_where_the_file_says_it(
    fresh_redis: RedisServer, tmp_path: Path, home: Path
) -> None:
    auth = {"grants": True, "grants_db": str(tmp_path / "mine.sqlite3")}
    path = gateway_file(tmp_path, {"dsn": fresh_redis.url}, auth)
    with pytest.raises(ConfigError, match=r"grants_db .*state\.dsn is Redis") as raised:
        load_gateway_config(path, {"TOOLGATE_HOME": str(home)})
    assert f"{path}:" in str(raised.value)  # located in the file


@pytest.mark.parametrize(
    ("dsn", "refused"),
    [("redis://127.0.0.1:6379/0", True), ("unix:///run/redis.sock", True), ("memory://", False)],
)
def test_the_auth_section_reports_a_grants_file_beside_redis_state_at_its_line(
    tmp_path: Path, dsn: str, refused: bool
) -> None:
    text = "grants: true\ngrants_db: /var/lib/toolgate/grants.sqlite3\n"
    issues = Issues("gateway.yaml")
    reader = SectionReader(issues, Secrets(issues, tmp_path, {}, []), tmp_path, tmp_path)
    node = parse_yaml(text)
    assert isinstance(node, LMap)
    auth = reader.auth(Fields(node, "auth", issues, AUTH_KEYS), StateConfig(dsn=dsn))
    if not refused:
        assert auth is not None
        assert issues.errors == []
        return
    assert auth is None
    [error] = issues.errors
    assert (error.location.line, error.location.column, error.path) == (2, 12, "auth")
    assert error.message.startswith("grants_db names an SQLite grants file")
    assert "state.dsn is Redis" in error.message
