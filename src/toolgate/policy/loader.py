"""Loading a policy file: bytes, text, located tree, compiled `Policy`; every failure located.

The only module of the package that touches the file system. Whatever the input (binary junk, an
empty file, a list at the top level, absurd nesting), the caller gets either a `Policy` or a
`PolicyValidationError` whose errors say where and what, never a stray exception. The revision is
the first 12 hex digits of the SHA-256 of the file's bytes, so two loads of the same file agree.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NoReturn

from toolgate.errors import LocatedError, Location, PolicyError, PolicyValidationError
from toolgate.policy.intercept import compile_intercept
from toolgate.policy.json_source import parse_json
from toolgate.policy.located import MAX_BYTES, LMap, LNode, LScalar, SourceError
from toolgate.policy.model import Policy
from toolgate.policy.policylayer import compile_policylayer
from toolgate.policy.schema import ROOT
from toolgate.policy.yaml_source import parse_yaml

DOCUMENT = "(document)"
INTERCEPT, POLICYLAYER = "intercept", "policylayer"
NAMES = {INTERCEPT: "Dialect A (Intercept YAML)", POLICYLAYER: "Dialect B (PolicyLayer JSON)"}
MARKERS = {
    "rules": INTERCEPT,
    "require": POLICYLAYER,
    "deny_if": POLICYLAYER,
    "limits": POLICYLAYER,
}
SUFFIXES = (".yaml", ".yml", ".json")


def load_policy(path: Path) -> Policy:
    """Read and compile the policy at `path` (.yaml, .yml or .json)."""
    file = str(path)
    if path.suffix.lower() not in SUFFIXES:
        shown = path.suffix or path.name
        _fail(file, 1, 1, f'unsupported policy file type "{shown}" (use .yaml, .yml or .json)')
    try:
        if path.stat().st_size > MAX_BYTES:
            _fail(file, 1, 1, f"the file is larger than {MAX_BYTES} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {file}: {exc.strerror or exc}") from exc
    return load_policy_bytes(data, file)


def load_policy_bytes(data: bytes, file: str) -> Policy:
    """Compile a policy from the raw bytes of a file named `file` (its suffix picks the syntax)."""
    if len(data) > MAX_BYTES:
        _fail(file, 1, 1, f"the file is larger than {MAX_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start
        line = data.count(b"\n", 0, start) + 1
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        byte = data[start : start + 1].hex()
        _fail(file, line, column, f"the file is not UTF-8 text (invalid byte 0x{byte})")
    return _compile(text, file, _revision(data))


def load_policy_text(text: str, file: str) -> Policy:
    """Compile policy text; `file` names it in errors, and a `.json` name selects JSON syntax."""
    return _compile(text, file, _revision(text.encode("utf-8", "surrogatepass")))


def _revision(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def _compile(text: str, file: str, revision: str) -> Policy:
    text = text.removeprefix("\ufeff")  # a byte-order mark is not content, in JSON either
    try:
        root = parse_json(text) if file.lower().endswith(".json") else parse_yaml(text)
    except SourceError as exc:
        _fail(file, exc.line, exc.column, exc.message)
    if root is None or (isinstance(root, LScalar) and root.value is None):
        _fail(file, 1, 1, "the policy file is empty")
    return compile_document(root, file, revision)


def compile_document(root: LNode, file: str, revision: str) -> Policy:
    """The one place a dialect is chosen, from the document's shape (see `detect_dialect`)."""
    if detect_dialect(root, file) == POLICYLAYER:
        return compile_policylayer(root, file, revision)
    return compile_intercept(root, file, revision)


def detect_dialect(root: LNode, file: str) -> str:
    """`intercept` or `policylayer`, from the keys that only one dialect has.

    Dialect A marks itself with `rules` under a tool; Dialect B with `all_tools` at the top or
    `require`, `deny_if`, `limits` under a tool. A file with neither (only `{}` tools, say) reads
    as Dialect A: both would decide it the same way. A file with both is one error, located at
    the first marker of the dialect with fewer markers (on a tie, the one that comes second).
    """
    markers = _markers(root)
    found = {dialect for dialect, _, _ in markers}
    if len(found) < 2:
        return POLICYLAYER if POLICYLAYER in found else INTERCEPT
    counts = {d: sum(1 for m in markers if m[0] == d) for d in found}
    majority = (
        markers[0][0]
        if counts[INTERCEPT] == counts[POLICYLAYER]
        else max(found, key=counts.__getitem__)
    )
    dialect, node, path = next(m for m in markers if m[0] != majority)
    key = node.value if isinstance(node, LScalar) else "?"
    message = (
        f'"{key}" belongs to {NAMES[dialect]}, but this file is written in {NAMES[majority]}; '
        "a policy file must use one dialect"
    )
    raise PolicyValidationError(
        [LocatedError(Location(file, node.line, node.column), path, message)]
    )


def _markers(root: LNode) -> list[tuple[str, LScalar, str]]:
    """(dialect, key node, path of its holder) for every dialect-specific key, in file order."""
    found: list[tuple[str, LScalar, str]] = []
    if not isinstance(root, LMap):
        return found
    for key, value in root.entries:
        if isinstance(key, LScalar) and key.value == "all_tools":
            found.append((POLICYLAYER, key, ROOT))
        if isinstance(key, LScalar) and key.value == "tools" and isinstance(value, LMap):
            for tool, entry in value.entries:
                for inner, _ in entry.entries if isinstance(entry, LMap) else ():
                    if isinstance(inner, LScalar) and isinstance(inner.value, str):
                        dialect = MARKERS.get(inner.value)
                        if dialect is not None:
                            found.append((dialect, inner, f"tools.{_text(tool)}"))
    found.sort(key=lambda m: (m[1].line, m[1].column))
    return found


def _text(node: LNode) -> str:
    return str(node.value) if isinstance(node, LScalar) else "?"


def _fail(file: str, line: int, column: int, message: str) -> NoReturn:
    error = LocatedError(Location(file, line, column), DOCUMENT, message)
    raise PolicyValidationError([error])
