"""Reading fact paths: `identity.*`, `tool.risk|category` and `time.hour|minute|weekday`.

`identity.name` is the caller's identity (missing when the gateway has none); any other
`identity.<attribute>` reads the identity's attributes from the facts. Time is UTC from the
injected clock (`facts.now`): `time.hour` 0-23, `time.minute` 0-59, `time.weekday` 0 = Monday
... 6 = Sunday (as Python's `weekday()` and ISO minus one).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from toolgate.policy.classify import Classifier
from toolgate.policy.facts import CallFacts
from toolgate.policy.paths import MISSING, FactPath

FactReader = Callable[[CallFacts], object]


def fact_reader(path: FactPath, classifier: Classifier) -> FactReader:
    if path.root == "identity":
        return _identity_reader(path.name)
    if path.root == "tool":
        lookup = classifier.category_of if path.name == "category" else classifier.risk_of
        return lambda facts: _or_missing(lookup(facts.tool, facts.tool_classification))
    return _time_reader(path.name)


def _identity_reader(name: str) -> FactReader:
    if name == "name":
        return lambda facts: _or_missing(facts.identity)
    return lambda facts: facts.identity_attributes.get(name, MISSING)


def _time_reader(name: str) -> FactReader:
    def read(facts: CallFacts) -> object:
        moment = datetime.fromtimestamp(facts.now, tz=UTC)
        if name == "hour":
            return moment.hour
        if name == "minute":
            return moment.minute
        return moment.weekday()

    return read


def _or_missing(value: str | None) -> object:
    return MISSING if value is None else value
