"""`toolgate scan`: list and classify a server's tools, optionally write a starter policy.

Parse, dispatch, render: the scanning, classification and policy text come from `catalog`,
imported only when the command runs so that `toolgate --help` stays fast.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import typer

EXIT_USAGE = 2
HELP = (
    "Scan an MCP server: list its tools with risk class and evidence, and optionally write a "
    "starter policy: toolgate scan OPTIONS -- CMD ARGS..."
)


class Format(enum.Enum):
    YAML = "yaml"
    JSON = "json"
    TABLE = "table"


class Destructive(enum.Enum):
    APPROVAL = "approval"
    DENY = "deny"


def register(app: typer.Typer) -> None:
    app.command(name="scan", help=HELP, context_settings={"allow_interspersed_args": False})(scan)


def scan(
    command: Annotated[
        list[str] | None,
        typer.Argument(help="The MCP server command, after --.", show_default=False),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here.")
    ] = None,
    output_format: Annotated[
        Format | None,
        typer.Option(
            "--format",
            help="Report format: table on the terminal; with -o, json for a .json file, else yaml.",
        ),
    ] = None,
    policy_out: Annotated[
        Path | None, typer.Option("--policy-out", help="Write a starter policy (YAML) here.")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for each server answer.")
    ] = 20.0,
    destructive: Annotated[
        Destructive,
        typer.Option(help="Starter rule for destructive tools: approval or deny."),
    ] = Destructive.APPROVAL,
) -> None:
    import anyio

    from toolgate.catalog.classify import classify_tool
    from toolgate.catalog.scan import scan_server
    from toolgate.catalog.scan_report import classify_all, scan_report
    from toolgate.errors import ToolgateError

    if not timeout > 0:
        raise _fail(f"--timeout must be a positive number of seconds, got {timeout:g}")
    chosen = output_format or _default_format(output)
    try:
        result = anyio.run(scan_server, command or [], timeout)
    except ToolgateError as exc:
        raise _fail(str(exc)) from None
    tools = classify_all(result, classify_tool)
    report = scan_report(result, tools)
    if policy_out is not None:
        from toolgate.catalog.starter import starter_policy

        text = starter_policy(tools, result.name, destructive=destructive.value)
        _check_policy(text, policy_out)
        _write(policy_out, text)
    _emit(report, chosen, output)


def _default_format(output: Path | None) -> Format:
    if output is None:
        return Format.TABLE
    return Format.JSON if output.suffix.lower() == ".json" else Format.YAML


def _emit(report: dict[str, Any], chosen: Format, output: Path | None) -> None:
    if chosen is Format.TABLE:
        from rich.console import Console

        from toolgate.catalog.render_table import scan_table, summary_line

        if output is None:
            console = Console()
            console.print(scan_table(report))
            console.print(summary_line(report))
            return
        with output.open("w", encoding="utf-8") as handle:
            file_console = Console(file=handle, width=160, no_color=True)
            file_console.print(scan_table(report))
            file_console.print(summary_line(report))
        return
    text = _serialise(report, chosen)
    if output is None:
        typer.echo(text, nl=False)
    else:
        _write(output, text)


def _serialise(report: dict[str, Any], chosen: Format) -> str:
    if chosen is Format.JSON:
        import orjson

        return orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n"
    import yaml

    return yaml.safe_dump(report, sort_keys=False, allow_unicode=True, width=100)


def _check_policy(text: str, path: Path) -> None:
    from toolgate.errors import PolicyError
    from toolgate.policy.loader import load_policy_text

    try:
        load_policy_text(text, str(path))
    except PolicyError as exc:  # a bug in the generator: never write a policy that cannot load
        raise _fail(f"the generated starter policy does not validate: {exc}", 1) from None


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot write {path}: {exc.strerror or exc}") from None


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    typer.echo(f"toolgate: {message}", err=True)
    return typer.Exit(code)
