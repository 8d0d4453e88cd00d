"""A lexical scan of a CEL expression before it is compiled: size bounds and what it reads.

The CEL library evaluates without a cost limit of its own, so the bound is static: an expression
may hold at most `MAX_CHARS` characters, `MAX_TOKENS` tokens and `MAX_DEPTH` nested brackets,
at most `MAX_COMPREHENSIONS` comprehension macros (`all exists exists_one map filter`), and no
comprehension inside another one. Evaluation then costs at most (expression size) x (size of
the arguments), never a power of it. The scan also finds the counters read (`state.<owner>.<name>`,
the only form `state` may take) and the variables bound by comprehensions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_CHARS = 2000
MAX_TOKENS = 400
MAX_DEPTH = 24
MAX_COMPREHENSIONS = 4
MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})

_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<raw>[bB]?[rR][bB]?(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|"[^"\n]*"|'[^'\n]*'))
    |(?P<str>[bB]?(?:\"\"\"(?:\\[\s\S]|[^\\])*?\"\"\"|'''(?:\\[\s\S]|[^\\])*?'''
        |"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'))
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<num>[0-9][0-9A-Za-z_.]*)
    |(?P<op>&&|\|\||==|!=|<=|>=|.)""",
    re.VERBOSE,
)


class ExprBoundError(ValueError):
    """The expression is over a bound, or reads `state` in a form that cannot be resolved."""


@dataclass(slots=True)
class Scan:
    state_reads: list[tuple[str, str]] = field(default_factory=list)
    bound_names: set[str] = field(default_factory=set)
    comprehensions: int = 0


def scan(source: str) -> Scan:
    """What the expression reads; ExprBoundError when it is over a bound."""
    if len(source) > MAX_CHARS:
        raise ExprBoundError(
            f"the expression is {len(source)} characters long (at most {MAX_CHARS})"
        )
    tokens = _tokens(source)
    if len(tokens) > MAX_TOKENS:
        raise ExprBoundError(f"the expression has {len(tokens)} tokens (at most {MAX_TOKENS})")
    result = Scan()
    stack: list[bool] = []  # one entry per open bracket: is it a comprehension's call?
    for index, (kind, text) in enumerate(tokens):
        before = tokens[index - 1][1] if index else ""
        if text in "([{" and kind == "op":
            macro = text == "(" and index >= 2 and before in MACROS and tokens[index - 2][1] == "."
            if macro:
                _enter_comprehension(result, stack, tokens, index)
            stack.append(macro)
            if len(stack) > MAX_DEPTH:
                raise ExprBoundError(f"brackets are nested more than {MAX_DEPTH} deep")
        elif text in ")]}" and kind == "op" and stack:
            stack.pop()
        elif kind == "ident" and text == "state" and before != ".":
            result.state_reads.append(_state_read(tokens, index))
    return result


def _enter_comprehension(
    result: Scan, stack: list[bool], tokens: list[tuple[str, str]], index: int
) -> None:
    if any(stack):
        raise ExprBoundError("a comprehension (all, exists, map, filter…) may not nest in another")
    result.comprehensions += 1
    if result.comprehensions > MAX_COMPREHENSIONS:
        raise ExprBoundError(f"the expression has more than {MAX_COMPREHENSIONS} comprehensions")
    if index + 1 < len(tokens) and tokens[index + 1][0] == "ident":
        result.bound_names.add(tokens[index + 1][1])


def _state_read(tokens: list[tuple[str, str]], index: int) -> tuple[str, str]:
    shape = tokens[index + 1 : index + 5]
    kinds = [kind if kind == "ident" else text for kind, text in shape]
    if kinds != [".", "ident", ".", "ident"]:
        raise ExprBoundError("counters are read as state.<tool>.<counter> (identifiers only)")
    return shape[1][1], shape[3][1]


def _tokens(source: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for match in _TOKEN.finditer(source):
        kind = match.lastgroup or "op"
        if kind != "space":
            found.append(("str" if kind == "raw" else kind, match.group()))
    return found
