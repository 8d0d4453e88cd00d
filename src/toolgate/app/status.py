"""Gathering `toolgate status`: traffic from the audit log, counters from the store, approvals.

Pure where it can be: `summarize` turns decision events into rates, outcome counts and the top
denying rules and tools; `declared_counters` lists every counter a policy declares (rate limits,
state counters, spend caps) with its bound. The reading functions are thin: `read_decisions`
over the existing JSONL reader or the SQLite audit database, `counter_rows` over a `Ledger`
snapshot (what the gateway itself reads), `pending_approvals` over the approval store. Nothing
here writes to the audit log or the counter store.

Decision events do not name the gateway instance that wrote them, so traffic is reported per
audit log (with the instances writing it), not per instance.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import anyio
import orjson

from toolgate.app.counter_store import open_counter_store, redact_url
from toolgate.audit.reader import Filters, Garbage, event_time, read_records
from toolgate.audit.rotation import log_files
from toolgate.audit.sqlite_query import AuditDatabase
from toolgate.errors import PolicyValidationError, ToolgateError
from toolgate.policy.decision import Bound, CounterRef
from toolgate.policy.loader import load_policy
from toolgate.policy.model import Policy
from toolgate.quota.keys import storage_key
from toolgate.quota.ledger import Ledger
from toolgate.stores.base import CounterStore
from toolgate.stores.sqlite import SqliteCounterStore

RATE_MINUTES: Final = (1, 5, 15)
TOP: Final = 10
OLDEST_APPROVALS: Final = 5
APPROVALS_READ: Final = 1000
_RETIRED_STAMP = re.compile(r"-(\d{8}T\d{12})(?:\.\d{3})?$")


# --- traffic, from the audit log --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditSource:
    """One place decisions are read from: a chained JSONL log or an SQLite audit database."""

    kind: str  # "jsonl" or "sqlite"
    path: Path
    instances: tuple[str, ...] = ()  # the listed instances writing it


@dataclass(slots=True)
class Traffic:
    """What the decisions since `since` say: calls per minute, outcomes, who denies most."""

    label: str
    since: datetime
    decisions: int = 0
    per_minute: dict[str, float] = field(default_factory=dict)  # "1m", "5m", "15m"
    outcomes: dict[str, int] = field(default_factory=dict)
    denying_rules: list[tuple[str, int]] = field(default_factory=list)
    denying_tools: list[tuple[str, int]] = field(default_factory=list)
    instances: tuple[str, ...] = ()
    warnings: list[str] = field(default_factory=list)

    def to_data(self) -> dict[str, Any]:
        return {
            "source": self.label,
            "instances": list(self.instances),
            "since": _iso(self.since),
            "decisions": self.decisions,
            "calls_per_minute": self.per_minute,
            "outcomes": self.outcomes,
            "top_denying_rules": [{"rule": k, "count": n} for k, n in self.denying_rules],
            "top_denying_tools": [{"tool": k, "count": n} for k, n in self.denying_tools],
            "warnings": self.warnings,
        }


def summarize(
    decisions: Iterable[dict[str, Any]], now: datetime, since: datetime, label: str
) -> Traffic:
    """Rates over the last 1/5/15 minutes (whatever `since` is) and, since `since`, outcome
    counts and the `TOP` rules and tools with the most denials. Events without a readable time
    are left out."""
    traffic = Traffic(label, since)
    recent = Counter[int]()
    outcomes = Counter[str]()
    rules = Counter[str]()
    tools = Counter[str]()
    for data in decisions:
        moment = event_time(data)
        if moment is None or moment > now:
            continue
        for minutes in RATE_MINUTES:
            if moment >= now - timedelta(minutes=minutes):
                recent[minutes] += 1
        if moment < since:
            continue
        traffic.decisions += 1
        outcomes[str(data.get("outcome") or "-")] += 1
        if data.get("outcome") == "denied":
            rules[str(data.get("rule") or "-")] += 1
            tools[str(data.get("tool") or "-")] += 1
    traffic.per_minute = {f"{m}m": round(recent[m] / m, 2) for m in RATE_MINUTES}
    traffic.outcomes = dict(sorted(outcomes.items(), key=lambda item: (-item[1], item[0])))
    traffic.denying_rules = _top(rules)
    traffic.denying_tools = _top(tools)
    return traffic


def _top(counts: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP]


def read_decisions(source: AuditSource, start: datetime) -> tuple[list[dict[str, Any]], list[str]]:
    """The decision events of `source` at or after `start`, and one warning per unreadable
    line or file (never raised). Retired JSONL files rotated out before `start` are skipped."""
    if source.kind == "sqlite":
        return _read_database(source.path, start)
    files = [path for path in log_files(source.path) if not _retired_before(path, start)]
    if not files:
        return [], [f"{source.path}: no decision log here"]
    found: list[dict[str, Any]] = []
    warnings: list[str] = []
    for item in read_records(files):
        if isinstance(item, Garbage):
            warnings.append(item.render())
        elif item.data.get("type") == "decision":
            moment = event_time(item.data)
            if moment is not None and moment >= start:
                found.append(item.data)
    return found, warnings


def _retired_before(path: Path, start: datetime) -> bool:
    """A retired file holds only events written before it was renamed at its stamp."""
    match = _RETIRED_STAMP.search(path.stem)
    if match is None:
        return False
    retired = datetime.strptime(match[1] + "+0000", "%Y%m%dT%H%M%S%f%z")
    return retired < start


def _read_database(path: Path, start: datetime) -> tuple[list[dict[str, Any]], list[str]]:
    try:
        database = AuditDatabase(path)
    except ToolgateError as exc:
        return [], [str(exc)]
    found: list[dict[str, Any]] = []
    warnings: list[str] = []
    try:
        for item in database.records(Filters(since=start)):
            if isinstance(item, Garbage):
                warnings.append(item.render())
            elif item.data.get("type") == "decision":
                found.append(item.data)
    except ToolgateError as exc:
        warnings.append(str(exc))
    finally:
        database.close()
    return found, warnings


def traffic_report(
    sources: Sequence[AuditSource], now: datetime, since: datetime
) -> tuple[Traffic, list[Traffic]]:
    """The overall traffic and each source's; a decision seen in two sources (a gateway writing
    both a JSONL log and a database) is counted once overall."""
    start = min(since, now - timedelta(minutes=max(RATE_MINUTES)))
    per_source: list[Traffic] = []
    seen: dict[str, dict[str, Any]] = {}
    unnamed: list[dict[str, Any]] = []
    warnings: list[str] = []
    for source in sources:
        decisions, problems = read_decisions(source, start)
        traffic = summarize(decisions, now, since, f"{source.kind}:{source.path}")
        traffic.instances, traffic.warnings = source.instances, problems
        per_source.append(traffic)
        warnings += problems
        for data in decisions:
            ident = data.get("decision_id")
            if isinstance(ident, str):
                seen[ident] = data
            else:
                unnamed.append(data)
    overall = summarize([*seen.values(), *unnamed], now, since, "all sources")
    overall.warnings = warnings
    return overall, per_source


# --- counters, from the policy and the store --------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeclaredCounter:
    """A counter a policy declares, and the bound its rule checks (None: it only counts)."""

    ref: CounterRef
    kind: str  # "rate_limit", "state" or "spend"
    rule_id: str
    bound: Bound | None
    increment: Decimal | None  # a fixed amount per call, when it is one


def declared_counters(policy: Policy) -> list[DeclaredCounter]:
    """Every counter the policy's rules declare, in file order, each once."""
    found: dict[CounterRef, DeclaredCounter] = {}
    for rules in policy.tools.values():
        for rule in rules:
            spec = rule.counter
            if spec is not None and spec.ref not in found:
                kind = "rate_limit" if rule.rate_limit else "state"
                declared = DeclaredCounter(spec.ref, kind, rule.rule_id, spec.bound, spec.increment)
                found[spec.ref] = declared
            if rule.spend is not None:
                for ref, limit in rule.spend.caps:
                    bound = Bound(limit, inclusive=True, after=True)
                    found.setdefault(ref, DeclaredCounter(ref, "spend", rule.rule_id, bound, None))
    return list(found.values())


@dataclass(frozen=True, slots=True)
class Bucket:
    """One counter's value for one scope/key in its current window."""

    scope_value: str | None
    key_value: str | None
    window_start: int
    window_end: int
    value: Decimal
    remaining: Decimal | None

    def to_data(self) -> dict[str, Any]:
        return {
            "scope_value": self.scope_value,
            "key_value": self.key_value,
            "window_start": _epoch_iso(self.window_start),
            "window_end": _epoch_iso(self.window_end),
            "value": str(self.value),
            "remaining": None if self.remaining is None else str(self.remaining),
        }


@dataclass(frozen=True, slots=True)
class CounterRow:
    """A declared counter and what the store holds for it; `note` says when it cannot tell."""

    declared: DeclaredCounter
    buckets: tuple[Bucket, ...]
    note: str | None = None

    def to_data(self) -> dict[str, Any]:
        ref, bound = self.declared.ref, self.declared.bound
        return {
            "owner": ref.owner,
            "name": ref.name,
            "kind": self.declared.kind,
            "rule": self.declared.rule_id,
            "window": ref.window.name,
            "window_seconds": ref.window.seconds,
            "sliding": ref.window.sliding,
            "scope": ref.scope,
            "key": ref.key_path,
            "limit": None if bound is None else str(bound.limit),
            "buckets": [bucket.to_data() for bucket in self.buckets],
            "note": self.note,
        }


def remaining(bound: Bound | None, value: Decimal, increment: Decimal | None) -> Decimal | None:
    """How much can still be added before the bound refuses a call (for a rate limit: calls);
    None for a counter without a bound."""
    if bound is None:
        return None
    head = bound.limit - value
    if not bound.after and bound.inclusive and increment is not None:
        head += increment  # checked before adding: a call is admitted AT the limit too
    return max(head, Decimal(0))


def window_of(ref: CounterRef, now: float) -> tuple[int, int]:
    """The interval the counter's value covers at `now` (a sliding one: its slices)."""
    window = ref.window
    start = window.start(now)
    end = start + window.bucket_seconds
    return start - window.history * window.bucket_seconds, end


class _FixedClock:
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return 0.0


async def counter_rows(
    store: CounterStore | None, namespace: str, declared: Sequence[DeclaredCounter], now: float
) -> list[CounterRow]:
    """Each declared counter's current value in `namespace` (`store` None: no store to read,
    every counter reads zero). Identity-, session- and argument-keyed counters list the buckets
    an SQLite store holds; other stores cannot enumerate theirs, which the row says."""
    ledger = None if store is None else Ledger(store, namespace, _FixedClock(now))
    known = _stored_keys(store)
    rows: list[CounterRow] = []
    for item in declared:
        ref = item.ref
        note = None
        if ref.unbound:
            if known is None:
                what = "identity" if ref.scope == "identity" else ref.scope
                per = f"per {what}" if ref.scope != "global" else f"per {ref.key_path}"
                rows.append(CounterRow(item, (), f"{per} — not enumerable in this store"))
                continue
            refs = _bound_refs(ref, namespace, known)
            if not refs:
                note = "no bucket in this store yet"
        else:
            refs = [ref]
        values = await ledger.snapshot(refs) if ledger is not None else {}
        start, end = window_of(ref, now)
        buckets = tuple(
            Bucket(
                r.scope_value,
                r.key_value,
                start,
                end,
                values.get(r, Decimal(0)),
                remaining(item.bound, values.get(r, Decimal(0)), item.increment),
            )
            for r in refs
        )
        rows.append(CounterRow(item, buckets, note))
    return rows


def _stored_keys(store: CounterStore | None) -> list[list[Any]] | None:
    """The decoded keys an SQLite store holds (read-only); None when it cannot be listed."""
    if not isinstance(store, SqliteCounterStore):
        return [] if store is None else None
    try:
        conn = sqlite3.connect(f"{store.path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return None
    try:
        rows = conn.execute("SELECT DISTINCT key FROM counters").fetchall()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    keys: list[list[Any]] = []
    for (text,) in rows:
        try:
            parts = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        if isinstance(parts, list) and len(parts) >= 7:
            keys.append(parts)
    return keys


def _bound_refs(ref: CounterRef, namespace: str, keys: list[list[Any]]) -> list[CounterRef]:
    """The scope/key values the store has buckets for, as bound refs (sorted, each once)."""
    found: dict[CounterRef, None] = {}
    for parts in keys:
        scope_value, key_value = parts[5], parts[6]
        if ref.scope != "global" and not isinstance(scope_value, str):
            continue
        if ref.key_path is not None and not isinstance(key_value, str):
            continue
        candidate = replace(
            ref,
            scope_value=scope_value if ref.scope != "global" else None,
            key_value=key_value if ref.key_path is not None else None,
        )
        if storage_key(namespace, candidate) == orjson.dumps(parts).decode():
            found[candidate] = None
    return sorted(found, key=lambda r: (r.scope_value or "", r.key_value or ""))


@dataclass(slots=True)
class CounterSection:
    """The counters of one policy in one namespace of one store."""

    policy: str
    namespace: str | None
    store_url: str  # password masked
    instances: tuple[str, ...] = ()
    revision: str | None = None
    rows: list[CounterRow] = field(default_factory=list)
    note: str | None = None

    def to_data(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "revision": self.revision,
            "namespace": self.namespace,
            "store_url": self.store_url,
            "instances": list(self.instances),
            "counters": [row.to_data() for row in self.rows],
            "note": self.note,
        }


def policy_problem(exc: ToolgateError) -> str:
    """One located line for a policy that does not load."""
    if isinstance(exc, PolicyValidationError) and exc.errors:
        more = len(exc.errors) - 1
        extra = f" (and {more} more; run toolgate validate)" if more else ""
        return f"invalid policy: {exc.errors[0].render()}{extra}"
    return str(exc)


async def counter_section(
    policy_path: Path,
    namespace: str | None,
    store_url: str,
    store_exists: bool,
    instances: tuple[str, ...],
    now: float,
) -> CounterSection:
    """Load the policy and read its counters; a policy or store that fails is a note, not an
    exception (the other sections still show). `store_exists` False: nothing to read, and the
    store is not created by looking."""
    section = CounterSection(str(policy_path), namespace, redact_url(store_url), instances)
    try:
        policy = load_policy(policy_path)
    except ToolgateError as exc:
        section.note = policy_problem(exc)
        return section
    section.revision = policy.revision
    declared = declared_counters(policy)
    if not declared:
        section.note = "the policy declares no counters"
        return section
    if "***" in section.store_url and store_url == section.store_url:
        section.note = "the store URL is masked in the instance file: give --counter-store"
        return section
    if namespace is None:
        section.note = "no namespace: give --namespace or the server command after --"
        return section
    if not store_exists:
        section.note = f"no counter store at {section.store_url}: counters read as 0"
        section.rows = await counter_rows(None, namespace, declared, now)
        return section
    try:
        store = open_counter_store(store_url, clock=_FixedClock(now))
        try:
            section.rows = await counter_rows(store, namespace, declared, now)
        finally:
            await store.aclose()
    except ToolgateError as exc:
        section.note = str(exc)  # store errors name the store, password masked
    return section


# --- pending approvals ------------------------------------------------------------------------


@dataclass(slots=True)
class Approvals:
    """Pending approvals: how many, and the oldest; `note` when the store is not there."""

    path: Path | None
    pending: int = 0
    oldest: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None

    def to_data(self) -> dict[str, Any]:
        return {
            "store": None if self.path is None else str(self.path),
            "pending": self.pending,
            "oldest": self.oldest,
            "note": self.note,
        }


async def pending_approvals(path: Path | None, now: float) -> Approvals:
    """Read the SQLite approval store at `path` (never created here)."""
    if path is None:
        return Approvals(None, note="approvals store not found (not available in this build)")
    if not await anyio.Path(path).exists():
        return Approvals(path, note=f"approvals store not found at {path}")
    from toolgate.stores.approvals import ApprovalStatus  # noqa: PLC0415
    from toolgate.stores.approvals_sqlite import SqliteApprovalStore  # noqa: PLC0415

    try:
        store = SqliteApprovalStore(path)
    except ToolgateError as exc:
        return Approvals(path, note=str(exc))
    try:
        found = await store.list(now=now, status=ApprovalStatus.PENDING, limit=APPROVALS_READ)
    except (ToolgateError, sqlite3.Error) as exc:
        return Approvals(path, note=f"approvals store {path} cannot be read: {exc}")
    finally:
        await store.aclose()
    result = Approvals(path, pending=len(found))
    if len(found) >= APPROVALS_READ:
        result.note = f"at least {APPROVALS_READ} pending (only that many were read)"
    for approval in sorted(found, key=lambda a: a.created_at)[:OLDEST_APPROVALS]:
        request = approval.request
        result.oldest.append(
            {
                "id": approval.id,
                "tool": request.tool,
                "identity": request.identity,
                "server": request.server,
                "rule": request.rule_id,
                "created_at": _epoch_iso(approval.created_at),
                "expires_at": _epoch_iso(approval.expires_at),
            }
        )
    return result


def approvals_file(state_dir: Path) -> Path | None:
    """Where the gateway keeps approvals (None when this build has no approval store)."""
    try:
        from toolgate.stores.approvals_sqlite import approvals_path  # noqa: PLC0415
    except ImportError:
        return None
    return approvals_path(None, state_dir)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _epoch_iso(epoch: float) -> str:
    from toolgate.audit.event import timestamp  # noqa: PLC0415

    return timestamp(epoch)
