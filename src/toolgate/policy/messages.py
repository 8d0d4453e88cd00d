"""The engine's own wording for decisions, used whenever a rule gives no `on_deny`.

The enforcement side shows these to the agent as `[POLICY DENIED] <message>`, so each one names the
tool and the deciding rule and says what to change, without echoing argument values back.
"""

from __future__ import annotations

from toolgate.policy.decision import CounterRef
from toolgate.policy.model import Condition, Rule
from toolgate.policy.tool_globs import WILDCARD


def hidden(tool: str) -> str:
    return f'Tool "{tool}" is hidden by policy'


def default_deny(tool: str) -> str:
    return f'Tool "{tool}" is not allowed by policy (default deny)'


def blocked(tool: str, rule: Rule) -> str:
    return f'Tool "{tool}" is blocked by policy ({rule.label})'


def condition_failed(tool: str, rule: Rule, condition: Condition, missing: bool) -> str:
    why = f"{condition.path} is missing" if missing else f"requires {condition.describe()}"
    return f'Call to "{tool}" denied by {rule.label}: {why}'


def limit_reached(tool: str, rule: Rule, condition: Condition) -> str:
    return f'Limit reached for "{tool}": {condition.describe()} no longer holds ({rule.label})'


def rate_limited(tool_key: str, rate: str, rule_label: str) -> str:
    subject = "all tools" if tool_key == WILDCARD else f'"{tool_key}"'
    return f"Rate limit exceeded for {subject}: {rate} ({rule_label})"


def counter_exhausted(tool_key: str, ref: CounterRef, rule_label: str) -> str:
    subject = "all tools" if tool_key == WILDCARD else f'"{tool_key}"'
    return (
        f'Limit reached for {subject}: this call would take counter "{ref.name}" past its '
        f"cap for this {ref.window.name} ({rule_label})"
    )


def invalid_amount(tool: str, rule: Rule, path: str, problem: str) -> str:
    return (
        f'Call to "{tool}" refused: {path} {problem}; it must be a finite number >= 0 '
        f"to count towards a limit ({rule.label})"
    )


def approval_required(tool: str, rule: Rule) -> str:
    return f'Call to "{tool}" requires human approval ({rule.label})'
