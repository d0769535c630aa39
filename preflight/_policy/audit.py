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

from preflight._errors import ConfigError
from preflight._policy.alerts import _shown, _Table

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
    audit = _Table(path, "audit.", table, _AUDIT_KEYS)
    database = audit.string("database") if audit.has("database") else None
    ignore: tuple[Ignore, ...] = ()
    if audit.has("ignore"):
        entries = audit.table["ignore"]
        if not isinstance(entries, list):
            raise audit.error(
                "ignore", f"must be a list of tables, e.g. [{_EXAMPLE}], not {_shown(entries)}"
            )
        ignore = tuple(_parse_ignore(path, index, entry) for index, entry in enumerate(entries))
        seen: set[str] = set()
        for index, entry in enumerate(ignore):
            if entry.id.upper() in seen:
                raise audit.error(f"ignore[{index}].id", f"{entry.id!r} is ignored twice")
            seen.add(entry.id.upper())
    return AuditConfig(database=database, ignore=ignore)


def _parse_ignore(path: Path, index: int, entry: Any) -> Ignore:
    prefix = f"audit.ignore[{index}]."
    if not isinstance(entry, Mapping):
        raise ConfigError(
            path, prefix.rstrip("."), f"must be a table such as {_EXAMPLE}, not {_shown(entry)}"
        )
    table = _Table(path, prefix, entry, _IGNORE_KEYS)
    for required, why in (
        ("id", "the advisory's id (or a CVE alias of it)"),
        ("reason", "why the advisory is accepted: someone will have to judge it again"),
    ):
        if not table.has(required):
            raise table.error(required, f"is required: {why}", hint=f"e.g. {_EXAMPLE}")
    until = _date(table, "until") if table.has("until") else None
    return Ignore(id=table.string("id").strip(), reason=table.string("reason"), until=until)


def _date(table: _Table, key: str) -> dt.date:
    value = table.table[key]
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value) if len(value) == 10 else _bad_date(table, value)
        except ValueError:
            _bad_date(table, value)
    # A TOML datetime is a date subclass: a time of day would be a second, hidden rule.
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    return _bad_date(table, value)


def _bad_date(table: _Table, value: object) -> dt.date:
    raise table.error(
        "until",
        f'must be a date, e.g. 2026-12-31 or "2026-12-31", not {_shown(value)}',
    )
