"""The `toolgate` command line: parse, dispatch, render — nothing else."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from toolgate import __version__
from toolgate.cli import approvals as approvals_command
from toolgate.cli import audit as audit_command
from toolgate.cli import explain as explain_command
from toolgate.cli import grants as grants_command
from toolgate.cli import init as init_command
from toolgate.cli import pin as pin_command
from toolgate.cli import scan as scan_command
from toolgate.cli import serve as serve_command
from toolgate.cli import status as status_command
from toolgate.cli import validate as validate_command
from toolgate.errors import ToolgateError

app = typer.Typer(
    name="toolgate",
    help="A policy gateway for MCP: decide, count and log every tool call an agent makes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PolicyOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="Policy file (.yaml, .yml or .json).", show_default=False),
]
EXIT_USAGE = 2


def _version(value: bool) -> None:
    if value:
        typer.echo(f"toolgate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """toolgate sits between an MCP client and MCP servers and enforces a policy on every call."""


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    typer.echo(f"toolgate: {message}", err=True)
    return typer.Exit(code)


@app.command(
    context_settings={"allow_interspersed_args": False},
    help="Run an MCP server over stdio behind the policy: "
    "toolgate run -c POLICY [options] -- CMD [ARGS...]",
)
def run(
    config: PolicyOption,
    command: Annotated[
        list[str] | None,
        typer.Argument(help="The upstream MCP server command, after --.", show_default=False),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            help="Directory for counters and the audit salt [default: ~/.toolgate/state]."
        ),
    ] = None,
    audit_log: Annotated[
        Path | None,
        typer.Option(
            help="Decision log (JSON lines) [default: ~/.toolgate/audit/decisions.jsonl]."
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "warning",
    max_line_bytes: Annotated[
        int | None, typer.Option(help="Largest client message accepted [default: 10 MiB].")
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(help="Counter namespace; share it to share counters [default: per server]."),
    ] = None,
    counter_store: Annotated[
        str | None,
        typer.Option(
            "--state-dsn",
            "--counter-store",
            envvar=grants_command.STATE_DSN_ENV,
            help="Shared state (counter store) URL: memory://, sqlite:///PATH or "
            "redis://[:PASSWORD@]HOST:PORT/DB (put a password in the environment, not on the "
            "command line) [default: SQLite in state dir].",
        ),
    ] = None,
    state_prefix: Annotated[
        str, typer.Option(help="First part of every Redis key: PREFIX:counter:…")
    ] = "toolgate",
    state_fail_mode: Annotated[
        str,
        typer.Option(
            help="While the state store is unreachable, calls that need a counter are denied "
            "(closed) or pass unchecked and are logged as fail_open (open)."
        ),
    ] = "closed",
    identity: Annotated[
        str | None,
        typer.Option(
            envvar="TOOLGATE_IDENTITY",
            help="Who the client is: identity.name in policies and `identity` in the audit log.",
        ),
    ] = None,
    audit_max_bytes: Annotated[
        int | None, typer.Option(help="Rotate the decision log before it exceeds this size.")
    ] = None,
    audit_daily: Annotated[
        bool, typer.Option("--audit-daily", help="Rotate the decision log each UTC day.")
    ] = False,
    audit_keep: Annotated[
        int | None, typer.Option(help="Rotated decision logs kept [default: all].")
    ] = None,
    audit_key_file: Annotated[
        Path | None,
        typer.Option(help="HMAC key for the log's hash chain [default: $TOOLGATE_AUDIT_KEY]."),
    ] = None,
    audit_sink: Annotated[
        list[str] | None,
        typer.Option(
            help="Where events go, repeatable: jsonl[:PATH] (chained; PATH defaults to "
            "--audit-log), sqlite:PATH (indexed; read with `audit query --db`), stderr. "
            "Never stdout, the MCP channel [default: jsonl].",
        ),
    ] = None,
    audit_include_args: Annotated[
        bool,
        typer.Option(
            "--audit-include-args",
            help="Log argument values (after redaction; secret-like keys are always masked).",
        ),
    ] = False,
    audit_redact_path: Annotated[
        list[str] | None,
        typer.Option(help="Also mask the value at this path, e.g. args.card.number (repeatable)."),
    ] = None,
    audit_redact_pattern: Annotated[
        list[str] | None,
        typer.Option(help=r"Also mask every match of this regex, e.g. '\b\d{16}\b' (repeatable)."),
    ] = None,
    upstream: Annotated[
        str | None,
        typer.Option(help="A remote MCP server URL to guard instead of a command."),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            help="A static header for the --upstream server, 'Name: value' (repeatable); "
            "'${VAR}' takes text from the environment, keeping secrets off the command line."
        ),
    ] = None,
    transport: Annotated[
        str, typer.Option(help="How to reach --upstream: auto, streamable or sse.")
    ] = "auto",
    listen: Annotated[
        str | None,
        typer.Option(
            help="Serve over HTTP at HOST:PORT (at /mcp/default) instead of stdio; clients "
            "need a grant (toolgate grants create --server default) unless --insecure-no-auth."
        ),
    ] = None,
    insecure_no_auth: Annotated[
        bool,
        typer.Option("--insecure-no-auth", help="With --listen: let any client in, unnamed."),
    ] = False,
    metrics_listen: Annotated[
        str | None,
        typer.Option(
            help="Serve Prometheus metrics at http://HOST:PORT/metrics (the metrics extra)."
        ),
    ] = None,
    otel_endpoint: Annotated[
        str | None,
        typer.Option(help="Export traces to this OTLP/HTTP collector URL (the otel extra)."),
    ] = None,
    otel: Annotated[
        bool,
        typer.Option(
            "--otel", help="Export traces to $OTEL_EXPORTER_OTLP_ENDPOINT (the otel extra)."
        ),
    ] = False,
) -> None:
    from toolgate.app.settings import SETTINGS_ENV, resolve_run_settings
    from toolgate.audit.rotation import rotation_policy

    if listen is not None:
        if metrics_listen or otel_endpoint or otel:
            raise _fail("with --listen, configure metrics and traces in a gateway file (serve)")
        raise typer.Exit(
            _run_listening(
                config, command, upstream, header or [], transport, listen, insecure_no_auth,
                namespace, log_level,
            )
        )  # fmt: skip
    try:
        rotation = rotation_policy(audit_max_bytes, audit_daily, audit_keep)
        settings = resolve_run_settings(
            config,
            command or [],
            state_dir=state_dir,
            audit_log=audit_log,
            max_line=max_line_bytes,
            namespace=namespace,
            store_url=counter_store,
            log_level=log_level,
            identity=identity,
            audit_rotation=rotation,
            audit_key_file=audit_key_file,
            state_prefix=state_prefix,
            state_fail_mode=state_fail_mode,
            audit_sinks=audit_sink or (),
            audit_include_args=audit_include_args,
            audit_redact_paths=audit_redact_path or (),
            audit_redact_patterns=audit_redact_pattern or (),
            upstream_url=upstream,
            upstream_headers=header or (),
            upstream_transport=transport,
            metrics_listen=metrics_listen,
            otel_endpoint=otel_endpoint,
            otel=otel,
        )
    except ToolgateError as exc:
        raise _fail(str(exc)) from None
    sys.stdout.flush()
    sys.stderr.flush()
    # The settings travel in the environment, not on the command line, where `ps` would show
    # them to every user (a store URL may carry a password); the gateway removes the variable
    # before it starts the server.
    os.environ[SETTINGS_ENV] = settings.to_json()
    entry = [sys.executable, "-m", "toolgate.cli.gateway_entry"]
    os.execv(sys.executable, entry)  # noqa: S606 - our own interpreter and module


def _run_listening(
    policy: Path,
    command: list[str] | None,
    upstream: str | None,
    headers: list[str],
    transport: str,
    listen: str,
    insecure_no_auth: bool,
    namespace: str | None,
    log_level: str,
) -> int:
    """`toolgate run --listen`: one server behind the HTTP face."""
    from toolgate.app.gateway_config import AuthConfig, default_grants_db, default_home
    from toolgate.app.gateway_config_single import one_server_config
    from toolgate.cli.serve import run_http

    try:
        home = default_home(os.environ)
        auth = AuthConfig(
            grants=not insecure_no_auth,
            grants_db=default_grants_db(home),
            insecure_no_auth=insecure_no_auth,
        )
        gateway = one_server_config(
            policy, command or None, upstream, headers, listen,
            transport=transport, namespace=namespace, auth=auth, log_level=log_level.lower(),
        )  # fmt: skip
    except ToolgateError as exc:
        raise _fail(str(exc)) from None
    return run_http(gateway)


@app.command(help="Run a scripted agent against a simulated exchange, with and without toolgate.")
def demo() -> None:
    from toolgate.demo.runner import run_demo

    raise typer.Exit(run_demo())


validate_command.register(app)
scan_command.register(app)
audit_command.register(app)
pin_command.register(app)
explain_command.register(app)
init_command.register(app)
serve_command.register(app)
status_command.register(app)
app.add_typer(grants_command.grants_app, name="grants")
app.add_typer(approvals_command.approvals_app, name="approvals")


def main() -> None:
    app()
