"""security: the lock in use and the protected files cannot be changed by other users.

Mode bits are read directly (``os.access`` answers for the caller, and root may write anything),
by the facts (``preflight._facts.project``): the check judges them.
"""

from __future__ import annotations

import stat

from preflight._checks.base import Check, Context
from preflight._checks.result import CheckResult, Finding, Severity
from preflight._facts.model import FileMode
from preflight._text import plural

C = Severity.CRITICAL


def file_findings(file: FileMode) -> tuple[list[Finding], dict[str, object]]:
    """World-writable file, or a world-writable folder without the sticky bit above it."""
    path = file.path
    if file.problem is not None:
        return [Finding(C, file.problem, "check the path")], {"path": str(path)}
    if not file.present or file.mode is None:
        return [], {"path": str(path), "present": False}
    mode = file.mode
    info: dict[str, object] = {"path": str(path), "present": True, "mode": f"{mode:04o}"}
    findings = []
    if mode & stat.S_IWOTH:
        findings.append(
            Finding(C, f"{path} is world-writable (mode {mode:04o})", f"chmod o-w {path}")
        )
    # The folder holding the name (a symlink can be replaced there) and the one holding the
    # file it points to (the file can be replaced there).
    for folder, fmode in file.folders:
        if fmode & stat.S_IWOTH and not fmode & stat.S_ISVTX:
            findings.append(
                Finding(
                    C,
                    f"{path} lies in {folder}, which is world-writable (mode {fmode:04o}): "
                    "anyone can replace the file",
                    f"chmod o-w {folder}",
                )
            )
    return findings, info


def security(ctx: Context) -> CheckResult:
    findings: list[Finding] = []
    files = []
    for file in ctx.protected:  # the lock in use first, then the policy's protected files
        found, info = file_findings(file)
        findings += found
        files.append(info)
    present = sum(1 for f in files if f.get("present"))
    return CheckResult.from_findings(
        "security",
        "Permissions of critical files",
        findings,
        ok=f"{plural(present, 'critical file')} present, none writable by others",
        details={"files": files},
    )


CHECK = Check(
    "security",
    "Permissions of critical files",
    "The lock and the protected files are not world-writable.",
    (),
    security,
)
