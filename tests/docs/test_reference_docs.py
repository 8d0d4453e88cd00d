"""docs/policy-reference.md: generated, up to date, complete, and every example a valid policy."""

from __future__ import annotations

import pytest

from tests.docs._gen import ROOT
from toolgate.policy import reference
from toolgate.policy.loader import load_policy_text

EXAMPLES = reference.examples()
DIALECTS = {reference.A: "intercept", reference.B: "policylayer"}


def test_the_committed_reference_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "policy-reference.md").read_text(encoding="utf-8")
    assert committed == reference.render_reference(), (
        "docs/policy-reference.md is stale: run .venv/bin/python docs/gen_reference.py"
    )


def test_every_accepted_key_is_documented_and_every_documented_key_accepted() -> None:
    assert reference.coverage_problems() == []


@pytest.mark.parametrize(("where", "name", "text"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_every_example_is_a_valid_policy_that_uses_its_key(
    where: str, name: str, text: str
) -> None:
    policy = load_policy_text(text, name)
    section_id, _, key = where.partition(".")
    section = next(s for s in reference.SECTIONS if s.id == section_id)
    if section.dialect in DIALECTS:
        assert policy.dialect == DIALECTS[section.dialect]
    if key:
        assert key in text


def test_every_section_and_key_is_rendered_once() -> None:
    text = reference.render_reference()
    for section in reference.SECTIONS:
        assert text.count(f'<a id="{section.id}"></a>') == 1
        for key in section.keys:
            assert text.count(f'<a id="{section.id}-{key.name}"></a>') == 1


def test_a_key_missing_from_the_docs_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    first = reference.SECTIONS[0]
    trimmed = reference.Section(
        first.id, first.title, first.dialect, first.intro, first.accepted, first.keys[1:]
    )
    monkeypatch.setattr(reference, "SECTIONS", (trimmed, *reference.SECTIONS[1:]))
    assert reference.coverage_problems() == [
        f"{first.id}: {first.keys[0].name!r} is accepted but not documented"
    ]
