"""OpenTelemetry traces derived from decision events: a `toolgate.decision` span per decision
and, for a forwarded call, a child `toolgate.upstream` span covering the upstream's time.

Spans are built after the fact from the event (its `ts`, `decision_ms` and `upstream_ms`), so the
relay needs no hooks: the decision span runs from the request's arrival to its answer, the
upstream span from forwarding to the response. When the request carried a W3C `traceparent` in
`_meta`, the decision span continues that trace; a malformed one starts a new root trace.

This module imports the OpenTelemetry SDK; import it only when tracing is enabled (the `otel`
extra), so a gateway without tracing never loads it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import (
    Span,
    SpanKind,
    Status,
    StatusCode,
    get_current_span,
    set_span_in_context,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from toolgate.audit.event import DecisionEvent
from toolgate.audit.sink import AuditRecord

DECISION_SPAN: Final = "toolgate.decision"
UPSTREAM_SPAN: Final = "toolgate.upstream"
TRACER_NAME: Final = "toolgate"
# an unreachable collector costs at most about this much at shutdown (retries included)
EXPORT_TIMEOUT_SECONDS: Final = 3.0
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_PROPAGATOR: Final = TraceContextTextMapPropagator()
_FAILED_UPSTREAM: Final = ("error", "no_response")

Observer = Callable[[AuditRecord], None]


def otlp_provider(endpoint: str | None, service_name: str) -> TracerProvider:
    """A tracer provider exporting in batches over OTLP/HTTP to `endpoint` (the traces URL, e.g.
    http://127.0.0.1:4318/v1/traces); None lets the exporter read OTEL_EXPORTER_OTLP_* from the
    environment."""
    # the exporter pulls in an HTTP client and protobuf: loaded only for a real export
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )

    exporter = OTLPSpanExporter(endpoint=endpoint, timeout=EXPORT_TIMEOUT_SECONDS)
    return provider_with(BatchSpanProcessor(exporter), service_name)


def provider_with(processor: SpanProcessor, service_name: str) -> TracerProvider:
    """A tracer provider for `service_name` that hands every finished span to `processor`."""
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(processor)
    return provider


def parent_context(traceparent: str | None) -> Context | None:
    """The remote parent a W3C `traceparent` names; None (a new root trace) when there is none
    or it is malformed."""
    if not traceparent or not isinstance(traceparent, str):
        return None
    try:
        context = _PROPAGATOR.extract({"traceparent": traceparent})
    except Exception:  # a malformed header is the client's problem, never the gateway's
        return None
    return context if get_current_span(context).get_span_context().is_valid else None


def epoch_ns(ts: str) -> int:
    """An event's `ts` (ISO 8601, UTC, microseconds) as nanoseconds since the epoch."""
    moment = datetime.fromisoformat(ts)
    return (moment - _EPOCH) // _MICROSECOND * 1000


class DecisionTracer:
    """Turns decision events into spans on `provider`; `shutdown()` flushes what is batched."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer(TRACER_NAME)

    def observer(self, server: str | None = None) -> Observer:
        """The audit observer for the recorder of `server` (None: `toolgate run`'s one)."""

        def observe(event: AuditRecord) -> None:
            if isinstance(event, DecisionEvent):
                self.trace(event, server)

        return observe

    def trace(self, event: DecisionEvent, server: str | None = None) -> None:
        start = epoch_ns(event.ts)
        decided = start + round(event.decision_ms * 1_000_000)
        upstream_ns = round(event.upstream_ms * 1_000_000) if event.upstream_ms is not None else 0
        span = self._tracer.start_span(
            DECISION_SPAN,
            context=parent_context(event.traceparent),
            kind=SpanKind.SERVER,
            start_time=start,
            attributes=_attributes(event, server),
        )
        if event.outcome == "error":
            span.set_status(Status(StatusCode.ERROR, event.message or event.reason))
        if event.upstream != "not_sent":
            self._upstream(span, event, decided, decided + upstream_ns)
        span.end(end_time=decided + upstream_ns)

    def _upstream(self, parent: Span, event: DecisionEvent, start: int, end: int) -> None:
        child = self._tracer.start_span(
            UPSTREAM_SPAN,
            context=set_span_in_context(parent),
            kind=SpanKind.CLIENT,
            start_time=start,
            attributes={"toolgate.upstream": event.upstream, "toolgate.tool": event.tool or ""},
        )
        if event.upstream in _FAILED_UPSTREAM:
            child.set_status(Status(StatusCode.ERROR, f"upstream: {event.upstream}"))
        child.end(end_time=end)

    def shutdown(self) -> None:
        """Export every span still batched, then stop (blocks for up to the export timeout)."""
        self.provider.shutdown()


def _attributes(event: DecisionEvent, server: str | None) -> dict[str, str | float]:
    attributes: dict[str, str | float] = {
        "toolgate.decision_id": event.decision_id,
        "toolgate.method": event.method,
        "toolgate.outcome": event.outcome,
        "toolgate.reason": event.reason,
        "toolgate.mode": event.mode,
        "toolgate.upstream": event.upstream,
        "toolgate.decision_ms": event.decision_ms,
    }
    optional = {
        "toolgate.tool": event.tool,
        "toolgate.rule": event.rule,
        "toolgate.rule_name": event.rule_name,
        "toolgate.identity": event.identity,
        "toolgate.server": server or event.server_name,
        "toolgate.policy_revision": event.policy_revision,
        "toolgate.session": event.session,
    }
    attributes.update({key: value for key, value in optional.items() if value})
    if event.upstream_ms is not None:
        attributes["toolgate.upstream_ms"] = event.upstream_ms
    return attributes
