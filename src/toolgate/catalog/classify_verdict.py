"""From a decided class to the full verdict: band, score (base per class, +1 for a risk
signal, capped at 5), risk signal tags, confidence from agreement of the evidence, and the
recommended starter rule.
"""

from __future__ import annotations

from collections.abc import Iterable

from toolgate.catalog.classify_schema import SchemaReading
from toolgate.catalog.model import Band, Category, Classification, Evidence
from toolgate.catalog.vocabulary import BULK_WORDS, DATABASE_NOUNS

BANDS = {
    Category.READ: Band.LOW,
    Category.OTHER: Band.LOW,
    Category.WRITE: Band.MEDIUM,
    Category.EXECUTE: Band.HIGH,
    Category.DESTRUCTIVE: Band.CRITICAL,
    Category.FINANCIAL: Band.CRITICAL,
}
BASE_SCORES = {
    Category.READ: 1,
    Category.OTHER: 1,
    Category.WRITE: 2,
    Category.EXECUTE: 3,
    Category.DESTRUCTIVE: 4,
    Category.FINANCIAL: 5,
}
RULES = {
    Category.READ: "allow (optionally 60/minute)",
    Category.OTHER: "60/minute",
    Category.WRITE: "30/minute",
    Category.EXECUTE: "10/minute + argument validation",
    Category.DESTRUCTIVE: "deny or hide until a human approves",
}
# Tags that raise the score by one (once, however many are present).
RISK_TAGS = frozenset(
    {
        "bulk",
        "credentials",
        "path-argument",
        "code-argument",
        "query-argument",
        "url-argument",
        "database-mutation",
    }
)
_CHANGES = (Category.WRITE, Category.EXECUTE, Category.DESTRUCTIVE, Category.FINANCIAL)


def recommended_rule(category: Category, amount_args: Iterable[str] = ()) -> str:
    if category is not Category.FINANCIAL:
        return RULES[category]
    targets = ", ".join(amount_args) or "amount-like arguments"
    return f"require approval + spend caps on {targets}"


def _word_tags(category: Category, schema: SchemaReading, every_word: Iterable[str]) -> set[str]:
    """Bulk and database-mutation count only for tools that change something: reading many
    rows is not a bulk operation."""
    seen = set(every_word)
    tags: set[str] = set()
    if category in _CHANGES and not BULK_WORDS.isdisjoint(seen):
        tags.add("bulk")
    mutates = category in (Category.WRITE, Category.DESTRUCTIVE)
    if mutates and (not DATABASE_NOUNS.isdisjoint(seen) or "sql" in seen):
        tags.add("database-mutation")
    return tags


def _confidence(category: Category, evidence: Iterable[Evidence]) -> float:
    support = against = 0.0
    for item in evidence:
        if item.points_to is category:
            support += item.weight
        else:
            against += item.weight
    if support == 0:
        return 0.2
    agreement = support / (support + against)
    strength = min(1.0, 0.4 + support / 2)
    return round(max(0.05, min(0.99, agreement * strength)), 2)


def build_verdict(
    name: str,
    category: Category,
    evidence: tuple[Evidence, ...],
    schema: SchemaReading,
    every_word: tuple[str, ...],
    hint_tags: frozenset[str],
    *,
    overridden: bool,
) -> Classification:
    tags = set(schema.tags) | set(hint_tags) | _word_tags(category, schema, every_word)
    raised = not RISK_TAGS.isdisjoint(tags)
    score = min(5, BASE_SCORES[category] + (1 if raised else 0))
    return Classification(
        tool=name,
        category=category,
        band=BANDS[category],
        score=score,
        confidence=1.0 if overridden else _confidence(category, evidence),
        signals=tuple(sorted(tags)),
        evidence=evidence,
        recommended_rule=recommended_rule(category, schema.amount_args),
    )


def unclassifiable(name: object) -> Classification:
    """A tool definition too broken to read: Other, low confidence, and the reason why."""
    shown = name[:256] if isinstance(name, str) else ""
    detail = "tool has no usable name" if not shown.strip() else "tool is malformed"
    return Classification(
        tool=shown,
        category=Category.OTHER,
        band=Band.LOW,
        score=1,
        confidence=0.1,
        signals=("malformed",),
        evidence=(Evidence("name", detail, Category.OTHER, 0.1),),
        recommended_rule=RULES[Category.OTHER],
    )
