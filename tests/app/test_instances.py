"""The instance registry: files written atomically, refreshed, removed; stale ones recognised."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import anyio
import orjson
import pytest

from toolgate.app import instances as registry
from toolgate.app.instances import InstanceRecord, Target
from toolgate.app.settings import RunSettings
from toolgate.clock import FakeClock

HOST = socket.gethostname()


def record(
    instance: str = "tg_aaaaaaaaaaaa", *, pid: int | None = None, **changes: object
) -> InstanceRecord:
    base = registry.new_record(
        instance=instance,
        kind="run",
        now=1_767_225_600.0,
        targets=[Target(None, "/p/policy.yaml", "abc123def456", "server:0123")],
        store_url="redis://:hunter2@cache:6379/0",
        state_dir=Path("/state"),
        audit=(["/logs/decisions.jsonl"], ["/logs/audit.db"]),
        command=["server", "--api-key", "sk-secret"],
    )
    data = orjson.loads(base.to_json())
    data.update(pid=pid or os.getpid(), **changes)
    return InstanceRecord.from_json(orjson.dumps(data))


def test_a_record_survives_the_round_trip_with_its_secrets_masked(tmp_path: Path) -> None:
    written = record()
    path = registry.write_record(tmp_path, written)
    assert path == tmp_path / "tg_aaaaaaaaaaaa.json"
    text = path.read_text()
    assert "hunter2" not in text and "sk-secret" not in text
    assert InstanceRecord.from_json(path.read_bytes()) == written
    assert [p.name for p in tmp_path.iterdir()] == ["tg_aaaaaaaaaaaa.json"]  # no temp file left


def test_a_running_instance_is_listed_as_running(tmp_path: Path) -> None:
    registry.write_record(tmp_path, record())
    listed, warnings = registry.list_instances(tmp_path, 1_767_225_610.0)
    assert warnings == []
    assert [(item.record.instance, item.stale) for item in listed] == [("tg_aaaaaaaaaaaa", None)]


def test_an_instance_whose_process_is_gone_is_stale(tmp_path: Path) -> None:
    registry.write_record(tmp_path, record(pid=4242))
    listed, _ = registry.list_instances(tmp_path, 1_767_225_610.0, alive=lambda pid: False)
    assert listed[0].stale == "process 4242 is not running"


def test_an_instance_without_a_heartbeat_for_a_minute_is_stale_even_on_another_host(
    tmp_path: Path,
) -> None:
    registry.write_record(tmp_path, record(host="elsewhere"))
    fresh, _ = registry.list_instances(tmp_path, 1_767_225_660.0, alive=lambda pid: False)
    assert fresh[0].stale is None  # another host's pid means nothing here
    late, _ = registry.list_instances(tmp_path, 1_767_225_661.5, alive=lambda pid: True)
    assert late[0].stale == "no heartbeat for 61 s"


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"\x00\xff garbage", "not JSON"),
        (b"[1, 2]", "not a version 1 instance record"),
        (b'{"v": 2, "instance": "x"}', "not a version 1 instance record"),
        (b'{"v": 1, "instance": "tg_x"}', "is missing or has the wrong type"),
    ],
)
def test_an_unreadable_instance_file_is_skipped_with_a_warning_naming_it(
    tmp_path: Path, content: bytes, why: str
) -> None:
    registry.write_record(tmp_path, record())
    (tmp_path / "tg_broken.json").write_bytes(content)
    listed, warnings = registry.list_instances(tmp_path, 1_767_225_610.0)
    assert [item.record.instance for item in listed] == ["tg_aaaaaaaaaaaa"]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{tmp_path / 'tg_broken.json'}: unreadable instance file")
    assert why in warnings[0]


@pytest.mark.parametrize(
    "change",
    [{"pid": -1}, {"pid": True}, {"pid": "12"}, {"started_at": "yesterday"}, {"targets": [1]}],
)
def test_a_record_with_a_wrong_field_is_refused(change: dict[str, object]) -> None:
    data = orjson.loads(record().to_json())
    data.update(change)
    with pytest.raises(ValueError, match="wrong type"):
        InstanceRecord.from_json(orjson.dumps(data))


def test_a_missing_registry_lists_nothing(tmp_path: Path) -> None:
    assert registry.list_instances(tmp_path / "absent", 0.0) == ([], [])


def test_prune_deletes_only_stale_instances(tmp_path: Path) -> None:
    registry.write_record(tmp_path, record("tg_live"))
    registry.write_record(tmp_path, record("tg_dead", pid=999_999))
    listed, _ = registry.list_instances(tmp_path, 1_767_225_610.0, alive=lambda pid: pid != 999_999)
    assert registry.prune(listed) == [tmp_path / "tg_dead.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["tg_live.json"]


def test_a_reaped_process_is_not_alive_and_this_one_is() -> None:
    assert registry.pid_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not registry.pid_alive(child.pid)


def test_a_registration_beats_with_the_clock_rewrites_a_deleted_file_and_closes(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    registration = registry.register(tmp_path, record(), clock)
    path = tmp_path / "instances" / "tg_aaaaaaaaaaaa.json"
    clock.advance(30)
    path.unlink()
    registration.beat()
    assert InstanceRecord.from_json(path.read_bytes()).updated_at == clock.now()
    registration.close()
    assert not path.exists()
    registration.beat()  # after close: nothing comes back
    assert not path.exists()


class SignallingClock(FakeClock):
    """A fake clock that tells the test when the heartbeat reads it (then writes the file)."""

    def __init__(self) -> None:
        super().__init__()
        self.read = anyio.Event()

    def now(self) -> float:
        self.read.set()
        return super().now()


@pytest.mark.anyio
async def test_the_heartbeat_task_refreshes_the_file_until_cancelled(tmp_path: Path) -> None:
    clock = SignallingClock()
    registration = registry.register(tmp_path, record(), clock)
    path = tmp_path / "instances" / "tg_aaaaaaaaaaaa.json"
    started = InstanceRecord.from_json(path.read_bytes()).updated_at
    clock.advance(15)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(registration.heartbeat, 0.001)
            await clock.read.wait()  # beat() reads the clock, then writes without yielding
            tg.cancel_scope.cancel()
    assert InstanceRecord.from_json(path.read_bytes()).updated_at == started + 15


def test_a_registry_that_cannot_be_written_is_logged_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "instances").write_text("a file where the directory should be")
    registration = registry.register(tmp_path, record(), FakeClock())
    registration.beat()
    registration.close()
    assert "could not write instance file" in caplog.text
    assert "could not refresh instance file" in caplog.text
    assert "could not remove instance file" in caplog.text


def test_audit_targets_follow_the_sinks() -> None:
    default = Path("/d/decisions.jsonl")
    assert registry.audit_targets([], default) == (["/d/decisions.jsonl"], [])
    sinks = ["jsonl", "jsonl:/x/other.jsonl", "sqlite:/x/audit.db", "stderr"]
    assert registry.audit_targets(sinks, default) == (
        ["/d/decisions.jsonl", "/x/other.jsonl"],
        ["/x/audit.db"],
    )


def test_a_run_registers_its_policy_namespace_and_masked_store(tmp_path: Path) -> None:
    settings = RunSettings(
        tmp_path / "policy.yaml",
        ("server", "--flag"),
        tmp_path / "state",
        tmp_path / "audit.jsonl",
        store_url="redis://user:pw@host:6379/0",
    )
    registration = registry.register_run(settings, "tg_0123456789ab", "rev", FakeClock())
    written = InstanceRecord.from_json(
        (tmp_path / "state" / "instances" / "tg_0123456789ab.json").read_bytes()
    )
    assert written.targets == (
        Target(None, str(tmp_path / "policy.yaml"), "rev", settings.counter_namespace),
    )
    assert "pw" not in written.store_url
    assert written.audit_logs == (str(tmp_path / "audit.jsonl"),)
    assert (written.pid, written.host, written.kind) == (os.getpid(), HOST, "run")
    registration.close()


def test_the_last_instance_to_stop_removes_the_registry_directory(tmp_path: Path) -> None:
    first = registry.register(tmp_path, record("tg_first"), FakeClock())
    second = registry.register(tmp_path, record("tg_second"), FakeClock())
    first.close()
    assert [p.name for p in (tmp_path / "instances").iterdir()] == ["tg_second.json"]
    second.close()
    assert not (tmp_path / "instances").exists()
    first.closed = False
    first.beat()  # a registry removed under a running instance comes back
    assert [p.name for p in (tmp_path / "instances").iterdir()] == ["tg_first.json"]
