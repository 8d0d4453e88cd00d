"""Regenerate docs/policy-reference.md and the explain outputs shown in docs/cookbook.md.

    .venv/bin/python docs/gen_reference.py            # write both
    .venv/bin/python docs/gen_reference.py --check    # exit 1 when either is out of date

The reference is rendered from `toolgate.policy.reference` (the single source of the key
documentation). In the cookbook, a policy block whose first line is `# file: NAME` is written to a
scratch directory, and every `$ toolgate explain -c NAME ...` line of a `console` block is run
there (counters read as 0, wide output); the lines after it, up to the next `$` line or the end of
the block, are replaced by what the command printed. The tests use the same functions.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from toolgate.policy.reference import coverage_problems, render_reference

DOCS = Path(__file__).resolve().parent
REFERENCE = DOCS / "policy-reference.md"
COOKBOOK = DOCS / "cookbook.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.DOTALL | re.MULTILINE)
FILE_LINE = re.compile(r"#\s*file:\s*(\S+)\s*\n")


@dataclass(frozen=True)
class Block:
    lang: str
    body: str
    start: int  # offset of the body in the document
    end: int


def blocks(text: str) -> list[Block]:
    return [Block(m.group(1), m.group(2), m.start(2), m.end(2)) for m in FENCE.finditer(text)]


def policy_files(text: str) -> dict[str, str]:
    """NAME -> policy text of every `# file: NAME` block."""
    files: dict[str, str] = {}
    for block in blocks(text):
        match = FILE_LINE.match(block.body)
        if block.lang in ("yaml", "json") and match:
            files[match.group(1)] = block.body
    return files


def explain_commands(text: str) -> list[tuple[Block, list[tuple[str, str]]]]:
    """Each console block with its (command line, shown output) pairs."""
    found = []
    for block in blocks(text):
        if block.lang != "console" or "$ toolgate explain" not in block.body:
            continue
        pairs: list[tuple[str, str]] = []
        for chunk in re.split(r"^(?=\$ )", block.body, flags=re.MULTILINE):
            if chunk.startswith("$ "):
                command, _, output = chunk.partition("\n")
                pairs.append((command[2:], output))
        found.append((block, pairs))
    return found


def run_explain(command: str, files: dict[str, str], python: str = sys.executable) -> str:
    """What `command` (`toolgate explain ...`) prints on stdout, with the cookbook's policies."""
    argv = shlex.split(command)
    if argv[:2] != ["toolgate", "explain"]:
        raise ValueError(f"not a toolgate explain command: {command}")
    with tempfile.TemporaryDirectory() as scratch:
        for name, body in files.items():
            Path(scratch, name).write_text(body, encoding="utf-8")
        env = {**os.environ, "COLUMNS": "1000", "NO_COLOR": "1"}
        done = subprocess.run(
            [python, "-m", "toolgate", *argv[1:]],
            cwd=scratch, capture_output=True, text=True, env=env, timeout=120, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{command} failed ({done.returncode}): {done.stderr}")
    return "\n".join(line.rstrip() for line in done.stdout.splitlines()) + "\n"


def refreshed_cookbook(text: str) -> str:
    files = policy_files(text)
    pieces: list[str] = []
    position = 0
    for block, pairs in explain_commands(text):
        body = "".join(f"$ {command}\n{run_explain(command, files)}" for command, _ in pairs)
        pieces += [text[position : block.start], body]
        position = block.end
    return "".join(pieces) + text[position:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    options = parser.parse_args()
    problems = coverage_problems()
    if problems:
        print("the reference does not match the validators:", *problems, sep="\n  ")
        return 1
    outputs = {REFERENCE: render_reference()}
    if COOKBOOK.exists():
        outputs[COOKBOOK] = refreshed_cookbook(COOKBOOK.read_text(encoding="utf-8"))
    stale = [p for p, t in outputs.items() if not p.exists() or p.read_text("utf-8") != t]
    if options.check:
        for path in stale:
            print(f"out of date: {path.relative_to(DOCS.parent)}")
        return 1 if stale else 0
    for path in stale:
        path.write_text(outputs[path], encoding="utf-8")
        print(f"wrote {path.relative_to(DOCS.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
