"""Turning tool names and descriptions into whole lower-case tokens: identifier splitting
(camelCase, snake_case, kebab-case, dots, acronyms), vendor-prefix stripping, sentence and
phrase helpers. Pure string work, bounded in size so hostile input costs little.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from toolgate.catalog.vocabulary import GENERATED_PREFIXES, VENDOR_PREFIXES

MAX_NAME_CHARS = 256  # longer names are cut: a real tool name is far shorter
MAX_TEXT_CHARS = 2000  # descriptions: only the opening matters to the classifier

_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")
_LOWER_UPPER = re.compile(r"([a-z])([A-Z])")
_ACRONYM_END = re.compile(r"([A-Z0-9])([A-Z][a-z])")  # "TWAPOrder" -> "TWAP Order"
_WORDS = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)|\n")


def split_identifier(name: str) -> tuple[str, ...]:
    """``BinancePutUserDataStream`` -> binance/put/user/data/stream; ``kv_namespace-delete.v2``
    -> kv/namespace/delete/v2; ``GetC2CTradeHistory`` -> get/c2c/trade/history."""
    tokens: list[str] = []
    for chunk in _SEPARATORS.split(name[:MAX_NAME_CHARS]):
        if not chunk:
            continue
        spaced = _ACRONYM_END.sub(r"\1 \2", _LOWER_UPPER.sub(r"\1 \2", chunk))
        tokens.extend(part.lower() for part in spaced.split())
    return tuple(tokens)


def strip_vendor(tokens: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(meaningful tokens, stripped prefix): drops leading vendor names (``binance``, ``bn``) and
    generator artefacts (``register`` before a vendor name). Never strips every token."""
    index = 0
    while index < len(tokens) - 1:
        token = tokens[index]
        if token in VENDOR_PREFIXES or (
            token in GENERATED_PREFIXES and tokens[index + 1] in VENDOR_PREFIXES
        ):
            index += 1
            continue
        break
    return tuple(tokens[index:]), tuple(tokens[:index])


def words(text: str) -> tuple[str, ...]:
    """Lower-case word tokens of free text ("keep-alive" -> keep/alive)."""
    return tuple(_WORDS.findall(text[:MAX_TEXT_CHARS].lower()))


def first_sentence(text: str) -> str:
    """The description's opening sentence, where tools say what they do."""
    head = text[:MAX_TEXT_CHARS].strip()
    match = _SENTENCE_END.search(head)
    return head[: match.start()] if match else head


def verb_forms(word: str) -> tuple[str, ...]:
    """Candidate base forms of a description verb, most literal first: "retrieves" gives
    retrieve, "fetches" gives fetch, "applies" gives apply (plus harmless non-words)."""
    forms = [word]
    if word.endswith("ies") and len(word) > 4:
        forms.append(word[:-3] + "y")
    if word.endswith("es") and len(word) > 3:
        forms.append(word[:-2])
    if word.endswith("s") and len(word) > 2:
        forms.append(word[:-1])
    return tuple(forms)


def find_phrase(tokens: Sequence[str], phrase: Sequence[str]) -> int:
    """Index of the first occurrence of ``phrase`` as consecutive whole tokens, or -1."""
    size = len(phrase)
    for index in range(len(tokens) - size + 1):
        if tuple(tokens[index : index + size]) == tuple(phrase):
            return index
    return -1
