"""What a tool's words say: the reading of its name (verbs, listing nouns, money terms, the
object it acts on) and of its description (leading verb, its object, telling phrases).

Names are read token by token, every token, never by substring: ``kv_namespace_delete`` is
a delete although its first word is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from toolgate.catalog.model import Category, Evidence
from toolgate.catalog.tokens import (
    find_phrase,
    first_sentence,
    split_identifier,
    strip_vendor,
    verb_forms,
    words,
)
from toolgate.catalog.vocabulary import (
    CONDITIONAL_FINANCIAL_TERMS,
    DESCRIPTION_PHRASES,
    DESCRIPTION_READ_VERBS,
    DETERMINERS,
    FINANCIAL_TERMS,
    OBJECT_STOPS,
    OPEN_OBJECTS,
    READ_NOUNS,
    STRONG_VERBS,
    word_set,
)

RANK = {
    Category.OTHER: 0,
    Category.READ: 1,
    Category.WRITE: 2,
    Category.EXECUTE: 3,
    Category.DESTRUCTIVE: 4,
    Category.FINANCIAL: 5,
}
_MONEY_VERBS = word_set(
    "withdraw transfer buy sell pay borrow repay lend redeem stake unstake swap purchase invest "
    "refund charge deposit"
)
_MAX_OBJECT_WORDS = 6
_OPEN = "open"


@dataclass(frozen=True, slots=True)
class Reading:
    """One source's opinion: a class (or none), whether it comes from a verb, the evidence."""

    verdict: Category | None
    from_verb: bool
    financial_object: bool
    financial_terms: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    phrases: tuple[Category, ...] = ()  # classes named by telling description phrases


def is_financial(token: str, money_context: bool) -> bool:
    base = token[:-1] if token.endswith("s") and token[:-1] in FINANCIAL_TERMS else token
    if base in FINANCIAL_TERMS:
        return True
    return money_context and base in CONDITIONAL_FINANCIAL_TERMS


def _name_verbs(tokens: Sequence[str]) -> list[tuple[str, Category]]:
    found: list[tuple[str, Category]] = []
    for index, token in enumerate(tokens):
        if token in STRONG_VERBS:
            found.append((token, STRONG_VERBS[token]))
        elif token == _OPEN and index + 1 < len(tokens) and tokens[index + 1] in OPEN_OBJECTS:
            found.append((token, Category.EXECUTE))
    return found


def _head(tokens: Sequence[str]) -> str | None:
    """The object a name acts on: its last token that is neither a verb nor a version."""
    for token in reversed(tokens):
        if token in STRONG_VERBS or token.isdigit() or (token[0] == "v" and token[1:].isdigit()):
            continue
        return token
    return None


def read_name(name: str, money_context: bool) -> Reading:
    tokens, _ = strip_vendor(split_identifier(name))
    money = tuple(t for t in tokens if is_financial(t, money_context))
    verbs = _name_verbs(tokens)
    head = _head(tokens)
    head_is_money = head is not None and is_financial(head, money_context)

    def says(category: Category, detail: str, weight: float) -> Evidence:
        return Evidence("name", detail, category, weight)

    if verbs:
        destructive = [v for v in verbs if v[1] is Category.DESTRUCTIVE]
        if destructive:
            verb = destructive[0][0]
            return Reading(
                Category.DESTRUCTIVE,
                True,
                head_is_money,
                money,
                (says(Category.DESTRUCTIVE, f'name token "{verb}"', 0.9),),
            )
        if verbs[0][1] is Category.READ:
            ev = says(Category.READ, f'name token "{verbs[0][0]}"', 0.9)
            return Reading(Category.READ, True, False, money, (ev,))
        verb, category = max((v for v in verbs if v[1] is not Category.READ), key=_rank_of)
        evidence = [says(category, f'name token "{verb}"', 0.9)]
        if head_is_money:
            evidence.append(says(Category.FINANCIAL, f'name object "{head}"', 0.8))
            category = Category.FINANCIAL
        return Reading(category, True, head_is_money, money, tuple(evidence))
    listing = [t for t in tokens if t in READ_NOUNS]
    if listing:
        ev = says(Category.READ, f'name noun "{listing[0]}" (a listing or lookup)', 0.6)
        return Reading(Category.READ, False, False, money, (ev,))
    if head is not None and head.endswith("s") and is_financial(head[:-1], money_context):
        ev = says(Category.READ, f'name noun "{head}" (plural: a listing)', 0.6)
        return Reading(Category.READ, False, False, money, (ev,))
    if money:
        ev = says(Category.FINANCIAL, f'name token "{money[0]}" (money term, no verb)', 0.4)
        return Reading(Category.FINANCIAL, False, head_is_money, money, (ev,))
    return Reading(None, False, False, money, ())


def _rank_of(verb: tuple[str, Category]) -> int:
    return RANK[verb[1]]


def _description_verb(token: str, money_context: bool) -> Category | None:
    for form in verb_forms(token):
        if form == "new":  # "a new order": an adjective in prose
            return None
        if form in STRONG_VERBS:
            return STRONG_VERBS[form]
        if form in DESCRIPTION_READ_VERBS:
            return Category.READ
        if form in _MONEY_VERBS or (money_context and form in CONDITIONAL_FINANCIAL_TERMS):
            return Category.FINANCIAL
    return None


def _object_head(sentence: Sequence[str], start: int, money_context: bool) -> str | None:
    index = start
    while index + 1 < len(sentence) and sentence[index] == "and":
        if _description_verb(sentence[index + 1], money_context) is None:
            break
        index += 2
    phrase: list[str] = []
    for token in sentence[index:]:
        if token in OBJECT_STOPS or len(phrase) >= _MAX_OBJECT_WORDS:
            break
        if not phrase and token in DETERMINERS:
            continue
        phrase.append(token)
    return phrase[-1] if phrase else None


def _money_purpose(text: Sequence[str], money_context: bool) -> str | None:
    """The money verb in a "to <verb>" purpose clause ("the amount of hashrate to transfer")."""
    for index in range(len(text) - 1):
        if text[index] == "to" and _description_verb(text[index + 1], money_context) is (
            Category.FINANCIAL
        ):
            return text[index + 1]
    return None


def read_description(text: str, money_context: bool) -> Reading:
    sentence = words(first_sentence(text))
    evidence: list[Evidence] = []
    verdict: Category | None = None
    financial_object = False
    for index, token in enumerate(sentence):
        category = _description_verb(token, money_context)
        if category is None:
            continue
        verdict = category
        evidence.append(Evidence("description", f'description "{token}"', category, 0.6))
        head = _object_head(sentence, index + 1, money_context)
        changes = category in (Category.WRITE, Category.EXECUTE)
        if changes and head is not None and is_financial(head, money_context):
            financial_object = True
            verdict = Category.FINANCIAL
            detail = f'description object "{head}"'
            evidence.append(Evidence("description", detail, Category.FINANCIAL, 0.6))
        break
    every_word = words(text)
    phrases: list[Category] = []
    purpose = _money_purpose(every_word, money_context)
    if purpose is not None:
        phrases.append(Category.FINANCIAL)
        detail = f'description "to {purpose}" (a money action is the purpose)'
        evidence.append(Evidence("description", detail, Category.FINANCIAL, 0.5))
    for phrase, category, label in DESCRIPTION_PHRASES:
        if find_phrase(every_word, phrase) >= 0:
            phrases.append(category)
            evidence.append(Evidence("description", f'description "{label}"', category, 0.5))
    return Reading(
        verdict, verdict is not None, financial_object, (), tuple(evidence), tuple(phrases)
    )
