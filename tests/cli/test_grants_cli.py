"""`toolgate grants create|list|revoke|rotate`: tokens shown once, clear errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from toolgate.cli import grants as grants_cli
from toolgate.cli.main import app
from toolgate.identity.grants import GRANTS_DB_ENV, GrantStore
from toolgate.identity.tokens import parse_token, token_hash

runner = CliRunner()
NOW = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
VALID_POLICY = 'version: "1"\ntools:\n  read_file:\n    rules:\n      - rate_limit: 5/minute\n'


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own TOOLGATE_HOME, and no grants file from the environment."""
    monkeypatch.setenv("TOOLGATE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(GRANTS_DB_ENV, raising=False)
    return tmp_path / "home"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "grants.sqlite3"


@pytest.fixture
def store(db: Path) -> Iterator[GrantStore]:
    with GrantStore(db) as grants:
        yield grants


def grants(db: Path, *args: str) -> Result:
    return runner.invoke(app, ["grants", *args, "--grants-db", str(db)])


def create_json(db: Path, *args: str) -> dict[str, Any]:
    result = grants(db, "create", "--server", "files", "--label", "agent-a", *args, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_create_prints_the_token_once_on_stdout_and_stores_only_its_hash(
    db: Path, store: GrantStore
) -> None:
    result = grants(db, "create", "--server", "files", "--label", "agent-a", "--attr", "team=ops")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    parsed = parse_token(token)
    assert parsed is not None
    assert "shown once and cannot be shown again" in result.stderr
    assert token not in result.stderr
    grant = store.lookup(token)
    assert grant is not None
    assert (grant.id, grant.label, grant.attributes) == (
        parsed.grant_id,
        "agent-a",
        {"team": "ops"},
    )
    on_disk = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert parsed.grant_id.encode() in on_disk
    assert token.encode() not in on_disk
    assert parsed.secret.encode() not in on_disk


def test_create_json_prints_the_grant_and_its_token(db: Path, store: GrantStore) -> None:
    data = create_json(db, "--attr", "team=ops", "--attr", "tier=gold")
    grant, token = data["grant"], data["token"]
    assert isinstance(grant, dict)
    assert isinstance(token, str)
    found = store.lookup(token)
    assert found is not None
    assert grant["id"] == found.id
    assert grant["status"] == "live"
    assert grant["attributes"] == {"team": "ops", "tier": "gold"}
    assert grant["expires"] is None
    assert "hash" not in json.dumps(grant)


def test_list_never_shows_tokens_or_hashes_and_shows_status(db: Path) -> None:
    token = str(create_json(db)["token"])
    second = create_json(db, "--label", "agent-b")
    revoked = second["grant"]
    assert isinstance(revoked, dict)
    assert grants(db, "revoke", str(revoked["id"])).exit_code == 0
    table = grants(db, "list")
    assert table.exit_code == 0, table.output
    assert "agent-a" in table.stdout
    assert "live" in table.stdout
    assert "agent-b" not in table.stdout
    every = grants(db, "list", "--all", "--json")
    data = json.loads(every.stdout)["grants"]
    assert [(g["label"], g["status"]) for g in data] == [
        ("agent-a", "live"),
        ("agent-b", "revoked"),
    ]
    for shown in (table.stdout, every.stdout):
        assert token not in shown
        assert token_hash(token) not in shown


def test_list_of_an_empty_store_says_so(db: Path) -> None:
    result = grants(db, "list")
    assert result.exit_code == 0
    assert f"no grants in {db}" in result.stdout


def test_list_filters_by_server(db: Path) -> None:
    create_json(db)
    result = grants(db, "create", "--server", "billing", "--label", "b", "--json")
    assert result.exit_code == 0
    listed = json.loads(grants(db, "list", "--server", "billing", "--json").stdout)["grants"]
    assert [g["server"] for g in listed] == ["billing"]


def test_revoke_by_id_and_by_server_and_label(db: Path, store: GrantStore) -> None:
    first = create_json(db)
    second = create_json(db, "--label", "agent-b")
    result = grants(db, "revoke", str(first["grant"]["id"]))
    assert result.exit_code == 0, result.output
    assert "revoked grant" in result.stdout
    assert store.lookup(str(first["token"])) is None
    result = grants(db, "revoke", "--server", "files", "--label", "agent-b")
    assert result.exit_code == 0, result.output
    assert store.lookup(str(second["token"])) is None


def test_revoking_an_unknown_or_revoked_grant_exits_1(db: Path) -> None:
    created = create_json(db)
    grant_id = str(created["grant"]["id"])
    assert grants(db, "revoke", grant_id).exit_code == 0
    again = grants(db, "revoke", grant_id)
    assert again.exit_code == 1
    assert "already revoked" in again.stderr
    unknown = grants(db, "revoke", "gr_000000000000")
    assert unknown.exit_code == 1
    assert "no grant gr_000000000000" in unknown.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not-an-id"], '"not-an-id" is not a grant id'),
        ([], "name the grant"),
        (["--server", "files"], "name the grant"),
        (["gr_000000000000", "--server", "files", "--label", "a"], "not both"),
        (["--server", "Files!", "--label", "a"], "--server: server name"),
        (["--server", "files", "--label", ""], "--label: label must not be empty"),
    ],
)
def test_revoke_with_bad_input_exits_2(db: Path, args: list[str], message: str) -> None:
    result = grants(db, "revoke", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_rotate_prints_a_new_token_and_the_old_one_stops_working_at_once(
    db: Path, store: GrantStore
) -> None:
    created = create_json(db, "--attr", "team=ops")
    old_token = str(created["token"])
    assert store.lookup(old_token) is not None
    old_id = str(created["grant"]["id"])
    result = grants(db, "rotate", old_id)
    assert result.exit_code == 0, result.output
    new_token = result.stdout.strip()
    assert "shown once" in result.stderr
    assert store.lookup(old_token) is None
    new = store.lookup(new_token)
    assert new is not None
    assert (new.label, new.attributes) == ("agent-a", {"team": "ops"})
    assert new.id != old_id
    listed = json.loads(grants(db, "list", "--all", "--json").stdout)["grants"]
    assert {g["id"]: g["rotated_to"] for g in listed}[old_id] == new.id


def test_rotate_json_and_bad_ids(db: Path) -> None:
    created = create_json(db)
    result = grants(db, "rotate", str(created["grant"]["id"]), "--json")
    assert result.exit_code == 0
    assert parse_token(json.loads(result.stdout)["token"]) is not None
    assert grants(db, "rotate", "junk").exit_code == 2
    missing = grants(db, "rotate", "gr_000000000000")
    assert missing.exit_code == 1
    assert "no grant" in missing.stderr


def test_a_duplicate_live_label_exits_1_naming_the_holder(db: Path) -> None:
    created = create_json(db)
    result = grants(db, "create", "--server", "files", "--label", "agent-a")
    assert result.exit_code == 1
    assert f'already has a live grant labelled "agent-a" ({created["grant"]["id"]})' in (
        result.stderr
    )


def test_a_policy_is_validated_and_stored_as_an_absolute_path(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "p.yaml").write_text(VALID_POLICY)
    monkeypatch.chdir(tmp_path)
    grant = create_json(db, "--policy", "p.yaml")["grant"]
    assert isinstance(grant, dict)
    assert grant["policy"] == str(tmp_path / "p.yaml")


def test_an_invalid_policy_is_refused_with_its_located_errors(db: Path, tmp_path: Path) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text(
        'version: "1"\ntools:\n  a:\n    rules:\n      - name: r\n        on-deny: x\n'
    )
    result = grants(db, "create", "--server", "files", "--label", "a", "--policy", str(policy))
    assert result.exit_code == 2
    assert f"--policy: {policy} is not a valid policy" in result.stderr
    assert f"{policy}:6:" in result.stderr or f"{policy}:5:" in result.stderr
    assert not db.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--server", "Files", "--label", "a"], '--server: server name "Files" is invalid'),
        (["--server", "fi/les", "--label", "a"], "--server: server name"),
        (["--server", "", "--label", "a"], "--server: server name"),
        (["--server", "files", "--label", ""], "--label: label must not be empty"),
        (["--server", "files", "--label", "a\tb"], "--label: label"),
        (["--server", "files", "--label", "a" * 129], "--label: label is 129 characters"),
        (
            ["--server", "files", "--label", "a", "--expires", "soon"],
            '--expires: "soon" is neither',
        ),
        (["--server", "files", "--label", "a", "--expires", ""], "--expires"),
        (["--server", "files", "--label", "a", "--expires", "0d"], "--expires"),
        (["--server", "files", "--label", "a", "--expires", "-5d"], "--expires"),
        (["--server", "files", "--label", "a", "--expires", "2001-01-01"], "is in the past"),
        (["--server", "files", "--label", "a", "--expires", "9999-12-31"], "100 years ahead"),
        (["--server", "files", "--label", "a", "--expires", "2099-13-01"], "--expires"),
        (["--server", "files", "--label", "a", "--attr", "team"], '--attr: "team" must look like'),
        (["--server", "files", "--label", "a", "--attr", "=x"], "--attr: attribute name"),
        (["--server", "files", "--label", "a", "--attr", "name=x"], "--attr: attribute name"),
        (["--server", "files", "--label", "a", "--attr", "k=1", "--attr", "k=2"], "given twice"),
        (["--server", "files", "--label", "a", "--policy", "missing.yaml"], "no such file"),
    ],
)
def test_create_with_bad_input_exits_2_naming_the_option(
    db: Path, args: list[str], message: str
) -> None:
    result = grants(db, "create", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stdout == ""
    assert not db.exists()


def test_a_policy_of_the_wrong_type_is_refused(db: Path, tmp_path: Path) -> None:
    policy = tmp_path / "p.txt"
    policy.write_text(VALID_POLICY)
    result = grants(db, "create", "--server", "files", "--label", "a", "--policy", str(policy))
    assert result.exit_code == 2
    assert "--policy:" in result.stderr
    assert "unsupported policy file type" in result.stderr


def test_create_needs_server_and_label(db: Path) -> None:
    assert grants(db, "create", "--label", "a").exit_code == 2
    assert grants(db, "create", "--server", "files").exit_code == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2099-01-01", "2099-01-01T00:00:00Z"),
        ("2099-01-01T12:30:00", "2099-01-01T12:30:00Z"),
        ("2099-01-01T12:30:00+02:00", "2099-01-01T10:30:00Z"),
        ("2099-01-01T12:30:00Z", "2099-01-01T12:30:00Z"),
    ],
)
def test_expires_accepts_iso_dates_and_times_utc_unless_told(
    db: Path, text: str, expected: str
) -> None:
    grant = create_json(db, "--expires", text)["grant"]
    assert isinstance(grant, dict)
    assert grant["expires"] == expected


@pytest.mark.parametrize(("text", "seconds"), [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400)])
def test_expires_accepts_a_duration_from_now(text: str, seconds: int) -> None:
    assert grants_cli.parse_expires(text, NOW) == NOW + seconds


def test_a_created_duration_expiry_lies_that_far_ahead(db: Path, store: GrantStore) -> None:
    before = datetime.now(UTC).timestamp()
    token = str(create_json(db, "--expires", "12h")["token"])
    after = datetime.now(UTC).timestamp()
    grant = store.lookup(token)
    assert grant is not None
    assert grant.expires is not None
    assert before + 43200 <= grant.expires <= after + 43200


def test_the_grants_file_defaults_to_the_state_dir_under_toolgate_home(home: Path) -> None:
    result = runner.invoke(app, ["grants", "create", "--server", "files", "--label", "a"])
    assert result.exit_code == 0, result.output
    with GrantStore(home / "state" / "grants.sqlite3") as store:
        assert store.lookup(result.stdout.strip()) is not None


def test_the_grants_file_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "env" / "g.sqlite3"
    monkeypatch.setenv(GRANTS_DB_ENV, str(path))
    result = runner.invoke(app, ["grants", "create", "--server", "files", "--label", "a"])
    assert result.exit_code == 0, result.output
    with GrantStore(path) as store:
        assert store.lookup(result.stdout.strip()) is not None


def test_a_non_database_grants_file_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"important notes\n")
    for args in (["list"], ["create", "--server", "files", "--label", "a"]):
        result = grants(path, *args)
        assert result.exit_code == 1
        assert "is not an SQLite database; refusing" in result.stderr
    assert path.read_bytes() == b"important notes\n"


def test_a_revoke_from_another_process_is_seen_on_the_next_lookup(
    db: Path, store: GrantStore, home: Path
) -> None:
    token = str(create_json(db)["token"])
    assert store.lookup(token) is not None
    env = {**os.environ, GRANTS_DB_ENV: str(db), "TOOLGATE_HOME": str(home)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "toolgate",
            "grants",
            "revoke",
            "--server",
            "files",
            "--label",
            "agent-a",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert store.lookup(token) is None


@pytest.mark.parametrize("command", [[], ["create"], ["list"], ["revoke"], ["rotate"]])
def test_every_grants_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, ["grants", *command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output
