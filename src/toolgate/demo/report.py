"""What the demo prints after both runs: the two tables, the tool lists, the summary, mismatches."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from rich.console import Console

from toolgate.demo.agent import AgentRun
from toolgate.demo.outcome import gateway_verdict
from toolgate.demo.script import BLOCKED, DENY, HIDDEN, LIMIT
from toolgate.demo.table import direct_table, gateway_table

BLOCKED_WORDS: Final = {DENY: "denied", LIMIT: "over a limit", HIDDEN: "hidden"}
TITLE: Final = "toolgate demo: a scripted trading agent on a simulated exchange"


@dataclass(frozen=True, slots=True)
class Report:
    """Both runs, plus how many tools/call each exchange process logged (None: no log)."""

    gated: AgentRun
    direct: AgentRun
    gated_reached: int | None
    direct_reached: int | None
    rule_names: Mapping[str, str] = field(default_factory=dict)

    def gated_labels(self) -> list[str]:
        return [gateway_verdict(r.response).label for r in self.gated.records]

    def hidden_tools(self) -> list[str]:
        return [tool for tool in self.direct.tools if tool not in self.gated.tools]

    def mismatches(self) -> list[str]:
        """Every way the gated run differs from what the demo policy prescribes."""
        problems = [
            f"call #{n} {record.call.tool}: expected {' or '.join(sorted(record.call.expected))}, "
            f"got {got}"
            for n, (record, got) in enumerate(
                zip(self.gated.records, self.gated_labels(), strict=True), start=1
            )
            if got not in record.call.expected
        ]
        for record in self.gated.records:
            if HIDDEN in record.call.expected and record.call.tool in self.gated.tools:
                problems.append(f"tools/list through toolgate still shows {record.call.tool}")
        let_through = sum(label not in BLOCKED for label in self.gated_labels())
        if self.gated_reached is not None and self.gated_reached != let_through:
            problems.append(
                f"toolgate let {let_through} calls through, "
                f"but the exchange received {self.gated_reached}"
            )
        return problems

    def summary(self) -> str:
        labels = self.gated_labels()
        blocked = Counter(label for label in labels if label in BLOCKED)
        parts = [f"{blocked[k]} {word}" for k, word in BLOCKED_WORDS.items() if blocked[k]]
        total = len(labels)
        direct_total = len(self.direct.records)
        return (
            f"toolgate blocked {sum(blocked.values())} of {total} calls ({', '.join(parts)}); "
            f"without it all {direct_total} reached the exchange."
        )

    def evidence(self) -> str | None:
        """The exchange's own count of the calls it received, when both runs kept a log."""
        if self.gated_reached is None or self.direct_reached is None:
            return None
        total = len(self.gated.records)
        return (
            f"The exchange's own log: {self.gated_reached} of {total} calls reached it through "
            f"toolgate, {self.direct_reached} of {len(self.direct.records)} without."
        )


def _tools_line(run: AgentRun, how: str, hidden: list[str]) -> str:
    line = f"tools/list {how}: {len(run.tools)} tools"
    return line + (f" ({', '.join(hidden)} hidden)" if hidden else "")


def render(console: Console, report: Report) -> int:
    """Print the report; 0 when every decision matched the policy, else 1 (and say which)."""
    console.print(f"[bold]{TITLE}[/]\n", highlight=False)
    console.print(_tools_line(report.gated, "through toolgate", report.hidden_tools()))
    console.print(gateway_table(report.gated.records, report.rule_names))
    console.print()
    console.print(_tools_line(report.direct, "directly", []))
    console.print(direct_table(report.direct.records))
    console.print()
    console.print(f"[bold]{report.summary()}[/]", highlight=False)
    evidence = report.evidence()
    if evidence:
        console.print(evidence, highlight=False)
    problems = report.mismatches()
    for problem in problems:
        console.print(f"[bold red]unexpected:[/] {problem}", highlight=False)
    return 1 if problems else 0
