"""Every Dialect A validation rule: the snippet, the path it is reported on, and the message."""

from __future__ import annotations

import pytest

from tests.policy.policy_cases import errors_of, policy

RULE = "tools.t.rules[0]"


def _rule(text: str) -> str:
    return f"tools:\n  t:\n    rules:\n      - {text}\n"


# (case id, policy snippet, expected path, expected message substring)
# fmt: off
CASES = [
    ("version-wrong", 'version: "2"\ntools: {}\n', "(root)", 'version must be "1", got "2"'),
    ("default-unknown", "default: block\ntools: {}\n", "(root)", 'got "block"'),
    ("hide-not-list", "hide: a\ntools: {}\n", "(root)", "hide must be a list, got a string"),
    ("hide-empty-entry", 'hide: [""]\ntools: {}\n', "hide[0]", "must not be empty"),
    ("hide-duplicate", "hide: [a, a]\ntools: {}\n", "hide[1]", '"a" is listed twice'),
    ("hide-number", "hide: [1]\ntools: {}\n", "hide[0]", "must be a tool name, got an integer"),
    ("tools-not-mapping", "tools: [a]\n", "(root)", "tools must be a mapping, got a list"),
    ("tool-entry-not-mapping", "tools: {t: 5}\n", "tools.t", "a tool entry must be a mapping"),
    ("tool-entry-unknown-key", "tools: {t: {rule: []}}\n", "tools.t",
     'unknown key "rule" (did you mean "rules"?)'),
    ("rules-not-list", "tools: {t: {rules: x}}\n", "tools.t", "rules must be a list, got a string"),
    ("rule-not-mapping", _rule("just text"), RULE, "a rule must be a mapping, got a string"),
    ("rule-needs-name", _rule("{conditions: [{path: args.a, op: eq, value: 1}]}"), RULE,
     'missing required key "name"'),
    ("rule-empty-name", _rule('{name: "", action: deny}'), RULE, "name must not be empty"),
    ("name-not-string", _rule("{name: [a], action: deny}"), RULE,
     "name must be a string, got a list"),
    ("action-unknown", _rule("{name: r, action: block}"), RULE, 'got "block"'),
    ("evaluate-needs-condition", _rule("{name: r}"), RULE, "needs at least one condition"),
    ("evaluate-empty-conditions", _rule("{name: r, conditions: []}"), RULE,
     "needs at least one condition"),
    ("deny-no-conditions", _rule("{name: r, action: deny, conditions: [{path: args.a, op: eq, "
                                 "value: 1}]}"), RULE, "a deny rule must not have conditions"),
    ("deny-no-state", _rule("{name: r, action: deny, state: {counter: c, window: day}}"), RULE,
     "state cannot be used with action deny"),
    ("approval-no-state", _rule("{name: r, action: require_approval, state: {counter: c, "
                                "window: day}}"), RULE,
     "state cannot be used with action require_approval"),
    ("timeout-only-for-approval", _rule("{name: r, action: deny, approval_timeout: 5m}"), RULE,
     "approval_timeout is only valid with action require_approval"),
    ("timeout-bad-duration", _rule("{name: r, action: require_approval, approval_timeout: soon}"),
     RULE, 'invalid duration "soon"'),
    ("timeout-zero", _rule("{name: r, action: require_approval, approval_timeout: 0s}"), RULE,
     "must be greater than zero"),
    ("timeout-number", _rule("{name: r, action: require_approval, approval_timeout: 30}"), RULE,
     "approval_timeout must be a string, got an integer"),
    ("rate-format", _rule("{rate_limit: ten per day}"), RULE,
     'rate_limit must look like "10/minute"'),
    ("rate-count-zero", _rule("{rate_limit: 0/day}"), RULE,
     'rate_limit count must be a positive integer, got "0"'),
    ("rate-window", _rule("{rate_limit: 5/fortnight}"), RULE,
     'window must be minute, hour, day, week or a duration'),
    ("rate-not-string", _rule("{rate_limit: 5}"), RULE,
     "rate_limit must be a string, got an integer"),
    ("rate-with-conditions", _rule("{rate_limit: 5/day, conditions: [{path: args.a, op: eq, "
                                   "value: 1}]}"), RULE,
     "rate_limit cannot be combined with conditions or state"),
    ("rate-with-state", _rule("{rate_limit: 5/day, state: {counter: c, window: day}}"), RULE,
     "rate_limit cannot be combined with conditions or state"),
    ("rate-with-deny", _rule("{rate_limit: 5/day, action: deny}"), RULE,
     'rate_limit cannot be used with action "deny"'),
    ("rate-duplicate-window", "tools:\n  t:\n    rules:\n      - {rate_limit: 5/day}\n"
     "      - {rate_limit: 9/day}\n", "tools.t.rules[1]",
     'counter "_rate_day" of "t" is already declared by tools.t.rules[0]'),
    ("condition-not-mapping", _rule("{name: r, conditions: [args.a]}"), f"{RULE}.conditions[0]",
     "a condition must be a mapping with path, op and value, got a string"),
    ("condition-unknown-key", _rule("{name: r, conditions: [{path: args.a, op: eq, value: 1, "
                                    "vale: 2}]}"), f"{RULE}.conditions[0]",
     'unknown key "vale" (did you mean "value"?)'),
    ("condition-missing-op", _rule("{name: r, conditions: [{path: args.a, value: 1}]}"),
     f"{RULE}.conditions[0]", 'missing required key "op"'),
    ("condition-missing-value", _rule("{name: r, conditions: [{path: args.a, op: exists}]}"),
     f"{RULE}.conditions[0]", 'missing required key "value"'),
    ("operator-unknown", _rule('{name: r, conditions: [{path: args.a, op: "gte=", value: 1}]}'),
     f"{RULE}.conditions[0]", 'unknown operator "gte=" (did you mean "gte"?)'),
    ("operator-unknown-far", _rule("{name: r, conditions: [{path: args.a, op: like, value: 1}]}"),
     f"{RULE}.conditions[0]", 'unknown operator "like" (expected one of "eq", "neq"'),
    ("numeric-needs-number", _rule('{name: r, conditions: [{path: args.a, op: lt, value: "5"}]}'),
     f"{RULE}.conditions[0]", 'operator "lt" needs a finite number, got a string'),
    ("numeric-boolean", _rule("{name: r, conditions: [{path: args.a, op: gte, value: true}]}"),
     f"{RULE}.conditions[0]", 'operator "gte" needs a finite number, got a boolean'),
    ("numeric-infinite", _rule("{name: r, conditions: [{path: args.a, op: lte, value: .inf}]}"),
     f"{RULE}.conditions[0]", 'operator "lte" needs a finite number, got Infinity'),
    ("in-needs-list", _rule("{name: r, conditions: [{path: args.a, op: in, value: usd}]}"),
     f"{RULE}.conditions[0]", 'operator "in" needs a list value, got a string'),
    ("not-in-needs-list", _rule("{name: r, conditions: [{path: args.a, op: not_in, value: 1}]}"),
     f"{RULE}.conditions[0]", 'operator "not_in" needs a list value, got an integer'),
    ("exists-needs-boolean", _rule("{name: r, conditions: [{path: args.a, op: exists, value: 1}]}"),
     f"{RULE}.conditions[0]", 'operator "exists" needs true or false, got an integer'),
    ("regex-needs-string", _rule("{name: r, conditions: [{path: args.a, op: regex, value: 1}]}"),
     f"{RULE}.conditions[0]", 'operator "regex" needs a string pattern, got an integer'),
    ("regex-invalid", _rule('{name: r, conditions: [{path: args.a, op: regex, value: "(a"}]}'),
     f"{RULE}.conditions[0]", 'invalid regular expression "(a"'),
    ("path-prefix", _rule("{name: r, conditions: [{path: arg.a, op: eq, value: 1}]}"),
     f"{RULE}.conditions[0]",
     'path must start with "args.", "state.", "identity.", "tool." or "time.", got "arg.a"'),
    ("path-empty-segment", _rule("{name: r, conditions: [{path: args..a, op: eq, value: 1}]}"),
     f"{RULE}.conditions[0]", 'path "args..a" has an empty segment'),
    ("state-path-shape", _rule("{name: r, conditions: [{path: state.c, op: lt, value: 1}]}"),
     f"{RULE}.conditions[0]", 'a state path must look like "state.<tool>.<counter>"'),
    ("state-path-undeclared", _rule("{name: r, conditions: [{path: state.t.c, op: lt, value: 1}]}"),
     f"{RULE}.conditions[0]", '"state.t.c" reads a counter that no rule declares'),
    ("state-needs-counter", _rule("{name: r, conditions: [{path: args.a, op: eq, value: 1}], "
                                  "state: {window: day}}"), f"{RULE}.state",
     'missing required key "counter"'),
    ("state-needs-window", _rule("{name: r, conditions: [{path: args.a, op: eq, value: 1}], "
                                 "state: {counter: c}}"), f"{RULE}.state",
     'missing required key "window"'),
    ("state-window", _rule("{name: r, conditions: [{path: args.a, op: eq, value: 1}], "
                           "state: {counter: c, window: fortnight}}"), f"{RULE}.state",
     'window must be minute, hour, day, week or a duration'),
    ("state-both-increments", _rule("{name: r, conditions: [{path: args.a, op: eq, value: 1}], "
                                    "state: {counter: c, window: day, increment: 1, "
                                    "increment_from: args.a}}"), f"{RULE}.state",
     "use either increment or increment_from, not both"),
    ("state-increment-zero", _rule("{name: r, conditions: [{path: args.a, op: eq, value: 1}], "
                                   "state: {counter: c, window: day, increment: 0}}"),
     f"{RULE}.state", "increment must be a number greater than 0, got 0"),
    ("state-increment-text", _rule("{name: r, conditions: [{path: args.a, op: eq, value: 1}], "
                                   "state: {counter: c, window: day, increment: two}}"),
     f"{RULE}.state", "increment must be a number greater than 0, got a string"),
    ("state-increment-from-args", _rule("{name: r, conditions: [{path: args.a, op: eq, value: 1}], "
                                        "state: {counter: c, window: day, "
                                        "increment_from: state.t.c}}"), f"{RULE}.state",
     'increment_from: path must start with "args.", got "state.t.c"'),
    ("state-unknown-key", _rule("{name: r, conditions: [{path: args.a, op: eq, value: 1}], "
                                "state: {counter: c, window: day, incrementFrom: args.a}}"),
     f"{RULE}.state", 'unknown key "incrementFrom" (did you mean "increment_from"?)'),
    ("approvals-webhook-url", "approvals: {notify: {webhook: {url: ftp://x}}}\ntools: {}\n",
     "approvals.notify.webhook", 'url must be an http:// or https:// address, got "ftp://x"'),
    ("approvals-webhook-needs-url", "approvals: {notify: {webhook: {}}}\ntools: {}\n",
     "approvals.notify.webhook", 'missing required key "url"'),
    ("approvals-needs-webhook", "approvals: {notify: {}}\ntools: {}\n", "approvals.notify",
     'missing required key "webhook"'),
    ("approvals-dedupe", "approvals: {dedupe_window: forever}\ntools: {}\n", "approvals",
     'invalid duration "forever"'),
    ("approvals-unknown", "approvals: {notfy: {}}\ntools: {}\n", "approvals",
     'unknown key "notfy" (did you mean "notify"?)'),
]
# fmt: on


@pytest.mark.parametrize(
    ("snippet", "path", "message"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_invalid_snippet_is_reported_on_its_path_with_a_clear_message(
    snippet: str, path: str, message: str
) -> None:
    errors = errors_of(snippet)
    assert any(e.path == path and message in e.message for e in errors), [
        e.render() for e in errors
    ]


def test_a_full_form_counter_with_two_limits_takes_the_first_and_the_rest_are_conditions() -> None:
    text = _rule(
        "{name: r, conditions: [{path: state.t.c, op: lte, value: 5}, "
        "{path: state.t.c, op: lt, value: 3}], state: {counter: c, window: day}}"
    )
    (rule,) = policy(text).tools["t"]
    assert rule.counter is not None and rule.counter.bound is not None
    assert (rule.counter.bound.limit, rule.counter.bound.inclusive) == (5, True)


def test_a_counter_may_be_read_before_the_rule_that_declares_it() -> None:
    text = """
    tools:
      a:
        rules:
          - name: read
            conditions: [{path: state.b.c, op: lt, value: 3}]
      b:
        rules:
          - name: declare
            conditions: [{path: args.x, op: exists, value: true}]
            state: {counter: c, window: hour}
    """
    assert policy(text).tool_count == 2


def test_a_tool_name_with_dots_resolves_its_state_paths() -> None:
    text = """
    tools:
      github.create_issue:
        rules:
          - name: hourly
            conditions: [{path: state.github.create_issue.n, op: lt, value: 3}]
            state: {counter: n, window: hour}
    """
    (rule,) = policy(text).tools["github.create_issue"]
    assert rule.conditions[0].counter is not None
    assert rule.conditions[0].counter.owner == "github.create_issue"


def test_a_require_approval_rule_may_have_no_conditions() -> None:
    assert policy(_rule("{name: r, action: require_approval}")).rule_count == 1


def test_the_approvals_block_is_parsed() -> None:
    text = 'approvals:\n  notify: {webhook: {url: "https://hooks.example/a"}}\n'
    approvals = policy(text + "  dedupe_window: 10m\ntools: {}\n").approvals
    assert approvals is not None
    assert (approvals.webhook_url, approvals.dedupe_window_seconds) == (
        "https://hooks.example/a",
        600.0,
    )


def test_go_style_compound_durations_are_accepted() -> None:
    text = _rule("{name: r, action: require_approval, approval_timeout: 1h30m}")
    (rule,) = policy(text).tools["t"]
    assert rule.approval_timeout_seconds == 5400.0
