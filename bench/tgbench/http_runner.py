"""Runs the HTTP benchmark (bench/bench_http.py): every contender in front of one HTTP stub,
interleaved, then the results document bench/results/http.json and its docs section."""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tgbench import http_report, machine, paths
from tgbench.http_client import Calls, Era, RawHttpError, SyncClient
from tgbench.http_contenders import HttpContender, all_contenders, toolgate
from tgbench.http_load import burst, close_many, open_many, run
from tgbench.http_procs import ServerProc, start_all
from tgbench.http_profile import top_functions
from tgbench.http_sdk import SdkHttpEntry, run_sdk_http
from tgbench.policies import MESSAGE, write_policies
from tgbench.schedule import Plan, rotated
from tgbench.sessions import MIB, quiet_gc

TOOL = "echo"
ARGS = {"message": MESSAGE}
STUB_SCRIPT = paths.BENCH / "http_stub_server.py"
SETTLE_S = 1.0  # after start-up (and after closing sessions) before "idle" memory is read


@dataclass(frozen=True)
class HttpSizes:
    latency: Plan
    sdk: Plan
    throughput_rounds: int
    workers: int  # concurrent clients = calls in flight
    per_worker: int  # calls per worker per burst
    sessions: int
    profile_calls: int


def sizes(quick: bool, calls: int | None) -> HttpSizes:
    if quick:
        latency = Plan(warmup=10, rounds=2, per_round=max(1, (calls or 40) // 2))
        return HttpSizes(latency, Plan(5, 2, 10), 1, 8, 10, 50, 400)
    latency = Plan(warmup=100, rounds=10, per_round=max(1, (calls or 1000) // 10))
    return HttpSizes(latency, Plan(50, 5, 60), 3, 32, 30, 1000, 6000)


@dataclass
class Slot:
    contender: HttpContender
    proc: ServerProc | None = None  # the stub itself for direct
    url: str = ""
    error: str | None = None
    rss_idle: int | None = None
    samples: dict[str, list[int]] = field(default_factory=dict)  # era -> ns
    cpu: dict[str, float] = field(default_factory=dict)  # era -> process CPU s over timed calls
    errors: dict[str, str] = field(default_factory=dict)  # era -> why it has no samples
    burst_ns: int = 0
    burst_calls: int = 0
    burst_cpu_s: float = 0.0
    burst_error: str | None = None

    @property
    def key(self) -> str:
        return self.contender.key

    @property
    def live(self) -> bool:
        return self.proc is not None and self.error is None


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/bench_http.py",
        description="toolgate's HTTP gateway vs direct vs a fastmcp proxy, side by side.",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--calls", type=int, help="timed sequential calls per contender and era")
    parser.add_argument("--only", help="comma list of contender keys (direct always runs)")
    parser.add_argument("--sessions", type=int, help="handshake sessions to open for the RSS run")
    parser.add_argument("--no-sdk", action="store_true", help="skip the mcp SDK client latency")
    parser.add_argument("--profile", action="store_true", help="cProfile toolgate under load")
    parser.add_argument("--out", type=Path, help="results (default bench/results/http.json)")
    parser.add_argument("--docs", type=Path, default=paths.DOCS, help="document to update")
    parser.add_argument("--no-docs", action="store_true", help="do not touch the document")
    parser.add_argument("--report-only", action="store_true", help="docs from the existing JSON")
    parser.add_argument("--work-dir", type=Path, help="temporary state (default: $TMPDIR)")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(message, flush=True)


def chosen(args: argparse.Namespace, policies: dict[str, Path]) -> list[HttpContender]:
    everyone = all_contenders(policies)
    if not args.only:
        return everyone
    keys = {k.strip() for k in args.only.split(",")} | {"direct"}
    unknown = keys - {c.key for c in everyone}
    if unknown:
        raise SystemExit(f"unknown contender(s): {', '.join(sorted(unknown))}")
    return [c for c in everyone if c.key in keys]


def start(
    contenders: list[HttpContender], work: Path, env: dict[str, str]
) -> tuple[ServerProc, list[Slot]]:
    stub = ServerProc([paths.PYTHON, str(STUB_SCRIPT), "--port", "0"], work / "stub.stderr", env)
    upstream = stub.wait_url()
    slots = [Slot(c) for c in contenders]
    named = [
        (s.key, s.contender.build(upstream, work))
        for s in slots
        if s.contender.build is not None and s.contender.skip is None
    ]
    started = start_all(named, work, env)
    for slot in slots:
        if slot.contender.skip is not None:
            slot.error = f"skipped: {slot.contender.skip}"
        elif slot.contender.is_direct:
            slot.proc, slot.url = stub, upstream
        else:
            found = started[slot.key]
            if isinstance(found, str):
                slot.error = found
            else:
                slot.proc, slot.url = found, found.url
    return stub, slots


def check(slots: Sequence[Slot]) -> None:
    for slot in slots:
        if not slot.live:
            continue
        client = SyncClient(Calls(slot.url, "handshake", TOOL, ARGS))
        try:
            client.open()
            client.call(MESSAGE)
        except (RawHttpError, OSError, ValueError, Exception) as exc:
            slot.error = f"could not call through it: {type(exc).__name__}: {exc}"[:400]
        finally:
            client.close()


def latency(slots: Sequence[Slot], era: Era, plan: Plan) -> None:
    clients: dict[str, SyncClient] = {}
    for slot in slots:
        if not slot.live:
            continue
        client = SyncClient(Calls(slot.url, era, TOOL, ARGS))
        try:
            client.open()
            client.timed_calls(plan.warmup, MESSAGE)
            clients[slot.key] = client
            slot.samples[era] = []
            slot.cpu[era] = 0.0
        except Exception as exc:
            slot.errors[era] = f"{type(exc).__name__}: {exc}"[:400]
            client.close()
    for index in range(plan.rounds):
        with quiet_gc():
            for slot in rotated([s for s in slots if s.key in clients], index):
                assert slot.proc is not None
                before = slot.proc.cpu_seconds()
                try:
                    slot.samples[era] += clients[slot.key].timed_calls(plan.per_round, MESSAGE)
                except Exception as exc:
                    slot.errors[era] = f"failed during the run: {type(exc).__name__}: {exc}"[:400]
                    clients.pop(slot.key).close()
                    continue
                slot.cpu[era] += slot.proc.cpu_seconds() - before
    for client in clients.values():
        client.close()


def throughput(slots: Sequence[Slot], plan: HttpSizes) -> None:
    live = [s for s in slots if s.live]
    for index in range(plan.throughput_rounds):
        for slot in rotated(live, index):
            if slot.burst_error is not None:
                continue
            assert slot.proc is not None
            gc.collect()
            before = slot.proc.cpu_seconds()
            try:
                found = run(
                    burst, slot.url, "handshake", plan.workers, plan.per_worker, TOOL, ARGS, MESSAGE
                )
            except Exception as exc:
                slot.burst_error = f"{type(exc).__name__}: {exc}"[:400]
                continue
            slot.burst_cpu_s += slot.proc.cpu_seconds() - before
            if found.errors:
                slot.burst_error = (
                    f"{found.errors} of {found.calls} calls failed: {found.first_error}"
                )
            slot.burst_ns += found.elapsed_ns
            slot.burst_calls += found.calls


def sessions_rss(slots: Sequence[Slot], count: int) -> list[dict[str, Any]]:
    rows = []
    for slot in slots:
        if not slot.live:
            continue
        assert slot.proc is not None
        row: dict[str, Any] = {
            "contender": slot.key,
            "label": slot.contender.label,
            "sessions": count,
        }
        gc.collect()
        row["rss_before_mib"] = slot.proc.rss_bytes() / MIB
        opened = run(open_many, slot.url, count, TOOL, ARGS)
        time.sleep(SETTLE_S)
        row |= {
            "opened": len(opened.sessions),
            "open_failures": opened.failures,
            "first_failure": opened.first_failure,
            "open_s": opened.elapsed_ns / 1e9,
            "rss_open_mib": slot.proc.rss_bytes() / MIB,
        }
        statuses = run(close_many, opened.sessions)
        time.sleep(SETTLE_S)
        row |= {"delete_statuses": {str(k): v for k, v in statuses.items()}}
        row["rss_after_close_mib"] = slot.proc.rss_bytes() / MIB
        row["per_session_kib"] = (
            (row["rss_open_mib"] - row["rss_before_mib"]) * 1024 / len(opened.sessions)
            if opened.sessions
            else None
        )
        rows.append(row)
        log(f"  sessions, {slot.key}: {row['rss_before_mib']:.1f} → {row['rss_open_mib']:.1f} MiB")
    return rows


def sdk(slots: Sequence[Slot], plan: Plan) -> list[SdkHttpEntry]:
    entries = [SdkHttpEntry(s.key, s.url) for s in slots if s.live]
    run_sdk_http(entries, plan, TOOL, ARGS)
    return entries


def profile(
    policy: Path, upstream: str, work: Path, env: dict[str, str], calls: int
) -> dict[str, Any]:
    """toolgate under cProfile, `calls` tools/call with 32 in flight; its top functions."""
    out = work / "toolgate-http.prof"
    argv = toolgate(policy, profile=out)(upstream, work / "profiled")
    proc = ServerProc(argv, work / "profiled.stderr", env)
    try:
        proc.wait_url()
        found = run(burst, proc.url, "handshake", 32, max(1, calls // 32), TOOL, ARGS, MESSAGE)
    except Exception as exc:  # StartError, or the load failed
        proc.stop()
        return {"error": f"{type(exc).__name__}: {exc}"[:400]}
    status = proc.stop()
    if not out.exists():
        return {"error": f"no profile written (exit status {status}): {proc.stderr_tail()}"}
    return {"calls": found.calls, "failed": found.errors, **top_functions(out)}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    out = args.out or paths.RESULTS / ("http-quick.json" if args.quick else "http.json")
    if args.report_only:
        data = json.loads(out.read_text(encoding="utf-8"))
        http_report.write_docs(args.docs, data)
        log(f"regenerated {args.docs} from {out}")
        return 0
    plan = sizes(args.quick, args.calls)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tgbench-http-", dir=args.work_dir) as tmp:
        work = Path(tmp)
        policies = write_policies(work / "policies")
        contenders = chosen(args, policies)
        env = dict(os.environ)
        stub, slots = start(contenders, work, env)
        try:
            time.sleep(SETTLE_S)
            for slot in slots:
                if slot.live and slot.proc is not None:
                    slot.rss_idle = slot.proc.rss_bytes()
            check(slots)
            log("  started: " + ", ".join(s.key if s.live else f"{s.key} (FAILED)" for s in slots))
            eras: tuple[Era, ...] = ("handshake", "modern")
            for era in eras:
                latency(slots, era, plan.latency)
                log(f"  raw client latency, {era} era: done")
            throughput(slots, plan)
            log("  throughput: done")
            entries = [] if args.no_sdk else sdk(slots, plan.sdk)
            if entries:
                log("  mcp SDK client latency: done")
            session_rows = sessions_rss(slots, args.sessions or plan.sessions)
            profiled = (
                profile(policies["hundred"], stub.url, work, env, plan.profile_calls)
                if args.profile
                else None
            )
        finally:
            for slot in slots:
                if slot.proc is not None and slot.proc is not stub:
                    slot.proc.stop()
            stub.stop()
    data = http_report.document(
        slots=slots,
        entries=entries,
        session_rows=session_rows,
        profiled=profiled,
        plan=plan,
        machine_info=machine.machine_info(),
        versions=machine.versions(str(paths.EVERYTHING.parents[1] / "package.json")),
        date=machine.now(),
        elapsed_s=round(time.perf_counter() - began, 1),
        quick=args.quick,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log(http_report.console(data))
    log(f"\nwrote {out}")
    if not args.no_docs and not args.quick:
        http_report.write_docs(args.docs, data)
        log(f"updated the HTTP section of {args.docs}")
    return 0
