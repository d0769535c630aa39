"""integrity: every installed file matches the hash its RECORD gives, and nothing unowned runs."""

from __future__ import annotations

from preflight._checks.base import Check, Context
from preflight._checks.result import CheckResult, Finding, Severity

C, W = Severity.CRITICAL, Severity.WARNING


def integrity(ctx: Context) -> CheckResult:
    scan = ctx.integrity
    assert scan is not None
    reinstall = f"{ctx.remedies.fresh(ctx.lock_path)}, or reinstall the distribution"
    findings: list[Finding] = []
    for p in scan.problems:
        if p.kind == "unverifiable":
            findings.append(Finding(W, f"{p.dist}: {p.path} cannot be verified: {p.detail}", None))
        else:
            findings.append(Finding(C, f"{p.dist}: {p.path} is {p.kind} ({p.detail})", reinstall))
    known = []
    for entry in scan.unowned:
        if entry.known_tool:
            known.append({"path": entry.path, "placed_by": entry.known_tool})
            continue
        what = "a start-up .pth file" if entry.kind == "pth" else f"an importable {entry.kind}"
        findings.append(
            Finding(
                C,
                f"{entry.path} is {what} that no installed distribution owns",
                "remove it, or install what it belongs to from the lock",
            )
        )
    for name in scan.without_record:
        findings.append(
            Finding(W, f"{name} has no RECORD, so its files cannot be verified", reinstall)
        )
    details = {
        "files_checked": scan.files_checked,
        "bytes_checked": scan.bytes_checked,
        "problems": [
            {"dist": p.dist, "path": p.path, "kind": p.kind, "detail": p.detail}
            for p in scan.problems
        ],
        "unowned": [{"path": u.path, "kind": u.kind} for u in scan.unowned if not u.known_tool],
        "placed_by_venv_tool": known,
        "without_record": list(scan.without_record),
    }
    mb = scan.bytes_checked / 1e6
    return CheckResult.from_findings(
        "integrity",
        "Installed files vs RECORD",
        findings,
        ok=f"{scan.files_checked} files ({mb:.1f} MB) match their RECORD hashes",
        details=details,
    )


CHECK = Check(
    "integrity",
    "Installed files vs RECORD",
    "Every installed file matches its RECORD hash; no unowned .pth or module in site-packages.",
    ("interpreter", "integrity"),
    integrity,
)
