"""The tool risk classifier: ``classify_tool(tool, override)`` -> Classification. Pure and
deterministic; it combines the signals strongest first (policy override, then the name read
with the description and schema, then MCP annotations as untrusted hints) and never raises on
a malformed tool definition.

    verdict = classify_tool({"name": "BinancePutUserDataStream", "description": "..."})
    verdict.category, verdict.score, verdict.recommended_rule   # write, 2, "30/minute"
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from toolgate.catalog.classify_hints import apply_annotations
from toolgate.catalog.classify_schema import SchemaReading, read_schema
from toolgate.catalog.classify_verdict import build_verdict, unclassifiable
from toolgate.catalog.classify_words import Reading, read_description, read_name
from toolgate.catalog.model import Category, Classification, Evidence
from toolgate.catalog.tokens import find_phrase, split_identifier, words
from toolgate.catalog.vocabulary import EPHEMERAL_PHRASES, MONEY_CONTEXT

__all__ = ["classify_tool", "parse_override"]

_READISH = (None, Category.OTHER, Category.READ)


def parse_override(override: str | None) -> Category | None:
    """The category a policy's ``classify:`` entry names ("Write", "financial"), or None."""
    if not isinstance(override, str):
        return None
    wanted = override.strip().lower()
    return next((c for c in Category if c.value == wanted), None)


def classify_tool(tool: Mapping[str, Any], override: str | None = None) -> Classification:
    """Classify one tool definition as listed by ``tools/list``."""
    name = tool.get("name") if isinstance(tool, Mapping) else None
    if not isinstance(name, str) or not name.strip():
        return unclassifiable(name)
    raw_description = tool.get("description")
    description = raw_description if isinstance(raw_description, str) else ""
    schema = read_schema(tool.get("inputSchema"))
    every_word = split_identifier(name) + words(description)
    money_context = bool(schema.amount_args) or not MONEY_CONTEXT.isdisjoint(every_word)
    name_reading = read_name(name, money_context)
    description_reading = read_description(description, money_context)
    category, evidence = _decide(name_reading, description_reading, schema, every_word)
    hints = apply_annotations(
        category, name_reading.verdict, tool.get("annotations"), "url-argument" in schema.tags
    )
    category = hints.category or Category.OTHER
    evidence += hints.evidence
    forced = parse_override(override)
    if forced is not None:
        detail = f'policy classify: "{override}"'
        evidence = (Evidence("override", detail, forced, 1.0), *evidence)
    elif override is not None:
        detail = f'policy classify: "{override}" ignored (not a category)'
        evidence = (Evidence("override", detail, category, 0.0), *evidence)
    final = forced or category
    evidence = tuple(
        dataclasses.replace(e, points_to=final) if e.weight == 0 else e for e in evidence
    )
    return build_verdict(
        name,
        final,
        evidence,
        schema,
        every_word,
        hints.tags,
        overridden=forced is not None,
    )


def _decide(
    name: Reading, description: Reading, schema: SchemaReading, every_word: tuple[str, ...]
) -> tuple[Category | None, tuple[Evidence, ...]]:
    """The class from words and schema, before annotations; with the evidence it rests on."""
    evidence = [*name.evidence, *description.evidence, *schema.evidence]
    category = _base(name, description)
    if category in (Category.WRITE, Category.EXECUTE):
        money_noun = not name.from_verb and bool(name.financial_terms)
        if money_noun or description.financial_object or schema.amount_args:
            category = Category.FINANCIAL
    if category is Category.DESTRUCTIVE and _ephemeral(every_word):
        category = Category.WRITE
        detail = "ephemeral object (listen key / session): a new one can be requested"
        evidence.append(Evidence("description", detail, Category.WRITE, 0.6))
    weak_money_name = name.verdict is Category.FINANCIAL and not name.from_verb
    if weak_money_name and Category.FINANCIAL in description.phrases and category in _READISH:
        category = Category.FINANCIAL  # two sources say money moves: financial beats read
    for raised in description.phrases:
        if _phrase_raises(raised, category):
            category = raised
    if schema.code_args and category in (None, Category.READ):
        category = Category.EXECUTE
    return category, tuple(evidence)


def _base(name: Reading, description: Reading) -> Category | None:
    """A verb in the name decides; otherwise the description's leading verb does, and a
    verb-less name (a listing noun, a money term) decides only when the description is silent."""
    if name.from_verb or description.verdict is None:
        return name.verdict
    return description.verdict


def _phrase_raises(raised: Category, category: Category | None) -> bool:
    if raised is Category.EXECUTE:
        return category in (None, Category.READ, Category.WRITE)
    if raised is Category.DESTRUCTIVE:
        return category is Category.WRITE
    return False


def _ephemeral(every_word: tuple[str, ...]) -> bool:
    return any(find_phrase(every_word, phrase) >= 0 for phrase in EPHEMERAL_PHRASES)
