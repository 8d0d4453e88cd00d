"""Reading the located tree as records: error collection, known keys, typed fields.

Validation never stops at the first problem: every check records a `LocatedError` in `Issues`
and returns None, so one pass reports everything. Paths look like
`tools.create_refund.rules[2].conditions[0]`; an error about a field is reported on the object
that holds it and located at the field's value.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from toolgate.errors import LocatedError, Location
from toolgate.policy.located import LMap, LNode, LScalar, LSeq, describe

ROOT = "(root)"


class Issues:
    """The errors found so far in one file."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[LocatedError] = []

    def add(self, node: LNode, path: str, message: str) -> None:
        self.at(node.line, node.column, path, message)

    def sorted(self) -> list[LocatedError]:
        """The errors in file order (stable, so errors at one spot keep their order)."""
        return sorted(self.errors, key=lambda e: (e.location.line, e.location.column))

    def at(self, line: int, column: int, path: str, message: str) -> None:
        location = Location(self.file, line, column)
        self.errors.append(LocatedError(location, path or ROOT, message))


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def suggestion(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def quoted(choices: Sequence[str]) -> str:
    return ", ".join(f'"{choice}"' for choice in choices)


class Fields:
    """A mapping read as a record: unknown, duplicate and non-string keys are reported once."""

    def __init__(self, node: LMap, path: str, issues: Issues, allowed: Sequence[str]) -> None:
        self.node = node
        self.path = path
        self.issues = issues
        self.values: dict[str, LNode] = {}
        keys: dict[str, LNode] = {}
        for key_node, value in node.entries:
            if not isinstance(key_node, LScalar) or not isinstance(key_node.value, str):
                issues.add(key_node, path, f"keys must be strings, got {describe(key_node)}")
                continue
            key = key_node.value
            if key in keys:
                first = keys[key]
                issues.add(
                    key_node,
                    path,
                    f'duplicate key "{key}" (first given at line {first.line}, '
                    f"column {first.column})",
                )
            elif key not in allowed:
                issues.add(key_node, path, f'unknown key "{key}"{suggestion(key, allowed)}')
            else:
                keys[key] = key_node
                self.values[key] = value

    def get(self, key: str) -> LNode | None:
        return self.values.get(key)

    def present(self, key: str) -> bool:
        """Given with a non-null value."""
        node = self.values.get(key)
        return node is not None and not (isinstance(node, LScalar) and node.value is None)

    def require(self, key: str) -> LNode | None:
        node = self.values.get(key)
        if node is None:
            self.issues.add(self.node, self.path, f'missing required key "{key}"')
        return node

    def error(self, key: str, message: str) -> None:
        self.issues.add(self.values.get(key) or self.node, self.path, message)

    def string(self, key: str, *, required: bool = False) -> str | None:
        """A string field; empty strings are reported for required fields."""
        node = self.require(key) if required else self.values.get(key)
        if node is None or (not required and isinstance(node, LScalar) and node.value is None):
            return None
        if not isinstance(node, LScalar) or not isinstance(node.value, str):
            self.issues.add(node, self.path, f"{key} must be a string, got {describe(node)}")
            return None
        if required and not node.value.strip():
            self.issues.add(node, self.path, f"{key} must not be empty")
            return None
        return node.value

    def choice(self, key: str, choices: Sequence[str], default: str | None) -> str | None:
        """One of `choices`, or None after reporting it invalid.

        When absent or null: `default`, or, if `default` is None, a "required" error.
        """
        if not self.present(key):
            if default is None:
                hint = f" (one of {quoted(choices)})"
                if key in self.values:
                    self.error(key, f"{key} must not be null{hint}")
                else:
                    self.issues.add(self.node, self.path, f'missing required key "{key}"{hint}')
            return default
        value = self.string(key)
        if value is None:
            return None
        if value not in choices:
            hint = suggestion(value, choices)
            self.error(key, f'{key} must be one of {quoted(choices)}, got "{value}"{hint}')
            return None
        return value

    def mapping(self, key: str, *, required: bool = False) -> LMap | None:
        node = self.require(key) if required else self.values.get(key)
        if node is None or (isinstance(node, LScalar) and node.value is None and not required):
            return None
        if not isinstance(node, LMap):
            self.issues.add(node, self.path, f"{key} must be a mapping, got {describe(node)}")
            return None
        return node

    def sequence(self, key: str) -> LSeq | None:
        """A list field; absent or null reads as None."""
        node = self.values.get(key)
        if node is None or (isinstance(node, LScalar) and node.value is None):
            return None
        if not isinstance(node, LSeq):
            self.issues.add(node, self.path, f"{key} must be a list, got {describe(node)}")
            return None
        return node
