"""`expr:` conditions: a CEL expression over the call, compiled at load time, failing closed.

The expression sees `args` (the call's arguments), `identity` (`name` and the identity's
attributes), `tool` (`name`, `risk`, `category`), `time` (`hour`, `minute`, `weekday`, `unix`,
all UTC from the injected clock) and `state.<owner>.<counter>` (the value before the call of a
counter some rule declares, as for `path: state.…`). JSON integers are CEL `int`, other JSON
numbers `double`; a numeric string stays a `string` (`double(args.price)` converts it); a counter
is an `int` when whole, else a `double`. The condition holds only when the expression returns
`true`: `false`, any other value and any evaluation error (a missing key, no matching overload,
division by zero) make it fail, and the denial says why. Bounds: see `expr_scan`, plus at most
`MAX_ELEMENTS` values in the arguments when the expression has a comprehension.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the binding is imported when a policy first uses `expr:` (it is heavy)
    import cel

from toolgate.policy.classify import Classifier
from toolgate.policy.decision import CounterRef
from toolgate.policy.expr_scan import ExprBoundError, Scan, scan
from toolgate.policy.facts import CallFacts
from toolgate.policy.model import Condition

ROOTS = ("args", "identity", "tool", "time", "state")
MAX_ELEMENTS = 10_000
ZERO = Decimal(0)
Counters = Mapping[CounterRef, Decimal]


class ExprCompileError(ValueError):
    """The expression does not compile, is over a bound, or reads an unknown variable."""


class ExprSource(str):
    """The expression as written; it also remembers why its last evaluation did not hold."""

    last_problem: str = ""

    def explained(self) -> str:
        problem = self.last_problem
        return f"{self} ({problem})" if problem else str(self)


def compile_program(source: str) -> tuple[cel.Program, Scan]:
    """The compiled program and what it reads, or ExprCompileError with a clear reason."""
    if not source.strip():
        raise ExprCompileError("the expression is empty")
    try:
        found = scan(source)
    except ExprBoundError as exc:
        raise ExprCompileError(f"expression refused: {exc}") from None
    try:
        import cel  # noqa: PLC0415 - loaded only for policies that use expressions

        program = cel.compile(source)
    except BaseException as exc:  # the binding may raise anything, a Rust panic included
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise ExprCompileError(_syntax_message(str(exc))) from None
    unknown = sorted(set(program.variables()) - set(ROOTS) - found.bound_names)
    if unknown:
        raise ExprCompileError(
            f"unknown variable {', '.join(unknown)} (an expression reads {', '.join(ROOTS)})"
        )
    return program, found


def _syntax_message(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else "it does not parse"
    if "ERROR: <input>:" in first:
        where, _, why = first.split("ERROR: <input>:", 1)[1].partition(": ")
        return f"CEL syntax error at {where.strip()} (line:column in the expression): {why}"
    return f"CEL syntax error: {first}"


def expr_condition(
    source: str, reads: Mapping[tuple[str, str], CounterRef], classifier: Classifier
) -> Condition:
    """The condition for an expression that compiles (`reads`: state.<owner>.<name> → counter)."""
    program, found = compile_program(source)
    text = ExprSource(source)
    variables = set(program.variables())
    limit_size = found.comprehensions > 0

    def check(arguments: Mapping[str, object], counters: Counters, facts: CallFacts) -> bool:
        if limit_size and _too_large(arguments):
            text.last_problem = f"the arguments hold more than {MAX_ELEMENTS} values"
            return False
        context = _context(variables, arguments, counters, facts, reads, classifier)
        try:
            result = program.execute(context)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            text.last_problem = f"evaluation failed: {type(exc).__name__}: {exc}"[:300]
            return False
        if result is True:
            text.last_problem = ""
            return True
        text.last_problem = "" if result is False else f"it returned {type(result).__name__}"
        return False

    return Condition("expr", None, text, check, reads=tuple(reads.values()))


def _context(
    variables: set[str],
    arguments: Mapping[str, object],
    counters: Counters,
    facts: CallFacts,
    reads: Mapping[tuple[str, str], CounterRef],
    classifier: Classifier,
) -> dict[str, object]:
    context: dict[str, object] = {"args": arguments}
    if "identity" in variables:
        identity = dict(facts.identity_attributes)
        if facts.identity is not None:
            identity["name"] = facts.identity
        context["identity"] = identity
    if "tool" in variables:
        computed = facts.tool_classification
        tool = {"name": facts.tool, "risk": classifier.risk_of(facts.tool, computed)}
        tool["category"] = classifier.category_of(facts.tool, computed)
        context["tool"] = {key: value for key, value in tool.items() if value is not None}
    if "time" in variables:
        moment = datetime.fromtimestamp(facts.now, tz=UTC)
        context["time"] = {
            "hour": moment.hour, "minute": moment.minute, "weekday": moment.weekday(),
            "unix": facts.now,
        }  # fmt: skip
    if reads:
        state: dict[str, dict[str, object]] = {}
        for (owner, name), ref in reads.items():
            state.setdefault(owner, {})[name] = _number(counters.get(ref, ZERO))
        context["state"] = state
    return context


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _too_large(value: object) -> bool:
    """Whether the arguments hold more than MAX_ELEMENTS values (containers and leaves)."""
    budget = MAX_ELEMENTS
    pending: list[object] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, Mapping | list):
            budget -= len(item)
            if budget < 0:
                return True
            pending.extend(item.values() if isinstance(item, Mapping) else item)
    return False
