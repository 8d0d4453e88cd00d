"""The review of one server's tools: a column per tool, the form that moves them, the policy.

Pure. Each tool sits in one of five columns (allow, rate limit, require approval, deny, hide);
the recommendation follows the starter policy (Read allowed, Write 30/minute, Execute 10/minute,
Destructive and Financial held for approval, Other 60/minute). A submitted form is checked field
by field (`ReviewFormError` lists every problem) before `policy_text` turns the columns into a
Dialect A policy: `default: deny`, hidden tools under `hide`, the rest under `tools`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from toolgate.catalog.model import Category
from toolgate.catalog.scan_report import ClassifiedTool
from toolgate.catalog.starter_yaml import one_line, quoted, scalar
from toolgate.errors import ConfigError

RATE = re.compile(r"([1-9][0-9]{0,8})/(minute|hour|day|week)\Z")
RATES = {Category.WRITE: "30/minute", Category.EXECUTE: "10/minute", Category.OTHER: "60/minute"}


class Column(enum.Enum):
    ALLOW = "allow"
    RATE_LIMIT = "rate_limit"
    APPROVAL = "require_approval"
    DENY = "deny"
    HIDE = "hide"

    @property
    def title(self) -> str:
        return TITLES[self]


TITLES = {
    Column.ALLOW: "Allow",
    Column.RATE_LIMIT: "Rate limit",
    Column.APPROVAL: "Require approval",
    Column.DENY: "Deny",
    Column.HIDE: "Hide",
}


class ReviewFormError(ConfigError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True, slots=True)
class Placement:
    tool: str
    column: Column
    limit: str = "60/minute"  # used in the rate limit column, kept elsewhere for the form


def recommended(tool: ClassifiedTool) -> Placement:
    category = tool.classification.category
    if category is Category.READ:
        return Placement(tool.name, Column.ALLOW)
    if category in RATES:
        return Placement(tool.name, Column.RATE_LIMIT, RATES[category])
    return Placement(tool.name, Column.APPROVAL)


def read_form(tools: Sequence[str], form: Mapping[str, str]) -> list[Placement]:
    """The placements a form posts as `column-<i>` and `limit-<i>`, one per tool index."""
    placements: list[Placement] = []
    problems: list[str] = []
    for index, tool in enumerate(tools):
        column_text = form.get(f"column-{index}", "")
        limit = form.get(f"limit-{index}", "").strip() or "60/minute"
        try:
            column = Column(column_text)
        except ValueError:
            problems.append(f'{tool}: unknown column "{one_line(column_text, 40)}"')
            continue
        if column is Column.RATE_LIMIT and RATE.match(limit) is None:
            shown = one_line(limit, 40)
            problems.append(
                f'{tool}: rate limit "{shown}" must look like 30/minute (per minute, hour, day'
                " or week)"
            )
        placements.append(Placement(tool, column, limit))
    if problems:
        raise ReviewFormError(problems)
    return placements


def policy_text(server: str, placements: Sequence[Placement]) -> str:
    """A Dialect A policy enforcing the columns."""
    title = one_line(server, 80)
    hidden = [p.tool for p in placements if p.column is Column.HIDE]
    lines = [
        f"# toolgate policy for {title}, saved from the `toolgate init` review page.",
        "# default: deny - a tool not listed here is refused.",
        'version: "1"',
        f"description: {quoted(f'Reviewed policy for {title} (toolgate init)')}",
        "default: deny",
    ]
    if hidden:
        lines.append("hide:")
        lines += [f"  - {scalar(name)}" for name in hidden]
    listed = [p for p in placements if p.column is not Column.HIDE]
    lines.append("tools:" if listed else "tools: {}")
    for placement in listed:
        lines += [f"  {scalar(placement.tool)}:", *_rules(placement)]
    return "\n".join(lines) + "\n"


def _rules(placement: Placement) -> list[str]:
    column = placement.column
    if column is Column.ALLOW:
        return ["    rules: []"]
    if column is Column.RATE_LIMIT:
        return ["    rules:", f"      - rate_limit: {placement.limit}"]
    action = "deny" if column is Column.DENY else "require_approval"
    name = quoted(f"reviewed: {column.title.lower()}")
    return ["    rules:", f"      - name: {name}", f"        action: {action}"]
