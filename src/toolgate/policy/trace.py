"""The evaluation trace behind `toolgate explain`: what the evaluator considered, read and decided.

`evaluate(policy, facts, trace)` calls `begin` once, `rule` after each rule it considers (with the
rule's outcome) and `finish` with the decision it returns. The trace re-runs each considered
rule's compiled checks (pure, so they give the evaluator's answers) to record every condition's
result and the values it read; conditions after the first one that decides a rule are marked not
evaluated, as the evaluator skips them. Nothing here is on the evaluator's hot path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from toolgate.policy.counter_scope import Unbound, bind_all
from toolgate.policy.decision import Charge, CounterRef, Decision, Effect, Reason
from toolgate.policy.facts import CallFacts
from toolgate.policy.model import Action, Policy, Rule
from toolgate.policy.trace_conditions import ConditionStep, trace_conditions

#: Why evaluation stopped, by the reason of the decision it stopped at.
STOPS = {
    Reason.HIDDEN: "the tool is hidden: no rule is evaluated",
    Reason.DEFAULT_DENY: "the tool is not listed and the default is deny: no rule is evaluated",
    Reason.RULE_DENY: "an action: deny rule denied the call: later rules are not evaluated",
    Reason.CONDITION_FAILED: "a rule's condition failed: later rules are not evaluated",
    Reason.LIMIT: "a counter is at its limit: later rules are not evaluated",
    Reason.INVALID_CALL: "the call cannot be evaluated as sent: it is refused (fail closed)",
}


@dataclass(slots=True)
class RuleStep:
    """One rule the evaluator considered, its conditions, and what it said."""

    rule_id: str  # the dialect's pointer: tools.X.rules[1] or /tools/X/deny_if/0
    name: str | None
    tool_key: str
    action: str
    shadow: bool
    outcome: str  # passed | denied | approval | not applicable | charged
    conditions: list[ConditionStep] = field(default_factory=list)
    charges: list[Charge] = field(default_factory=list)


@dataclass(slots=True)
class Trace:
    """A collector for one evaluation; pass a fresh one per call."""

    policy: Policy | None = None
    facts: CallFacts | None = None
    rules: list[RuleStep] = field(default_factory=list)
    decision: Decision | None = None

    def begin(self, policy: Policy, facts: CallFacts) -> None:
        self.policy, self.facts = policy, facts

    def rule(
        self, rule: Rule, outcome: object, arguments: Mapping[str, object], facts: CallFacts
    ) -> None:
        counters = _counters_for(rule, arguments, facts)
        classifier = self.policy.classifier if self.policy is not None else None
        steps = trace_conditions(rule.conditions, arguments, counters, facts, classifier)
        charges: list[Charge] = []
        if isinstance(outcome, Charge):
            charges = [outcome]
        elif isinstance(outcome, tuple):
            charges = [item for item in outcome if isinstance(item, Charge)]
        step = RuleStep(
            rule.rule_id, rule.name, rule.tool_key, rule.action.value, rule.shadow,
            _outcome_word(rule, outcome), steps, charges,
        )  # fmt: skip
        self.rules.append(step)

    def finish(self, decision: Decision) -> Decision:
        self.decision = decision
        return decision

    @property
    def stop(self) -> str:
        """Why evaluation stopped where it did."""
        decision = self.decision
        if decision is None:
            return "not evaluated"
        if decision.effect is Effect.REQUIRE_APPROVAL:
            return "every rule passed and a require_approval rule matched: a human must approve"
        return STOPS.get(decision.reason, "every rule passed: the call is allowed")


def _counters_for(
    rule: Rule, arguments: Mapping[str, object], facts: CallFacts
) -> Mapping[CounterRef, Decimal]:
    """The counter values the rule's conditions read (bound to this call when scoped)."""
    counters = facts.counters
    if not rule.scoped:
        return counters
    binding = bind_all(rule.scoped, arguments, facts)
    if isinstance(binding, Unbound):
        return counters
    view = dict(counters)
    view.update({name: counters.get(ref, Decimal(0)) for name, ref in binding.items()})
    return view


def _outcome_word(rule: Rule, outcome: object) -> str:
    if outcome is None:
        return "not applicable" if rule.action is Action.REQUIRE_APPROVAL else "passed"
    if isinstance(outcome, Decision):
        return "approval" if outcome.effect is Effect.REQUIRE_APPROVAL else "denied"
    return "charged"
