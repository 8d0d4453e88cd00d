"""Runs every session, turns samples into the results document (bench/results/stdio.json)."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tgbench import machine, micro, paths, report
from tgbench.contenders import NOT_RUN, Contender, all_contenders, listing_contender
from tgbench.policies import HIDDEN_COUNT, LISTING_HIDDEN, hundred_policy, write_policies
from tgbench.schedule import Sizes, sizes
from tgbench.sessions import (
    MIB,
    ListingRow,
    Slot,
    listing_session,
    raw_session,
    sdk_session,
)
from tgbench.stats import added, summary

UPSTREAMS = ("stub", "everything")
CLIENTS = ("raw", "sdk")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run_all.py",
        description="toolgate stdio benchmarks: every contender side by side, interleaved.",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--calls", type=int, help="timed calls per contender per session")
    parser.add_argument(
        "--upstreams",
        help="comma list of: stub, everything (default: both; --quick: stub)",
    )
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma list of: raw, sdk")
    parser.add_argument("--only", help="comma list of contender keys to run (direct always runs)")
    parser.add_argument("--out", type=Path, help="results file (default bench/results/stdio.json)")
    parser.add_argument("--docs", type=Path, default=paths.DOCS, help="document to regenerate")
    parser.add_argument("--no-docs", action="store_true", help="do not touch the document")
    parser.add_argument("--no-micro", action="store_true", help="skip the micro-benchmarks")
    parser.add_argument("--no-listing", action="store_true", help="skip the 10,000-tool tools/list")
    parser.add_argument(
        "--report-only", action="store_true", help="regenerate the document from existing JSON"
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="where the run's temporary state (policies, SQLite, audit logs) goes "
        "(default: the system temp dir, $TMPDIR)",
    )
    return parser.parse_args(argv)


def chosen(args: argparse.Namespace, policies: dict[str, Path]) -> list[Contender]:
    everyone = all_contenders(policies)
    if not args.only:
        return everyone
    keys = {k.strip() for k in args.only.split(",")} | {"direct"}
    unknown = keys - {c.key for c in everyone}
    if unknown:
        raise SystemExit(f"unknown contender(s): {', '.join(sorted(unknown))}")
    return [c for c in everyone if c.key in keys]


def latency_rows(
    upstream: str, client: str, found: Sequence[tuple[Contender, list[int], str | None]]
) -> list[dict[str, Any]]:
    rows = []
    direct = next((summary(s) for c, s, e in found if c.is_direct and s and e is None), None)
    for contender, samples, error in found:
        row: dict[str, Any] = {
            "upstream": upstream,
            "client": client,
            "contender": contender.key,
            "label": contender.label,
            "kind": contender.kind,
        }
        if error is not None or not samples:
            row["error"] = error or "no samples"
        else:
            row |= summary(samples)
            if direct is not None:
                row |= added(row, direct)
        rows.append(row)
    return rows


def log(message: str) -> None:
    print(message, flush=True)


def run_raw(
    contenders: list[Contender], upstream: str, command: list[str], plan: Sizes, work: Path
) -> tuple[list[dict[str, Any]], list[Slot]]:
    started = time.perf_counter()
    slots = raw_session(contenders, command, plan, work, f"raw-{upstream}", throughput=True)
    rows = latency_rows(upstream, "raw", [(s.contender, s.samples, s.error) for s in slots])
    for row, slot in zip(rows, slots, strict=True):
        row.update(slot.audit or {})
        if slot.cpu_calls and "error" not in row:
            # psutil's CPU times tick at 10 ms: the total over all timed calls is what is precise
            row["process_cpu_us_per_call"] = slot.cpu_s / slot.cpu_calls * 1e6
    log(f"  raw client, {upstream}: {time.perf_counter() - started:.1f} s")
    return rows, slots


def run_sdk(
    contenders: list[Contender], upstream: str, command: list[str], plan: Sizes, work: Path
) -> list[dict[str, Any]]:
    started = time.perf_counter()
    entries = sdk_session(contenders, command, plan, work, f"sdk-{upstream}")
    by_key = {c.key: c for c in contenders}
    rows = latency_rows(upstream, "sdk", [(by_key[e.key], e.samples, e.error) for e in entries])
    log(f"  mcp SDK client, {upstream}: {time.perf_counter() - started:.1f} s")
    return rows


def throughput_rows(upstream: str, slots: Sequence[Slot], depth: int) -> list[dict[str, Any]]:
    rates = {}
    for slot in slots:
        if slot.burst_ns and slot.error is None and slot.burst_error is None:
            rates[slot.key] = slot.burst_calls / (sum(slot.burst_ns) / 1e9)
    direct = rates.get("direct")
    rows = []
    for slot in slots:
        row: dict[str, Any] = {
            "upstream": upstream,
            "contender": slot.key,
            "label": slot.contender.label,
            "depth": depth,
        }
        if slot.key in rates:
            row |= {
                "calls": slot.burst_calls,
                "calls_per_s": rates[slot.key],
                "ratio_to_direct": rates[slot.key] / direct if direct else None,
                "error_answers": slot.proc.errors if slot.proc else None,
                "process_cpu_us_per_call": slot.burst_cpu_s / slot.burst_calls * 1e6,
            }
        else:
            row["error"] = slot.error or slot.burst_error or "not measured"
        rows.append(row)
    return rows


def rss_rows(upstream: str, slots: Sequence[Slot]) -> list[dict[str, Any]]:
    rows = []
    for slot in slots:
        row: dict[str, Any] = {
            "upstream": upstream,
            "contender": slot.key,
            "label": slot.contender.label,
            "process": "the upstream server itself" if slot.contender.is_direct else "the proxy",
        }
        if slot.rss_idle is not None:
            row["rss_idle_mib"] = slot.rss_idle / MIB
        if slot.rss_after is not None:
            row["rss_after_calls_mib"] = slot.rss_after / MIB
        if slot.error:
            row["error"] = slot.error
        rows.append(row)
    return rows


def listing_rows(
    found: Sequence[ListingRow], contenders: Sequence[Contender]
) -> list[dict[str, Any]]:
    labels = {c.key: c.label for c in contenders}
    direct = next((summary(r.samples) for r in found if r.key == "direct" and r.samples), None)
    rows = []
    for item in found:
        row: dict[str, Any] = {"contender": item.key, "label": labels[item.key]}
        if item.error or not item.samples:
            row["error"] = item.error or "no samples"
        else:
            row |= summary(item.samples)
            if direct is not None:
                row |= added(row, direct)
        row |= {
            "tools_returned": item.tools_returned,
            "fields_preserved": item.preserved,
            "difference": item.note,
        }
        rows.append(row)
    return rows


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    plan = sizes(args.quick, args.calls)
    policies = write_policies(work / "policies")
    contenders = chosen(args, policies)
    runnable = [c for c in contenders if c.skip is None]
    upstream_commands: dict[str, list[str] | None] = {
        "stub": paths.stub_command(),
        "everything": paths.everything_command(),
    }
    default_upstreams = "stub" if args.quick else ",".join(UPSTREAMS)
    wanted_upstreams = [u.strip() for u in (args.upstreams or default_upstreams).split(",")]
    unknown = set(wanted_upstreams) - set(UPSTREAMS)
    if unknown:
        raise SystemExit(f"unknown upstream(s): {', '.join(sorted(unknown))}")
    wanted_clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    result: dict[str, Any] = {
        "benchmark": "stdio tools/call through toolgate and its peers",
        "date": machine.now(),
        "quick": args.quick,
        "machine": machine.machine_info(),
        "versions": machine.versions(str(paths.EVERYTHING.parents[1] / "package.json")),
        "state_filesystem": machine.filesystem(str(work)),
        "method": {
            "warmup_calls": plan.latency.warmup,
            "rounds": plan.latency.rounds,
            "calls_per_round": plan.latency.per_round,
            "timed_calls_per_contender": plan.latency.calls,
            "throughput": {
                "depth": plan.depth,
                "rounds": plan.throughput.rounds,
                "calls_per_burst": plan.throughput.per_round,
                "warmup_calls": plan.throughput.warmup,
            },
            "listing": {
                "tools": plan.listing_tools,
                "hidden": HIDDEN_COUNT,
                "rounds": plan.listing.rounds,
                "lists_per_round_at_most": plan.listing.per_round,
                "seconds_per_round_at_most": plan.listing_budget_s,
            },
            "tool": "echo",
            "interleaved": True,
        },
        "contenders": [
            {"key": c.key, "label": c.label, "kind": c.kind, "skipped": c.skip} for c in contenders
        ],
        "not_run": NOT_RUN,
        "latency": [],
        "throughput": [],
        "rss": [],
        "listing": None,
        "skipped_sessions": [],
    }
    for upstream in wanted_upstreams:
        command = upstream_commands.get(upstream)
        if command is None:
            note = f"{upstream}: upstream not available (run ./dev bench, which installs it)"
            result["skipped_sessions"].append(note)
            log(f"  skipped: {note}")
            continue
        if "raw" in wanted_clients:
            rows, slots = run_raw(runnable, upstream, command, plan, work)
            result["latency"] += rows
            result["rss"] += rss_rows(upstream, slots)
            result["throughput"] += throughput_rows(upstream, slots, plan.depth)
        if "sdk" in wanted_clients:
            result["latency"] += run_sdk(runnable, upstream, command, plan, work)
    if not args.no_listing and "stub" in wanted_upstreams:
        started = time.perf_counter()
        listed = [*runnable[:1], listing_contender(policies), *runnable[1:]]
        hidden = {
            "toolgate-hide100": frozenset(LISTING_HIDDEN),
            "toolgate-100": frozenset(hundred_policy()["hide"]),
        }
        found = listing_session(
            listed,
            hidden,
            paths.stub_command(plan.listing_tools),
            plan.listing,
            plan.listing_budget_s,
            work,
            "listing",
        )
        result["listing"] = {
            "tools": plan.listing_tools,
            "hidden_by_toolgate-hide100": HIDDEN_COUNT,
            "rows": listing_rows(found, listed),
        }
        log(f"  tools/list of {plan.listing_tools:,} tools: {time.perf_counter() - started:.1f} s")
    for contender in contenders:
        if contender.skip:
            log(f"  skipped {contender.key}: {contender.skip}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    out = args.out or paths.RESULTS / ("stdio-quick.json" if args.quick else "stdio.json")
    if args.report_only:
        data = json.loads(out.read_text(encoding="utf-8"))
        data["targets"] = report.targets(data, data.get("micro") or {})  # the rules may be newer
        out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        report.write_docs(args.docs, data, data.get("micro") or {})
        log(f"regenerated {args.docs} from {out}")
        return 0
    started = time.perf_counter()
    log(f"toolgate stdio benchmark ({'quick' if args.quick else 'full'} run)")
    if args.work_dir is not None:
        args.work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="stdio-bench-", dir=args.work_dir) as tmp:
        data = measure(args, Path(tmp))
    if not args.quick and not args.no_micro:
        micro.run_all(log)
    data["micro"] = micro.load()
    data["targets"] = report.targets(data, data["micro"])
    data["elapsed_s"] = round(time.perf_counter() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(report.console(data))
    log(f"wrote {out} in {data['elapsed_s']} s")
    if not args.quick and not args.no_docs:
        report.write_docs(args.docs, data, data["micro"])
        log(f"regenerated the results section of {args.docs}")
    return 0
