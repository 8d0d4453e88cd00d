"""Dialect B loading: detection by shape, mixing errors, located errors, garbage input."""

from __future__ import annotations

import pytest

from toolgate.errors import PolicyValidationError
from toolgate.policy import load_policy_bytes, load_policy_text
from toolgate.policy.json_source import parse_json
from toolgate.policy.loader import detect_dialect
from toolgate.policy.located import LNode


def rendered(text: str, file: str = "p.json") -> list[str]:
    try:
        load_policy_text(text, file)
    except PolicyValidationError as exc:
        return [error.render() for error in exc.errors]
    raise AssertionError("the policy loaded without errors")


def root(text: str) -> LNode:
    node = parse_json(text)
    assert node is not None
    return node


@pytest.mark.parametrize(
    ("text", "dialect"),
    [
        ('{"tools": {"t": {"rules": []}}}', "intercept"),
        ('{"all_tools": {"limits": []}}', "policylayer"),
        ('{"tools": {"t": {"require": []}}}', "policylayer"),
        ('{"tools": {"t": {"deny_if": []}}}', "policylayer"),
        ('{"tools": {"t": {"limits": []}}}', "policylayer"),
        ('{"tools": {"t": {}}}', "intercept"),
    ],
)
def test_the_dialect_is_detected_from_the_shape(text: str, dialect: str) -> None:
    assert detect_dialect(root(text), "p.json") == dialect


def test_a_dialect_b_file_loads_from_yaml_too() -> None:
    text = 'version: "1"\ndefault: deny\ntools:\n  t:\n    deny_if: [{conditions: []}]\n'
    assert load_policy_text(text, "p.yaml").dialect == "policylayer"


def test_a_file_mixing_dialects_is_one_error_at_the_first_key_of_the_minority() -> None:
    text = """{"version": "1", "default": "deny",
  "tools": {
    "a": {"require": [{"conditions": []}]},
    "b": {"rules": []},
    "c": {"deny_if": [{"conditions": []}]},
    "d": {"rules": []}
  },
  "all_tools": {"limits": []}
}"""
    assert rendered(text) == [
        'p.json:4:11: tools.b: "rules" belongs to Dialect A (Intercept YAML), but this file is '
        "written in Dialect B (PolicyLayer JSON); a policy file must use one dialect"
    ]


def test_on_a_tie_the_dialect_that_comes_second_is_the_offender() -> None:
    text = "tools:\n  a: {rules: []}\n  b: {limits: []}\n"
    assert rendered(text, "p.yaml") == [
        'p.yaml:3:7: tools.b: "limits" belongs to Dialect B (PolicyLayer JSON), but this file is '
        "written in Dialect A (Intercept YAML); a policy file must use one dialect"
    ]


INVALID = """{
  "version": "2",
  "hide": ["x", 3],
  "all_tools": {"limits": [{"counter": "c", "window": "fortnight", "max": 0}], "deny_if": []},
  "tools": {
    "t": {
      "require": [{"conditions": [{"path": "args.a", "op": "gte=", "value": 1}], "on-deny": "x"}],
      "deny_if": [{"conditions": [{"path": "args.a", "op": "eq"}]}, "nope"],
      "limits": [{"counter": "r", "window": "minute", "max": 1, "scope": "grnat"},
                 {"counter": "r", "window": "minute", "max": 2}],
      "rules": 1,
      "requires": []
    },
    "*": {}
  }
}"""


def test_every_dialect_b_error_is_reported_at_once_with_its_location() -> None:
    assert rendered(INVALID.replace('"rules": 1,\n', "")) == [
        "p.json:1:1: (root): " + 'missing required key "default" (one of "allow", "deny")',
        'p.json:2:14: (root): version must be "1", got "2"',
        "p.json:3:17: hide[1]: must be a tool name, got an integer",
        'p.json:4:55: all_tools.limits[0]: window must be one of "minute", "hour", "day", '
        'got "fortnight"',
        "p.json:4:75: all_tools.limits[0]: max must be a whole number greater than 0, got 0",
        'p.json:4:80: all_tools: unknown key "deny_if"',
        'p.json:7:60: tools.t.require[0].conditions[0]: unknown operator "gte=" (did you mean '
        '"gte"?)',
        'p.json:7:82: tools.t.require[0]: unknown key "on-deny" (did you mean "on_deny"?)',
        'p.json:8:35: tools.t.deny_if[0].conditions[0]: missing required key "value"',
        "p.json:8:69: tools.t.deny_if[1]: a deny_if entry must be a mapping, got a string",
        'p.json:9:74: tools.t.limits[0]: scope must be one of "grant", "global", "identity", '
        '"session", got "grnat" (did you mean "grant"?)',
        'p.json:10:30: tools.t.limits[1]: counter "r" is already used by /tools/t/limits/0',
        'p.json:11:13: tools.t: unknown key "requires" (did you mean "require"?)',
        'p.json:13:5: tools: tool names: "*" is not a tool name here; put rules for every tool '
        "under all_tools",
    ]


@pytest.mark.parametrize(
    "data",
    [b"\xff\xfe{", b"{", b"[1, 2]", b'{"all_tools": 5}', b'"just text"', b"{" * 200],
    ids=["binary", "truncated", "list", "all_tools scalar", "string", "deep"],
)
def test_garbage_input_is_a_located_error_never_a_crash(data: bytes) -> None:
    with pytest.raises(PolicyValidationError) as caught:
        load_policy_bytes(data, "p.json")
    assert all(error.location.line >= 1 for error in caught.value.errors)
