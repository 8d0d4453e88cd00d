"""The policy package, pure: load a policy file (located errors), decide calls, name counters.

    policy = load_policy(Path("policy.yaml"))        # or PolicyValidationError with every error
    needed = counters_needed(policy, facts)          # read these from the counter store
    decision = evaluate(policy, facts.with_counters(values))

Nothing here does I/O except `load_policy`, which reads the one file it is given.
"""

from toolgate.policy.decision import (
    DAY,
    HOUR,
    MINUTE,
    Bound,
    Charge,
    CounterRef,
    Decision,
    Effect,
    Reason,
    Window,
)
from toolgate.policy.evaluator import counters_needed, evaluate, visible
from toolgate.policy.facts import CallFacts
from toolgate.policy.loader import load_policy, load_policy_bytes, load_policy_text
from toolgate.policy.model import Action, Approvals, Condition, CounterSpec, Policy, Rule, ToolPlan

__all__ = [
    "DAY",
    "HOUR",
    "MINUTE",
    "Action",
    "Approvals",
    "Bound",
    "CallFacts",
    "Charge",
    "Condition",
    "CounterRef",
    "CounterSpec",
    "Decision",
    "Effect",
    "Policy",
    "Reason",
    "Rule",
    "ToolPlan",
    "Window",
    "counters_needed",
    "evaluate",
    "load_policy",
    "load_policy_bytes",
    "load_policy_text",
    "visible",
]
