"""lock_sync: the installed distributions are exactly the lock's, from the index it pins."""

from __future__ import annotations

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion

from preflight._checks._installed import installed
from preflight._checks._selection import lock_entries
from preflight._checks.base import Check, Context
from preflight._checks.result import CheckResult, Finding, Severity, Status
from preflight._facts.model import DistFacts
from preflight._lock.requirements import LockEntry
from preflight._lock.select import Ambiguity
from preflight._policy.spec import parse_version

C = Severity.CRITICAL


def lock_sync(ctx: Context) -> CheckResult:
    facts = ctx.facts
    lock_name = str(ctx.lock_path) if ctx.lock_path else "the lock"
    locked_in = str(ctx.lock_path) if ctx.lock_path else None  # where a finding's pin is
    ignored = set(ctx.policy.ignore)
    fresh, relock = ctx.remedies.fresh(ctx.lock_path), ctx.remedies.relock
    selected = lock_entries(ctx)
    if isinstance(selected, Ambiguity):  # wheel_status says which names, once
        return CheckResult(
            "lock_sync",
            "Installed set vs lock",
            Status.SKIP,
            "skipped: the lock is ambiguous for this interpreter (see wheel_status)",
            details={"blocked_by": "wheel_status"},
        )
    found = installed(facts.distributions)
    wanted: dict[NormalizedName, LockEntry] = {canonicalize_name(e.name): e for e in selected}
    findings: list[Finding] = []
    missing, extra, different, foreign, doubled = [], [], [], [], []

    for name, entry in sorted(wanted.items()):
        dists = found.get(name)
        if not dists:
            missing.append(name)
            findings.append(
                Finding(
                    C,
                    f"{entry.raw_name}=={entry.version} is locked but not installed",
                    fresh,
                    file=locked_in,
                    line=entry.line,
                )
            )
            continue
        dist = dists[0]
        if entry.version is not None and not _same_version(dist.version, entry.version):
            different.append({"name": name, "installed": dist.version, "locked": entry.version})
            findings.append(
                Finding(
                    C,
                    f"{dist.name} {dist.version} is installed but {lock_name} pins {entry.version}",
                    f"{fresh}, or {relock} if the pin is wrong",
                    file=locked_in,
                    line=entry.line,
                )
            )
    for name, dists in sorted(found.items()):
        if len(dists) > 1:
            doubled.append(name)
            where = ", ".join(d.path for d in dists)
            findings.append(
                Finding(C, f"{dists[0].name} is installed {len(dists)} times: {where}", fresh)
            )
        if name in ignored:
            continue
        if name not in wanted:
            extra.append(name)
            findings.append(
                Finding(
                    C,
                    f"{dists[0].name} {dists[0].version} is installed but not in {lock_name}",
                    f"{fresh}, or add it to the policy's requires and {relock}",
                )
            )
        source = _foreign_source(dists[0])
        if source is not None:
            foreign.append({"name": name, "source": source})
            findings.append(
                Finding(
                    C,
                    f"{dists[0].name} is installed from {source}, not from the index the lock "
                    "pins it from",
                    fresh,
                )
            )
    ignored_here = sorted(n for n in found if n in ignored)
    details = {
        "lock": lock_name,
        "locked": len(wanted),
        "installed": len(found),
        "missing": missing,
        "extra": extra,
        "different": different,
        "foreign_source": foreign,
        "duplicated": doubled,
        "ignored": ignored_here,
        "ignored_policy": sorted(ignored),
    }
    ignored_note = f"; ignored tooling: {', '.join(ignored_here)}" if ignored_here else ""
    return CheckResult.from_findings(
        "lock_sync",
        "Installed set vs lock",
        findings,
        ok=f"installed set matches {lock_name} ({len(wanted)} packages){ignored_note}",
        details=details,
    )


def _same_version(installed_version: str, locked: str) -> bool:
    try:
        return parse_version(installed_version) == parse_version(locked)
    except InvalidVersion:
        return installed_version == locked


def _foreign_source(dist: DistFacts) -> str | None:
    """Where a distribution came from, if PEP 610 says it was not the index.

    ``direct_url.json`` is read as untrusted data: any shape it has gives a sentence.
    """
    info = dist.direct_url
    if not info:
        return None
    if "_error" in info:
        return f"an unreadable direct_url.json ({info['_error']})"
    url = info.get("url")
    dir_info, vcs_info = info.get("dir_info"), info.get("vcs_info")
    if not isinstance(url, str) or not all(
        part is None or isinstance(part, dict) for part in (dir_info, vcs_info)
    ):
        return f"a malformed direct_url.json in {dist.path}"
    if isinstance(dir_info, dict) and dir_info.get("editable") is True:
        return f"an editable install of {url}"
    if isinstance(vcs_info, dict):
        return f"version control ({vcs_info.get('vcs', 'vcs')}+{url})"
    return f"a direct URL ({url})"


CHECK = Check(
    "lock_sync",
    "Installed set vs lock",
    "The installed distributions are exactly the lock's: no missing, extra or other version.",
    ("interpreter", "lock"),
    lock_sync,
)
