"""Dialect B (PolicyLayer JSON) golden table: policy + call -> effect, reason, pointer, message."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal

import pytest

from toolgate.policy import (
    MINUTE,
    CallFacts,
    CounterRef,
    Effect,
    Reason,
    evaluate,
    load_policy_text,
)
from toolgate.policy.model import Policy

ALLOW, DENY, HIDE = Effect.ALLOW, Effect.DENY, Effect.HIDE

CHARGES = """{
  "version": "1",
  "default": "deny",
  "hide": ["delete_account"],
  "all_tools": {"limits": [{"counter": "calls_per_minute", "window": "minute", "max": 120,
                            "scope": "grant"}]},
  "tools": {
    "create_charge": {
      "require": [{"conditions": [{"path": "args.reason", "op": "exists", "value": true}],
                   "on_deny": "Give a reason"}],
      "deny_if": [{"conditions": [{"path": "args.amount", "op": "gt", "value": 10000}],
                   "on_deny": "Too large"},
                  {"conditions": [{"path": "args.currency", "op": "eq", "value": "xxx"},
                                  {"path": "args.amount", "op": "gt", "value": 5}]}],
      "limits":  [{"counter": "create_charge_rate", "window": "minute", "max": 30,
                   "scope": "grant"}]
    },
    "list_customers": {},
    "refund": {"deny_if": [{"conditions": []}]},
    "a/b~c": {"deny_if": [{"conditions": [], "on_deny": "escaped"}]},
    "search": {"require": [{"conditions": [
        {"any": [{"path": "args.q", "op": "starts_with", "value": "cus_"},
                 {"path": "args.q", "op": "len_lte", "value": 3}]}]}]}
  }
}"""

ALLOWING = """{
  "version": "1", "default": "allow",
  "all_tools": {"limits": [{"counter": "all", "window": "hour", "max": 2}]},
  "tools": {"ping": {"limits": [{"counter": "pings", "window": "minute", "max": 1}]}}
}"""

OK = {"reason": "order 1", "amount": 100, "currency": "usd"}


def load(text: str) -> Policy:
    return load_policy_text(text, "policy.json")


def facts(tool: str, arguments: dict[str, object], **counters: int) -> CallFacts:
    values = {_ref(name): Decimal(value) for name, value in counters.items()}
    return CallFacts(tool, arguments, now=1_767_225_600.0, identity="alice", counters=values)


def _ref(name: str) -> CounterRef:
    owner = "_global" if name == "calls_per_minute" else "create_charge"
    return CounterRef(owner, name, MINUTE, scope="identity", scope_value="alice")


@dataclass(frozen=True)
class Case:
    tool: str
    arguments: dict[str, object]
    effect: Effect
    reason: Reason
    rule: str | None
    message: str = ""
    counters: dict[str, int] = field(default_factory=dict)


CASES = {
    "an allowed call passes every entry": Case("create_charge", OK, ALLOW, Reason.ALLOWED, None),
    "a hidden tool is hidden": Case(
        "delete_account", {}, HIDE, Reason.HIDDEN, "(hidden)",
        'Tool "delete_account" is hidden by policy',
    ),
    "an unlisted tool falls to the default deny": Case(
        "drop_db", {}, DENY, Reason.DEFAULT_DENY, "(default deny)",
        'Tool "drop_db" is not allowed by policy (default deny)',
    ),
    "an empty tool entry allows under default deny": Case(
        "list_customers", {}, ALLOW, Reason.ALLOWED, None
    ),
    "a failed require denies with its on_deny": Case(
        "create_charge", {"amount": 1}, DENY, Reason.CONDITION_FAILED,
        "/tools/create_charge/require/0", "Give a reason",
    ),
    "require is checked before deny_if": Case(
        "create_charge", {"amount": 99999}, DENY, Reason.CONDITION_FAILED,
        "/tools/create_charge/require/0", "Give a reason",
    ),
    "a matching deny_if denies with its on_deny": Case(
        "create_charge", {**OK, "amount": 10001}, DENY, Reason.CONDITION_FAILED,
        "/tools/create_charge/deny_if/0", "Too large",
    ),
    "a deny_if denies only when all its conditions match": Case(
        "create_charge", {**OK, "currency": "xxx", "amount": 1}, ALLOW, Reason.ALLOWED, None
    ),
    "a deny_if without on_deny names the pointer and the conditions": Case(
        "create_charge", {**OK, "currency": "xxx"}, DENY, Reason.CONDITION_FAILED,
        "/tools/create_charge/deny_if/1",
        'Call to "create_charge" denied by rule /tools/create_charge/deny_if/1: requires '
        'not(all(args.currency eq "xxx"; args.amount gt 5))',
    ),
    "an empty deny_if denies always": Case(
        "refund", {}, DENY, Reason.RULE_DENY, "/tools/refund/deny_if/0",
        'Tool "refund" is blocked by policy (rule /tools/refund/deny_if/0)',
    ),
    "a tool name with slash and tilde is escaped in the pointer": Case(
        "a/b~c", {}, DENY, Reason.RULE_DENY, "/tools/a~1b~0c/deny_if/0", "escaped"
    ),
    "the tool's limit denies when full": Case(
        "create_charge", OK, DENY, Reason.LIMIT, "/tools/create_charge/limits/0",
        'Rate limit exceeded for "create_charge": 30/minute (rule /tools/create_charge/limits/0)',
        {"create_charge_rate": 30},
    ),
    "the all_tools limit denies when full": Case(
        "create_charge", OK, DENY, Reason.LIMIT, "/all_tools/limits/0",
        "Rate limit exceeded for all tools: 120/minute (rule /all_tools/limits/0)",
        {"calls_per_minute": 120},
    ),
    "the tool's limit is checked before all_tools": Case(
        "create_charge", OK, DENY, Reason.LIMIT, "/tools/create_charge/limits/0",
        'Rate limit exceeded for "create_charge": 30/minute (rule /tools/create_charge/limits/0)',
        {"create_charge_rate": 30, "calls_per_minute": 120},
    ),
    "a limit one below its max still allows": Case(
        "create_charge", OK, ALLOW, Reason.ALLOWED, None, "",
        {"create_charge_rate": 29, "calls_per_minute": 119},
    ),
    "extension groups work inside require": Case(
        "search", {"q": "cus_1"}, ALLOW, Reason.ALLOWED, None
    ),
    "a failed extension group denies with the engine message": Case(
        "search", {"q": "nope!"}, DENY, Reason.CONDITION_FAILED, "/tools/search/require/0",
        'Call to "search" denied by rule /tools/search/require/0: requires '
        'any(args.q starts_with "cus_"; args.q len_lte 3)',
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_dialect_b_construct_decides_with_its_pointer_rule_id(case: Case) -> None:
    decision = evaluate(load(CHARGES), facts(case.tool, case.arguments, **case.counters))
    assert (decision.effect, decision.reason, decision.rule_id, decision.message) == (
        case.effect,
        case.reason,
        case.rule,
        case.message,
    )


def test_an_allowed_call_charges_the_tool_limit_then_the_all_tools_limit_per_identity() -> None:
    decision = evaluate(load(CHARGES), facts("create_charge", OK))
    summary = [
        (
            c.counter.owner,
            c.counter.name,
            c.counter.scope,
            str(c.amount),
            str(c.bound and c.bound.limit),
            c.rule_id,
        )
        for c in decision.charges
    ]
    assert [row[:5] for row in summary] == [
        ("create_charge", "create_charge_rate", "identity", "1", "30"),
        ("_global", "calls_per_minute", "identity", "1", "120"),
    ]
    assert [row[5] for row in summary] == ["/tools/create_charge/limits/0", "/all_tools/limits/0"]


def test_under_default_allow_an_unlisted_tool_gets_only_the_all_tools_limits() -> None:
    policy = load(ALLOWING)
    unlisted = evaluate(policy, facts("anything", {}))
    assert [(c.counter.owner, c.counter.name, c.counter.scope) for c in unlisted.charges] == [
        ("_global", "all", "global")
    ]
    listed = evaluate(policy, facts("ping", {}))
    assert [c.rule_id for c in listed.charges] == ["/tools/ping/limits/0", "/all_tools/limits/0"]


def test_a_dialect_b_policy_reports_its_dialect_and_counts_for_validate() -> None:
    policy = load(CHARGES)
    assert policy.dialect == "policylayer"
    assert policy.default_deny
    assert (policy.tool_count, policy.rule_count) == (6, 8)


def test_a_grant_scoped_limit_counts_each_identity_separately() -> None:
    policy = load(CHARGES)
    full = {"create_charge_rate": 30}
    alice = evaluate(policy, facts("create_charge", OK, **full))
    bob = evaluate(policy, replace(facts("create_charge", OK, **full), identity="bob"))
    assert (alice.effect, bob.effect) == (DENY, ALLOW)
    assert {c.counter.scope_value for c in bob.charges} == {"bob"}


def test_a_call_without_identity_under_a_grant_limit_fails_closed() -> None:
    decision = evaluate(load(CHARGES), replace(facts("create_charge", OK), identity=None))
    assert decision.effect is DENY
    assert decision.rule_id == "/tools/create_charge/limits/0"
    assert "per identity" in decision.message and "--identity" in decision.message
