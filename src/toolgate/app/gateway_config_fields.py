"""Typed reading of gateway-file fields from the located tree, and of secret references.

Builds on the policy package's `Fields` (unknown keys with "did you mean", duplicates, strings,
choices): booleans, bounded integers and seconds, string lists, paths relative to the gateway
file, and values that may be written literally or as `{env: NAME}` / `{file: PATH}` (with an
optional `prefix`). A referenced secret is read while loading; every failure is recorded where
the reference is written, and no message ever shows a secret's value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Final, TypeVar

from toolgate.errors import ConfigError, LocatedError, Location
from toolgate.policy.located import LMap, LNode, LScalar, describe
from toolgate.policy.schema import Fields, Issues, join

T = TypeVar("T")

MAX_SECRET_FILE_BYTES: Final = 64 * 1024
SECRET_KEYS: Final = ("env", "file", "prefix")
REFERENCE_FORMS: Final = "a string, {env: NAME} or {file: PATH}"


def checked(
    issues: Issues, node: LNode, path: str, check: Callable[[str], T], text: str
) -> T | None:
    """`check(text)`, or None after recording its ConfigError at `node`."""
    try:
        return check(text)
    except ConfigError as exc:
        issues.add(node, path, str(exc))
        return None


def boolean(fields: Fields, key: str, default: bool) -> bool | None:
    node = fields.get(key)
    if node is None or (isinstance(node, LScalar) and node.value is None):
        return default
    if isinstance(node, LScalar) and isinstance(node.value, bool):
        return node.value
    fields.issues.add(node, fields.path, f"{key} must be true or false, got {describe(node)}")
    return None


def integer(fields: Fields, key: str, default: int, low: int, high: int) -> int | None:
    node = fields.get(key)
    if node is None or (isinstance(node, LScalar) and node.value is None):
        return default
    value = node.value if isinstance(node, LScalar) else None
    if isinstance(value, bool) or not isinstance(value, int):
        fields.issues.add(node, fields.path, f"{key} must be an integer, got {describe(node)}")
        return None
    if not low <= value <= high:
        fields.issues.add(node, fields.path, f"{key} must be from {low} to {high}, got {value}")
        return None
    return value


def seconds(fields: Fields, key: str, default: float, low: float, high: float) -> float | None:
    """A number of seconds (integer or decimal) within [low, high]."""
    node = fields.get(key)
    if node is None or (isinstance(node, LScalar) and node.value is None):
        return default
    value = node.value if isinstance(node, LScalar) else None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        fields.issues.add(
            node, fields.path, f"{key} must be a number of seconds, got {describe(node)}"
        )
        return None
    if isinstance(value, Decimal) and not value.is_finite():
        fields.issues.add(node, fields.path, f"{key} must be a finite number of seconds")
        return None
    if not low <= value <= high:
        fields.issues.add(node, fields.path, f"{key} must be from {low:g} to {high:g} seconds")
        return None
    return float(value)


def strings(fields: Fields, key: str) -> list[tuple[str, LScalar]] | None:
    """A list of non-empty strings with their nodes; None when absent, null or invalid."""
    seq = fields.sequence(key)
    if seq is None:
        return None
    found: list[tuple[str, LScalar]] = []
    for index, item in enumerate(seq.items):
        where = f"{join(fields.path, key)}[{index}]"
        if not isinstance(item, LScalar) or not isinstance(item.value, str):
            fields.issues.add(item, where, f"must be a string, got {describe(item)}")
        elif not item.value.strip():
            fields.issues.add(item, where, "must not be empty")
        else:
            found.append((item.value, item))
    return found if len(found) == len(seq.items) else None


def resolve_path(text: str, base: Path) -> Path:
    """`text` as a path: `~` expanded, relative paths taken from `base` (the file's directory)."""
    path = Path(text).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def path_field(fields: Fields, key: str, base: Path) -> Path | None:
    text = fields.string(key)
    if text is None:
        return None
    if not text.strip() or "\0" in text:
        fields.error(key, f"{key} must be a non-empty path")
        return None
    return resolve_path(text, base)


@dataclass(frozen=True, slots=True)
class Secret:
    """A value read from the file, the environment or a secret file."""

    value: str
    literal: bool  # written in the gateway file itself
    source: str  # for messages: 'environment variable "X"', 'file "/p"' or "the value"
    node: LNode  # where it is written: the literal, or the variable's or file's name


@dataclass(slots=True)
class Secrets:
    """Reads values that may reference the environment or a file; warns about literal ones."""

    issues: Issues
    base: Path
    environ: Mapping[str, str]
    warnings: list[LocatedError]

    def read(self, node: LNode, path: str) -> Secret | None:
        if isinstance(node, LScalar) and isinstance(node.value, str):
            return Secret(node.value, True, "the value", node)
        if not isinstance(node, LMap):
            self.issues.add(
                node, path, f"must be {REFERENCE_FORMS}, got {describe(node)}{_quote(node)}"
            )
            return None
        errors = len(self.issues.errors)
        fields = Fields(node, path, self.issues, SECRET_KEYS)
        given = [key for key in ("env", "file") if key in fields.values]
        prefix = fields.string("prefix") or ""
        if len(self.issues.errors) != errors:
            return None
        if len(given) != 1:
            which = "both" if given else "neither"
            self.issues.add(node, path, f"give exactly one of env and file ({which} given)")
            return None
        name = fields.string(given[0], required=True)
        if name is None:
            return None
        where = fields.get(given[0]) or node
        found = self._env(name, where, path) if given[0] == "env" else self._file(name, where, path)
        return None if found is None else Secret(prefix + found.value, False, found.source, where)

    def warn_literal(self, node: LNode, path: str, what: str) -> None:
        message = (
            f"{what} is a literal credential in the gateway file; prefer {{env: NAME}} or "
            "{file: PATH} so the secret stays out of the file"
        )
        self.warn(node, path, message)

    def warn(self, node: LNode, path: str, message: str) -> None:
        """Record something allowed but unwise; the caller shows warnings, start-up goes on."""
        location = Location(self.issues.file, node.line, node.column)
        self.warnings.append(LocatedError(location, path, message))

    def _env(self, name: str, node: LNode, path: str) -> Secret | None:
        source = f'environment variable "{name}"'
        if self.environ.get(name) is None:
            self.issues.add(node, path, f"{source} is not set")
            return None
        value = self.environ[name]
        if not value:
            self.issues.add(node, path, f"{source} is empty")
            return None
        return Secret(value, False, source, node)

    def _file(self, name: str, node: LNode, path: str) -> Secret | None:
        file = resolve_path(name, self.base)
        source = f'secret file "{file}"'
        try:
            with file.open("rb") as handle:
                data = handle.read(MAX_SECRET_FILE_BYTES + 1)
        except OSError as exc:
            self.issues.add(node, path, f"cannot read {source}: {exc.strerror or exc}")
            return None
        if len(data) > MAX_SECRET_FILE_BYTES:
            self.issues.add(node, path, f"{source} is larger than {MAX_SECRET_FILE_BYTES} bytes")
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.issues.add(node, path, f"{source} is not UTF-8 text")
            return None
        text = text.removesuffix("\n").removesuffix("\r") if text.endswith("\n") else text
        if not text:
            self.issues.add(node, path, f"{source} is empty")
            return None
        return Secret(text, False, source, node)


def _quote(node: LNode) -> str:
    """A hint for a number or boolean that was meant as text."""
    if isinstance(node, LScalar) and node.value is not None and not isinstance(node.value, str):
        return " (quote it to make it a string)"
    return ""
