"""bytecode: every pyc the target would load instead of its source holds that source's code.

RECORD gives no hash for ``__pycache__/*.pyc``, so ``integrity`` cannot see a poisoned one;
the probe (``_probe/bytecode.py``) compiled each source whose pyc has a valid header and
compared. A sourceless ``.pyc`` beside the modules is importable on its own: ``integrity``
reports it as an unowned module when no RECORD lists it.
"""

from __future__ import annotations

from preflight._checks.base import Check, Context
from preflight._checks.result import CheckResult, Finding, Severity, Status
from preflight._facts.bytecode import PycProblem
from preflight._facts.model import ProbeFailure

C, W = Severity.CRITICAL, Severity.WARNING
TITLE = "Bytecode vs source"


def _level(problem: PycProblem) -> str:
    return "" if problem.level == 0 else f" (optimisation level {problem.level})"


def bytecode(ctx: Context) -> CheckResult:
    found = ctx.bytecode
    if found is None:
        return CheckResult("bytecode", TITLE, Status.SKIP, "skipped: not checked on request")
    if isinstance(found, ProbeFailure):
        # A crafted pyc may crash the probe (marshal is not hardened): that is no pass.
        severity = W if found.kind == "timeout" else C
        finding = Finding(
            severity,
            f"bytecode not verified: {found.message}",
            "run the check again with a longer --timeout"
            if found.kind == "timeout"
            else "run the check again; if it fails the same way, rebuild the environment",
        )
        return CheckResult(
            "bytecode",
            TITLE,
            Status.WARN if severity is W else Status.FAIL,
            finding.message,
            (finding,),
            # not every pyc was verified: the environment's code is not run (VERIFYING)
            {"incomplete": found.kind},
        )
    remove = (
        f"delete the pyc (Python compiles the source again) and find what wrote it; "
        f"{ctx.remedies.fresh(ctx.lock_path)}"
    )
    findings = [
        Finding(
            C,
            f"{p.pyc} is what Python runs for {p.source}{_level(p)}, but {p.detail}",
            remove,
        )
        for p in found.mismatches
    ]
    # One Python would run unverified is as bad as a mismatch: padding a poisoned pyc past
    # the size limit, or serving it from a FIFO, must not turn it into a warning.
    findings += [
        Finding(
            C,
            f"{p.pyc} is what Python runs for {p.source}{_level(p)}, and it cannot be "
            f"verified: {p.detail}",
            remove,
        )
        if p.loads
        else Finding(W, f"{p.pyc} (for {p.source}) cannot be verified: {p.detail}", None)
        for p in found.unverifiable
    ]
    verified = found.cached + found.identical + found.compared + found.written
    details = {
        "pycs": found.candidates,
        "verified": verified,
        "verified_before": found.cached,
        "compiled": found.identical + found.compared,
        # written by preflight from the verified sources, for an environment it built
        "written": found.written,
        "stale": found.stale,
        "other_tags": found.other_tags,
        "mismatches": [_problem(p) for p in found.mismatches],
        "unverifiable": [_problem(p) for p in found.unverifiable],
        "cache": found.cache,
        "cache_note": found.cache_note,
        "probe_seconds": found.seconds,
        "probe_timeout_seconds": found.timeout,
    }
    compiled = found.identical + found.compared
    written = f", {found.written} written from the verified sources" if found.written else ""
    ok = (
        f"{verified} pycs hold their source's code ({compiled} compiled now, "
        f"{found.cached} verified before{written}); {found.stale} stale ones are ignored, as "
        "Python ignores them"
    )
    return CheckResult.from_findings("bytecode", TITLE, findings, ok=ok, details=details)


def _problem(p: PycProblem) -> dict[str, object]:
    return {"pyc": p.pyc, "source": p.source, "level": p.level, "detail": p.detail}


CHECK = Check(
    "bytecode",
    TITLE,
    "Every __pycache__ pyc Python would load instead of its source holds that source's code.",
    ("interpreter", "bytecode"),
    bytecode,
)
