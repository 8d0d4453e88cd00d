"""Live observability of a gateway: Prometheus metrics and OpenTelemetry traces, both built as
audit observers (`AuditRecorder.observers`), so they see exactly what the audit log records.

Both are optional extras (`toolgate[metrics]`, `toolgate[otel]`) and cost nothing when off: the
libraries are imported only here, only when enabled, and a gateway without them attaches no
observer at all. `toolgate run --metrics-listen` serves `/metrics` on a listener thread of its
own; `toolgate serve` adds a `/metrics` route to its HTTP application (or, with `metrics.listen`,
uses a listener of its own too). Traces are flushed when the gateway stops.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol
from urllib.parse import urlsplit

import anyio

from toolgate.app.gateway_config import ListenAddress, MetricsConfig, TracingConfig
from toolgate.app.gateway_config_values import parse_listen
from toolgate.audit.fanout import FanoutAuditSink
from toolgate.audit.sink import AuditSink
from toolgate.errors import ConfigError

if TYPE_CHECKING:
    from toolgate.app.settings import RunSettings
    from toolgate.audit.metrics import GatewayMetrics
    from toolgate.audit.recorder import AuditRecorder
    from toolgate.audit.tracing import DecisionTracer

log = logging.getLogger("toolgate")

TRACES_PATH: Final = "/v1/traces"  # OTLP/HTTP: where a collector takes spans
ENDPOINT_VARIABLES: Final = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
DEFAULT_SERVICE_NAME: Final = "toolgate"
Exposition = Callable[[], tuple[bytes, str]]


class _Stoppable(Protocol):
    def shutdown(self) -> None: ...

    def server_close(self) -> None: ...


def parse_metrics_listen(text: str, what: str = "--metrics-listen") -> ListenAddress:
    """HOST:PORT for the metrics listener (loopback unless an address says otherwise)."""
    try:
        return parse_listen(text)
    except ConfigError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def check_otlp_endpoint(text: str, what: str = "--otel-endpoint") -> str:
    """The OTLP/HTTP traces URL for a collector URL: `/v1/traces` is added when the URL has no
    path (http://127.0.0.1:4318 → http://127.0.0.1:4318/v1/traces), a URL with a path is kept."""
    if not text.isascii() or any(c.isspace() or ord(c) < 0x20 for c in text):
        raise ConfigError(f"{what} must be an ASCII URL without spaces, got {text!r}")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ConfigError(f"{what} {text!r} is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what} must be an http:// or https:// URL with a host, got {text!r}")
    if "@" in parts.netloc or parts.fragment or (port is not None and port == 0):
        raise ConfigError(f"{what} {text!r}: no credentials, fragment or port 0 (a collector URL)")
    return text if parts.path.strip("/") else text.rstrip("/") + TRACES_PATH


def endpoint_from_environment(environ: Mapping[str, str], what: str = "--otel") -> None:
    """Tracing to the collector the standard variables name: refuse when none is set."""
    if not any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES):
        raise ConfigError(
            f"{what} exports traces to the collector in OTEL_EXPORTER_OTLP_ENDPOINT (or "
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), and neither is set; set one or give a URL"
        )


def check_observability(
    metrics_listen: str | None,
    otel_endpoint: str | None,
    otel: bool,
    environ: Mapping[str, str],
) -> str | None:
    """Check `toolgate run`'s observability flags; returns the traces URL to use (None: the
    exporter reads the standard variables, or tracing is off)."""
    if metrics_listen is not None:
        parse_metrics_listen(metrics_listen)
    if otel_endpoint is not None:
        return check_otlp_endpoint(otel_endpoint)
    if otel:
        endpoint_from_environment(environ)
    return None


@dataclass(slots=True)
class Observability:
    """What one gateway observes and serves. Empty (both None) when everything is off."""

    metrics: GatewayMetrics | None = None
    tracer: DecisionTracer | None = None
    listen: ListenAddress | None = None  # a metrics listener of its own
    _server: _Stoppable | None = field(default=None, repr=False)

    def attach(self, recorder: AuditRecorder, server: str | None = None) -> None:
        """Observe every event `recorder` writes (call before its startup event)."""
        if self.metrics is not None:
            recorder.observers.append(self.metrics.observer(server))
        if self.tracer is not None:
            recorder.observers.append(self.tracer.observer(server))

    def route(self) -> Exposition | None:
        """The `/metrics` exposition for the gateway's own HTTP listener; None when metrics are
        off or served on a listener of their own."""
        if self.metrics is None or self.listen is not None:
            return None
        return self.metrics.exposition

    def start_listener(self) -> None:
        """Bind the metrics listener (if any) and serve it on a daemon thread; ConfigError when
        the address cannot be bound."""
        if self.metrics is None or self.listen is None or self._server is not None:
            return
        from prometheus_client import start_http_server  # noqa: PLC0415 - metrics only

        host, port = self.listen.host, self.listen.port
        try:
            server, _ = start_http_server(port, addr=host, registry=self.metrics.registry)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve metrics on {self.listen}: {exc.strerror or exc}"
            ) from None
        self._server = server
        bound = server.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        print(f"toolgate: metrics at http://{shown}:{bound}/metrics", file=sys.stderr, flush=True)

    async def aclose(self) -> None:
        """Stop the listener and export the spans still batched (off the event loop)."""
        server, self._server = self._server, None
        if server is not None:
            await anyio.to_thread.run_sync(_stop, server)
        if self.tracer is not None:
            tracer, self.tracer = self.tracer, None
            await anyio.to_thread.run_sync(tracer.shutdown)


def _stop(server: _Stoppable) -> None:
    server.shutdown()
    server.server_close()


def build_observability(
    metrics: MetricsConfig,
    tracing: TracingConfig,
    *,
    sink: AuditSink | None = None,
    pending_approvals: Callable[[], int] | None = None,
) -> Observability:
    """The observers `metrics` and `tracing` ask for (none when both are off); `sink` is the
    gateway's audit sink, whose drop counts are exported when it keeps any."""
    observability = Observability()
    if metrics.enabled:
        observability.metrics = _metrics(sink, pending_approvals)
        observability.listen = metrics.listen
    if tracing.enabled:
        observability.tracer = _tracer(tracing)
    return observability


def run_observability(
    settings: RunSettings,
    sink: AuditSink,
    recorder: AuditRecorder,
    pending_approvals: Callable[[], int] | None = None,
) -> Observability:
    """For `toolgate run`: build from the settings, attach to `recorder`, start the listener."""
    observability = build_observability(
        MetricsConfig(
            enabled=settings.metrics_listen is not None,
            listen=parse_metrics_listen(settings.metrics_listen)
            if settings.metrics_listen
            else None,
        ),
        TracingConfig(
            enabled=settings.otel_endpoint is not None or settings.otel,
            otlp_endpoint=settings.otel_endpoint,
            service_name=os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME,
        ),
        sink=sink,
        pending_approvals=pending_approvals,
    )
    observability.attach(recorder)
    observability.start_listener()
    return observability


def _metrics(sink: AuditSink | None, pending_approvals: Callable[[], int] | None) -> GatewayMetrics:
    try:
        from toolgate.audit.metrics import GatewayMetrics  # noqa: PLC0415 - metrics only
    except ImportError as exc:
        raise ConfigError(
            f"metrics need the prometheus-client package ({exc.name} is missing): "
            "pip install 'toolgate[metrics]'"
        ) from None
    dropped = None
    if isinstance(sink, FanoutAuditSink):
        failures = sink.failures
        dropped = lambda: failures  # noqa: E731 - read at scrape time
    return GatewayMetrics(pending_approvals=pending_approvals, dropped=dropped)


def _tracer(tracing: TracingConfig) -> DecisionTracer:
    try:
        from toolgate.audit.tracing import DecisionTracer, otlp_provider  # noqa: PLC0415
    except ImportError as exc:
        raise ConfigError(
            f"traces need the OpenTelemetry packages ({exc.name} is missing): "
            "pip install 'toolgate[otel]'"
        ) from None
    return DecisionTracer(otlp_provider(tracing.otlp_endpoint, tracing.service_name))
