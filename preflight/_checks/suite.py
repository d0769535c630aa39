"""suite: the project's own tests, run by the environment's pytest, folded into the report."""

from __future__ import annotations

from preflight._checks.base import Check, Context
from preflight._checks.result import CheckResult, Finding, Severity, Status
from preflight._facts.model import SuiteFacts

C = Severity.CRITICAL
TITLE = "Project suite"
# pytest's exit codes (pytest.ExitCode), said in words.
_MEANING = {
    1: "tests failed",
    2: "the run was interrupted",
    3: "pytest hit an internal error",
    4: "pytest was called wrongly",
    5: "no tests were collected",
}


def _runs(ctx: Context) -> bool:
    """The suite runs the environment's pytest, when the policy names one."""
    return ctx.policy.suite is not None


def suite(ctx: Context) -> CheckResult:
    if ctx.policy.suite is None:
        return CheckResult("suite", TITLE, Status.SKIP, "the policy names no suite")
    facts = ctx.suite
    if facts is None:
        return CheckResult("suite", TITLE, Status.SKIP, "skipped: not run on request")
    details = {
        "folder": facts.folder,
        "command": " ".join(facts.command),
        "returncode": facts.returncode,
        "seconds": round(facts.seconds, 3),
        "summary": facts.summary,
        "output_tail": facts.output_tail,
        # False: it ran where it could have read preflight's memory, credentials included
        # (off Linux, or the system refused the reaper's seal): see docs/trust-model.md.
        "sealed": facts.sealed,
    }
    if facts.returncode == 0 and not facts.timed_out:
        return CheckResult("suite", TITLE, Status.PASS, facts.summary or "passed", (), details)
    finding = _finding(facts, ctx.remedies.relock)
    return CheckResult.from_findings("suite", TITLE, [finding], ok="", details=details)


def _finding(facts: SuiteFacts, relock: str) -> Finding:
    folder = facts.folder
    if facts.timed_out:
        return Finding(C, f"the suite {folder} did not finish in time and was stopped", None)
    if facts.returncode is None:
        return Finding(C, f"the suite {folder} could not be started: {facts.summary}", None)
    if "No module named pytest" in facts.output_tail:
        return Finding(
            C,
            f"the suite {folder} cannot run: pytest is not installed in the environment",
            f"add pytest to the policy's requires and {relock}",
        )
    meaning = _MEANING.get(facts.returncode, f"exit code {facts.returncode}")
    summary = f": {facts.summary}" if facts.summary else ""
    return Finding(
        C,
        f"the suite {folder} failed ({meaning}){summary}",
        f"run `{' '.join(facts.command)}` to see the failures",
    )


CHECK = Check(
    "suite",
    TITLE,
    "The project's own preflight suite passes inside the environment.",
    ("interpreter", "suite"),
    suite,
    requires=("package_dependencies",),  # the application's tests need its packages
    runs_environment=_runs,
)
