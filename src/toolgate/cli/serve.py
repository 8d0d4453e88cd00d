"""`toolgate serve -c GATEWAY.yaml`: the HTTP gateway for every server the file names."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from toolgate.errors import PolicyValidationError, ToolgateError

EXIT_USAGE = 2


def register(app: typer.Typer) -> None:
    @app.command(
        help="Serve MCP servers over HTTP behind their policies, each at /mcp/<name>: "
        "toolgate serve -c GATEWAY.yaml"
    )
    def serve(
        config: Annotated[
            Path,
            typer.Option(
                "--config", "-c", help="Gateway file (.yaml or .json).", show_default=False
            ),
        ],
        log_level: Annotated[
            str | None, typer.Option(help="debug, info, warning or error [default: the file's].")
        ] = None,
    ) -> None:
        from toolgate.app.gateway_config_load import load_gateway_config

        try:
            gateway = load_gateway_config(config)
        except ToolgateError as exc:
            typer.echo(f"toolgate: {exc}", err=True)
            typer.echo(f"toolgate: gateway file {config} is invalid; nothing was started", err=True)
            raise typer.Exit(EXIT_USAGE) from None
        raise typer.Exit(run_http(gateway, log_level))


ADMIN_TOKEN_ENV = "TOOLGATE_ADMIN_TOKEN"  # noqa: S105 - the variable's name


def approvals_page(context: object) -> list[tuple[str, object]]:
    """The approvals page and API at /approvals: open on an unauthenticated loopback gateway;
    behind the admin token ($TOOLGATE_ADMIN_TOKEN) when callers authenticate — an agent's grant
    token never opens it. Without that token such a gateway serves no page (a log line says so).
    """
    import os
    from urllib.parse import urlsplit

    from toolgate.app.http_gateway import PageContext
    from toolgate.web.approvals_app import (
        build_approvals_app,
        loopback_authorizer,
        token_authorizer,
    )

    assert isinstance(context, PageContext)
    token = os.environ.get(ADMIN_TOKEN_ENV)
    if context.authenticated and not token:
        logging.getLogger("toolgate").warning(
            "the approvals page is off: callers authenticate, so it needs an admin token in $%s",
            ADMIN_TOKEN_ENV,
        )
        return []
    authorize = token_authorizer(token, "admin") if token else loopback_authorizer("admin")
    app = build_approvals_app(
        context.approvals,
        context.clock,
        authorize=authorize,
        allowed_hosts=[urlsplit(f"//{host}").hostname or host for host in context.hosts],
        root_path="/approvals",
    )
    return [("/approvals", app)]


def run_http(gateway: object, log_level: str | None = None) -> int:
    """Serve `gateway` (a GatewayConfig) on uvloop until stopped; report errors as one line."""
    import anyio

    from toolgate.app.gateway_config import GatewayConfig
    from toolgate.app.http_gateway import serve_http

    assert isinstance(gateway, GatewayConfig)
    for warning in gateway.warnings:
        print(f"toolgate: warning: {warning.render()}", file=sys.stderr)
    level = (log_level or gateway.log_level).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        print("toolgate: --log-level must be debug, info, warning or error", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(
        level=level, stream=sys.stderr, format="toolgate: %(levelname)s: %(message)s"
    )
    try:
        return anyio.run(serve_http, gateway, approvals_page, backend_options={"use_uvloop": True})
    except PolicyValidationError as exc:
        for error in exc.errors:
            print(error.render(), file=sys.stderr)
        print("toolgate: a policy is invalid; nothing was started", file=sys.stderr)
    except ToolgateError as exc:
        print(f"toolgate: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    return EXIT_USAGE
