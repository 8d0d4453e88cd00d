"""Loading policy files: every error located, JSON and YAML alike, garbage never a traceback."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.policy.policy_cases import call, errors_of
from toolgate.errors import PolicyError, PolicyValidationError
from toolgate.policy import Effect, evaluate, load_policy, load_policy_bytes, load_policy_text

FIXTURES = Path(__file__).parent / "fixtures"


def _errors(text: str | bytes, file: str = "policy.yaml") -> list[tuple[int, int, str, str]]:
    with pytest.raises(PolicyValidationError) as caught:
        if isinstance(text, bytes):
            load_policy_bytes(text, file)
        else:
            load_policy_text(text, file)
    return [(e.location.line, e.location.column, e.path, e.message) for e in caught.value.errors]


WINDOW_ERROR = (
    'window must be minute, hour, day, week or a duration such as "90s", "15m", "12h" or "2d", '
    'got "fortnight"'
)


def test_a_file_with_several_errors_reports_all_of_them_with_line_and_column() -> None:
    with pytest.raises(PolicyValidationError) as caught:
        load_policy(FIXTURES / "several_errors.yaml")
    found = [(e.location.line, e.location.column, e.path, e.message) for e in caught.value.errors]
    rules = "tools.create_refund.rules"
    assert found == [
        (1, 10, "(root)", 'version must be "1", got "2"'),
        (2, 10, "(root)", 'default must be one of "allow", "deny", got "block"'),
        (8, 37, f"{rules}[0].conditions[0]", 'unknown operator "gte=" (did you mean "gte"?)'),
        (
            9,
            20,
            f"{rules}[0].conditions[1]",
            'path must start with "args.", "state.", "identity.", "tool." or "time.", got "amount"',
        ),
        (10, 9, f"{rules}[0]", 'unknown key "on-deny" (did you mean "on_deny"?)'),
        (13, 50, f"{rules}[1].conditions[0]", 'operator "in" needs a list value, got a string'),
        (14, 21, f"{rules}[2]", "rate_limit " + WINDOW_ERROR),
        (17, 57, f"{rules}[3].state", "increment must be a number greater than 0, got -1"),
        (20, 49, "tools.delete_repository.rules[0]", "a deny rule must not have conditions"),
    ]
    assert all(e.location.file.endswith("several_errors.yaml") for e in caught.value.errors)


def test_errors_render_as_file_line_column_path_and_message() -> None:
    with pytest.raises(PolicyValidationError) as caught:
        load_policy_text(
            'version: "1"\ntools:\n  t:\n    rules:\n      - {name: r, action: deny, on-deny: x}\n',
            "p.yaml",
        )
    assert str(caught.value).splitlines()[0] == (
        'p.yaml:5:33: tools.t.rules[0]: unknown key "on-deny" (did you mean "on_deny"?)'
    )


def test_an_unknown_key_anywhere_is_an_error_that_names_it() -> None:
    assert _errors('version: "1"\ntools: {}\ndescripton: x\n') == [
        (3, 1, "(root)", 'unknown key "descripton" (did you mean "description"?)')
    ]


def test_a_duplicate_key_is_located_at_its_second_occurrence() -> None:
    text = 'version: "1"\ntools:\n  t:\n    rules:\n      - name: a\n        name: b\n'
    assert (6, 9, "tools.t.rules[0]", 'duplicate key "name" (first given at line 5, column 9)') in (
        _errors(text)
    )


def test_a_tool_listed_twice_is_an_error() -> None:
    found = _errors('version: "1"\ntools:\n  t: {rules: []}\n  t: {rules: []}\n')
    assert found == [(4, 3, "tools", 'tool "t" is listed twice (first at line 3, column 3)')]


def test_a_yaml_syntax_error_is_located() -> None:
    (error,) = _errors('version: "1"\ntools: {t: [1, 2}\n')
    assert error[:3] == (2, 17, "(document)")
    assert error[3].startswith("YAML syntax error: ")


def test_tab_indentation_is_explained() -> None:
    (error,) = _errors('version: "1"\ntools:\n\tt: {}\n')
    assert error[:2] == (3, 1)
    assert "tabs cannot be used for indentation" in error[3]


def test_a_json_policy_loads_with_exact_numbers() -> None:
    policy = load_policy(FIXTURES / "refunds.json")
    assert (policy.tool_count, policy.rule_count, policy.default_deny) == (2, 3, True)
    assert policy.hidden == frozenset({"admin_reset"})
    condition = policy.tools["create_refund"][0].conditions[0]
    assert condition.operand == Decimal("500.25")
    assert evaluate(policy, call("create_refund", {"amount": 500.25})).effect is Effect.ALLOW
    assert evaluate(policy, call("create_refund", {"amount": 500.26})).effect is Effect.DENY


def test_a_json_syntax_error_is_located() -> None:
    text = '{\n  "version": "1",\n  "tools": {"t": {"rules": [1,]}}\n}\n'
    assert _errors(text, "p.json") == [
        (3, 31, "(document)", "JSON syntax error: expected a JSON value")
    ]


def test_a_json_duplicate_key_is_located() -> None:
    found = _errors('{"version": "1", "tools": {}, "tools": {}}', "p.json")
    assert found == [(1, 31, "(root)", 'duplicate key "tools" (first given at line 1, column 18)')]


def test_intercepts_documented_example_loads_unchanged() -> None:
    policy = load_policy(FIXTURES / "stripe.yaml")
    assert (policy.tool_count, policy.rule_count) == (4, 5)
    assert policy.description == "Stripe MCP server policies"


def test_summary_counts_tools_and_rules_and_the_revision_hashes_the_bytes() -> None:
    path = FIXTURES / "stripe.yaml"
    policy = load_policy(path)
    assert policy.revision == hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert load_policy_text(path.read_text(), "other-name.yaml").revision == policy.revision


def test_an_unquoted_version_one_is_accepted_like_intercept_does() -> None:
    assert load_policy_text("version: 1\ntools: {}\n", "p.yaml").tool_count == 0


def test_version_and_tools_are_required() -> None:
    assert _errors("description: x\n") == [
        (1, 1, "(root)", 'missing required key "version"'),
        (1, 1, "(root)", 'missing required key "tools"'),
    ]


def test_a_missing_file_raises_a_policy_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"cannot read policy file .*absent\.yaml"):
        load_policy(tmp_path / "absent.yaml")


def test_an_unsupported_file_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "policy.txt"
    path.write_text('version: "1"\ntools: {}\n')
    with pytest.raises(PolicyValidationError, match=r'unsupported policy file type "\.txt"'):
        load_policy(path)


GARBAGE = [
    ("empty-file", b"", "policy.yaml", (1, 1), "the policy file is empty"),
    ("only-comments", b"# nothing here\n", "policy.yaml", (1, 1), "the policy file is empty"),
    ("empty-json", b"  \n", "policy.json", (1, 1), "the policy file is empty"),
    ("binary-bytes", bytes(range(256)), "policy.yaml", (2, 118), "not UTF-8 text"),
    ("binary-json", b"\xff\xfe{}", "policy.json", (1, 1), "not UTF-8 text"),
    ("nul-character", b"version: \x00\n", "policy.yaml", (1, 10), "control characters"),
    ("top-level-list", b"- a\n- b\n", "policy.yaml", (1, 1), "got a list"),
    ("top-level-string", b"hello", "policy.yaml", (1, 1), "got a string"),
    ("json-top-level-list", b"[1, 2]", "policy.json", (1, 1), "got a list"),
    ("huge-flow-nesting", b"[" * 100_000, "policy.yaml", (1, 65), "nesting deeper than 64"),
    ("huge-json-nesting", b"[" * 100_000, "policy.json", (1, 65), "nesting deeper than 64"),
    (
        "huge-block-nesting",
        "".join("  " * i + f"k{i}:\n" for i in range(100)).encode(),
        "policy.yaml",
        (65, 129),
        "nesting deeper than 64",
    ),
    (
        "billion-laughs",
        b"a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        b"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
        "policy.yaml",
        (6, 8),
        "document too large",
    ),
    ("two-documents", b'version: "1"\n---\nx: 1\n', "policy.yaml", (2, 1), "single YAML document"),
    (
        "custom-tag",
        b"version: !env VERSION\n",
        "policy.yaml",
        (1, 10),
        'unsupported YAML tag "!env"',
    ),
    ("absurd-number", b"version: 1e999999999\n", "policy.yaml", (1, 10), "number out of range"),
    ("trailing-json", b'{"version": "1"} x', "policy.json", (1, 18), "unexpected data"),
]


@pytest.mark.parametrize(
    ("data", "file", "position", "message"),
    [case[1:] for case in GARBAGE],
    ids=[case[0] for case in GARBAGE],
)
def test_garbage_input_gives_a_clear_located_error(
    data: bytes, file: str, position: tuple[int, int], message: str
) -> None:
    found = _errors(data, file)
    assert len(found) == 1
    assert found[0][:2] == position
    assert message in found[0][3]


def test_aliases_are_expanded_within_limits() -> None:
    text = """
    version: "1"
    tools:
      a: {rules: [&cap {name: cap, conditions: [{path: args.n, op: lte, value: 3}]}]}
      b: {rules: [*cap]}
    """
    policy = load_policy_text(text.replace("\n    ", "\n"), "p.yaml")
    assert not evaluate(policy, call("b", {"n": 4})).allowed


@settings(max_examples=300, deadline=None, database=None)
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_either_load_or_fail_with_located_errors(data: bytes) -> None:
    for file in ("p.yaml", "p.json"):
        try:
            load_policy_bytes(data, file)
        except PolicyValidationError as exc:
            assert exc.errors
            assert all(e.location.line >= 1 and e.location.column >= 1 for e in exc.errors)


YAMLISH = st.text(alphabet=" \n-:{}[],\"'#&*!|>.0123456789abcdefghinoprstuvwxyz_", max_size=200)


@settings(max_examples=300, deadline=None, database=None)
@given(text=YAMLISH)
def test_arbitrary_yaml_like_text_either_loads_or_fails_with_located_errors(text: str) -> None:
    try:
        load_policy_text('version: "1"\ntools:\n' + text, "p.yaml")
    except PolicyValidationError as exc:
        assert exc.errors


def test_the_errors_helper_sees_every_error_of_a_snippet() -> None:
    assert len(errors_of("tools: {t: {rules: [{name: 1}]}}")) == 2
