"""The pure evaluator: from a compiled policy and one call's facts to a `Decision`.

Order (Dialect A): hidden tools first; then `default: deny` refuses unlisted tools (`"*"` lists
nothing); then the tool's own rules in file order followed by the `"*"` rules. The first rule that
fails denies. A matching `require_approval` rule does not stop evaluation: a later failing rule
still denies (a human is never asked to approve a call the policy refuses anyway), and only when
every rule passes is the decision REQUIRE_APPROVAL. An allowed call carries one `Charge` per counter
of every stateful rule it passed; counter values (read before the call, missing = 0) come from
`facts.counters`, filled by the caller with the counters `counters_needed` names.
No I/O, no clock, no randomness: the same policy and facts always give the same decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from toolgate.policy import messages
from toolgate.policy.decision import Charge, CounterRef, Decision, Effect, Reason
from toolgate.policy.facts import CallFacts
from toolgate.policy.model import Action, Condition, CounterSpec, Policy, Rule
from toolgate.policy.numbers import amount_problem, as_decimal, as_number
from toolgate.policy.operators import LIMIT_OPS
from toolgate.policy.paths import MISSING, resolve

HIDDEN_ID = "(hidden)"
DEFAULT_DENY_ID = "(default deny)"
INVALID_CALL_ID = "(invalid call)"
ZERO = Decimal(0)
_DENY, _APPROVAL = Action.DENY, Action.REQUIRE_APPROVAL
_ALLOW = Decision(Effect.ALLOW, Reason.ALLOWED, None, None, "")

Arguments = Mapping[str, object]
Counters = Mapping[CounterRef, Decimal]


def visible(policy: Policy, tool: str) -> bool:
    """Whether `tool` may appear in tools/list (hidden tools look like tools that do not exist)."""
    return not (policy.hide_all or tool in policy.hidden)


def counters_needed(policy: Policy, facts: CallFacts) -> tuple[CounterRef, ...]:
    """The counters whose current values `evaluate` reads for this call (pass them in facts)."""
    if not visible(policy, facts.tool):
        return ()
    plan = policy.plan_for(facts.tool)
    return plan.counters_needed if plan is not None else ()


def evaluate(policy: Policy, facts: CallFacts) -> Decision:
    """The decision for one call; never raises, whatever the arguments hold."""
    tool = facts.tool
    if policy.hide_all or tool in policy.hidden:
        return Decision(Effect.HIDE, Reason.HIDDEN, HIDDEN_ID, None, messages.hidden(tool))
    plan = policy.plans.get(tool)
    if plan is None:
        if policy.default_deny:
            message = messages.default_deny(tool)
            return Decision(Effect.DENY, Reason.DEFAULT_DENY, DEFAULT_DENY_ID, None, message)
        plan = policy.unlisted
    arguments = facts.arguments
    if not isinstance(arguments, Mapping):
        message = f'Call to "{tool}" refused: its arguments are not a JSON object'
        return Decision(Effect.DENY, Reason.INVALID_CALL, INVALID_CALL_ID, None, message)
    if not plan.rules:
        return _ALLOW
    return _run(plan.rules, tool, arguments, facts.counters)


def _run(rules: tuple[Rule, ...], tool: str, arguments: Arguments, counters: Counters) -> Decision:
    charges: list[Charge] = []
    approval: Rule | None = None
    for rule in rules:
        action = rule.action
        if action is _DENY:
            message = rule.on_deny or messages.blocked(tool, rule)
            return Decision(Effect.DENY, Reason.RULE_DENY, rule.rule_id, rule.name, message)
        failed = None
        for condition in rule.conditions:  # inlined: this loop is the hot path
            if not condition.check(arguments, counters):
                failed = condition
                break
        if action is _APPROVAL:
            approval = approval or (rule if failed is None else None)
        elif failed is not None:
            return _condition_denial(tool, rule, failed, arguments)
        elif rule.counter is not None:
            outcome = _charge(tool, rule, rule.counter, arguments, counters)
            if isinstance(outcome, Decision):
                return outcome
            charges.append(outcome)
    if approval is not None:
        message = approval.on_deny or messages.approval_required(tool, approval)
        return Decision(
            Effect.REQUIRE_APPROVAL,
            Reason.APPROVAL,
            approval.rule_id,
            approval.name,
            message,
            tuple(charges),
            approval.approval_timeout_seconds,
        )
    if not charges:
        return _ALLOW
    return Decision(Effect.ALLOW, Reason.ALLOWED, None, None, "", tuple(charges))


def _condition_denial(tool: str, rule: Rule, failed: Condition, arguments: Arguments) -> Decision:
    if failed.counter is not None and failed.op in LIMIT_OPS:
        message = rule.on_deny or messages.limit_reached(tool, rule, failed)
        return Decision(Effect.DENY, Reason.LIMIT, rule.rule_id, rule.name, message)
    missing = failed.counter is None and resolve(arguments, failed.parts) is MISSING
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
        charge = Charge(spec.ref, as_decimal(number), spec.bound, rule.rule_id, spec.limit_message)
    bound = charge.bound
    if spec.precheck and bound is not None:
        current = counters.get(spec.ref, ZERO)
        if not bound.admits(current, charge.amount):
            return Decision(Effect.DENY, Reason.LIMIT, rule.rule_id, rule.name, spec.limit_message)
    return charge
