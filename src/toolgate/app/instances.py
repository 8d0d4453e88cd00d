"""The registry of running gateway instances: one small JSON file per process.

Each `toolgate run` and `toolgate serve` writes `<state_dir>/instances/<instance id>.json` when
it starts (the id is its audit recorder's `instance`, the one its lifecycle events carry), keeps
its `updated_at` fresh every `HEARTBEAT_SECONDS` from a task of its event loop, and removes the
file when it stops cleanly. `toolgate status` lists the files and calls an entry stale when its
process is gone (same host) or its heartbeat is older than `STALE_AFTER_SECONDS` — what a
`kill -9` or a power loss leaves behind. Files are replaced atomically (temporary file, then
rename), so a reader never sees half of one. Store URLs are written with their password masked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import orjson

from toolgate.audit.event import timestamp
from toolgate.audit.fanout import parse_sink_spec
from toolgate.audit.redact import redact_command, redact_url
from toolgate.clock import Clock

if TYPE_CHECKING:
    from toolgate.app.gateway_config import GatewayConfig
    from toolgate.app.settings import RunSettings

log = logging.getLogger("toolgate")

RECORD_VERSION = 1
HEARTBEAT_SECONDS = 10.0
STALE_AFTER_SECONDS = 60.0
SUFFIX = ".json"


@dataclass(frozen=True, slots=True)
class Target:
    """One guarded server of an instance: its policy, the revision loaded, its counters."""

    server: str | None  # the named server of `toolgate serve`; None for `toolgate run`
    policy: str
    revision: str | None
    namespace: str

    def to_data(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "policy": self.policy,
            "revision": self.revision,
            "namespace": self.namespace,
        }


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """What one instance file holds."""

    instance: str
    kind: str  # "run" or "serve"
    pid: int
    host: str
    started_at: float  # epoch seconds
    updated_at: float  # epoch seconds, refreshed by the heartbeat
    command: tuple[str, ...]  # the guarded command (secret-like flags masked); run only
    gateway_file: str | None  # the gateway file; serve only
    targets: tuple[Target, ...]
    store_url: str  # password masked
    audit_logs: tuple[str, ...]  # chained JSONL logs written
    audit_dbs: tuple[str, ...]  # SQLite audit databases written
    state_dir: str

    def to_json(self) -> bytes:
        data = {
            "v": RECORD_VERSION,
            "instance": self.instance,
            "kind": self.kind,
            "pid": self.pid,
            "host": self.host,
            "started_at": timestamp(self.started_at),
            "updated_at": timestamp(self.updated_at),
            "command": list(self.command),
            "gateway_file": self.gateway_file,
            "targets": [target.to_data() for target in self.targets],
            "store_url": self.store_url,
            "audit_logs": list(self.audit_logs),
            "audit_dbs": list(self.audit_dbs),
            "state_dir": self.state_dir,
        }
        return orjson.dumps(data, option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, raw: bytes) -> InstanceRecord:
        """Parse an instance file; ValueError saying what is wrong with it."""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("v") != RECORD_VERSION:
            raise ValueError(f"not a version {RECORD_VERSION} instance record")
        try:
            return cls(
                instance=_text(data, "instance"),
                kind=_text(data, "kind"),
                pid=_pid(data.get("pid")),
                host=_text(data, "host"),
                started_at=_moment(data, "started_at"),
                updated_at=_moment(data, "updated_at"),
                command=tuple(str(part) for part in data.get("command") or ()),
                gateway_file=_optional(data, "gateway_file"),
                targets=tuple(_target(item) for item in data.get("targets") or ()),
                store_url=_text(data, "store_url"),
                audit_logs=tuple(str(path) for path in data.get("audit_logs") or ()),
                audit_dbs=tuple(str(path) for path in data.get("audit_dbs") or ()),
                state_dir=_text(data, "state_dir"),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"field {exc} is missing or has the wrong type") from None


def _text(data: dict[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str) or not value:
        raise TypeError(name)
    return value


def _optional(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise TypeError(name)
    return value


def _pid(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise TypeError("pid")
    return value


def _moment(data: dict[str, Any], name: str) -> float:
    try:
        return datetime.fromisoformat(_text(data, name)).timestamp()
    except ValueError:
        raise TypeError(name) from None


def _target(item: object) -> Target:
    if not isinstance(item, dict):
        raise TypeError("targets")
    return Target(
        server=_optional(item, "server"),
        policy=_text(item, "policy"),
        revision=_optional(item, "revision"),
        namespace=_text(item, "namespace"),
    )


def instances_dir(state_dir: Path) -> Path:
    return state_dir / "instances"


def write_record(directory: Path, record: InstanceRecord) -> Path:
    """Write (or replace) `record`'s file atomically; OSError when the directory is unusable."""
    path = directory / f"{record.instance}{SUFFIX}"
    try:
        fd, temporary = _temporary(directory, record.instance)
    except FileNotFoundError:  # the last other instance removed the directory meanwhile
        fd, temporary = _temporary(directory, record.instance)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(record.to_json())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _temporary(directory: Path, instance: str) -> tuple[int, str]:
    directory.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(prefix=f".{instance}.", suffix=".tmp", dir=directory)


def audit_targets(sinks: Sequence[str], default_log: Path) -> tuple[list[str], list[str]]:
    """The JSONL logs and SQLite databases a gateway with these `--audit-sink` specs writes."""
    if not sinks:
        return [str(default_log)], []
    logs: list[str] = []
    dbs: list[str] = []
    for spec in (parse_sink_spec(text) for text in sinks):
        if spec.kind == "jsonl":
            logs.append(str(spec.path or default_log))
        elif spec.kind == "sqlite" and spec.path is not None:
            dbs.append(str(spec.path))
    return logs, dbs


def new_record(
    *,
    instance: str,
    kind: str,
    now: float,
    targets: Iterable[Target],
    store_url: str,
    state_dir: Path,
    audit: tuple[list[str], list[str]],
    command: Sequence[str] = (),
    gateway_file: Path | None = None,
) -> InstanceRecord:
    """The record of the process calling it (its pid and host), started `now`."""
    logs, dbs = audit
    return InstanceRecord(
        instance=instance,
        kind=kind,
        pid=os.getpid(),
        host=socket.gethostname(),
        started_at=now,
        updated_at=now,
        command=tuple(redact_command(list(command))),
        gateway_file=str(gateway_file) if gateway_file is not None else None,
        targets=tuple(targets),
        store_url=redact_url(store_url),
        audit_logs=tuple(logs),
        audit_dbs=tuple(dbs),
        state_dir=str(state_dir),
    )


@dataclass(slots=True)
class Registration:
    """A running instance's file: written by `register`, refreshed by `heartbeat`, removed by
    `close`. Failing to write it is logged, never fatal: the gateway's calls matter more."""

    directory: Path
    record: InstanceRecord
    clock: Clock
    closed: bool = field(default=False)

    def beat(self) -> None:
        """Refresh `updated_at` (and rewrite the file if someone deleted it)."""
        if self.closed:
            return
        self.record = replace(self.record, updated_at=self.clock.now())
        try:
            write_record(self.directory, self.record)
        except OSError as exc:
            log.warning("could not refresh instance file in %s: %s", self.directory, exc)

    async def heartbeat(self, interval: float = HEARTBEAT_SECONDS) -> None:
        """Beat every `interval` seconds until cancelled (run it in the gateway's task group)."""
        while not self.closed:
            await anyio.sleep(interval)
            self.beat()

    def close(self) -> None:
        """Remove the file (and the directory when it was the last): a clean stop leaves
        nothing behind."""
        self.closed = True
        try:
            (self.directory / f"{self.record.instance}{SUFFIX}").unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove instance file in %s: %s", self.directory, exc)
            return
        with contextlib.suppress(OSError):  # not empty: other instances are running
            self.directory.rmdir()


def register(state_dir: Path, record: InstanceRecord, clock: Clock) -> Registration:
    registration = Registration(instances_dir(state_dir), record, clock)
    try:
        write_record(registration.directory, record)
    except OSError as exc:
        log.warning("could not write instance file in %s: %s", registration.directory, exc)
    return registration


# --- reading the registry ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Listed:
    """One instance file as `status` sees it: `stale` says why it is not running, or None."""

    path: Path
    record: InstanceRecord
    stale: str | None


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: existence is all we can know
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def staleness(
    record: InstanceRecord, now: float, host: str, alive: Callable[[int], bool]
) -> str | None:
    """Why `record` no longer describes a running instance, or None when it does."""
    if record.host == host and not alive(record.pid):
        return f"process {record.pid} is not running"
    age = now - record.updated_at
    if age > STALE_AFTER_SECONDS:
        return f"no heartbeat for {int(age)} s"
    return None


def list_instances(
    directory: Path,
    now: float,
    *,
    host: str | None = None,
    alive: Callable[[int], bool] = pid_alive,
) -> tuple[list[Listed], list[str]]:
    """Every instance file, oldest first, and one warning per file that could not be read."""
    here = host or socket.gethostname()
    try:
        paths = sorted(p for p in directory.iterdir() if p.name.endswith(SUFFIX))
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        return [], [f"{directory}: cannot list instance files: {exc.strerror}"]
    listed: list[Listed] = []
    warnings: list[str] = []
    for path in paths:
        try:
            record = InstanceRecord.from_json(path.read_bytes())
        except OSError as exc:
            warnings.append(f"{path}: cannot read: {exc.strerror} (skipped)")
            continue
        except ValueError as exc:
            warnings.append(f"{path}: unreadable instance file: {exc} (skipped)")
            continue
        listed.append(Listed(path, record, staleness(record, now, here, alive)))
    listed.sort(key=lambda item: item.record.started_at)
    return listed, warnings


def prune(listed: Iterable[Listed]) -> list[Path]:
    """Delete the files of stale instances; returns the paths removed."""
    removed: list[Path] = []
    for item in listed:
        if item.stale is not None:
            item.path.unlink(missing_ok=True)
            removed.append(item.path)
    return removed


# --- what each gateway registers ----------------------------------------------------------------


def register_run(
    settings: RunSettings, instance: str, revision: str | None, clock: Clock
) -> Registration:
    """Register a `toolgate run` process (stdio face, one server)."""
    target = Target(None, str(settings.policy), revision, settings.counter_namespace)
    record = new_record(
        instance=instance,
        kind="run",
        now=clock.now(),
        targets=[target],
        store_url=settings.counter_store_url,
        state_dir=settings.state_dir,
        audit=audit_targets(settings.audit_sinks, settings.audit_log),
        command=list(settings.command) or [settings.upstream_url or ""],
    )
    return register(settings.state_dir, record, clock)


def register_serve(
    config: GatewayConfig, servers: Mapping[str, tuple[str, str | None]], clock: Clock
) -> Registration:
    """Register a `toolgate serve` process; `servers` maps each server's name to its audit
    recorder's instance id and the policy revision loaded. The first id names the file."""
    targets = [
        Target(name, str(server.policy), servers[name][1], server.namespace)
        for name, server in config.servers.items()
        if name in servers
    ]
    first = next(iter(servers.values()), ("", None))[0]
    record = new_record(
        instance=first or f"tg_{os.getpid()}",
        kind="serve",
        now=clock.now(),
        targets=targets,
        store_url=config.state.dsn,
        state_dir=config.home / "state",
        audit=audit_targets(config.audit.sinks, config.audit.log),
        gateway_file=config.source,
    )
    return register(config.home / "state", record, clock)
