"""OpenTelemetry traces from decision events: a decision span with a child upstream span, their
times taken from the event, a W3C traceparent continued (and garbage ignored), spans flushed
when the gateway stops, a real OTLP/HTTP export, and the `tracing:` section and flags."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import orjson
import pytest
from jsonschema import Draft202012Validator
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from tests.app.test_gateway_config_support import at, load, only_error

from toolgate.app.gateway_config import MetricsConfig, TracingConfig
from toolgate.app.observability import Observability, build_observability, check_observability
from toolgate.audit.recorder import AuditRecorder, PendingEvent
from toolgate.audit.sink import NullAuditSink
from toolgate.audit.tracing import (
    DECISION_SPAN,
    UPSTREAM_SPAN,
    DecisionTracer,
    epoch_ns,
    provider_with,
)
from toolgate.clock import FakeClock
from toolgate.errors import ConfigError

pytestmark = pytest.mark.anyio

SERVER = "servers:\n  s: {command: srv, policy: policy.yaml}\n"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "audit-event-v1.schema.json"
MS = 1_000_000  # nanoseconds


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def recorder(exporter: InMemorySpanExporter, clock: FakeClock) -> AuditRecorder:
    tracer = DecisionTracer(provider_with(SimpleSpanProcessor(exporter), "toolgate-test"))
    recorder = AuditRecorder(NullAuditSink(), clock, server="files")
    recorder.observers.append(tracer.observer("files"))
    return recorder


def begin(recorder: AuditRecorder, clock: FakeClock, traceparent: str | None) -> PendingEvent:
    event = recorder.begin(
        decision_id="dec-1", session="s1", identity="alice", method="tools/call",
        started=clock.monotonic(),
    )  # fmt: skip
    event.tool, event.policy_revision, event.traceparent = "read", "rev-7", traceparent
    return event


async def forward(
    recorder: AuditRecorder, clock: FakeClock, traceparent: str | None = None
) -> PendingEvent:
    event = begin(recorder, clock, traceparent)
    clock.advance(0.003)
    event.reason, event.rule = "rule_allow", "tools.read.rules[0]"
    event.decided(clock.monotonic())
    recorder.forwarded(event)
    clock.advance(0.250)
    await recorder.finish_forwarded(event, "ok", clock.monotonic())
    return event


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    spans = exporter.get_finished_spans()
    assert len({span.name for span in spans}) == len(spans), spans
    return {span.name: span for span in spans}


async def test_a_forwarded_call_is_a_decision_span_with_a_child_upstream_span(
    recorder: AuditRecorder, exporter: InMemorySpanExporter, clock: FakeClock
) -> None:
    start = epoch_ns("2026-01-01T00:00:00.000000Z")
    assert start == int(clock.now()) * 1_000_000_000
    await forward(recorder, clock)
    spans = by_name(exporter)
    decision, upstream = spans[DECISION_SPAN], spans[UPSTREAM_SPAN]
    assert upstream.parent is not None and decision.context is not None
    assert upstream.parent.span_id == decision.context.span_id
    assert upstream.context is not None
    assert upstream.context.trace_id == decision.context.trace_id
    assert decision.parent is None  # no traceparent: a root span
    assert (decision.start_time, decision.end_time) == (start, start + 253 * MS)
    assert (upstream.start_time, upstream.end_time) == (start + 3 * MS, start + 253 * MS)
    assert (decision.kind, upstream.kind) == (SpanKind.SERVER, SpanKind.CLIENT)
    attributes = dict(decision.attributes or {})
    assert {k: attributes[k] for k in ("toolgate.tool", "toolgate.outcome", "toolgate.rule")} == {
        "toolgate.tool": "read",
        "toolgate.outcome": "allowed",
        "toolgate.rule": "tools.read.rules[0]",
    }
    assert attributes["toolgate.identity"] == "alice"
    assert attributes["toolgate.server"] == "files"
    assert attributes["toolgate.decision_id"] == "dec-1"
    assert attributes["toolgate.policy_revision"] == "rev-7"
    assert attributes["toolgate.reason"] == "rule_allow"


async def test_a_denied_call_has_no_upstream_span(
    recorder: AuditRecorder, exporter: InMemorySpanExporter, clock: FakeClock
) -> None:
    event = begin(recorder, clock, None)
    clock.advance(0.001)
    await recorder.finish_local(event, "denied", "rule_deny", "tools.read.rules[1]", "no")
    spans = by_name(exporter)
    assert list(spans) == [DECISION_SPAN]
    decision = spans[DECISION_SPAN]
    assert decision.end_time is not None and decision.start_time is not None
    assert decision.end_time - decision.start_time == 1 * MS
    assert dict(decision.attributes or {})["toolgate.outcome"] == "denied"


async def test_a_failed_upstream_marks_the_upstream_span_as_an_error(
    recorder: AuditRecorder, exporter: InMemorySpanExporter, clock: FakeClock
) -> None:
    event = begin(recorder, clock, None)
    event.decided(clock.monotonic())
    recorder.forwarded(event)
    await recorder.finish_forwarded(event, "error", clock.monotonic())
    assert by_name(exporter)[UPSTREAM_SPAN].status.status_code == StatusCode.ERROR


async def test_a_traceparent_from_the_request_is_continued(
    recorder: AuditRecorder, exporter: InMemorySpanExporter, clock: FakeClock
) -> None:
    await forward(recorder, clock, TRACEPARENT)
    spans = by_name(exporter)
    decision = spans[DECISION_SPAN]
    assert decision.context is not None and decision.parent is not None
    assert format(decision.context.trace_id, "032x") == TRACE_ID
    assert format(decision.parent.span_id, "016x") == PARENT_ID
    assert decision.parent.is_remote
    upstream = spans[UPSTREAM_SPAN]
    assert upstream.context is not None
    assert format(upstream.context.trace_id, "032x") == TRACE_ID


@pytest.mark.parametrize(
    "garbage",
    [
        "garbage",
        "",
        "00-" + "0" * 32 + "-" + PARENT_ID + "-01",  # the all-zero trace id is invalid
        f"00-{TRACE_ID}-{'0' * 16}-01",  # so is the all-zero parent id
        f"ff-{TRACE_ID}-{PARENT_ID}-01",  # version ff is forbidden
        f"00-{TRACE_ID.upper()}-{PARENT_ID}-01x",
        "00-" + "é" * 32 + f"-{PARENT_ID}-01",
        "\x00" * 55,
    ],
)
async def test_a_garbage_traceparent_starts_a_new_root_trace(
    recorder: AuditRecorder, exporter: InMemorySpanExporter, clock: FakeClock, garbage: str
) -> None:
    await forward(recorder, clock, garbage)
    decision = by_name(exporter)[DECISION_SPAN]
    assert decision.parent is None
    assert decision.context is not None and decision.context.trace_id != int(TRACE_ID, 16)


async def test_a_non_string_traceparent_is_ignored(
    recorder: AuditRecorder, exporter: InMemorySpanExporter, clock: FakeClock
) -> None:
    await forward(recorder, clock, {"not": "a string"})  # type: ignore[arg-type]
    assert by_name(exporter)[DECISION_SPAN].parent is None


async def test_the_traceparent_is_in_the_audit_record_only_when_the_request_carried_one(
    clock: FakeClock,
) -> None:
    recorder = AuditRecorder(NullAuditSink(), clock)
    written: list[dict[str, object]] = []
    recorder.observers.append(lambda event: written.append(orjson.loads(event.to_json())))
    await forward(recorder, clock, TRACEPARENT)
    await forward(recorder, clock, None)
    assert [e.get("traceparent", "absent") for e in written] == [TRACEPARENT, "absent"]
    validator = Draft202012Validator(orjson.loads(SCHEMA.read_bytes()))
    assert [list(validator.iter_errors(e)) for e in written] == [[], []]
    assert list(validator.iter_errors({**written[0], "traceparent": 7}))


async def test_spans_still_batched_are_exported_when_the_gateway_stops(
    exporter: InMemorySpanExporter, clock: FakeClock
) -> None:
    processor = BatchSpanProcessor(exporter, schedule_delay_millis=3_600_000)
    observability = Observability(tracer=DecisionTracer(provider_with(processor, "t")))
    recorder = AuditRecorder(NullAuditSink(), clock)
    observability.attach(recorder)
    await forward(recorder, clock)
    assert exporter.get_finished_spans() == ()
    await observability.aclose()
    assert sorted(span.name for span in exporter.get_finished_spans()) == sorted(
        [DECISION_SPAN, UPSTREAM_SPAN]
    )


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.path, self.headers.get("Content-Type", ""), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    received: list[tuple[str, str, bytes]] = []
    handler = type("Handler", (_Collector,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


async def test_spans_reach_an_otlp_http_collector_when_the_gateway_stops(
    collector: tuple[str, list[tuple[str, str, bytes]]], clock: FakeClock
) -> None:
    url, received = collector
    endpoint = check_observability(None, url, False, {})
    observability = build_observability(
        MetricsConfig(), TracingConfig(enabled=True, otlp_endpoint=endpoint)
    )
    recorder = AuditRecorder(NullAuditSink(), clock)
    observability.attach(recorder)
    await forward(recorder, clock, TRACEPARENT)
    await observability.aclose()
    assert [(path, kind) for path, kind, _ in received] == [
        ("/v1/traces", "application/x-protobuf")
    ]
    assert bytes.fromhex(TRACE_ID) in received[0][2]
    assert b"toolgate.decision" in received[0][2]


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/traces"),
        ("http://127.0.0.1:4318/", "http://127.0.0.1:4318/v1/traces"),
        ("https://otel.example/custom/path", "https://otel.example/custom/path"),
    ],
)
def test_a_collector_url_gets_the_traces_path_unless_it_has_one(given: str, used: str) -> None:
    assert check_observability(None, given, False, {}) == used


@pytest.mark.parametrize(
    ("endpoint", "otel", "environ", "expected"),
    [
        ("ftp://collector:21", False, {}, "--otel-endpoint must be an http:// or https:// URL"),
        ("http://", False, {}, "--otel-endpoint must be an http:// or https:// URL"),
        ("http://a b", False, {}, "--otel-endpoint must be an ASCII URL without spaces"),
        ("http://h:99999", False, {}, "--otel-endpoint 'http://h:99999' is not a valid URL"),
        ("http://u:p@h:4318", False, {}, "--otel-endpoint 'http://u:p@h:4318': no credentials"),
        (None, True, {}, "--otel exports traces to the collector in OTEL_EXPORTER_OTLP_ENDPOINT"),
        (None, True, {"OTEL_EXPORTER_OTLP_ENDPOINT": " "}, "--otel exports traces"),
    ],
)
def test_garbage_tracing_flags_are_refused_naming_the_flag(
    endpoint: str | None, otel: bool, environ: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        check_observability(None, endpoint, otel, environ)
    assert str(caught.value).startswith(expected), caught.value


def test_otel_takes_the_collector_from_the_standard_variables() -> None:
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    assert check_observability(None, None, True, environ) is None


def test_the_tracing_section_names_the_collector_and_the_service(tmp_path: Path) -> None:
    home = {"TOOLGATE_HOME": str(tmp_path / "home")}
    off = load(tmp_path, SERVER)
    given = load(tmp_path, "tracing: {otlp_endpoint: 'http://c:4318', service_name: gw}\n" + SERVER)
    from_env = load(
        tmp_path, "tracing: {}\n" + SERVER, {**home, "OTEL_EXPORTER_OTLP_ENDPOINT": "x"}
    )
    assert off.tracing == TracingConfig(enabled=False)
    assert given.tracing == TracingConfig(True, "http://c:4318/v1/traces", "gw")
    assert from_env.tracing == TracingConfig(True, None, "toolgate")


@pytest.mark.parametrize(
    ("text", "needle", "message"),
    [
        ("tracing: 4318\n", "4318", "tracing must be a mapping, got an integer"),
        ("tracing: {otlp_endpoint: 'ftp://c'}\n", "'ftp://c'", "otlp_endpoint must be an http"),
        ("tracing: {otlp_endpoint: 5}\n", "5", "otlp_endpoint must be a string"),
        (
            "tracing: {service_name: '', otlp_endpoint: 'http://c'}\n",
            "''",
            "service_name must be non-empty text",
        ),
        ("tracing: {enabled: 1, otlp_endpoint: 'http://c'}\n", "1,", "enabled must be true"),
        (
            "tracing: {endpoint: 'http://c', otlp_endpoint: 'http://c'}\n",
            "endpoint",
            'unknown key "endpoint"',
        ),
        ("tracing: {service_name: gw}\n", "{", "tracing without otlp_endpoint exports traces"),
    ],
)
def test_garbage_in_the_tracing_section_is_a_located_error(
    tmp_path: Path, text: str, needle: str, message: str
) -> None:
    line, column, _, found = only_error(tmp_path, text + SERVER)
    assert (line, column) == at(text + SERVER, needle)
    assert found.startswith(message), found
