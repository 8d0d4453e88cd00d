"""`toolgate approvals list|show|approve|deny|serve` over a real SQLite approvals file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from typer.testing import CliRunner, Result

from toolgate.cli.main import app
from toolgate.stores.approvals import Approval, ApprovalRequest, ApprovalStatus
from toolgate.stores.approvals_sqlite import APPROVALS_DB_ENV, SqliteApprovalStore

runner = CliRunner(env={"COLUMNS": "200"})  # a wide terminal: table cells stay whole
UNKNOWN = "apr_00000000000000aa"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own TOOLGATE_HOME, no approvals file or admin token from the
    environment, and a known $USER."""
    monkeypatch.setenv("TOOLGATE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(APPROVALS_DB_ENV, raising=False)
    monkeypatch.delenv("TOOLGATE_ADMIN_TOKEN", raising=False)
    monkeypatch.setenv("USER", "carol")
    return tmp_path / "home"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "approvals.sqlite3"


def add(
    db: Path,
    *,
    tool: str = "delete_file",
    arguments: dict[str, Any] | None = None,
    identity: str | None = "agent-a",
    now: float | None = None,
) -> Approval:
    """A pending approval, opened through the store API as the gateway would."""
    request = ApprovalRequest(
        fingerprint=f"sha256:{time.monotonic_ns():064x}",
        tool=tool,
        arguments={"path": "/srv/report.csv"} if arguments is None else arguments,
        rule_id="r-delete",
        rule_name="deletes need approval",
        policy_revision="rev-1",
        identity=identity,
        server="files",
        session=None,
        message="deleting files needs a human",
        decision_id="dec-1",
        mode="queue",
        timeout_seconds=600.0,
    )

    async def open_one() -> Approval:
        store = SqliteApprovalStore(db)
        try:
            approval, _ = await store.request(
                request, dedupe_seconds=None, now=time.time() if now is None else now
            )
            return approval
        finally:
            await store.aclose()

    return anyio.run(open_one)


def stored(db: Path, approval_id: str) -> Approval:
    async def read() -> Approval | None:
        store = SqliteApprovalStore(db)
        try:
            return await store.get(approval_id, time.time())
        finally:
            await store.aclose()

    found = anyio.run(read)
    assert found is not None
    return found


def approvals(db: Path, *args: str) -> Result:
    return runner.invoke(app, ["approvals", *args, "--approvals-db", str(db)])


def test_list_shows_pending_approvals_in_a_table(db: Path) -> None:
    approval = add(db, tool="wire_money", identity="agent-b", now=time.time() - 120)
    result = approvals(db, "list")
    assert result.exit_code == 0, result.output
    for text in (approval.id, "wire_money", "files", "agent-b", "r-delete", "expires in"):
        assert text in result.stdout
    assert re.search(r"r-delete\s+2m( \ds)?\s+(7m 5\ds|8m)\s", result.stdout), result.stdout


def test_list_defaults_to_pending_and_status_all_shows_every_one(db: Path) -> None:
    waiting = add(db, tool="wire_money")
    done = add(db, tool="send_mail")
    assert approvals(db, "deny", done.id).exit_code == 0
    default = approvals(db, "list")
    everything = approvals(db, "list", "--status", "all")
    denied = approvals(db, "list", "--status", "denied", "--json")
    assert waiting.id in default.stdout and done.id not in default.stdout
    assert waiting.id in everything.stdout and done.id in everything.stdout
    assert "status" in everything.stdout
    assert [a["id"] for a in json.loads(denied.stdout)["approvals"]] == [done.id]


def test_list_json_has_the_api_shape_and_honours_limit(db: Path) -> None:
    add(db, now=time.time() - 5)
    newest = add(db, arguments={"amount": 1.10, "big": 2**70})
    result = approvals(db, "list", "--json", "--limit", "1")
    assert result.exit_code == 0, result.output
    [shown] = json.loads(result.stdout)["approvals"]
    assert shown["id"] == newest.id
    assert shown["arguments"] == {"amount": 1.10, "big": 2**70}
    assert shown["created_at"].endswith("Z")
    assert set(shown) >= {"rule_id", "rule_name", "expires_at", "resolved_by", "joined"}


def test_list_without_an_approvals_file_says_so_and_creates_none(db: Path) -> None:
    result = approvals(db, "list")
    assert result.exit_code == 0, result.output
    assert f"no pending approvals in {db}" in result.stdout
    assert not db.exists()
    as_json = approvals(db, "list", "--json")
    assert json.loads(as_json.stdout) == {"approvals": []}


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--status", "waiting"], "--status: status 'waiting' is not one of pending"),
        (["--limit", "0"], "--limit: limit 0 is not between 1 and 1000"),
        (["--limit", "100000"], "--limit: limit 100000 is not between"),
    ],
)
def test_list_with_a_bad_status_or_limit_exits_2(db: Path, args: list[str], said: str) -> None:
    result = approvals(db, "list", *args)
    assert result.exit_code == 2
    assert said in result.stderr


def test_show_prints_everything_with_arguments_pretty_printed(db: Path) -> None:
    approval = add(db, arguments={"path": "/srv/a", "opts": {"force": True}})
    result = approvals(db, "show", approval.id)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"approval  {approval.id}  pending" in out
    assert "why       deleting files needs a human" in out
    assert "rule      r-delete (deletes need approval)" in out
    assert 'arguments:\n{\n  "path": "/srv/a",\n  "opts": {\n    "force": true\n  }\n}' in out


def test_show_json_is_the_approval_object(db: Path) -> None:
    approval = add(db)
    result = approvals(db, "show", approval.id, "--json")
    data = json.loads(result.stdout)
    assert (data["id"], data["status"], data["tool"]) == (approval.id, "pending", "delete_file")


def test_agent_control_characters_never_reach_the_terminal_raw(db: Path) -> None:
    approval = add(db, tool="evil\x1b[2Jtool", arguments={"x": "a\x9b31mb\x1b[0m"})
    shown = approvals(db, "show", approval.id)
    listed = approvals(db, "list")
    as_json = approvals(db, "show", approval.id, "--json")
    for out in (shown.stdout, listed.stdout, as_json.stdout):
        assert "\x1b" not in out and "\x9b" not in out
    assert "evil\\x1b[2Jtool" in shown.stdout
    assert json.loads(as_json.stdout)["arguments"] == {"x": "a\x9b31mb\x1b[0m"}


def test_show_an_unknown_or_malformed_id(db: Path) -> None:
    add(db)
    unknown = approvals(db, "show", UNKNOWN)
    malformed = approvals(db, "show", "apr_XYZ")
    assert unknown.exit_code == 1
    assert f"no approval {UNKNOWN} in {db}" in unknown.stderr
    assert malformed.exit_code == 2
    assert "'apr_XYZ' is not an approval id" in malformed.stderr


def test_approve_records_the_reason_and_approver(db: Path) -> None:
    approval = add(db)
    result = approvals(db, "approve", approval.id, "--reason", "ticket 42", "--by", "dave")
    assert result.exit_code == 0, result.output
    assert f"approved {approval.id} (tool delete_file) as dave: ticket 42" in result.stdout
    after = stored(db, approval.id)
    assert (after.status, after.reason, after.resolved_by) == (
        ApprovalStatus.APPROVED,
        "ticket 42",
        "dave",
    )


def test_the_approver_defaults_to_user_then_cli(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = add(db), add(db)
    assert approvals(db, "deny", first.id).exit_code == 0
    monkeypatch.delenv("USER")
    assert approvals(db, "deny", second.id, "--json").exit_code == 0
    assert stored(db, first.id).resolved_by == "carol"
    assert stored(db, second.id).resolved_by == "cli"
    assert stored(db, second.id).status is ApprovalStatus.DENIED


def test_deciding_twice_exits_1_naming_the_status(db: Path) -> None:
    approval = add(db)
    assert approvals(db, "approve", approval.id).exit_code == 0
    again = approvals(db, "deny", approval.id)
    assert again.exit_code == 1
    assert f"cannot deny {approval.id}: it is approved, not pending" in again.stderr


def test_an_agent_cannot_approve_its_own_call(db: Path) -> None:
    approval = add(db, identity="agent-a")
    result = approvals(db, "approve", approval.id, "--by", "agent-a")
    assert result.exit_code == 1
    assert "self-approval refused" in result.stderr
    assert stored(db, approval.id).status is ApprovalStatus.PENDING


def test_deciding_an_unknown_approval_exits_1_and_a_malformed_one_exits_2(db: Path) -> None:
    missing_file = approvals(db, "approve", UNKNOWN)
    assert missing_file.exit_code == 1
    assert "there is no approvals file" in missing_file.stderr
    assert not db.exists()
    add(db)
    unknown = approvals(db, "approve", UNKNOWN)
    assert unknown.exit_code == 1
    assert f"cannot approve {UNKNOWN}" in unknown.stderr
    for bad in ("apr_0123", "APR_0123456789ABCDEF", "gr_0123456789ab", ""):
        assert approvals(db, "deny", bad).exit_code == 2


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--by", ""], "--by: the approver's name (by) must be a non-empty string"),
        (["--by", "a\x07b"], "--by: the approver's name (by) must be at most 200 printable"),
        (["--by", "x" * 201], "--by: the approver's name"),
        (["--reason", "x" * 2001], "--reason: reason must be at most 2000 characters"),
    ],
)
def test_a_bad_approver_or_reason_exits_2_and_decides_nothing(
    db: Path, args: list[str], said: str
) -> None:
    approval = add(db)
    result = approvals(db, "approve", approval.id, *args)
    assert result.exit_code == 2
    assert said in result.stderr
    assert stored(db, approval.id).status is ApprovalStatus.PENDING


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"this is not a database at all, just text", "is not an SQLite database"),
        (b"SQLite format 3\x00" + b"\x00" * 200, "cannot be opened"),
    ],
)
def test_a_garbage_approvals_file_is_refused_with_its_path(
    db: Path, content: bytes, said: str
) -> None:
    db.write_bytes(content)
    for args in (["list"], ["show", UNKNOWN], ["approve", UNKNOWN]):
        result = approvals(db, *args)
        assert result.exit_code == 1, args
        assert str(db) in result.stderr
        assert said in result.stderr
    assert db.read_bytes() == content


def test_the_file_is_found_through_the_environment_and_the_state_dir(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_home = add(home / "state" / "approvals.sqlite3")
    listed = runner.invoke(app, ["approvals", "list"])
    assert from_home.id in listed.stdout
    state = tmp_path / "elsewhere"
    from_state = add(state / "approvals.sqlite3")
    listed = runner.invoke(app, ["approvals", "list", "--state-dir", str(state)])
    assert from_state.id in listed.stdout and from_home.id not in listed.stdout
    env_file = tmp_path / "env.sqlite3"
    from_env = add(env_file)
    monkeypatch.setenv(APPROVALS_DB_ENV, str(env_file))
    listed = runner.invoke(app, ["approvals", "list", "--state-dir", str(state)])
    assert from_env.id in listed.stdout and from_state.id not in listed.stdout


@pytest.mark.parametrize(
    ("args", "token", "said"),
    [
        (["--listen", "0.0.0.0:8765"], None, "is not a loopback address"),
        (["--listen", "192.0.2.1:8765"], None, "set TOOLGATE_ADMIN_TOKEN"),
        (["--listen", "127.0.0.1:8765"], "short", "at least 16 characters"),
        (["--listen", "127.0.0.1"], None, "must be HOST:PORT"),
        (["--listen", "127.0.0.1:99999"], None, "must be HOST:PORT"),
        (["--listen", "http://127.0.0.1:80/x"], None, "must be HOST:PORT"),
        (["--allow-host", "a/b"], None, '--allow-host: "a/b" is not a host name'),
    ],
)
def test_serve_refuses_to_start_unsafely_or_on_a_bad_address(
    db: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    token: str | None,
    said: str,
) -> None:
    if token is not None:
        monkeypatch.setenv("TOOLGATE_ADMIN_TOKEN", token)
    result = approvals(db, "serve", *args)
    assert result.exit_code == 2
    assert said in result.stderr
    assert not db.exists()


def test_serve_on_a_garbage_approvals_file_exits_1(db: Path) -> None:
    db.write_bytes(b"not sqlite")
    result = approvals(db, "serve", "--listen", "127.0.0.1:0")
    assert result.exit_code == 1
    assert "is not an SQLite database" in result.stderr


def test_approvals_list_runs_as_a_module(db: Path, tmp_path: Path) -> None:
    approval = add(db, tool="wire_money")
    env = {**os.environ, "TOOLGATE_HOME": str(tmp_path / "home"), APPROVALS_DB_ENV: str(db)}
    done = subprocess.run(
        [sys.executable, "-m", "toolgate", "approvals", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [shown] = json.loads(done.stdout)["approvals"]
    assert (shown["id"], shown["tool"]) == (approval.id, "wire_money")
