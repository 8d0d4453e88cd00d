"""Dialect B (PolicyLayer hosted JSON): the top-level document, `hide`, `all_tools` and `tools`.

Compiles into the same dialect-neutral `Policy` as Dialect A, so the same evaluator decides:
hide -> default deny (a tool not under `tools` is refused; `all_tools` lists nothing) -> the
tool's `require` entries -> its `deny_if` entries -> its `limits` -> the `all_tools.limits`.
The first entry that denies decides; the limits of an allowed call are reserved together,
atomically, and rolled back when the call fails. `default` is required here (unlike Dialect A),
and a tool listed as `{}` is allowed under `default: deny`. Tool keys may be globs (`bn_*`), a
toolgate extension shared with Dialect A; `"*"` is refused (that is what `all_tools` says).
"""

from __future__ import annotations

from toolgate.errors import PolicyValidationError
from toolgate.policy.classify import NO_CLASSIFICATION
from toolgate.policy.document import check_version, compile_hide, tool_index
from toolgate.policy.intercept_conditions import RuleContext
from toolgate.policy.located import LMap, LNode, LScalar, describe
from toolgate.policy.model import Policy, Rule
from toolgate.policy.paths import GLOBAL_OWNER
from toolgate.policy.policylayer_rules import compile_entries, compile_limits
from toolgate.policy.schema import Fields, Issues
from toolgate.policy.surfaces import compile_surface
from toolgate.policy.tool_globs import WILDCARD

DIALECT = "policylayer"
TOP_KEYS = (
    "version",
    "description",
    "default",
    "hide",
    "all_tools",
    "tools",
    "resources",
    "prompts",
)
TOOL_KEYS = ("require", "deny_if", "limits")
ALL_TOOLS_KEYS = ("limits",)


def compile_policylayer(root: LNode, file: str, revision: str) -> Policy:
    """The compiled policy, or PolicyValidationError carrying every problem found."""
    issues = Issues(file)
    if not isinstance(root, LMap):
        issues.add(root, "", f"a policy must be a mapping at the top level, got {describe(root)}")
        raise PolicyValidationError(issues.errors)
    top = Fields(root, "", issues, TOP_KEYS)
    check_version(top)
    description = top.string("description")
    default = top.choice("default", ("allow", "deny"), None)
    hidden = compile_hide(top)
    tools = _tools(top)
    everywhere = _all_tools(top)
    resources, prompts = compile_surface(top, "resources"), compile_surface(top, "prompts")
    if issues.errors:
        raise PolicyValidationError(issues.sorted())
    if everywhere:
        tools[WILDCARD] = everywhere
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
        globs=globs,
        resources=resources,
        prompts=prompts,
    )


def _context(issues: Issues, key: str, owner: str) -> RuleContext:
    return RuleContext(issues, key, owner, {}, NO_CLASSIFICATION, False)


def _tools(top: Fields) -> dict[str, tuple[Rule, ...]]:
    node = top.mapping("tools")
    compiled: dict[str, tuple[Rule, ...]] = {}
    for key_node, value in node.entries if node is not None else ():
        key = key_node.value if isinstance(key_node, LScalar) else None
        if not isinstance(key, str):
            top.issues.add(
                key_node, "tools", f"tool names must be strings, got {describe(key_node)}"
            )
            continue
        if not key.strip() or key == WILDCARD or key in compiled:
            problem = "must not be empty" if not key.strip() else f'"{key}" is listed twice'
            if key == WILDCARD:
                problem = '"*" is not a tool name here; put rules for every tool under all_tools'
            top.issues.add(key_node, "tools", f"tool names: {problem}")
            continue
        compiled[key] = _tool(value, key, top.issues)
    return compiled


def _tool(node: LNode, key: str, issues: Issues) -> tuple[Rule, ...]:
    path = f"tools.{key}"
    if isinstance(node, LScalar) and node.value is None:
        return ()
    if not isinstance(node, LMap):
        issues.add(node, path, f"a tool entry must be a mapping, got {describe(node)}")
        return ()
    fields = Fields(node, path, issues, TOOL_KEYS)
    ctx = _context(issues, key, key)
    base = ("tools", key)
    rules = compile_entries(fields, "require", ctx, base)
    rules += compile_entries(fields, "deny_if", ctx, base)
    rules += compile_limits(fields, ctx, base)
    return tuple(rules)


def _all_tools(top: Fields) -> tuple[Rule, ...]:
    node = top.mapping("all_tools")
    if node is None:
        return ()
    fields = Fields(node, "all_tools", top.issues, ALL_TOOLS_KEYS)
    ctx = _context(top.issues, WILDCARD, GLOBAL_OWNER)
    return tuple(compile_limits(fields, ctx, ("all_tools",)))
