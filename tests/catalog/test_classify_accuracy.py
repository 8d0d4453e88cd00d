"""The classifier against hand-labelled tools: the Binance fixture (156 tools) and the
reference MCP servers (everything, filesystem, time, git, fetch). Writes nothing; on failure it
prints the per-class precision/recall table and every miss.

Regenerate the table in docs/classification.md by hand from ``pytest -s`` output of
``test_print_the_accuracy_table``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from toolgate.catalog.classify import classify_tool
from toolgate.catalog.model import Category

LABELS = Path(__file__).resolve().parent / "labels"
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FIXTURE = SHARED / "fixtures" / "binance-termix-tools.json"
RISKY = {Category.FINANCIAL, Category.DESTRUCTIVE}


@dataclass(frozen=True)
class Outcome:
    tool: str
    expected: Category
    got: Category


def _shared_fixture() -> list[Mapping[str, Any]]:
    if not FIXTURE.exists():
        message = f"shared fixture {FIXTURE} is absent"
        if os.environ.get("TOOLGATE_REQUIRE_E2E"):
            pytest.fail(message)
        pytest.skip(message)
    tools: list[Mapping[str, Any]] = json.loads(FIXTURE.read_text())["tools"]
    return tools


def _binance() -> list[tuple[Mapping[str, Any], Category]]:
    tools = _shared_fixture()
    labels = yaml.safe_load((LABELS / "binance.yaml").read_text())["tools"]
    by_name = {entry["name"]: Category(entry["label"]) for entry in labels}
    assert set(by_name) == {tool["name"] for tool in tools}, "every fixture tool is labelled"
    return [(tool, by_name[tool["name"]]) for tool in tools]


def _reference() -> list[tuple[Mapping[str, Any], Category]]:
    data = yaml.safe_load((LABELS / "reference.yaml").read_text())
    return [
        (entry["definition"], Category(entry["label"]))
        for server in data["servers"]
        for entry in server["tools"]
    ]


def _evaluate(labelled: Iterable[tuple[Mapping[str, Any], Category]]) -> list[Outcome]:
    return [Outcome(tool["name"], want, classify_tool(tool).category) for tool, want in labelled]


def table(outcomes: list[Outcome]) -> str:
    """Accuracy, per-class precision/recall, the confusion pairs and every miss, as text."""
    right = sum(o.expected is o.got for o in outcomes)
    lines = [f"tools {len(outcomes)}  correct {right}  accuracy {right / len(outcomes):.3f}"]
    lines.append(f"{'class':<12}{'labelled':>9}{'predicted':>10}{'precision':>10}{'recall':>8}")
    for category in Category:
        labelled = sum(o.expected is category for o in outcomes)
        predicted = sum(o.got is category for o in outcomes)
        hits = sum(o.expected is category and o.got is category for o in outcomes)
        precision = f"{hits / predicted:.3f}" if predicted else "-"
        recall = f"{hits / labelled:.3f}" if labelled else "-"
        lines.append(f"{category.value:<12}{labelled:>9}{predicted:>10}{precision:>10}{recall:>8}")
    confusion = Counter(
        (o.expected.value, o.got.value) for o in outcomes if o.expected is not o.got
    )
    for (want, got), count in sorted(confusion.items()):
        lines.append(f"confusion: labelled {want}, classified {got}: {count}")
    lines.extend(
        f"miss: {o.tool}: labelled {o.expected.value}, classified {o.got.value}"
        for o in outcomes
        if o.expected is not o.got
    )
    return "\n".join(lines)


def _assert_good_enough(outcomes: list[Outcome]) -> None:
    accuracy = sum(o.expected is o.got for o in outcomes) / len(outcomes)
    hidden = [o for o in outcomes if o.expected in RISKY and o.got is Category.READ]
    assert accuracy >= 0.90 and not hidden, "\n" + table(outcomes)


def test_binance_fixture_is_classified_at_least_90_percent_right() -> None:
    _assert_good_enough(_evaluate(_binance()))


def test_reference_servers_are_classified_at_least_90_percent_right() -> None:
    _assert_good_enough(_evaluate(_reference()))


def test_no_labelled_financial_or_destructive_tool_is_classified_read() -> None:
    outcomes = _evaluate(_reference()) + _evaluate(_binance())
    hidden = [o for o in outcomes if o.expected in RISKY and o.got is Category.READ]
    assert not hidden, "\n" + table(outcomes)


def test_every_label_carries_a_reason() -> None:
    binance = yaml.safe_load((LABELS / "binance.yaml").read_text())["tools"]
    reference = yaml.safe_load((LABELS / "reference.yaml").read_text())["servers"]
    entries = [*binance, *(entry for server in reference for entry in server["tools"])]
    assert all(isinstance(e.get("reason"), str) and e["reason"].strip() for e in entries)
    assert all(Category(e["label"]) for e in entries)


def test_print_the_accuracy_table(capsys: pytest.CaptureFixture[str]) -> None:
    outcomes = _evaluate(_binance()) + _evaluate(_reference())
    text = table(outcomes)
    with capsys.disabled():
        print("\n" + text)
    assert text.startswith(f"tools {len(outcomes)}")
