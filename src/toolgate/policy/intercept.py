"""Dialect A (Intercept YAML): the top-level document, `hide`, and the tool entries and rules.

Two passes over the tree: the first collects the counters that rules declare (leniently, ignoring
anything malformed), so that conditions can read any tool's counters regardless of file order; the
second validates and compiles everything, recording every error before raising them all at once.
Counters of `"*"` rules belong to the owner `_global` and are shared by every tool, as in Intercept;
counters of a glob entry (`bn_*`) belong to the key as written and are shared by every tool it
matches (`state.bn_*.<counter>`).
Leniencies kept for files written for Intercept: `version: 1` unquoted, a tool entry left empty
(`read_file:`) or without `rules`, and a state block with neither increment (counts 1).
"""

from __future__ import annotations

from collections.abc import Iterator

from toolgate.errors import PolicyValidationError
from toolgate.policy.classify import Classifier
from toolgate.policy.counter_specs import declared_ref
from toolgate.policy.document import check_version, compile_hide, tool_index
from toolgate.policy.intercept_approvals import compile_approvals
from toolgate.policy.intercept_classify import compile_classify
from toolgate.policy.intercept_conditions import CounterDecl, RuleContext
from toolgate.policy.intercept_rules import compile_rule
from toolgate.policy.located import LMap, LNode, LScalar, LSeq, describe
from toolgate.policy.model import Policy, Rule
from toolgate.policy.paths import GLOBAL_OWNER
from toolgate.policy.schema import Fields, Issues
from toolgate.policy.surfaces import compile_surface
from toolgate.policy.tool_globs import WILDCARD

DIALECT = "intercept"
TOP_KEYS = (
    "version",
    "description",
    "default",
    "mode",
    "pin",
    "hide",
    "approvals",
    "classify",
    "tools",
    "resources",
    "prompts",
)
TOOL_ENTRY_KEYS = ("rules",)
MODES = ("enforce", "shadow")
PIN_MODES = ("enforce", "warn", "off")


def compile_intercept(root: LNode, file: str, revision: str) -> Policy:
    """The compiled policy, or PolicyValidationError carrying every problem found."""
    issues = Issues(file)
    if not isinstance(root, LMap):
        issues.add(root, "", f"a policy must be a mapping at the top level, got {describe(root)}")
        raise PolicyValidationError(issues.errors)
    top = Fields(root, "", issues, TOP_KEYS)
    check_version(top)
    description = top.string("description")
    default = top.choice("default", ("allow", "deny"), "allow")
    hidden = compile_hide(top)
    approvals = compile_approvals(top)
    shadow = top.choice("mode", MODES, "enforce") == "shadow"
    pin = top.choice("pin", PIN_MODES, "off") or "off"
    classifier = compile_classify(top)
    tools = _tools(top, classifier, shadow)
    resources, prompts = compile_surface(top, "resources"), compile_surface(top, "prompts")
    if issues.errors:
        raise PolicyValidationError(issues.sorted())
    globs, plans, unlisted = tool_index(tools)
    return Policy(
        file=file,
        revision=revision,
        dialect=DIALECT,
        description=description,
        default_deny=default == "deny",
        hidden=hidden,
        hide_all=WILDCARD in hidden,
        tools=tools,
        plans=plans,
        unlisted=unlisted,
        approvals=approvals,
        globs=globs,
        classifier=classifier,
        shadow=shadow,
        pin=pin,
        resources=resources,
        prompts=prompts,
    )


def _entries(tools: LMap) -> Iterator[tuple[str, LNode, LNode]]:
    """(tool key, key node, value node) for every entry whose key is a string."""
    for key_node, value in tools.entries:
        if isinstance(key_node, LScalar) and isinstance(key_node.value, str):
            yield key_node.value, key_node, value


def _tools(top: Fields, classifier: Classifier, shadow: bool) -> dict[str, tuple[Rule, ...]]:
    node = top.mapping("tools", required=True)
    if node is None:
        return {}
    declared = _declared_counters(node)
    compiled: dict[str, tuple[Rule, ...]] = {}
    keys: dict[str, LNode] = {}
    for key_node, _ in node.entries:
        if not isinstance(key_node, LScalar) or not isinstance(key_node.value, str):
            top.issues.add(
                key_node, "tools", f"tool names must be strings, got {describe(key_node)}"
            )
    for key, key_node, value in _entries(node):
        path = f"tools.{key}"
        if not key.strip():
            top.issues.add(key_node, "tools", "tool names must not be empty")
        elif key in keys:
            first = keys[key]
            message = (
                f'tool "{key}" is listed twice (first at line {first.line}, column {first.column})'
            )
            top.issues.add(key_node, "tools", message)
            continue
        keys[key] = key_node
        owner = GLOBAL_OWNER if key == WILDCARD else key
        ctx = RuleContext(top.issues, key, owner, declared, classifier, shadow)
        compiled[key] = _tool_rules(value, path, ctx)
    return compiled


def _tool_rules(node: LNode, path: str, ctx: RuleContext) -> tuple[Rule, ...]:
    if isinstance(node, LScalar) and node.value is None:
        return ()  # `tool_name:` with nothing after it lists the tool with no rules
    if not isinstance(node, LMap):
        ctx.issues.add(
            node, path, f"a tool entry must be a mapping with rules, got {describe(node)}"
        )
        return ()
    items = Fields(node, path, ctx.issues, TOOL_ENTRY_KEYS).sequence("rules")
    rules = (compile_rule(item, f"{path}.rules[{i}]", ctx) for i, item in enumerate(_items(items)))
    return tuple(rule for rule in rules if rule is not None)


def _items(node: LSeq | None) -> list[LNode]:
    return node.items if node is not None else []


def _declared_counters(tools: LMap) -> dict[tuple[str, str], CounterDecl]:
    """First pass: every well-formed counter declaration, first declaration wins."""
    declared: dict[tuple[str, str], CounterDecl] = {}
    for key, _, value in _entries(tools):
        owner = GLOBAL_OWNER if key == WILDCARD else key
        rules = _lookup(value, "rules")
        for index, rule in enumerate(rules.items if isinstance(rules, LSeq) else ()):
            ref = declared_ref(owner, rule)
            if ref is not None and (owner, ref.name) not in declared:
                declared[(owner, ref.name)] = CounterDecl(ref, f"tools.{key}.rules[{index}]")
    return declared


def _lookup(node: LNode | None, key: str) -> LNode | None:
    if isinstance(node, LMap):
        for key_node, value in node.entries:
            if isinstance(key_node, LScalar) and key_node.value == key:
                return value
    return None
