"""Golden table for the `resources:` and `prompts:` sections: most restrictive entry wins."""

from __future__ import annotations

import pytest

from tests.policy.policy_cases import errors_of, policy
from toolgate.policy import load_policy_text
from toolgate.policy.surfaces import Access

SECTIONS = """
resources:
  allow: ["file:///project/*"]
  deny: ["file:///project/secrets/*", "file:///etc/*"]
  hide: ["test://static/resource/2"]
prompts:
  default: deny
  allow: ["simple_*", "complex_prompt"]
  hide: [complex_prompt]
tools: {}
"""

RESOURCES = [
    ("allowed-by-glob", "file:///project/readme.md", Access.ALLOW, "resources.allow[0]"),
    ("deny-beats-allow", "file:///project/secrets/key", Access.DENY, "resources.deny[0]"),
    ("star-crosses-slashes", "file:///etc/ssl/certs/x", Access.DENY, "resources.deny[1]"),
    ("hidden-exactly", "test://static/resource/2", Access.HIDE, "resources.hide[0]"),
    ("glob-is-whole-uri", "test://static/resource/20", Access.ALLOW, "resources.default"),
    ("default-allow", "https://example.com/", Access.ALLOW, "resources.default"),
]


@pytest.mark.parametrize(
    ("uri", "access", "rule"), [c[1:] for c in RESOURCES], ids=[c[0] for c in RESOURCES]
)
def test_a_resource_uri_gets_the_most_restrictive_matching_access(
    uri: str, access: Access, rule: str
) -> None:
    resources = policy(SECTIONS).resources
    assert resources is not None
    assert (resources.access(uri), resources.rule_id(uri)) == (access, rule)


PROMPTS = [
    ("allowed-by-glob", "simple_prompt", Access.ALLOW),
    ("hide-beats-allow", "complex_prompt", Access.HIDE),
    ("default-deny", "resource_prompt", Access.DENY),
]


@pytest.mark.parametrize(("name", "access"), [c[1:] for c in PROMPTS], ids=[c[0] for c in PROMPTS])
def test_a_prompt_name_gets_the_most_restrictive_matching_access(name: str, access: Access) -> None:
    prompts = policy(SECTIONS).prompts
    assert prompts is not None and prompts.access(name) is access


def test_a_policy_without_the_sections_polices_neither() -> None:
    compiled = policy("tools: {}\n")
    assert compiled.resources is None and compiled.prompts is None


def test_the_policylayer_dialect_takes_the_same_sections() -> None:
    text = '{"version": "1", "default": "allow", "tools": {}, "prompts": {"hide": ["x*"]}}'
    prompts = load_policy_text(text, "p.json").prompts
    assert prompts is not None and prompts.access("xy") is Access.HIDE


ERRORS = [
    ("unknown-key", "resources: {hidden: [a]}", "resources", 'unknown key "hidden"'),
    ("bad-default", "prompts: {default: block}", "prompts", "default must be one of"),
    ("entry-not-string", "resources: {deny: [1]}", "resources.deny[0]", "non-empty glob string"),
    ("entry-empty", "prompts: {hide: ['']}", "prompts.hide[0]", "non-empty glob string"),
    ("not-a-list", "prompts: {allow: x}", "prompts", "allow must be a list"),
]


@pytest.mark.parametrize(
    ("section", "where", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_section_errors_are_located(section: str, where: str, message: str) -> None:
    [error] = errors_of(f"{section}\ntools: {{}}\n")
    assert error.path == where and message in error.message
