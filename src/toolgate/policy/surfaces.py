"""The `resources:` and `prompts:` sections: allow / deny / hide by URI glob or prompt name.

```yaml
resources: {default: allow, hide: ["secret://*"], deny: ["file:///etc/*"], allow: []}
prompts:   {default: deny, allow: ["summarise_*"]}
```
Each entry is a glob (`*` any run of characters, `/` included; `?` one character; whole string,
case-sensitive). When several entries match, the most restrictive wins: hide, then deny, then
allow; when none matches, `default` (allow when absent). A hidden resource or prompt vanishes
from lists and reads as one the server does not have; a denied one stays listed but cannot be
read or fetched. Resources are matched by `uri`, resource templates by `uriTemplate` as written.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from toolgate.policy.located import LScalar, describe
from toolgate.policy.schema import Fields
from toolgate.policy.tool_globs import compile_glob


class Access(enum.IntEnum):
    """Ordered by restrictiveness: the highest matching entry wins."""

    ALLOW = 0
    DENY = 1
    HIDE = 2


ACCESS_KEYS = ("allow", "deny", "hide")
SURFACE_KEYS = ("default", *ACCESS_KEYS)


@dataclass(frozen=True, slots=True, eq=False)
class SurfacePolicy:
    section: str  # "resources" or "prompts"
    default: Access
    entries: tuple[tuple[Access, str, re.Pattern[str]], ...]

    def access(self, name: str) -> Access:
        found = self.default if not self.entries else None
        for access, _, pattern in self.entries:
            if pattern.match(name) and (found is None or access > found):
                found = access
        return self.default if found is None else found

    def rule_id(self, name: str) -> str:
        """Which entry decided (`resources.deny[1]`), or `resources.default`."""
        best: tuple[Access, str] | None = None
        counts = {access: 0 for access in Access}
        for access, _, pattern in self.entries:
            index = counts[access]
            counts[access] += 1
            if pattern.match(name) and (best is None or access > best[0]):
                best = (access, f"{self.section}.{access.name.lower()}[{index}]")
        return best[1] if best else f"{self.section}.default"


def compile_surface(top: Fields, section: str) -> SurfacePolicy | None:
    """The section's policy, or None when the file has no such section."""
    node = top.mapping(section)
    if node is None:
        return None
    fields = Fields(node, section, top.issues, SURFACE_KEYS)
    default = fields.choice("default", ACCESS_KEYS, "allow") or "allow"
    entries: list[tuple[Access, str, re.Pattern[str]]] = []
    for key in ACCESS_KEYS:
        items = fields.sequence(key)
        for index, item in enumerate(items.items if items else ()):
            where = f"{section}.{key}[{index}]"
            if not isinstance(item, LScalar) or not isinstance(item.value, str) or not item.value:
                top.issues.add(
                    item, where, f"must be a non-empty glob string, got {describe(item)}"
                )
                continue
            entries.append((Access[key.upper()], item.value, compile_glob(item.value)))
    return SurfacePolicy(section, Access[default.upper()], tuple(entries))
