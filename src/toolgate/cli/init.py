"""`toolgate init`: find MCP client configs, scan their servers, review on a page, wrap them.

Parse, dispatch, render: discovery, scanning and rewriting come from `catalog.clients*`, the
page from `web`, imported when the command runs. Nothing is rewritten without consent (`--yes`
or the prompt), and only servers whose policy file exists are wrapped.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from toolgate.catalog.clients import ClientConfig
    from toolgate.catalog.clients_scan import ScannedServer

HELP = (
    "Find MCP client configs (Claude Desktop, Claude Code, Cursor, VS Code, Windsurf), scan their "
    "servers, review each tool on a local page, save policies and wrap the servers with toolgate."
)


def register(app: typer.Typer) -> None:
    app.command(name="init", help=HELP)(init)


def init(
    project: Annotated[Path, typer.Option(help="Project directory [default: .].")] = Path(),
    home: Annotated[Path, typer.Option(help="Home directory [default: ~].")] = Path("~"),
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the page's URL, open no browser.")
    ] = False,
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="Accept the recommendations and rewrite without asking."),
    ] = False,
    undo: Annotated[
        bool, typer.Option("--undo", help="Restore each config from its newest backup.")
    ] = False,
    policy_dir: Annotated[
        Path | None,
        typer.Option(help="Where policies go [default: HOME/.toolgate/policies]."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each server.")] = 20.0,
) -> None:
    from toolgate.catalog.clients import config_locations, discover

    home = home.expanduser()
    locations = config_locations(home, project.resolve())
    if undo:
        raise typer.Exit(_undo([location.path for location in locations]))
    configs, broken = discover(locations)
    for error in broken:
        typer.echo(f"toolgate: skipped {error.path}: {error.reason} (left unchanged)", err=True)
    if not configs:
        typer.echo("No MCP client config with stdio servers was found.")
        raise typer.Exit(1 if broken else 0)
    scanned = _scan(configs, policy_dir or home / ".toolgate" / "policies", timeout)
    if yes:
        _write_starters(scanned)
    else:
        _review(scanned, no_browser)
    _rewrite(configs, [s for s in scanned if s.policy_path.exists()], yes)


def _scan(configs: list[ClientConfig], policy_dir: Path, timeout: float) -> list[ScannedServer]:
    import anyio

    from toolgate.catalog.clients_scan import scan_configs

    for config in configs:
        typer.echo(f"{config.location.client}: {config.location.path}")
        for server in config.servers:
            state = f"wrapped ({server.wrapped_policy})" if server.wrapped_policy else "to scan"
            typer.echo(f"  {server.name}: {' '.join(server.argv)} [{state}]")
    scanned, failed = anyio.run(scan_configs, configs, policy_dir, timeout)
    for failure in failed:
        typer.echo(f"toolgate: could not scan {failure.name}: {failure.reason}", err=True)
    return scanned


def _write_starters(scanned: list[ScannedServer]) -> None:
    from toolgate.catalog.starter import starter_policy
    from toolgate.policy.loader import load_policy_text

    for server in scanned:
        text = starter_policy(server.tools, server.name)
        load_policy_text(text, str(server.policy_path))  # never write one that cannot load
        server.policy_path.parent.mkdir(parents=True, exist_ok=True)
        server.policy_path.write_text(text, encoding="utf-8")
        typer.echo(f"Wrote {server.policy_path} ({len(server.tools)} tools)")


def _review(scanned: list[ScannedServer], no_browser: bool) -> None:
    import webbrowser

    from toolgate.app.paths import default_audit_log, default_state_dir
    from toolgate.app.pin_actions import pin_file_for
    from toolgate.web.app import ServerReview, create_app, new_token
    from toolgate.web.serve import start_page

    # pins as the wrapped `toolgate run -c POLICY -- ARGV` keeps them (default state dir)
    reviews = [
        ServerReview(
            s.name,
            s.slug,
            s.tools,
            s.policy_path,
            pins=pin_file_for(default_state_dir(), s.argv),
            audit_log=default_audit_log(),
        )
        for s in scanned
    ]
    token = new_token()
    page = start_page(create_app(reviews, token), token)
    typer.echo(f"Review your tools at {page.url}")
    if not no_browser:
        webbrowser.open(page.url)
    try:
        typer.prompt("Save a policy per server on the page, then press Enter", default="")
    finally:
        page.stop()


def _rewrite(configs: list[ClientConfig], saved: list[ScannedServer], yes: bool) -> None:
    from toolgate.catalog.clients_rewrite import apply_rewrite, plan_rewrite
    from toolgate.catalog.clients_scan import policies_for

    plans = [plan_rewrite(c, policies_for(c, saved)) for c in configs]
    rewrites = [plan for plan in plans if plan is not None]
    if not rewrites:
        typer.echo("No config needs rewriting.")
        return
    for rewrite in rewrites:
        typer.echo(rewrite.diff())
    if not yes and not typer.confirm("Rewrite these configs (a backup of each is kept)?"):
        typer.echo("Configs left unchanged.")
        return
    for rewrite in rewrites:
        backup = apply_rewrite(rewrite)
        typer.echo(f"Rewrote {rewrite.path} (backup {backup.name}; undo: toolgate init --undo)")


def _undo(paths: list[Path]) -> int:
    from toolgate.catalog.clients_rewrite import restore_latest

    restored = 0
    for path in paths:
        backup = restore_latest(path)
        if backup is not None:
            restored += 1
            typer.echo(f"Restored {path} from {backup.name}")
    if not restored:
        typer.echo("No toolgate backup found; nothing restored.")
    return 0
