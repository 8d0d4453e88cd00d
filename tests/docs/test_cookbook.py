"""docs/cookbook.md: every policy loads, and every explain run shows what explain really prints."""

from __future__ import annotations

import re

import pytest

from tests.docs._gen import ROOT, load_generator
from toolgate.policy.loader import load_policy_text

GEN = load_generator()
TEXT = (ROOT / "docs" / "cookbook.md").read_text(encoding="utf-8")
FILES = GEN.policy_files(TEXT)
RUNS = [pair for _, pairs in GEN.explain_commands(TEXT) for pair in pairs]


def test_the_cookbook_has_its_five_recipes() -> None:
    assert len(FILES) == 5
    assert len(RUNS) >= 5
    named = {re.search(r"-c (\S+)", command).group(1) for command, _ in RUNS}  # type: ignore[union-attr]
    assert named == set(FILES)


def test_every_policy_block_is_a_valid_policy() -> None:
    policy_blocks = [b for b in GEN.blocks(TEXT) if b.lang in ("yaml", "json")]
    assert len(policy_blocks) == len(FILES)  # every policy block names its file
    for name, body in FILES.items():
        load_policy_text(body, name)


@pytest.mark.parametrize(("command", "shown"), RUNS, ids=[f"run{i}" for i in range(len(RUNS))])
def test_every_explain_run_prints_what_the_cookbook_shows(command: str, shown: str) -> None:
    printed = GEN.run_explain(command, FILES)
    decision = re.match(r"decision: (\w+)", shown)
    assert decision is not None
    assert printed.splitlines()[0].startswith(f"decision: {decision.group(1)} ")
    assert printed == shown
