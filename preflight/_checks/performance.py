"""performance: import time of the required packages and a small compute baseline.

Measured inside the target interpreter (the seed's thresholds: 2 s of imports, 5 s in all).
Slowness is a warning; an installed package that fails to import is critical.
"""

from __future__ import annotations

from preflight._checks.base import Check, Context
from preflight._checks.result import CheckResult, Finding, Severity, Status
from preflight._facts.model import ProbeFailure

C, W = Severity.CRITICAL, Severity.WARNING


def performance(ctx: Context) -> CheckResult:
    title = "Performance baseline"
    perf = ctx.performance
    if isinstance(perf, ProbeFailure):
        finding = Finding(W, f"performance probe failed: {perf.message}", None)
        return CheckResult("performance", title, Status.WARN, finding.message, (finding,))
    if perf is None:
        return CheckResult("performance", title, Status.SKIP, "skipped: not measured on request")
    limits = ctx.policy.performance
    findings = []
    started = ctx.first_start
    if started is not None and (started.timed_out or started.returncode != 0 or started.problems):
        why = "did not finish in time" if started.timed_out else "had a problem"
        findings.append(
            Finding(
                W,
                f"the environment's first start {why}: {started.problems or 'no output'}",
                "run the application once by hand to see what it waits for",
            )
        )
    for timing in perf.imports:
        if timing.error is None:
            continue
        guessed = (
            timing.error.startswith("ModuleNotFoundError") and f"'{timing.module}'" in timing.error
        )
        if guessed:
            findings.append(
                Finding(
                    W,
                    f"module {timing.module!r} does not exist in the environment",
                    "name the import names in [tool.preflight.performance] imports",
                )
            )
        else:
            findings.append(
                Finding(
                    C,
                    f"`import {timing.module}` fails: {timing.error}",
                    ctx.remedies.fresh(ctx.lock_path),
                )
            )
    if perf.compute_error:
        findings.append(Finding(C, f"the compute baseline fails: {perf.compute_error}", None))
    if perf.import_seconds > limits.max_import_seconds:
        hint = "check for slow start-up code"
        if perf.bytecode_cached is False:
            hint = (
                "the environment has no bytecode cache: build it without "
                "PYTHONDONTWRITEBYTECODE (pip compiles by default)"
            )
        findings.append(
            Finding(
                W,
                f"slow imports: {perf.import_seconds:.2f} s "
                f"(limit {limits.max_import_seconds:g} s)",
                hint,
            )
        )
    if perf.total_seconds > limits.max_total_seconds:
        findings.append(
            Finding(
                W,
                f"slow baseline: {perf.total_seconds:.2f} s in all "
                f"(limit {limits.max_total_seconds:g} s)",
                "this may indicate wheel or configuration issues",
            )
        )
    details = {
        "import_time": round(perf.import_seconds, 4),
        "imports": {t.module: round(t.seconds, 4) for t in perf.imports},
        "compute": {"kind": perf.compute_kind, "seconds": round(perf.compute_seconds, 4)},
        "total_seconds": round(perf.total_seconds, 4),
        "bytecode_cached": perf.bytecode_cached,
        "first_start_seconds": started.seconds if started is not None else None,
        "thresholds": {
            "max_import_seconds": limits.max_import_seconds,
            "max_total_seconds": limits.max_total_seconds,
        },
    }
    ok = (
        f"imports {perf.import_seconds:.2f} s, "
        f"{perf.compute_kind} baseline {perf.compute_seconds:.3f} s"
    )
    return CheckResult.from_findings("performance", title, findings, ok=ok, details=details)


CHECK = Check(
    "performance",
    "Performance baseline",
    "The required packages import, and import and compute within the policy's thresholds.",
    ("interpreter", "performance"),
    performance,
    # A required package that is not installed cannot be imported: package_dependencies says
    # so, with the right fix (a guessed import name is not the problem).
    requires=("package_dependencies",),
    runs_environment=True,  # it imports the required packages (and the first start before)
)
