"""`toolgate pin list|accept|reset`: show and approve the tool definitions a server is pinned to.

The server is named as for `toolgate run`: by its command after `--` (the same per-server
namespace) or by `--namespace`. Tool names come before the `--`:
`toolgate pin accept get_weather -- python server.py`, or `toolgate pin accept --all -- …`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from toolgate.catalog.pins import PinChange
    from toolgate.catalog.pins_file import PinFile

EXIT_USAGE = 2
pin_app = typer.Typer(help="Show and approve the tool definitions a server is pinned to.")
SETTINGS = {"allow_interspersed_args": False}

Args = Annotated[
    list[str] | None,
    typer.Argument(
        help="[TOOL...] -- CMD [ARGS...] (the server, as given to run).", show_default=False
    ),
]
StateDir = Annotated[
    Path | None, typer.Option(help="State directory, as for run [default: ~/.toolgate/state].")
]
Namespace = Annotated[
    str | None, typer.Option(help="The server's namespace, instead of its command.")
]
AuditLog = Annotated[
    Path | None,
    typer.Option(help="Decision log [default: ~/.toolgate/audit/decisions.jsonl]."),
]
AllTools = Annotated[bool, typer.Option("--all", help="Every pinned tool.")]


def register(app: typer.Typer) -> None:
    app.add_typer(pin_app, name="pin")


@pin_app.command(
    name="list", context_settings=SETTINGS, help="List the pins: toolgate pin list -- CMD"
)
def list_pins(args: Args = None, state_dir: StateDir = None, namespace: Namespace = None) -> None:
    from toolgate.catalog.pins import short
    from toolgate.errors import ToolgateError

    tools, command = _split(args or [], namespace)
    if tools:
        raise _fail(f"pin list takes no tool names, got {' '.join(tools)}")
    pins = _pin_file(state_dir, namespace, command)
    try:
        book = pins.load()
    except ToolgateError as exc:
        raise _fail(str(exc), 1) from None
    typer.echo(f"namespace {pins.namespace}: {len(book)} pinned tool(s) in {pins.path}")
    for name, pin in sorted(book.items()):
        detail = (
            short(pin.latest)
            if pin.state != "changed"
            else f"{short(pin.accepted)} → {short(pin.latest)}"
        )
        typer.echo(f"{name}\t{pin.state}\t{detail}\tfirst seen {pin.first_seen}")


@pin_app.command(context_settings=SETTINGS, help="Accept the latest definition: TOOL... or --all.")
def accept(
    args: Args = None,
    all_tools: AllTools = False,
    state_dir: StateDir = None,
    namespace: Namespace = None,
    audit_log: AuditLog = None,
) -> None:
    _change("accept", args, all_tools, state_dir, namespace, audit_log)


@pin_app.command(
    context_settings=SETTINGS, help="Forget pins (TOOL... or --all): re-pinned next run."
)
def reset(
    args: Args = None,
    all_tools: AllTools = False,
    state_dir: StateDir = None,
    namespace: Namespace = None,
    audit_log: AuditLog = None,
) -> None:
    _change("reset", args, all_tools, state_dir, namespace, audit_log)


def _change(
    verb: str,
    args: list[str] | None,
    all_tools: bool,
    state_dir: Path | None,
    namespace: str | None,
    audit_log: Path | None,
) -> None:
    from toolgate.app.pin_actions import change_pins
    from toolgate.catalog import pins as logic
    from toolgate.errors import ToolgateError

    tools, command = _split(args or [], namespace)
    if all_tools == bool(tools):
        raise _fail(f"pin {verb}: name the tools to {verb}, or give --all (not both)")
    pins = _pin_file(state_dir, namespace, command)
    try:
        if not pins.exists():
            raise _fail(f"no pins for namespace {pins.namespace} ({pins.path} does not exist)", 1)
        changes = change_pins(
            "accept" if verb == "accept" else "reset", pins, None if all_tools else tools
        )
    except logic.UnknownToolsError as exc:
        raise _fail(f"not pinned in namespace {pins.namespace}: {exc}", 1) from None
    except ToolgateError as exc:
        raise _fail(str(exc), 1) from None
    _audit(changes, pins.namespace, audit_log)
    done = "accepted" if verb == "accept" else "reset"
    for change in changes:
        typer.echo(f"{done} {change.tool}")
    if not changes:
        typer.echo(f"nothing to {verb}: the named tools are already accepted")


def _split(args: list[str], namespace: str | None) -> tuple[list[str], list[str]]:
    """(tool names, server command). Click drops a leading `--`, keeps a later one."""
    if "--" in args:
        cut = args.index("--")
        tools, command = args[:cut], args[cut + 1 :]
    elif namespace is not None:
        tools, command = args, []
    else:
        tools, command = [], args
    misplaced = [arg for arg in tools if arg.startswith("-")]
    if misplaced:
        raise _fail(f"options go before tool names: {' '.join(misplaced)}")
    return tools, command


def _pin_file(state_dir: Path | None, namespace: str | None, command: list[str]) -> PinFile:
    from toolgate.app.paths import default_state_dir
    from toolgate.app.pin_actions import pin_file_for

    if namespace is not None and not namespace.strip():
        raise _fail("--namespace must not be empty")
    if namespace is None and not command:
        raise _fail("name the server: its command after `--` (as for run), or --namespace")
    return pin_file_for(state_dir or default_state_dir(), command, namespace)


def _audit(changes: list[PinChange], namespace: str, audit_log: Path | None) -> None:
    import anyio

    from toolgate.app.paths import default_audit_log
    from toolgate.app.pin_actions import audit_pin_changes
    from toolgate.errors import ToolgateError

    log = audit_log or default_audit_log()
    try:
        anyio.run(audit_pin_changes, changes, namespace, log, "cli")
    except ToolgateError as exc:
        typer.echo(f"toolgate: warning: the change was made but not audited: {exc}", err=True)


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    typer.echo(f"toolgate: {message}", err=True)
    return typer.Exit(code)
