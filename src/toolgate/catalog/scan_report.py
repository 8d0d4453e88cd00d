"""The scan report: a scanned server's tools with their classification, as plain JSON data.

Pure. The shape is the one `toolgate scan` prints (JSON or YAML) and later tools read:
`{"server": {name, version, era, command}, "tools": [...], "resources": [...], "prompts": [...]}`
with one entry per tool carrying class, band, score, confidence, signals, evidence, recommended
rule and definition hash; resources are `{uri, name}` pairs, prompts are names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from toolgate.catalog.model import Classification, Evidence, definition_hash
from toolgate.catalog.scan import ServerScan, command_text

Classifier = Callable[[Mapping[str, Any]], Classification]


@dataclass(frozen=True, slots=True)
class ClassifiedTool:
    """One tool as the server defined it, and the catalogue's verdict on it."""

    definition: Mapping[str, Any]
    classification: Classification

    @property
    def name(self) -> str:
        return self.classification.tool


def classify_all(scan: ServerScan, classify: Classifier) -> tuple[ClassifiedTool, ...]:
    """Each tool of the scan with its classification, in server order."""
    return tuple(ClassifiedTool(tool, classify(tool)) for tool in scan.tools)


def scan_report(scan: ServerScan, tools: tuple[ClassifiedTool, ...]) -> dict[str, Any]:
    return {
        "server": {
            "name": scan.name,
            "version": scan.version,
            "era": scan.era,
            "command": command_text(scan),
        },
        "tools": [tool_report(tool) for tool in tools],
        "resources": [_resource(item) for item in scan.resources],
        "prompts": [item["name"] for item in scan.prompts],
    }


def tool_report(tool: ClassifiedTool) -> dict[str, Any]:
    verdict = tool.classification
    return {
        "name": verdict.tool,
        "category": verdict.category.value,
        "band": verdict.band.value,
        "score": verdict.score,
        "confidence": verdict.confidence,
        "signals": list(verdict.signals),
        "evidence": [evidence_report(item) for item in verdict.evidence],
        "recommended_rule": verdict.recommended_rule,
        "definition_hash": definition_hash(tool.definition),
    }


def evidence_report(item: Evidence) -> dict[str, Any]:
    return {
        "signal": item.signal,
        "detail": item.detail,
        "points_to": item.points_to.value,
        "weight": item.weight,
    }


def _resource(item: Mapping[str, Any]) -> dict[str, Any]:
    uri = item.get("uri")
    return {"uri": uri if isinstance(uri, str) else None, "name": item["name"]}


def evidence_summary(verdict: Classification, limit: int = 3) -> str:
    """The strongest pieces of evidence for the verdict's own class, as one short line."""
    chosen = sorted(
        (e for e in verdict.evidence if e.points_to is verdict.category),
        key=lambda e: -e.weight,
    )
    details = [e.detail for e in chosen[:limit]]
    return "; ".join(details) if details else "no specific evidence"
