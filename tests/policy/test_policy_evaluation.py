"""Dialect A golden table: (policy, call) -> effect, reason, rule, message, charges."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from tests.policy.policy_cases import call, charges, policy, ref
from toolgate.policy import Effect, Reason, evaluate

ALLOW, DENY, HIDE, APPROVAL = (
    Effect.ALLOW,
    Effect.DENY,
    Effect.HIDE,
    Effect.REQUIRE_APPROVAL,
)

REFUNDS = """
tools:
  create_refund:
    rules:
      - name: amount cap
        conditions:
          - {path: args.amount, op: lte, value: 50000}
          - {path: args.currency, op: in, value: [usd, eur]}
        on_deny: Refunds above 500 USD need a human
      - name: needs a reason
        conditions: [{path: args.reason, op: exists, value: true}]
  delete_repository:
    rules: [{name: block, action: deny, on_deny: Deleting repositories is not allowed}]
  archive_repository:
    rules: [{name: never, action: deny}]
  "*":
    rules:
      - name: no test accounts
        conditions: [{path: args.account, op: neq, value: test}]
"""

RATES = """
tools:
  send_email:
    rules:
      - name: hourly mail
        rate_limit: 10/hour
  send_sms:
    rules:
      - rate_limit: 2/minute
        on_deny: Two texts a minute at most
  "*":
    rules:
      - name: global
        rate_limit: 60/minute
"""

SPEND = """
tools:
  pay:
    rules:
      - name: daily spend
        conditions: [{path: state.pay.spend, op: lte, value: 1000}]
        state: {counter: spend, window: day, increment_from: args.amount}
        on_deny: Daily budget used up
  tip:
    rules:
      - name: tips
        conditions: [{path: state.tip.tips, op: lt, value: 5}]
        state: {counter: tips, window: hour, increment: 2.5}
  ping:
    rules:
      - name: count pings
        conditions: [{path: args.host, op: exists, value: true}]
        state: {counter: pings, window: minute}
  quota:
    rules:
      - name: global budget
        conditions: [{path: state._global.calls, op: lte, value: 100}]
  "*":
    rules:
      - name: all calls
        conditions: [{path: state._global.calls, op: lt, value: 1000000}]
        state: {counter: calls, window: day}
"""

APPROVALS = """
tools:
  create_refund:
    rules:
      - name: large refund approval
        action: require_approval
        conditions: [{path: args.amount, op: gt, value: 100000}]
        approval_timeout: 30m
      - name: refund count
        rate_limit: 5/day
      - name: no test accounts
        conditions: [{path: args.account, op: neq, value: test}]
        on_deny: Test accounts cannot get refunds
  wipe:
    rules:
      - {name: ask first, action: require_approval}
"""


@dataclass(frozen=True)
class Case:
    name: str
    policy: str
    tool: str
    arguments: dict[str, object]
    effect: Effect
    reason: Reason
    rule_id: str | None = None
    message: str = ""
    charges: list[tuple[object, ...]] = field(default_factory=list)
    counters: dict[tuple[str, str, str], str] = field(default_factory=dict)
    rule_name: str | None = None


GOOD_REFUND = {"amount": 100, "currency": "usd", "reason": "broken", "account": "prod"}
BIG_REFUND = {"amount": 200000, "account": "a"}
RULE_BOUND_MINUTE = ("60", False, False)

# fmt: off
CASES = [
    # hide comes first, even before an always-deny rule
    Case("hidden-before-rules", "hide: [delete_repository]\n" + REFUNDS, "delete_repository", {},
         HIDE, Reason.HIDDEN, "(hidden)", 'Tool "delete_repository" is hidden'),
    Case("hide-star-hides-listed", 'hide: ["*"]\n' + REFUNDS, "create_refund", GOOD_REFUND,
         HIDE, Reason.HIDDEN, "(hidden)"),
    Case("hide-star-hides-unlisted", 'hide: ["*"]\ntools: {}\n', "anything", {},
         HIDE, Reason.HIDDEN, "(hidden)"),
    # default allow / deny
    Case("default-allow-unlisted-gets-star-rules", REFUNDS, "list_repos", {"account": "test"},
         DENY, Reason.CONDITION_FAILED, "tools.*.rules[0]", 'denied by rule "no test accounts"',
         rule_name="no test accounts"),
    Case("default-allow-unlisted-allowed", REFUNDS, "list_repos", {"account": "prod"},
         ALLOW, Reason.ALLOWED),
    Case("default-deny-unlisted", "default: deny\n" + REFUNDS, "list_repos", {"account": "prod"},
         DENY, Reason.DEFAULT_DENY, "(default deny)",
         'Tool "list_repos" is not allowed by policy (default deny)'),
    Case("default-deny-star-does-not-list", 'default: deny\ntools: {"*": {rules: []}}\n', "x", {},
         DENY, Reason.DEFAULT_DENY, "(default deny)"),
    Case("default-deny-listed-empty-rules", "default: deny\ntools: {read: {rules: []}}\n",
         "read", {}, ALLOW, Reason.ALLOWED),
    Case("default-deny-listed-without-rules-key", "default: deny\ntools:\n  read:\n",
         "read", {}, ALLOW, Reason.ALLOWED),
    # rule order: own rules in order, then "*"
    Case("first-failing-rule-wins", REFUNDS, "create_refund", {"amount": 99999999},
         DENY, Reason.CONDITION_FAILED, "tools.create_refund.rules[0]",
         "Refunds above 500 USD need a human", rule_name="amount cap"),
    Case("second-rule-fails", REFUNDS, "create_refund", {"amount": 10, "currency": "eur"},
         DENY, Reason.CONDITION_FAILED, "tools.create_refund.rules[1]",
         'Call to "create_refund" denied by rule "needs a reason": args.reason is missing'),
    Case("missing-argument-fails-neq", REFUNDS, "list_repos", {},
         DENY, Reason.CONDITION_FAILED, "tools.*.rules[0]", "args.account is missing"),
    Case("star-rules-after-tool-rules", REFUNDS, "create_refund",
         {**GOOD_REFUND, "account": "test"},
         DENY, Reason.CONDITION_FAILED, "tools.*.rules[0]", "requires args.account neq \"test\""),
    Case("all-rules-pass", REFUNDS, "create_refund", GOOD_REFUND, ALLOW, Reason.ALLOWED),
    # action: deny
    Case("deny-action-with-on-deny", REFUNDS, "delete_repository", {},
         DENY, Reason.RULE_DENY, "tools.delete_repository.rules[0]",
         "Deleting repositories is not allowed", rule_name="block"),
    Case("deny-action-engine-message", REFUNDS, "archive_repository", {},
         DENY, Reason.RULE_DENY, "tools.archive_repository.rules[0]",
         'Tool "archive_repository" is blocked by policy (rule "never")'),
    # rate_limit shorthand: limit N on the value before the call; "*" counts globally
    Case("rate-limit-charges", RATES, "send_email", {}, ALLOW, Reason.ALLOWED,
         charges=[("send_email", "_rate_hour", "hour", "1", ("10", False, False)),
                  ("_global", "_rate_minute", "minute", "1", RULE_BOUND_MINUTE)]),
    Case("rate-limit-last-allowed-call", RATES, "send_email", {}, ALLOW, Reason.ALLOWED,
         counters={("send_email", "_rate_hour", "hour"): "9"},
         charges=[("send_email", "_rate_hour", "hour", "1", ("10", False, False)),
                  ("_global", "_rate_minute", "minute", "1", RULE_BOUND_MINUTE)]),
    Case("rate-limit-exceeded", RATES, "send_email", {}, DENY, Reason.LIMIT,
         "tools.send_email.rules[0]", 'Rate limit exceeded for "send_email": 10/hour',
         counters={("send_email", "_rate_hour", "hour"): "10"}, rule_name="hourly mail"),
    Case("rate-limit-unnamed-with-on-deny", RATES, "send_sms", {}, DENY, Reason.LIMIT,
         "tools.send_sms.rules[0]", "Two texts a minute at most",
         counters={("send_sms", "_rate_minute", "minute"): "2"}),
    Case("star-rate-limit-is-global", RATES, "anything", {}, DENY, Reason.LIMIT,
         "tools.*.rules[0]", "Rate limit exceeded for all tools: 60/minute",
         counters={("_global", "_rate_minute", "minute"): "60"}, rule_name="global"),
    # full-form counters: bound from lte / lt on the own path; the condition reads the value
    # before the call, the reservation checks the value after adding this call's amount
    Case("spend-charges-amount", SPEND, "pay", {"amount": 250}, ALLOW, Reason.ALLOWED,
         charges=[("pay", "spend", "day", "250", ("1000", True, True)),
                  ("_global", "calls", "day", "1", ("1000000", False, True))]),
    Case("spend-reaching-the-cap-exactly-is-allowed-lte", SPEND, "pay", {"amount": 5}, ALLOW,
         Reason.ALLOWED, counters={("pay", "spend", "day"): "995"},
         charges=[("pay", "spend", "day", "5", ("1000", True, True)),
                  ("_global", "calls", "day", "1", ("1000000", False, True))]),
    Case("spend-that-would-cross-the-cap-is-denied", SPEND, "pay", {"amount": 5}, DENY,
         Reason.LIMIT, "tools.pay.rules[0]", counters={("pay", "spend", "day"): "996"}),
    Case("spend-over-limit", SPEND, "pay", {"amount": 5}, DENY, Reason.LIMIT,
         "tools.pay.rules[0]", "Daily budget used up",
         counters={("pay", "spend", "day"): "1000.01"}),
    Case("lt-fixed-decimal-increment", SPEND, "tip", {}, ALLOW, Reason.ALLOWED,
         counters={("tip", "tips", "hour"): "2.49"},
         charges=[("tip", "tips", "hour", "2.5", ("5", False, True)),
                  ("_global", "calls", "day", "1", ("1000000", False, True))]),
    Case("lt-increment-reaching-the-limit-is-denied", SPEND, "tip", {}, DENY, Reason.LIMIT,
         "tools.tip.rules[0]", counters={("tip", "tips", "hour"): "2.5"}),
    Case("lt-at-limit-denied", SPEND, "tip", {}, DENY, Reason.LIMIT, "tools.tip.rules[0]",
         'Limit reached for "tip": state.tip.tips lt 5 no longer holds (rule "tips")',
         counters={("tip", "tips", "hour"): "5"}),
    Case("counter-without-limit-only-counts", SPEND, "ping", {"host": "a"}, ALLOW, Reason.ALLOWED,
         charges=[("ping", "pings", "minute", "1", None),
                  ("_global", "calls", "day", "1", ("1000000", False, True))]),
    Case("tool-rule-reads-global-counter", SPEND, "quota", {}, DENY, Reason.LIMIT,
         "tools.quota.rules[0]", counters={("_global", "calls", "day"): "101"}),
    Case("missing-counters-read-as-zero", SPEND, "quota", {}, ALLOW, Reason.ALLOWED,
         charges=[("_global", "calls", "day", "1", ("1000000", False, True))]),
    # require_approval
    Case("approval-when-conditions-match", APPROVALS, "create_refund", BIG_REFUND,
         APPROVAL, Reason.APPROVAL, "tools.create_refund.rules[0]",
         'Call to "create_refund" requires human approval (rule "large refund approval")',
         charges=[("create_refund", "_rate_day", "day", "1", ("5", False, False))],
         rule_name="large refund approval"),
    Case("no-approval-when-conditions-do-not-match", APPROVALS, "create_refund",
         {"amount": 10, "account": "a"},
         ALLOW, Reason.ALLOWED,
         charges=[("create_refund", "_rate_day", "day", "1", ("5", False, False))]),
    Case("later-deny-beats-approval", APPROVALS, "create_refund",
         {"amount": 200000, "account": "test"}, DENY, Reason.CONDITION_FAILED,
         "tools.create_refund.rules[2]", "Test accounts cannot get refunds"),
    Case("limit-beats-approval", APPROVALS, "create_refund", BIG_REFUND,
         DENY, Reason.LIMIT, "tools.create_refund.rules[1]",
         counters={("create_refund", "_rate_day", "day"): "5"}),
    Case("approval-without-conditions-always-asks", APPROVALS, "wipe", {},
         APPROVAL, Reason.APPROVAL, "tools.wipe.rules[0]"),
]
# fmt: on


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_golden_case_gets_its_expected_decision(case: Case) -> None:
    counters = {ref(*key): Decimal(value) for key, value in case.counters.items()}
    decision = evaluate(policy(case.policy), call(case.tool, case.arguments, counters))
    assert (decision.effect, decision.reason, decision.rule_id) == (
        case.effect,
        case.reason,
        case.rule_id,
    )
    assert case.message in decision.message
    if case.effect is ALLOW:
        assert decision.message == ""
        assert decision.rule_name is None
    elif case.rule_name is not None:
        assert decision.rule_name == case.rule_name
    if case.effect in (ALLOW, APPROVAL):
        assert charges(decision) == case.charges
    else:
        assert decision.charges == ()


def test_approval_carries_its_timeout_in_seconds() -> None:
    arguments = {"amount": 200000, "account": "a"}
    decision = evaluate(policy(APPROVALS), call("create_refund", arguments))
    assert decision.approval_timeout_seconds == 1800.0


def test_approval_without_a_timeout_gets_the_default_of_fifteen_minutes() -> None:
    decision = evaluate(policy(APPROVALS), call("wipe", {}))
    assert decision.approval_timeout_seconds == 900.0


def test_a_charge_names_its_rule_and_the_message_for_an_exhausted_bound() -> None:
    decision = evaluate(policy(RATES), call("send_email", {}))
    first, second = decision.charges
    assert first.rule_id == "tools.send_email.rules[0]"
    assert first.on_deny == 'Rate limit exceeded for "send_email": 10/hour (rule "hourly mail")'
    assert second.rule_id == "tools.*.rules[0]"


def test_rule_ids_use_the_tool_key_as_written() -> None:
    text = 'tools:\n  "github.create_issue":\n    rules: [{name: b, action: deny}]\n'
    decision = evaluate(policy(text), call("github.create_issue"))
    assert decision.rule_id == "tools.github.create_issue.rules[0]"


def test_arguments_that_are_not_an_object_are_refused_as_an_invalid_call() -> None:
    decision = evaluate(policy(REFUNDS), call("list_repos", ["not", "an", "object"]))
    assert (decision.effect, decision.reason) == (DENY, Reason.INVALID_CALL)


def test_same_policy_and_facts_always_give_the_same_decision() -> None:
    compiled = policy(SPEND)
    facts = call("pay", {"amount": 0.5}, {ref("pay", "spend", "day"): Decimal("3")})
    assert evaluate(compiled, facts) == evaluate(compiled, facts)
