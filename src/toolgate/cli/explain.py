"""`toolgate explain`: what the gateway would decide for one call, and why (read-only).

Parse, dispatch, render. The decision comes from the gateway's own evaluator with a trace; the
counters it reads come from the configured store in the namespace `toolgate run` would use
(`--namespace`, or derived from the server command after `--`). Counters are read, never
changed, and a store file that does not exist is not created: its counters read as zero.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from toolgate.cli.explain_render import print_explanation

EXIT_USAGE = 2
HELP = (
    "Explain the decision for one call, with every rule and condition considered: "
    "toolgate explain -c POLICY --tool T --args JSON [-- CMD ...]"
)


def register(app: typer.Typer) -> None:
    app.command(name="explain", help=HELP, context_settings={"allow_interspersed_args": False})(
        explain
    )


def explain(
    config: Annotated[Path, typer.Option("--config", "-c", help="Policy file.")],
    tool: Annotated[str, typer.Option("--tool", help="The tool called.")],
    args: Annotated[
        str, typer.Option("--args", help="The call's arguments (a JSON object).")
    ] = "{}",
    command: Annotated[
        list[str] | None, typer.Argument(help="The guarded server command, after --.")
    ] = None,
    identity: Annotated[str | None, typer.Option(help="Who calls (identity.name).")] = None,
    namespace: Annotated[str | None, typer.Option(help="Counter namespace to read.")] = None,
    state_dir: Annotated[Path | None, typer.Option(help="State directory of `run`.")] = None,
    counter_store: Annotated[str | None, typer.Option(help="Counter store URL.")] = None,
    at: Annotated[str | None, typer.Option(help="Evaluate at this ISO time [now].")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    from toolgate.errors import PolicyValidationError, ToolgateError
    from toolgate.policy import CallFacts, evaluate, load_policy
    from toolgate.policy.evaluator import counters_needed
    from toolgate.policy.trace import Trace

    arguments = _arguments(args)
    now = _instant(at)
    try:
        policy = load_policy(config)
    except PolicyValidationError as exc:
        first = exc.errors[0].render()
        more = f" (and {len(exc.errors) - 1} more; run toolgate validate)" if exc.errors[1:] else ""
        raise _fail(f"invalid policy: {first}{more}") from None
    except ToolgateError as exc:
        raise _fail(str(exc)) from None
    facts = CallFacts(tool, arguments, now, identity=identity)
    refs = counters_needed(policy, facts)
    try:
        counters = _read_counters(refs, command, namespace, state_dir, counter_store, now, config)
    except ToolgateError as exc:
        raise _fail(str(exc)) from None
    trace = Trace()
    decision = evaluate(policy, facts.with_counters(counters), trace)
    print_explanation(decision, trace, counters, json_output=json_output)


def _arguments(text: str) -> dict[str, Any]:
    import orjson

    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise _fail(f"--args is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise _fail(f"--args must be a JSON object, got {type(value).__name__}: {text[:60]}")
    return value


def _instant(text: str | None) -> float:
    if text is None:
        from toolgate.clock import SystemClock

        return SystemClock().now()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        message = f"--at must be an ISO 8601 time such as 2026-01-01T09:30:00Z, got {text!r}"
        raise _fail(message) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _read_counters(
    refs: Any,
    command: list[str] | None,
    namespace: str | None,
    state_dir: Path | None,
    store_url: str | None,
    now: float,
    config: Path,
) -> dict[Any, Decimal]:
    from toolgate.cli.explain_store import read_counters, resolve_store

    url, existing = resolve_store(store_url, state_dir)  # validates the URL even when unused
    if not refs:
        return {}
    if namespace is None and not command:
        typer.echo("toolgate: note: no --namespace or -- CMD given: counters read as 0", err=True)
        return {}
    if not existing:
        from toolgate.app.counter_store import redact_url

        shown = redact_url(url)
        typer.echo(f"toolgate: note: no counter store at {shown}: counters read as 0", err=True)
        return {}
    if namespace is not None and not namespace.strip():
        raise _fail("--namespace must not be empty")
    return read_counters(url, _namespace(namespace, command, config), refs, now)


def _namespace(namespace: str | None, command: list[str] | None, config: Path) -> str:
    if namespace:
        return namespace
    from toolgate.app.settings import RunSettings

    settings = RunSettings(config, tuple(command or ()), Path(), Path())
    return settings.counter_namespace  # exactly what `toolgate run -- CMD` uses


def _fail(message: str) -> typer.Exit:
    typer.echo(f"toolgate: {message}", err=True)
    return typer.Exit(EXIT_USAGE)
