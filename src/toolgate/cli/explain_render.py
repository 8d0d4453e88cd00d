"""Rendering an explanation: the decision, then the trace as a tree (rich) or as JSON."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import typer

from toolgate.policy.decision import CounterRef, Decision
from toolgate.policy.trace import RuleStep, Trace
from toolgate.policy.trace_conditions import ConditionStep
from toolgate.policy.trace_render import charge_data, decision_data, plain, trace_data

MARKS = {True: "[green]✓[/]", False: "[red]✗[/]", None: "[dim]·[/]"}


def print_explanation(
    decision: Decision,
    trace: Trace,
    counters: Mapping[CounterRef, Decimal],
    *,
    json_output: bool,
) -> None:
    if json_output:
        import orjson

        data = {"decision": decision_data(decision, counters), "trace": trace_data(trace)}
        typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.tree import Tree

    console = Console(highlight=False)
    effect = decision.effect.value.upper()
    console.print(f"[bold]decision:[/] {effect} ({decision.reason.value})")
    if decision.rule_id:
        name = f' "{escape(decision.rule_name)}"' if decision.rule_name else ""
        console.print(f"[bold]rule:[/] {escape(decision.rule_id)}{name}")
    if decision.message:
        console.print(f"[bold]message:[/] {escape(decision.message)}")
    for charge in decision.charges:
        data = charge_data(charge, counters.get(charge.counter, Decimal(0)))
        counter = data["counter"]
        limit = f", limit {data['limit']}" if "limit" in data else ""
        console.print(
            f"[bold]charge:[/] {escape(counter['owner'])}.{escape(counter['name'])} "
            f"+{data['amount']} (now {data['current']}{limit})"
        )
    tree = Tree(f"[bold]trace[/] — {escape(trace.stop)}")
    for step in trace.rules:
        _rule_branch(tree, step)
    console.print(tree)


def _rule_branch(tree: object, step: RuleStep) -> None:
    from rich.markup import escape as esc
    from rich.tree import Tree

    assert isinstance(tree, Tree)
    name = f' "{esc(step.name)}"' if step.name else ""
    shadow = " [magenta](shadow)[/]" if step.shadow else ""
    branch = tree.add(f"{esc(step.rule_id)}{name} {step.action} → {step.outcome}{shadow}")
    for condition in step.conditions:
        _condition_branch(branch, condition)
    for charge in step.charges:
        branch.add(f"charge {esc(charge.counter.name)} +{charge.amount}")


def _condition_branch(parent: object, step: ConditionStep) -> None:
    from rich.markup import escape as esc
    from rich.tree import Tree

    assert isinstance(parent, Tree)
    reads = ", ".join(f"{esc(r.path)} = {esc(_shown(r.value))}" for r in step.reads)
    label = f"{MARKS[step.result]} {esc(step.text if not step.members else step.path)}"
    if not step.evaluated:
        label += " [dim](not evaluated)[/]"
    if reads:
        label += f"  [cyan]read {reads}[/]"
    if step.error:
        label += f"  [red]{esc(step.error)}[/]"
    branch = parent.add(label)
    for member in step.members:
        _condition_branch(branch, member)


def _shown(value: object) -> str:
    import orjson

    shown = plain(value)
    if shown == {"missing": True}:
        return "(missing)"
    return orjson.dumps(shown, default=str).decode()
