"""What a tool's input schema says: amount-like arguments (a money signal and the targets of
spend caps) and risky arguments (credentials, file-system paths, free-form code or queries,
URLs). Reads only property names and their ``format``; tolerates any shape of schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from toolgate.catalog.model import Category, Evidence
from toolgate.catalog.tokens import find_phrase, split_identifier
from toolgate.catalog.vocabulary import (
    AMOUNT_ARGS,
    CODE_ARGS,
    CREDENTIAL_ARGS,
    CREDENTIAL_PAIRS,
    MONEY_CONTEXT,
    PATH_ARGS,
    QUERY_ARGS,
    URL_ARGS,
    VALUE_ARG,
)

MAX_PROPERTIES = 200  # a schema with more is read only this far
_URL_FORMATS = frozenset({"uri", "url", "iri", "uri-reference"})


@dataclass(frozen=True, slots=True)
class SchemaReading:
    amount_args: tuple[str, ...]  # original property names, for spend caps
    code_args: tuple[str, ...]  # free-form code/command input: the tool runs something
    tags: frozenset[str]  # "credentials", "path-argument", "code-argument", ...
    evidence: tuple[Evidence, ...]  # points_to is filled in once the class is known


def _properties(schema: object) -> list[tuple[str, Mapping[str, Any]]]:
    if not isinstance(schema, Mapping):
        return []
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        return []
    found: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in list(props.items())[:MAX_PROPERTIES]:
        if isinstance(key, str):
            found.append((key, value if isinstance(value, Mapping) else {}))
    return found


def _is_amount(tokens: tuple[str, ...]) -> bool:
    if AMOUNT_ARGS.intersection(tokens):
        return True
    return VALUE_ARG in tokens and bool(MONEY_CONTEXT.intersection(tokens))


def _is_credential(key: str, tokens: tuple[str, ...]) -> bool:
    if CREDENTIAL_ARGS.intersection(tokens) or key.lower() == "token":
        return True
    return any(find_phrase(tokens, pair) >= 0 for pair in CREDENTIAL_PAIRS)


def _tags_of(key: str, spec: Mapping[str, Any]) -> list[str]:
    tokens = split_identifier(key)
    tags: list[str] = []
    if _is_amount(tokens):
        tags.append("amount-argument")
    if _is_credential(key, tokens):
        tags.append("credentials")
    if PATH_ARGS.intersection(tokens):
        tags.append("path-argument")
    if CODE_ARGS.intersection(tokens):
        tags.append("code-argument")
    if QUERY_ARGS.intersection(tokens):
        tags.append("query-argument")
    if URL_ARGS.intersection(tokens) or spec.get("format") in _URL_FORMATS:
        tags.append("url-argument")
    return tags


def read_schema(schema: object) -> SchemaReading:
    amounts: list[str] = []
    code: list[str] = []
    tags: set[str] = set()
    evidence: list[Evidence] = []
    for key, spec in _properties(schema):
        found = _tags_of(key, spec)
        if "amount-argument" in found:
            amounts.append(key)
            evidence.append(
                Evidence("schema", f'property "{key}" (amount)', Category.FINANCIAL, 0.5)
            )
        if "code-argument" in found:
            code.append(key)
            evidence.append(Evidence("schema", f'property "{key}" (code)', Category.EXECUTE, 0.5))
        for tag in found:
            if tag not in {"amount-argument", "code-argument"}:
                detail = f'property "{key}" ({tag})'
                evidence.append(Evidence("schema", detail, Category.OTHER, 0.0))
        tags.update(found)
    return SchemaReading(tuple(amounts), tuple(code), frozenset(tags), tuple(evidence))
