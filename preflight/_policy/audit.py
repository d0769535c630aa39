"""``[tool.preflight.audit]``: where the vulnerability data is, and which advisories are accepted.

```toml
[tool.preflight.audit]
database = "osv/PyPI-all.zip"   # OSV's PyPI export (all.zip) or a folder of OSV records
ignore = [
    {id = "GHSA-xxxx-xxxx-xxxx", reason = "we never parse untrusted YAML", until = 2026-12-31},
]
```

Accepting an advisory is a decision someone must be able to read later, so ``reason`` is
required; ``until`` (a TOML date or ``"YYYY-MM-DD"``) makes the acceptance expire: from the day
after it, the advisory counts again. Validated as strictly as the alerts table: unknown keys,
wrong types and an empty reason are errors that name the key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preflight._policy.alerts import config_error
from preflight._strict import Node, ShapeError, Table, shown

__all__ = ["AuditConfig", "Ignore", "parse_audit"]

_AUDIT_KEYS = {"database", "ignore"}
_IGNORE_KEYS = {"id", "reason", "until"}
_EXAMPLE = '{id = "GHSA-xxxx-xxxx-xxxx", reason = "why it is accepted", until = 2026-12-31}'


@dataclass(frozen=True)
class Ignore:
    """One accepted advisory: its id (or one of its aliases, a CVE), why, and until when."""

    id: str
    reason: str
    until: dt.date | None = None  # the last day the acceptance holds; None: no end

    def active(self, today: dt.date) -> bool:
        return self.until is None or today <= self.until


@dataclass(frozen=True)
class AuditConfig:
    database: str | None = None  # as written: relative to the project folder, or absolute
    ignore: tuple[Ignore, ...] = ()

    def database_path(self, project_dir: Path) -> Path | None:
        return None if self.database is None else project_dir / self.database

    def ignore_for(self, ids: tuple[str, ...]) -> Ignore | None:
        """The ignore entry naming any of ``ids`` (an advisory's id and aliases)."""
        wanted = {i.upper() for i in ids}
        return next((entry for entry in self.ignore if entry.id.upper() in wanted), None)


def parse_audit(path: Path, table: Any) -> AuditConfig:
    """Validate ``[tool.preflight.audit]`` of ``path``."""
    try:
        return _audit(Node(table, "audit").table(_AUDIT_KEYS, example="[tool.preflight.audit]"))
    except ShapeError as exc:
        raise config_error(path, exc) from None


def _audit(audit: Table) -> AuditConfig:
    database = audit["database"].string() if audit.has("database") else None
    ignore: tuple[Ignore, ...] = ()
    if (node := audit.get("ignore")) is not None:
        entries = node.items(what=f"a list of tables, e.g. [{_EXAMPLE}]")
        ignore = tuple(_ignore(entry) for entry in entries)
        seen: set[str] = set()
        for index, entry in enumerate(ignore):
            if entry.id.upper() in seen:
                raise audit.error(f"ignore[{index}].id", f"{entry.id!r} is ignored twice")
            seen.add(entry.id.upper())
    return AuditConfig(database=database, ignore=ignore)


def _ignore(entry: Node) -> Ignore:
    if not isinstance(entry.value, Mapping):
        raise entry.error(f"must be a table such as {_EXAMPLE}, not {shown(entry.value)}")
    table = entry.table(_IGNORE_KEYS)
    for required, why in (
        ("id", "the advisory's id (or a CVE alias of it)"),
        ("reason", "why the advisory is accepted: someone will have to judge it again"),
    ):
        if not table.has(required):
            raise table.error(required, f"is required: {why}", hint=f"e.g. {_EXAMPLE}")
    until = _date(table["until"]) if table.has("until") else None
    return Ignore(id=table["id"].string().strip(), reason=table["reason"].string(), until=until)


def _date(node: Node) -> dt.date:
    value = node.value
    if isinstance(value, str) and len(value) == 10:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    # A TOML datetime is a date subclass: a time of day would be a second, hidden rule.
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise node.error(f'must be a date, e.g. 2026-12-31 or "2026-12-31", not {shown(value)}')
