"""What the catalogue knows about a tool: its risk class, band, score, and the evidence for them."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson


class Category(enum.Enum):
    """Capability classes, strongest first in precedence: financial beats everything."""

    FINANCIAL = "financial"
    DESTRUCTIVE = "destructive"
    EXECUTE = "execute"
    WRITE = "write"
    READ = "read"
    OTHER = "other"


class Band(enum.Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One observation behind a label: which signal, what exactly was seen, which class it points
    to, and how strongly (0..1)."""

    signal: str  # "override" | "annotation" | "name" | "description" | "schema"
    detail: str  # e.g. 'name token "withdraw"', 'readOnlyHint: true', 'property "amount"'
    points_to: Category
    weight: float


@dataclass(frozen=True, slots=True)
class Classification:
    """The catalogue's verdict on one tool."""

    tool: str
    category: Category
    band: Band
    score: int  # 1..5
    confidence: float  # 0..1
    signals: tuple[str, ...]  # short tags, e.g. ("bulk", "credentials", "path-argument")
    evidence: tuple[Evidence, ...]
    recommended_rule: str  # e.g. "30/minute", "require approval + spend cap on amount"


def definition_hash(tool: Mapping[str, Any]) -> str:
    """A stable hash of what a tool is: its name, description, schemas and annotations (canonical
    JSON, sorted keys). A change of any of them is a changed tool (a possible rug pull)."""
    keys = ("name", "title", "description", "inputSchema", "outputSchema", "annotations")
    canonical = orjson.dumps({k: tool[k] for k in keys if k in tool}, option=orjson.OPT_SORT_KEYS)
    return "sha256:" + hashlib.sha256(canonical).hexdigest()
