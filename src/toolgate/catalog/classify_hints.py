"""MCP tool annotations as untrusted hints: they may raise a tool's class freely, but lower it
only when the tool's name agrees (a ``delete_*`` tool claiming ``readOnlyHint`` stays
destructive). Non-boolean hint values are ignored, as the spec defines only booleans.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from toolgate.catalog.model import Category, Evidence

_LOWERABLE_BY_READ_ONLY = (None, Category.OTHER, Category.READ)


@dataclass(frozen=True, slots=True)
class HintOutcome:
    category: Category | None
    evidence: tuple[Evidence, ...]
    tags: frozenset[str]


def _hints(annotations: object) -> dict[str, bool]:
    if not isinstance(annotations, Mapping):
        return {}
    names = ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")
    return {k: v for k in names if isinstance(v := annotations.get(k), bool)}


def _note(detail: str, category: Category, weight: float) -> Evidence:
    return Evidence("annotation", detail, category, weight)


def _read_only(
    value: bool, category: Category | None, name_says: Category | None
) -> tuple[Category | None, Evidence]:
    if value:
        if category in _LOWERABLE_BY_READ_ONLY or name_says is Category.READ:
            return Category.READ, _note("readOnlyHint: true", Category.READ, 0.7)
        said = name_says.value if name_says else "nothing"
        detail = f"readOnlyHint: true ignored (name says {said})"
        return category, _note(detail, Category.READ, 0.3)
    if category in _LOWERABLE_BY_READ_ONLY:
        return Category.WRITE, _note("readOnlyHint: false (raises to write)", Category.WRITE, 0.7)
    return category, _note("readOnlyHint: false", category or Category.WRITE, 0.3)


def _destructive(
    value: bool, category: Category | None, name_says: Category | None
) -> tuple[Category | None, Evidence]:
    if value:
        if category in (Category.FINANCIAL, Category.DESTRUCTIVE):
            return category, _note("destructiveHint: true", Category.DESTRUCTIVE, 0.7)
        return Category.DESTRUCTIVE, _note(
            "destructiveHint: true (raises to destructive)", Category.DESTRUCTIVE, 0.7
        )
    if category is Category.DESTRUCTIVE and name_says is not Category.DESTRUCTIVE:
        detail = "destructiveHint: false (lowers to write, name agrees)"
        return Category.WRITE, _note(detail, Category.WRITE, 0.7)
    if category is Category.DESTRUCTIVE:
        detail = "destructiveHint: false ignored (name says destructive)"
        return category, _note(detail, Category.WRITE, 0.3)
    return category, _note("destructiveHint: false", category or Category.READ, 0.1)


def apply_annotations(
    category: Category | None,
    name_says: Category | None,
    annotations: object,
    has_url_argument: bool,
) -> HintOutcome:
    """The class after the hints, with evidence for every hint seen (applied or ignored)."""
    hints = _hints(annotations)
    evidence: list[Evidence] = []
    tags: set[str] = set()
    if "readOnlyHint" in hints:
        category, note = _read_only(hints["readOnlyHint"], category, name_says)
        evidence.append(note)
    if "destructiveHint" in hints and hints.get("readOnlyHint") is not True:
        category, note = _destructive(hints["destructiveHint"], category, name_says)
        evidence.append(note)
    if hints.get("openWorldHint") is True:
        tags.add("open-world")
        if has_url_argument and category in (None, Category.OTHER, Category.READ, Category.WRITE):
            category = Category.EXECUTE
            detail = "openWorldHint: true with a URL argument (opens an external connection)"
            evidence.append(_note(detail, Category.EXECUTE, 0.6))
        else:
            evidence.append(_note("openWorldHint: true", category or Category.OTHER, 0.1))
    if hints.get("idempotentHint") is True and category in (Category.READ, Category.WRITE):
        evidence.append(_note("idempotentHint: true", category, 0.1))
    return HintOutcome(category, tuple(evidence), frozenset(tags))
