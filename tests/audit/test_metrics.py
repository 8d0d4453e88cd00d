"""Prometheus metrics from audit events: what each event kind counts, the label cap, the
scrape-time gauges, the `/metrics` listener, the gateway file's `metrics:` section, and that a
gateway without metrics never imports prometheus_client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from tests.app.test_gateway_config_support import at, load, only_error

from toolgate.app.gateway_config import ListenAddress, MetricsConfig, TracingConfig
from toolgate.app.observability import Observability, build_observability, check_observability
from toolgate.app.settings import RunSettings, resolve_run_settings
from toolgate.audit.fanout import FanoutAuditSink
from toolgate.audit.metrics import OTHER, GatewayMetrics, LabelCap
from toolgate.audit.recorder import AuditRecorder
from toolgate.audit.sink import AuditRecord, NullAuditSink
from toolgate.clock import FakeClock
from toolgate.errors import ConfigError

pytestmark = pytest.mark.anyio

SERVER = "servers:\n  s: {command: srv, policy: policy.yaml}\n"


def sample(metrics: GatewayMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def recorder_for(
    metrics: GatewayMetrics, clock: FakeClock, server: str | None = None
) -> AuditRecorder:
    recorder = AuditRecorder(NullAuditSink(), clock, server=server)
    recorder.observers.append(metrics.observer(server))
    return recorder


async def decide(
    recorder: AuditRecorder,
    clock: FakeClock,
    tool: str,
    outcome: str = "allowed",
    *,
    decision_s: float = 0.002,
    upstream: str | None = "ok",
    upstream_s: float = 0.5,
) -> None:
    """One tools/call through the recorder: denied/hidden ones answered locally, allowed ones
    forwarded and settled by `upstream`."""
    event = recorder.begin(
        decision_id=f"d-{tool}-{clock.monotonic()}",
        session="s1",
        identity="alice",
        method="tools/call",
        started=clock.monotonic(),
    )
    event.tool = tool
    clock.advance(decision_s)
    if outcome != "allowed":
        rule = f"tools.{tool}.rules[0]"
        await recorder.finish_local(event, outcome, "rule_deny", rule, "no")  # type: ignore[arg-type]
        return
    event.reason = "rule_allow"
    event.decided(clock.monotonic())
    recorder.forwarded(event)
    clock.advance(upstream_s)
    assert upstream is not None
    await recorder.finish_forwarded(event, upstream, clock.monotonic())  # type: ignore[arg-type]


async def test_decisions_are_counted_by_outcome_reason_tool_rule_and_server(
    clock: FakeClock,
) -> None:
    metrics = GatewayMetrics()
    recorder = recorder_for(metrics, clock, "files")
    for _ in range(3):
        await decide(recorder, clock, "read")
    await decide(recorder, clock, "delete", "denied")
    await decide(recorder, clock, "delete", "denied")
    allowed = sample(
        metrics, "toolgate_decisions_total",
        server="files", outcome="allowed", reason="rule_allow", tool="read", rule="",
    )  # fmt: skip
    denied = sample(
        metrics, "toolgate_decisions_total",
        server="files", outcome="denied", reason="rule_deny", tool="delete",
        rule="tools.delete.rules[0]",
    )  # fmt: skip
    assert (allowed, denied) == (3.0, 2.0)


async def test_latency_histograms_hold_the_decision_upstream_and_total_times(
    clock: FakeClock,
) -> None:
    metrics = GatewayMetrics()
    recorder = recorder_for(metrics, clock)
    await decide(recorder, clock, "read", decision_s=0.004, upstream_s=0.25)
    await decide(recorder, clock, "read", decision_s=0.006, upstream_s=0.75)
    await decide(recorder, clock, "rm", "denied", decision_s=0.001)
    labels = {"server": "default"}
    assert sample(metrics, "toolgate_decision_seconds_count", **labels) == 3
    assert sample(metrics, "toolgate_decision_seconds_sum", **labels) == pytest.approx(0.011)
    assert sample(metrics, "toolgate_upstream_seconds_count", **labels) == 2
    assert sample(metrics, "toolgate_upstream_seconds_sum", **labels) == pytest.approx(1.0)
    assert sample(metrics, "toolgate_call_seconds_sum", **labels) == pytest.approx(1.011)
    assert sample(metrics, "toolgate_upstream_seconds_bucket", le="0.5", **labels) == 1


async def test_the_upstream_is_up_after_an_answer_and_down_after_an_error_or_silence(
    clock: FakeClock,
) -> None:
    metrics = GatewayMetrics()
    recorder = recorder_for(metrics, clock)
    up = []
    for outcome in ("ok", "error", "is_error", "no_response"):
        await decide(recorder, clock, "read", upstream=outcome)
        up.append(sample(metrics, "toolgate_upstream_up", server="default"))
    await decide(recorder, clock, "rm", "denied")  # never sent: says nothing about the upstream
    up.append(sample(metrics, "toolgate_upstream_up", server="default"))
    assert up == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert sample(metrics, "toolgate_upstream_results_total", server="default", result="error") == 1


async def test_calls_still_open_at_shutdown_count_as_no_response(clock: FakeClock) -> None:
    metrics = GatewayMetrics()
    recorder = recorder_for(metrics, clock)
    event = recorder.begin(
        decision_id="d1", session="s", identity=None, method="tools/call", started=0.0
    )
    event.tool = "slow"
    recorder.forwarded(event)
    await recorder.stopped(0)
    labels = {"server": "default", "result": "no_response"}
    assert sample(metrics, "toolgate_upstream_results_total", **labels) == 1


async def test_store_failures_are_counted_by_operation(clock: FakeClock) -> None:
    metrics = GatewayMetrics()
    recorder = recorder_for(metrics, clock)
    await recorder.store_failed("reserve", OSError("down"))
    await recorder.store_failed("reserve", OSError("down"))
    await recorder.store_failed("snapshot", OSError("down"))
    count = {
        op: sample(metrics, "toolgate_store_failures_total", server="default", operation=op)
        for op in ("reserve", "snapshot", "rollback")
    }
    assert count == {"reserve": 2.0, "snapshot": 1.0, "rollback": None}


async def test_policy_info_follows_the_revision_in_force_and_loads_are_counted(
    clock: FakeClock,
) -> None:
    metrics = GatewayMetrics()
    recorder = recorder_for(metrics, clock)
    recorder.policy_loaded(load="initial", path="p.yaml", revision="r1", in_force=None, errors=[])
    await recorder.flush()
    assert sample(metrics, "toolgate_policy_info", server="default", revision="r1") == 1
    recorder.policy_loaded(load="reload", path="p.yaml", revision=None, in_force="r1", errors=["x"])
    await recorder.flush()
    assert sample(metrics, "toolgate_policy_info", server="default", revision="r1") == 1
    recorder.policy_loaded(load="reload", path="p.yaml", revision="r2", in_force="r1", errors=[])
    await recorder.flush()
    info = {
        rev: sample(metrics, "toolgate_policy_info", server="default", revision=rev)
        for rev in ("r1", "r2")
    }
    assert info == {"r1": None, "r2": 1.0}
    loads = {
        (kind, ok): sample(
            metrics, "toolgate_policy_loads_total", server="default", kind=kind, ok=ok
        )
        for kind, ok in (("initial", "true"), ("reload", "true"), ("reload", "false"))
    }
    assert loads == {("initial", "true"): 1, ("reload", "true"): 1, ("reload", "false"): 1}


def test_a_label_keeps_its_first_values_and_folds_the_rest_into_other() -> None:
    cap = LabelCap(limit=2)
    assert [cap(v) for v in ("a", "b", "c", "a", "d", "b")] == ["a", "b", OTHER, "a", OTHER, "b"]


async def test_invented_tool_names_past_the_cap_are_counted_as_other(clock: FakeClock) -> None:
    metrics = GatewayMetrics(max_label_values=3)
    recorder = recorder_for(metrics, clock)
    for index in range(10):
        await decide(recorder, clock, f"tool-{index}", "denied")
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition()[0].decode())}
    tools = {
        s.labels["tool"]
        for s in families["toolgate_decisions"].samples
        if s.name.endswith("_total")
    }
    assert tools == {"tool-0", "tool-1", "tool-2", OTHER}
    assert sample(
        metrics, "toolgate_decisions_total", server="default", outcome="denied",
        reason="rule_deny", tool=OTHER, rule=OTHER,
    ) == 7  # fmt: skip


async def test_pending_approvals_and_dropped_events_are_read_at_scrape_time() -> None:
    pending = [0]

    class Broken:
        async def emit(self, event: AuditRecord) -> None:
            raise OSError("disk full")

        async def aclose(self) -> None:
            return None

    sink = FanoutAuditSink([("jsonl:/x", Broken()), ("stderr", NullAuditSink())])
    observability = build_observability(
        MetricsConfig(enabled=True),
        TracingConfig(),
        sink=sink,
        pending_approvals=lambda: pending[0],
    )
    metrics = observability.metrics
    assert metrics is not None
    pending[0] = 4
    await sink.emit(NullEvent())
    await sink.emit(NullEvent())
    assert sample(metrics, "toolgate_approvals_pending") == 4
    assert sample(metrics, "toolgate_audit_dropped_events_total", sink="jsonl:/x") == 2
    assert sample(metrics, "toolgate_audit_dropped_events_total", sink="stderr") == 0


class NullEvent:
    def to_json(self) -> bytes:
        return b"{}"


async def test_each_gateway_has_its_own_registry_and_the_default_one_is_untouched(
    clock: FakeClock,
) -> None:
    first, second = GatewayMetrics(), GatewayMetrics()
    await decide(recorder_for(first, clock), clock, "read")
    labels = {"server": "default"}
    assert sample(first, "toolgate_decision_seconds_count", **labels) == 1
    assert sample(second, "toolgate_decision_seconds_count", **labels) is None
    assert REGISTRY.get_sample_value("toolgate_decision_seconds_count", labels) is None


def test_nothing_is_observed_when_metrics_and_traces_are_off(clock: FakeClock) -> None:
    observability = build_observability(MetricsConfig(), TracingConfig())
    recorder = AuditRecorder(NullAuditSink(), clock)
    observability.attach(recorder)
    assert (observability.metrics, observability.tracer, recorder.observers) == (None, None, [])


async def test_the_metrics_listener_serves_the_registry_and_stops(clock: FakeClock) -> None:
    observability = build_observability(
        MetricsConfig(enabled=True, listen=ListenAddress("127.0.0.1", 0, True)), TracingConfig()
    )
    recorder = AuditRecorder(NullAuditSink(), clock)
    observability.attach(recorder)
    observability.start_listener()
    assert observability._server is not None
    port = observability._server.server_address[1]  # type: ignore[attr-defined]
    await decide(recorder, clock, "read")
    async with httpx.AsyncClient() as client:
        with anyio.fail_after(10):
            response = await client.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    assert 'toolgate_upstream_up{server="default"} 1.0' in response.text
    await observability.aclose()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/metrics", timeout=5)


async def test_a_metrics_address_already_in_use_is_a_clear_error() -> None:
    first = build_observability(
        MetricsConfig(enabled=True, listen=ListenAddress("127.0.0.1", 0, True)), TracingConfig()
    )
    first.start_listener()
    port = first._server.server_address[1]  # type: ignore[union-attr]
    second = Observability(metrics=GatewayMetrics(), listen=ListenAddress("127.0.0.1", port, True))
    try:
        with pytest.raises(ConfigError, match=rf"cannot serve metrics on 127.0.0.1:{port}"):
            second.start_listener()
    finally:
        await first.aclose()


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("nope", "--metrics-listen: 'nope': expected HOST:PORT"),
        ("127.0.0.1:99999", "--metrics-listen: "),
        ("", "--metrics-listen: "),
        ("[::1", "--metrics-listen: '[::1': unclosed"),
    ],
)
def test_a_garbage_metrics_listen_flag_is_refused_naming_the_flag(flag: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_observability(flag, None, False, {})
    assert str(caught.value).startswith(expected)


def test_metrics_on_the_gateway_listener_or_their_own(tmp_path: Path) -> None:
    off = load(tmp_path, SERVER)
    on = load(tmp_path, "metrics: {enabled: true}\n" + SERVER)
    own = load(tmp_path, "metrics: {listen: '0.0.0.0:9464'}\n" + SERVER)
    assert off.metrics == MetricsConfig(enabled=False)
    assert on.metrics == MetricsConfig(enabled=True)
    assert own.metrics == MetricsConfig(enabled=True, listen=ListenAddress("0.0.0.0", 9464, False))
    route = build_observability(on.metrics, on.tracing).route()
    assert route is not None and b"toolgate_decisions" in route()[0]
    assert build_observability(own.metrics, own.tracing).route() is None


@pytest.mark.parametrize(
    ("text", "needle", "message"),
    [
        ("metrics: yes please\n", "yes please", "metrics must be a mapping, got a string"),
        ("metrics: {enabled: maybe}\n", "maybe", "enabled must be true or false, got a string"),
        (
            "metrics: {enabeld: true}\n",
            "enabeld",
            'unknown key "enabeld" (did you mean "enabled"?)',
        ),
        (
            "metrics: {listen: 'localhost'}\n",
            "'localhost'",
            "listen: 'localhost': expected HOST:PORT",
        ),
        ("metrics: {listen: [1, 2]}\n", "[1, 2]", "listen must be a string, got a list"),
    ],
)
def test_garbage_in_the_metrics_section_is_a_located_error(
    tmp_path: Path, text: str, needle: str, message: str
) -> None:
    line, column, _, found = only_error(tmp_path, text + SERVER)
    assert (line, column) == at(text + SERVER, needle)
    assert found.startswith(message), found


CHECK_IMPORTS = """
import sys
from toolgate.app.gateway_config import MetricsConfig, TracingConfig
import toolgate.app.stdio_gateway, toolgate.app.http_gateway, toolgate.cli.gateway_entry
from toolgate.app.observability import build_observability
build_observability(MetricsConfig(enabled=ENABLED), TracingConfig())
names = {m.split(".")[0] for m in sys.modules}
print(sorted(n for n in names if n.startswith(("prometheus", "opentelemetry"))))
"""


@pytest.mark.parametrize(("enabled", "loaded"), [(False, "[]"), (True, "['prometheus_client']")])
def test_a_gateway_without_metrics_never_imports_prometheus_client(
    enabled: bool, loaded: str
) -> None:
    code = CHECK_IMPORTS.replace("ENABLED", str(enabled))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == loaded, result.stderr


def test_the_observability_flags_survive_the_handover_to_the_gateway_process(
    tmp_path: Path,
) -> None:
    settings = resolve_run_settings(
        tmp_path / "p.yaml", ["srv"], state_dir=tmp_path, audit_log=None, max_line=None,
        namespace=None, store_url=None, metrics_listen="[::1]:9464",
        otel_endpoint="http://collector:4318",
    )  # fmt: skip
    again = RunSettings.from_json(settings.to_json())
    assert (again.metrics_listen, again.otel_endpoint, again.otel) == (
        "[::1]:9464",
        "http://collector:4318/v1/traces",
        False,
    )
    with pytest.raises(ConfigError, match="--metrics-listen: 'x:y'"):
        resolve_run_settings(
            tmp_path / "p.yaml", ["srv"], state_dir=tmp_path, audit_log=None, max_line=None,
            namespace=None, store_url=None, metrics_listen="x:y",
        )  # fmt: skip


def test_run_with_listen_refuses_observability_flags_instead_of_ignoring_them(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text('version: "1"\n')
    result = subprocess.run(
        [sys.executable, "-m", "toolgate", "run", "-c", str(policy), "--listen", "127.0.0.1:0",
         "--metrics-listen", "127.0.0.1:9464", "--", "srv"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "with --listen, configure metrics and traces in a gateway file" in result.stderr
