"""`toolgate validate`: schema errors, then lints (warnings; errors with --strict).

Parse, dispatch, render. Every line reads `file:line:col: path: message`, lints prefixed with
`warning: ` (or `error: ` under `--strict`, which then exits 1). `--tools FILE` adds the lints
against a tool catalogue (a tools/list-shaped JSON file or `toolgate scan --format json` output);
`-- CMD [ARGS...]` runs the same lints against the tools a live server lists (`catalog.scan`,
every wait bounded by `--timeout`). A server that cannot be scanned is one line on stderr, exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from toolgate.policy.lint import Finding
    from toolgate.policy.model import Policy

HELP = (
    "Check a policy file: print `valid: …` or every error with its location, then warnings. "
    "Tool names are checked against --tools FILE or a live server: toolgate validate -c P -- CMD..."
)
EXIT_USAGE = 2


def register(app: typer.Typer) -> None:
    app.command(name="validate", help=HELP, context_settings={"allow_interspersed_args": False})(
        validate
    )


def validate(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Policy file (.yaml, .yml or .json).")
    ],
    tools: Annotated[
        Path | None, typer.Option("--tools", help="Tool catalogue (JSON) to check names against.")
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    command: Annotated[
        list[str] | None,
        typer.Argument(
            help="An MCP server command (after --) to list tools from.", show_default=False
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for each answer of the server.")
    ] = 20.0,
) -> None:
    from toolgate.errors import PolicyValidationError, ToolgateError
    from toolgate.policy.lint import lint_policy
    from toolgate.policy.lint_locate import locate, source_tree
    from toolgate.policy.loader import load_policy

    if tools is not None and command:
        raise _fail("give a catalogue with --tools or a server command after --, not both")
    if not timeout > 0:
        raise _fail(f"--timeout must be a positive number of seconds, got {timeout:g}")
    try:
        policy = load_policy(config)
    except PolicyValidationError as exc:
        for error in exc.errors:
            typer.echo(error.render())
        raise typer.Exit(1) from None
    except ToolgateError as exc:
        message = str(exc)
        typer.echo(message if str(config) in message else f"{config}: {message}")
        raise typer.Exit(1) from None
    findings = lint_policy(policy)
    if tools is not None:
        findings += _catalogue_findings(policy, tools)
    elif command:
        findings += _live_findings(policy, command, timeout)
    root = source_tree(config.read_text(encoding="utf-8-sig"), str(config)) if findings else None
    label = "error" if strict else "warning"
    for finding in findings:
        line, column = locate(root, finding.segments)
        typer.echo(f"{label}: {config}:{line}:{column}: {finding.path}: {finding.message}")
    if strict and findings:
        raise typer.Exit(1)
    typer.echo(f"valid: {config} ({policy.tool_count} tools, {policy.rule_count} rules)")


def _catalogue_findings(policy: Policy, path: Path) -> list[Finding]:
    import orjson

    from toolgate.policy.lint_catalog import catalogue_tools, lint_catalogue

    try:
        tools = catalogue_tools(orjson.loads(path.read_bytes()))
    except OSError as exc:
        raise _fail(f"cannot read tool catalogue {path}: {exc.strerror or exc}") from None
    except (orjson.JSONDecodeError, ValueError) as exc:
        raise _fail(f"tool catalogue {path}: {exc}") from None
    return lint_catalogue(policy, tools)


def _live_findings(policy: Policy, command: list[str], timeout: float) -> list[Finding]:
    import anyio

    from toolgate.catalog.scan import scan_server
    from toolgate.errors import ToolgateError
    from toolgate.policy.lint_catalog import catalogue_tools, lint_catalogue

    try:
        scan = anyio.run(scan_server, command, timeout)
    except ToolgateError as exc:
        raise _fail(f"cannot list the tools of the server: {_one_line(str(exc))}") from None
    except OSError as exc:
        raise _fail(f"cannot start the server: {exc.strerror or exc}") from None
    try:
        tools = catalogue_tools(list(scan.tools))
    except ValueError as exc:
        raise _fail(f"the server's tool list: {exc}") from None
    return lint_catalogue(policy, tools)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _fail(message: str) -> typer.Exit:
    typer.echo(f"toolgate: {message}", err=True)
    return typer.Exit(EXIT_USAGE)
