"""vulnerabilities: no installed distribution and no pin of the lock has a known advisory.

Known to whom is the point: the check knows what the OSV export it is given knows, as of its
newest record (the report gives that date), and nothing else. Without data it is skipped and
says how to provide it; with data configured but unusable it warns "not audited", so that a
missing download never reads as a clean audit. An advisory accepted in
``[tool.preflight.audit] ignore`` is named with its reason, and counts again after its
``until`` date.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.utils import NormalizedName, canonicalize_name

from preflight._checks._selection import lock_entries
from preflight._checks.base import Check, Context
from preflight._checks.result import CheckResult, Finding, Severity, Status
from preflight._facts.osv import Advisory, DataUnavailable, VulnerabilityData
from preflight._lock.requirements import Lock
from preflight._lock.select import Ambiguity
from preflight._text import plural

ID = "vulnerabilities"
TITLE = "Known vulnerabilities (OSV)"
HOW_TO_ENABLE = (
    "not configured: pass --vulnerability-db PATH or set [tool.preflight.audit] "
    'database = "PATH" (OSV\'s PyPI export; `preflight audit-db update --output PATH` '
    "downloads it)"
)


@dataclass(frozen=True)
class _Subject:
    """One name and version audited, and where it was found (installed, locked or both)."""

    name: str
    version: str
    where: tuple[str, ...]


def _subjects(ctx: Context) -> list[_Subject]:
    found: dict[tuple[NormalizedName, str], tuple[str, list[str]]] = {}
    for dist in ctx.facts.distributions:
        key = (canonicalize_name(dist.name), dist.version)
        found.setdefault(key, (dist.name, []))[1].append("installed")
    if isinstance(ctx.lock, Lock):
        # Of a universal lock, the pins this interpreter would install (all of an ambiguous
        # one, which wheel_status refuses): another interpreter's pin is not this env's risk.
        selected = lock_entries(ctx)
        for entry in ctx.lock.entries if isinstance(selected, Ambiguity) else selected:
            if entry.version is not None:
                key = (canonicalize_name(entry.name), entry.version)
                found.setdefault(key, (entry.name, []))[1].append("locked")
    return [
        _Subject(name, version, tuple(dict.fromkeys(where)))
        for (_, version), (name, where) in sorted(found.items())
    ]


def vulnerabilities(ctx: Context) -> CheckResult:
    data = ctx.vulnerabilities
    if data is None:
        return CheckResult(ID, TITLE, Status.SKIP, HOW_TO_ENABLE, details={"configured": False})
    if isinstance(data, DataUnavailable):
        finding = Finding(
            Severity.WARNING,
            f"not audited: {data.reason}",
            "download OSV's PyPI export with `preflight audit-db update --output PATH`, "
            "or point --vulnerability-db / [tool.preflight.audit] database at it",
        )
        return CheckResult.from_findings(
            ID, TITLE, [finding], ok="", details={"configured": True, "database": data.source}
        )
    today = ctx.now.date()
    findings: list[Finding] = []
    vulnerable: list[dict[str, object]] = []
    ignored: list[dict[str, object]] = []
    subjects = _subjects(ctx)
    for subject in subjects:
        for advisory in data.for_package(subject.name, subject.version):
            ids = (advisory.id, *advisory.aliases)
            accepted = ctx.policy.audit.ignore_for(ids)
            entry: dict[str, object] = {
                "id": advisory.id,
                "aliases": list(advisory.aliases),
                "name": subject.name,
                "version": subject.version,
                "where": list(subject.where),
                "fixed": [str(v) for v in advisory.fixed_after(subject.name, subject.version)],
            }
            if accepted is not None and accepted.active(today):
                until = accepted.until.isoformat() if accepted.until else None
                ignored.append({**entry, "reason": accepted.reason, "until": until})
                continue
            expired = accepted.until if accepted is not None else None
            findings.append(_finding(ctx, subject, advisory, expired=expired))
            vulnerable.append(entry)
    details: dict[str, object] = {
        "configured": True,
        "database": data.source,
        "form": data.form,
        "data_modified": data.newest_modified.isoformat() if data.newest_modified else None,
        "records": data.records,
        "pypi_records": data.pypi_records,
        "withdrawn": data.withdrawn,
        "malformed": data.malformed,
        "malformed_examples": list(data.malformed_examples),
        "audited": len(subjects),
        "vulnerable": vulnerable,
        "ignored": ignored,
    }
    result = CheckResult.from_findings(
        ID, TITLE, findings, ok=_ok_message(data, len(subjects), ignored), details=details
    )
    return result


def _finding(
    ctx: Context, subject: _Subject, advisory: Advisory, *, expired: object | None
) -> Finding:
    aliases = f" ({', '.join(advisory.aliases)})" if advisory.aliases else ""
    summary = f": {advisory.summary}" if advisory.summary else ""
    where = " and ".join(subject.where)
    fixed = advisory.fixed_after(subject.name, subject.version)
    note = f"; its ignore expired after {expired}" if expired is not None else ""
    message = (
        f"{subject.name} {subject.version} ({where}) is affected by {advisory.id}{aliases}"
        f"{summary}{note}"
    )
    accept = "or accept it with a reason in [tool.preflight.audit] ignore"
    if fixed:
        shown = ", ".join(str(v) for v in fixed)
        remedy = (
            f"upgrade {subject.name} to {fixed[0]} (fixed in {shown}): raise the pin, e.g. "
            f"{ctx.remedies.relock} with --upgrade-package {canonicalize_name(subject.name)}; "
            f"{accept}"
        )
    else:
        remedy = f"no fixed version is known: remove {subject.name}, {accept}"
    return Finding(Severity.CRITICAL, message, remedy)


def _ok_message(data: VulnerabilityData, audited: int, ignored: list[dict[str, object]]) -> str:
    date = data.newest_modified.date().isoformat() if data.newest_modified else "unknown date"
    text = (
        f"no known vulnerability in {plural(audited, 'installed or locked distribution')} "
        f"({plural(data.pypi_records, 'PyPI advisory', 'PyPI advisories')}, data of {date})"
    )
    if data.malformed:
        text += f"; {plural(data.malformed, 'malformed record')} skipped"
    if ignored:
        named = ", ".join(
            f"{i['id']} ({i['name']} {i['version']}: {i['reason']}"
            + (f", until {i['until']})" if i["until"] else ")")
            for i in ignored
        )
        text += f"; ignored: {named}"
    return text


CHECK = Check(
    ID,
    TITLE,
    "No installed distribution or locked pin is affected by an advisory of the OSV data.",
    ("interpreter", "vulnerabilities"),
    vulnerabilities,
)
