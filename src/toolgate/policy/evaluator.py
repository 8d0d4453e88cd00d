"""The pure evaluator: from a compiled policy and one call's facts to a `Decision`.

Order (Dialect A): hidden tools first; then `default: deny` refuses unlisted tools (`"*"` lists
nothing; a glob key that matches does list it); then the tool's own rules in file order, the rules
of matching glob entries, then the `"*"` rules. The first rule that fails denies. A matching
`require_approval` rule does not stop evaluation: a later failing rule still denies (a human is
never asked to approve a call the policy refuses anyway), and only when every rule passes is the
decision REQUIRE_APPROVAL. An allowed call carries one `Charge` per counter of every stateful rule
it passed; counter values (read before the call, missing = 0) come from `facts.counters`, filled
by the caller with the counters `counters_needed` names.

Shadow mode: a shadow rule that would deny (or ask for approval, or is over its limit) does not;
the first such outcome is reported as `Decision.would` and evaluation goes on. Under a top-level
`mode: shadow` every rule is a shadow rule, and hiding and default deny become `would` too.
No I/O, no clock, no randomness: the same policy and facts always give the same decision.

Tracing (`toolgate explain`): `evaluate(policy, facts, trace)` reports to an optional collector
(`policy.trace.Trace`) every rule it considers, with its outcome, and the decision it stops at.
Without one, the only cost is a `None` test per rule. A string too long for a regex condition
(`policy.regex`) denies the call whatever the condition says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

from toolgate.policy import messages
from toolgate.policy.counter_scope import Unbound, bind, bind_all
from toolgate.policy.decision import Charge, CounterRef, Decision, Effect, Reason, Would
from toolgate.policy.facts import CallFacts
from toolgate.policy.model import Action, Condition, CounterSpec, Policy, Rule, ToolPlan
from toolgate.policy.numbers import amount_problem, as_decimal, as_number
from toolgate.policy.operators import LIMIT_OPS
from toolgate.policy.paths import MISSING, STAR, resolve
from toolgate.policy.regex import RegexInputTooLong
from toolgate.policy.spend import SpendRefusal, spend_charges

if TYPE_CHECKING:
    from toolgate.policy.trace import Trace

HIDDEN_ID = "(hidden)"
DEFAULT_DENY_ID = "(default deny)"
INVALID_CALL_ID = "(invalid call)"
ZERO = Decimal(0)
_DENY, _APPROVAL = Action.DENY, Action.REQUIRE_APPROVAL
_ALLOW = Decision(Effect.ALLOW, Reason.ALLOWED, None, None, "")
_NOT_SCOPED: Mapping[CounterRef, CounterRef] = {}

Arguments = Mapping[str, object]
Counters = Mapping[CounterRef, Decimal]


def visible(policy: Policy, tool: str) -> bool:
    """Whether `tool` may appear in tools/list (hidden tools look like tools that do not exist)."""
    return policy.shadow or not (policy.hide_all or tool in policy.hidden)


def counters_needed(policy: Policy, facts: CallFacts) -> tuple[CounterRef, ...]:
    """The counters whose current values `evaluate` reads for this call (pass them in facts)."""
    if not visible(policy, facts.tool):
        return ()
    plan = policy.plan_for(facts.tool)
    if plan is None and policy.shadow:
        plan = policy.unlisted
    if plan is None:
        return ()
    refs = plan.counters_needed
    if any(ref.unbound for ref in refs):  # scoped or keyed: this call's own counters
        bound = (bind(ref, facts.arguments, facts) for ref in refs)
        return tuple(ref for ref in bound if not isinstance(ref, Unbound))
    return refs


def evaluate(policy: Policy, facts: CallFacts, trace: Trace | None = None) -> Decision:
    """The decision for one call; never raises, whatever the arguments hold.

    `trace`, when given, records every rule considered and the decision (see `policy.trace`).
    """
    tool = facts.tool
    would: Would | None = None
    if trace is not None:
        trace.begin(policy, facts)
    if policy.hide_all or tool in policy.hidden:
        hidden = Decision(Effect.HIDE, Reason.HIDDEN, HIDDEN_ID, None, messages.hidden(tool))
        if not policy.shadow:
            return hidden if trace is None else trace.finish(hidden)
        would = _would(hidden)
    plan = policy.plan_for(tool)
    if plan is None:
        message = messages.default_deny(tool)
        denied = Decision(Effect.DENY, Reason.DEFAULT_DENY, DEFAULT_DENY_ID, None, message)
        if not policy.shadow:
            return denied if trace is None else trace.finish(denied)
        would = would or _would(denied)
        plan = policy.unlisted
    arguments = facts.arguments
    if not isinstance(arguments, Mapping):
        message = f'Call to "{tool}" refused: its arguments are not a JSON object'
        invalid = Decision(Effect.DENY, Reason.INVALID_CALL, INVALID_CALL_ID, None, message)
        return invalid if trace is None else trace.finish(invalid)
    decision = _run(plan, tool, arguments, facts, trace) if plan.rules else _ALLOW
    if would is not None and decision.effect is Effect.ALLOW and decision.would is None:
        decision = replace(decision, would=would)
    return decision if trace is None else trace.finish(decision)


def _run(
    plan: ToolPlan, tool: str, arguments: Arguments, facts: CallFacts, trace: Trace | None
) -> Decision:
    charges: list[Charge] = []
    approval: Rule | None = None
    would: Would | None = None
    for rule in plan.rules:
        outcome = _outcome(rule, tool, arguments, facts)
        if trace is not None:
            trace.rule(rule, outcome, arguments, facts)
        if outcome is None:
            continue
        if isinstance(outcome, Charge):
            charges.append(outcome)
        elif isinstance(outcome, tuple):
            charges.extend(outcome)
        elif rule.shadow:
            would = would or _would(outcome)
        elif outcome.effect is Effect.REQUIRE_APPROVAL:
            approval = approval or rule
        else:
            return outcome
    if approval is not None:
        return _approval(tool, approval, tuple(charges), would)
    if not charges and would is None:
        return _ALLOW
    return Decision(Effect.ALLOW, Reason.ALLOWED, None, None, "", tuple(charges), None, would)


def _outcome(  # noqa: C901 - kept in one frame: it is the per-rule hot path
    rule: Rule, tool: str, arguments: Arguments, facts: CallFacts
) -> Decision | Charge | tuple[Charge, ...] | None:
    """What one rule says: nothing (it passes), charges, or a denial / an approval request."""
    action = rule.action
    if action is _DENY:
        message = rule.on_deny or messages.blocked(tool, rule)
        return Decision(Effect.DENY, Reason.RULE_DENY, rule.rule_id, rule.name, message)
    counters = facts.counters
    bound: Mapping[CounterRef, CounterRef] = _NOT_SCOPED
    if rule.scoped:  # read and charge this call's own counters under the declared names
        binding = bind_all(rule.scoped, arguments, facts)
        if isinstance(binding, Unbound):
            message = f'Call to "{tool}" refused: {binding} ({rule.label})'
            return Decision(Effect.DENY, Reason.INVALID_CALL, rule.rule_id, rule.name, message)
        bound = binding
        view = dict(counters)
        view.update({name: counters.get(ref, ZERO) for name, ref in binding.items()})
        counters = view
    try:  # free unless raised (3.11+)
        for condition in rule.conditions:  # inlined: this loop is the hot path
            if not condition.check(arguments, counters, facts):
                if action is _APPROVAL:
                    return None
                return _condition_denial(tool, rule, condition, arguments)
    except RegexInputTooLong as exc:
        message = f'Call to "{tool}" refused: {exc} ({rule.label})'
        return Decision(Effect.DENY, Reason.INVALID_CALL, rule.rule_id, rule.name, message)
    if action is _APPROVAL:
        return _approval(tool, rule, ())
    if rule.spend is not None:
        spent = spend_charges(rule.spend, arguments, facts, rule.shadow)
        if isinstance(spent, SpendRefusal):
            message = rule.on_deny or f'Call to "{tool}" refused: {spent.message} ({rule.label})'
            return Decision(Effect.DENY, spent.reason, rule.rule_id, rule.name, message)
        return spent
    if rule.counter is not None:
        charge = _charge(tool, rule, rule.counter, arguments, counters)
        ref = bound.get(rule.counter.ref)
        if ref is not None and isinstance(charge, Charge):
            return replace(charge, counter=ref)
        return charge
    return None


def _approval(
    tool: str, rule: Rule, charges: tuple[Charge, ...], would: Would | None = None
) -> Decision:
    message = rule.on_deny or messages.approval_required(tool, rule)
    timeout = rule.approval_timeout_seconds
    return Decision(
        Effect.REQUIRE_APPROVAL, Reason.APPROVAL, rule.rule_id, rule.name, message, charges,
        timeout, would, rule.approval_mode,
    )  # fmt: skip


def _would(decision: Decision) -> Would:
    return Would(decision.effect, decision.reason, decision.rule_id, decision.message)


def _condition_denial(tool: str, rule: Rule, failed: Condition, arguments: Arguments) -> Decision:
    if failed.counter is not None and failed.op in LIMIT_OPS:
        message = rule.on_deny or messages.limit_reached(tool, rule, failed)
        return Decision(Effect.DENY, Reason.LIMIT, rule.rule_id, rule.name, message)
    parts = failed.parts
    missing = bool(parts) and STAR not in parts and resolve(arguments, parts) is MISSING
    message = rule.on_deny or messages.condition_failed(tool, rule, failed, missing)
    return Decision(Effect.DENY, Reason.CONDITION_FAILED, rule.rule_id, rule.name, message)


def _charge(
    tool: str, rule: Rule, spec: CounterSpec, arguments: Arguments, counters: Counters
) -> Charge | Decision:
    """The rule's charge for this call, or the denial when its amount is unusable or over."""
    charge = spec.fixed_charge
    if charge is None:
        source = spec.increment_from
        assert source is not None  # the compiler sets a fixed amount or a source
        value = resolve(arguments, source.parts)
        number = as_number(value)
        if number is None or number < 0:
            problem = "is missing" if value is MISSING else amount_problem(value)
            message = messages.invalid_amount(tool, rule, source.text, problem or "is invalid")
            return Decision(Effect.DENY, Reason.INVALID_CALL, rule.rule_id, rule.name, message)
        charge = Charge(
            spec.ref, as_decimal(number), spec.bound, rule.rule_id, spec.limit_message,
            rule.shadow,
        )  # fmt: skip
    bound = charge.bound
    if spec.precheck and bound is not None:
        current = counters.get(spec.ref, ZERO)
        if not bound.admits(current, charge.amount):
            return Decision(Effect.DENY, Reason.LIMIT, rule.rule_id, rule.name, spec.limit_message)
    return charge
