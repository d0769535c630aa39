"""security: the lock in use and the protected files cannot be changed by other users.

Mode bits are read directly: ``os.access`` answers for the caller, and root may write anything.
"""

from __future__ import annotations

import stat
from pathlib import Path

from preflight._checks.base import Check, Context
from preflight._checks.result import CheckResult, Finding, Severity
from preflight._text import plural

C = Severity.CRITICAL


def file_findings(path: Path) -> tuple[list[Finding], dict[str, object]]:
    """World-writable file, or a world-writable folder without the sticky bit above it."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return [], {"path": str(path), "present": False}
    except OSError as exc:
        return [Finding(C, f"{path} cannot be examined: {exc}", "check the path")], {
            "path": str(path)
        }
    mode = stat.S_IMODE(st.st_mode)
    info: dict[str, object] = {"path": str(path), "present": True, "mode": f"{mode:04o}"}
    findings = []
    if mode & stat.S_IWOTH:
        findings.append(
            Finding(C, f"{path} is world-writable (mode {mode:04o})", f"chmod o-w {path}")
        )
    # The folder holding the name (a symlink can be replaced there) and the one holding the
    # file it points to (the file can be replaced there).
    for folder in dict.fromkeys((path.absolute().parent, path.resolve().parent)):
        fmode = stat.S_IMODE(folder.stat().st_mode)
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
    project = ctx.policy.project_dir
    paths = [project / name for name in ctx.policy.protected_files]
    if ctx.lock_path is not None and ctx.lock_path not in paths:
        paths.insert(0, ctx.lock_path)
    findings: list[Finding] = []
    files = []
    for path in paths:
        found, info = file_findings(path)
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
