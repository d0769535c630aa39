"""baseline: no file of the environment was added, removed or changed since its baseline.

What ``integrity`` cannot see: a file rewritten together with its RECORD row. The baseline
(``preflight baseline``) was written elsewhere after a passing check; every difference from it
is critical, whatever RECORD says now. Without ``--baseline`` the check is skipped.
"""

from __future__ import annotations

from preflight._checks.base import Check, Context
from preflight._checks.result import CheckResult, Finding, Severity, Status
from preflight._facts.baseline import Change

ID = "baseline"
TITLE = "Files unchanged since the baseline"
HOW_TO_ENABLE = (
    "no baseline given: write one with `preflight baseline --output FILE` after a passing "
    "check, keep it outside the environment, and pass --baseline FILE"
)
FINDINGS_SHOWN = 20  # one finding a path up to here, then one finding with the count
DETAILS_LISTED = 500  # changes listed in the JSON report's details


def _finding(change: Change, remedy: str) -> Finding:
    owner = f" (owned by {change.owner})" if change.owner else ""
    detail = f": {change.detail}" if change.detail else ""
    message = f"{change.where}{owner} {change.kind} since the baseline{detail}"
    return Finding(Severity.CRITICAL, message, remedy)


def baseline(ctx: Context) -> CheckResult:
    facts = ctx.baseline
    if facts is None:
        return CheckResult(ID, TITLE, Status.SKIP, HOW_TO_ENABLE, details={"configured": False})
    if facts.unfinished is not None:
        findings = [Finding(Severity.CRITICAL, facts.unfinished, "check again once it can")]
        return CheckResult.from_findings(
            ID, TITLE, findings, ok="", details={"configured": True, "unfinished": facts.unfinished}
        )
    remedy = (
        "if you did not make this change, treat the environment as compromised and "
        f"{ctx.remedies.fresh(ctx.lock_path)}; if you did (an upgrade), check it and write "
        "a new baseline with `preflight baseline`"
    )
    changes = facts.changes
    findings = [_finding(change, remedy) for change in changes[:FINDINGS_SHOWN]]
    if len(changes) > FINDINGS_SHOWN:
        more = len(changes) - FINDINGS_SHOWN
        findings.append(
            Finding(
                Severity.CRITICAL,
                f"{more} more entries differ from the baseline (the JSON report's details "
                f"list the first {DETAILS_LISTED})",
                remedy,
            )
        )
    counts = {
        kind: sum(c.kind == kind for c in changes) for kind in ("added", "removed", "changed")
    }
    details: dict[str, object] = {
        "configured": True,
        "manifest": facts.manifest,
        "created": facts.created,
        "entries": facts.entries,
        "compared": facts.compared,
        **counts,
        "runtime_bytecode": facts.bytecode,
        "bytes_hashed": facts.bytes_hashed,
        "changes": [
            {"kind": c.kind, "path": c.where, "detail": c.detail, "owner": c.owner}
            for c in changes[:DETAILS_LISTED]
        ],
    }
    bytecode = (
        f"; {facts.bytecode} runtime bytecode files left to the bytecode check"
        if facts.bytecode
        else ""
    )
    ok = f"{facts.entries} entries match the baseline of {facts.created}{bytecode}"
    return CheckResult.from_findings(ID, TITLE, findings, ok=ok, details=details)


CHECK = Check(
    id=ID,
    title=TITLE,
    purpose="every file of the install folders is as the baseline recorded it",
    needs=("interpreter", "baseline"),
    run=baseline,
)
