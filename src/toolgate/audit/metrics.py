"""Prometheus metrics derived from audit events: one `GatewayMetrics` per gateway, with its own
registry (never the process-wide default), fed by an observer per audit recorder.

Everything here is computed from the events the recorder writes, so metrics and the audit log
always agree and the relay needs no hooks of its own. This module imports `prometheus_client`;
import it only when metrics are enabled (the `metrics` extra), so a gateway without them never
loads the library.

Label values come from tool names, rule ids and reasons, which a server or a policy bounds, but a
misbehaving server could still invent names without end: each label keeps at most
`max_label_values` distinct values and reports the rest as "other".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from toolgate.audit.event import DecisionEvent, PolicyLoadEvent, StoreFailureEvent
from toolgate.audit.sink import AuditRecord

OTHER: Final = "other"  # the label value that stands for every value past the cap
DEFAULT_SERVER: Final = "default"  # the server label of `toolgate run` (one unnamed server)
MAX_LABEL_VALUES: Final = 1000
# seconds: policy decisions are sub-millisecond to a few ms; upstream calls ms to minutes
DECISION_BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0)
CALL_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
UP: Final = {"ok": 1.0, "is_error": 1.0, "error": 0.0, "no_response": 0.0}  # not_sent: no news

Observer = Callable[[AuditRecord], None]


class LabelCap:
    """The values one label may take: the first `limit` distinct values as they are, the rest
    folded into "other", so a flood of invented names cannot grow the registry without end."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self.limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str | None) -> str:
        text = value or ""
        if text in self._seen:
            return text
        if len(self._seen) >= self.limit:
            return OTHER
        self._seen.add(text)
        return text


class _DroppedEvents(Collector):
    """`toolgate_audit_dropped_events_total{sink}`, read at scrape time from the fan-out sink's
    failure counts (events a sink could not write)."""

    def __init__(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "toolgate_audit_dropped_events",
            "Audit events a sink failed to write.",
            labels=["sink"],
        )
        for sink, count in sorted(dict(self._counts()).items()):
            family.add_metric([sink], count)
        yield family


class GatewayMetrics:
    """The metrics of one gateway. `pending_approvals` (if given) is read at scrape time for
    `toolgate_approvals_pending`; `dropped` likewise for the audit sinks' drop counts."""

    def __init__(
        self,
        *,
        pending_approvals: Callable[[], int] | None = None,
        dropped: Callable[[], Mapping[str, int]] | None = None,
        max_label_values: int = MAX_LABEL_VALUES,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._caps = {
            name: LabelCap(max_label_values)
            for name in ("server", "tool", "rule", "reason", "operation", "revision")
        }
        # revisions in force, by (server, policy path); a server with grants has several files
        self._in_force: dict[tuple[str, str], str] = {}
        self._shown: set[tuple[str, str]] = set()  # (server, revision) labels of policy_info
        self._define(self.registry)
        if pending_approvals is not None:
            pending = Gauge(
                "toolgate_approvals_pending",
                "Calls waiting for a human's approval.",
                registry=self.registry,
            )
            pending.set_function(lambda: float(pending_approvals()))
        if dropped is not None:
            self.registry.register(_DroppedEvents(dropped))

    def _define(self, registry: CollectorRegistry) -> None:
        self.decisions = Counter(
            "toolgate_decisions",
            "Decisions, by outcome, reason, tool, rule and server.",
            ["server", "outcome", "reason", "tool", "rule"],
            registry=registry,
        )
        self.decision_seconds = Histogram(
            "toolgate_decision_seconds",
            "Time from a request's arrival to toolgate's decision (policy latency).",
            ["server"],
            buckets=DECISION_BUCKETS,
            registry=registry,
        )
        self.upstream_seconds = Histogram(
            "toolgate_upstream_seconds",
            "Time from forwarding a call to the upstream's response.",
            ["server"],
            buckets=CALL_BUCKETS,
            registry=registry,
        )
        self.call_seconds = Histogram(
            "toolgate_call_seconds",
            "Time from a request's arrival to its answer: decision plus upstream.",
            ["server"],
            buckets=CALL_BUCKETS,
            registry=registry,
        )
        self.upstream_results = Counter(
            "toolgate_upstream_results",
            "Forwarded calls by how the upstream answered (ok, is_error, error, no_response).",
            ["server", "result"],
            registry=registry,
        )
        self.upstream_up = Gauge(
            "toolgate_upstream_up",
            "1 if the upstream's last forwarded call was answered, 0 if it failed or got none.",
            ["server"],
            registry=registry,
        )
        self.store_failures = Counter(
            "toolgate_store_failures",
            "Counter store failures, by operation.",
            ["server", "operation"],
            registry=registry,
        )
        self.policy_loads = Counter(
            "toolgate_policy_loads",
            "Policy loads, by kind (initial, reload) and whether they succeeded.",
            ["server", "kind", "ok"],
            registry=registry,
        )
        self.policy_info = Gauge(
            "toolgate_policy_info",
            "1 for each policy revision in force.",
            ["server", "revision"],
            registry=registry,
        )

    def observer(self, server: str | None = None) -> Observer:
        """The audit observer for the recorder of `server` (None: `toolgate run`'s one)."""
        name = self._caps["server"](server or DEFAULT_SERVER)

        def observe(event: AuditRecord) -> None:
            self.observe(event, name)

        return observe

    def observe(self, event: AuditRecord, server: str) -> None:
        """Count one audit event of `server`; kinds without metrics are ignored."""
        if isinstance(event, DecisionEvent):
            self._decision(event, server)
        elif isinstance(event, StoreFailureEvent):
            operation = self._caps["operation"](event.operation)
            self.store_failures.labels(server, operation).inc()
        elif isinstance(event, PolicyLoadEvent):
            self._policy_load(event, server)

    def _decision(self, event: DecisionEvent, server: str) -> None:
        cap = self._caps
        self.decisions.labels(
            server, event.outcome, cap["reason"](event.reason), cap["tool"](event.tool),
            cap["rule"](event.rule),
        ).inc()  # fmt: skip
        decision = event.decision_ms / 1000
        self.decision_seconds.labels(server).observe(decision)
        if event.upstream == "not_sent":
            self.call_seconds.labels(server).observe(decision)
            return
        self.upstream_results.labels(server, event.upstream).inc()
        self.upstream_up.labels(server).set(UP.get(event.upstream, 0.0))
        if event.upstream_ms is not None:
            upstream = event.upstream_ms / 1000
            self.upstream_seconds.labels(server).observe(upstream)
            self.call_seconds.labels(server).observe(decision + upstream)

    def _policy_load(self, event: PolicyLoadEvent, server: str) -> None:
        self.policy_loads.labels(server, event.load, "true" if event.ok else "false").inc()
        in_force = event.revision if event.ok else event.in_force
        if in_force is None:
            return
        self._in_force[(server, event.path)] = self._caps["revision"](in_force)
        current = {(s, revision) for (s, _), revision in self._in_force.items() if s == server}
        for stale in {shown for shown in self._shown if shown[0] == server} - current:
            self.policy_info.remove(*stale)
            self._shown.discard(stale)
        for labels in current - self._shown:
            self.policy_info.labels(*labels).set(1)
            self._shown.add(labels)

    def exposition(self) -> tuple[bytes, str]:
        """The registry in Prometheus text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
