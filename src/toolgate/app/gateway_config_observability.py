"""Reading a gateway file's `metrics:` and `tracing:` sections (see docs/observability.md).

    metrics: {enabled: true}                      # /metrics on the gateway's listener
    metrics: {enabled: true, listen: 127.0.0.1:9464}   # /metrics on a listener of its own
    tracing: {otlp_endpoint: http://127.0.0.1:4318, service_name: toolgate-prod}

Like the other section readers, every problem is recorded, located, in the shared `Issues`, and
a section that cannot be used reads as None.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from toolgate.app.gateway_config import ListenAddress, MetricsConfig, TracingConfig
from toolgate.app.gateway_config_fields import boolean, checked
from toolgate.app.observability import (
    DEFAULT_SERVICE_NAME,
    check_otlp_endpoint,
    endpoint_from_environment,
    parse_metrics_listen,
)
from toolgate.policy.schema import Fields, Issues

METRICS_KEYS: Final = ("enabled", "listen")
TRACING_KEYS: Final = ("enabled", "otlp_endpoint", "service_name")


def read_metrics(root: Fields, issues: Issues) -> MetricsConfig | None:
    """`metrics:`; absent or null: metrics off."""
    node = root.mapping("metrics")
    if node is None:
        return None if root.present("metrics") else MetricsConfig()
    errors = len(issues.errors)
    fields = Fields(node, "metrics", issues, METRICS_KEYS)
    enabled = boolean(fields, "enabled", True)
    text = fields.string("listen")
    listen_node = fields.get("listen")
    listen = None
    if text is not None and listen_node is not None:
        listen = checked(issues, listen_node, "metrics", _listen, text)
    if len(issues.errors) != errors or enabled is None:
        return None
    return MetricsConfig(enabled=enabled, listen=listen)


def read_tracing(root: Fields, issues: Issues, environ: Mapping[str, str]) -> TracingConfig | None:
    """`tracing:`; absent or null: tracing off. Without `otlp_endpoint` the collector is the
    one the OTEL_EXPORTER_OTLP_* variables in `environ` name, and one must be set."""
    node = root.mapping("tracing")
    if node is None:
        return None if root.present("tracing") else TracingConfig()
    errors = len(issues.errors)
    fields = Fields(node, "tracing", issues, TRACING_KEYS)
    enabled = boolean(fields, "enabled", True)
    endpoint = fields.string("otlp_endpoint")
    endpoint_node = fields.get("otlp_endpoint")
    if endpoint is not None and endpoint_node is not None:
        endpoint = checked(issues, endpoint_node, "tracing", _endpoint, endpoint)
    elif enabled and "otlp_endpoint" not in fields.values:
        checked(issues, node, "tracing", _EnvironmentEndpoint(environ), "")
    name = fields.string("service_name")
    if name is not None and (not name.strip() or name != name.strip()):
        fields.error("service_name", "service_name must be non-empty text without outer spaces")
    if len(issues.errors) != errors or enabled is None:
        return None
    return TracingConfig(
        enabled=enabled, otlp_endpoint=endpoint, service_name=name or DEFAULT_SERVICE_NAME
    )


def _listen(text: str) -> ListenAddress:
    return parse_metrics_listen(text, "listen")


def _endpoint(text: str) -> str:
    return check_otlp_endpoint(text, "otlp_endpoint")


class _EnvironmentEndpoint:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def __call__(self, _: str) -> None:
        endpoint_from_environment(self.environ, "tracing without otlp_endpoint")
