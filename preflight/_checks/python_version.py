"""python_version: is this the interpreter the policy asks for (primary, fallback, substitute)?

The decision is the policy's (:meth:`Policy.classify`, which asks the spec whether a requested
substitute may stand in); this module only phrases it as findings.
"""

from __future__ import annotations

from preflight._checks.base import Check, Context, owner_of
from preflight._checks.result import CheckResult, Finding, Severity, Status
from preflight._facts.model import ProbeFailure
from preflight._policy.spec import interpreter_version, minor_of

C, W = Severity.CRITICAL, Severity.WARNING


def python_version(ctx: Context) -> CheckResult:
    title = "Python version"
    interp = ctx.interpreter
    if isinstance(interp, ProbeFailure) and owner_of(ctx, "interpreter") != "python_version":
        owner = owner_of(ctx, "interpreter")  # not run: the interpreter is not the env's
        return CheckResult(
            "python_version",
            title,
            Status.SKIP,
            f"skipped: needs the interpreter, which is unavailable (see {owner})",
            details={"blocked_by": owner},
        )
    if isinstance(interp, ProbeFailure):
        finding = Finding(C, interp.message, _probe_remedy(interp))
        return CheckResult(
            "python_version",
            title,
            Status.FAIL,
            interp.message,
            (finding,),
            {"python": ctx.python, "failure": interp.kind, "returncode": interp.returncode},
        )
    policy = ctx.policy
    seen = policy.classify(
        interpreter_version(interp.version, interp.release_level), ctx.substitute_for
    )
    spec = seen.spec
    allowed = [str(s) for s in policy.pythons]
    details = {
        "current_version": interp.version,
        "implementation": interp.implementation,
        "required_versions": allowed,
        "python_status": seen.status,
    }
    findings = []
    if seen.substitute:
        details["substitute_for"] = str(spec)
        findings.append(
            Finding(
                W,
                f"Python {interp.version} stands in for {spec} as a patch-level substitute "
                f"(accepted on request): this is not a check of {spec}",
                f"install Python {spec} (e.g. `pyenv install {spec}`) and check again",
            )
        )
    elif seen.refused is not None:
        findings.append(
            Finding(
                C,
                f"Python {interp.version} cannot stand in for {ctx.substitute_for}: {seen.refused}",
                f"use Python {ctx.substitute_for}",
            )
        )
    elif spec is None:
        of_minor = [s for s in policy.pythons if s.minor == minor_of(interp.version)]
        if of_minor and of_minor[0].exact:
            why = f"the policy pins {of_minor[0]} exactly"
            fix = f"install Python {of_minor[0]} (e.g. `pyenv install {of_minor[0]}`)"
        else:
            why = f"the policy allows {', '.join(allowed)}"
            fix = f"use Python {policy.primary} (primary)"
        findings.append(Finding(C, f"Python {interp.version} is not supported: {why}", f"{fix}"))
    elif interp.release_level != "final":
        findings.append(
            Finding(
                W,
                f"Python {interp.version} is a {interp.release_level} release, not a final one",
                "use a final release of the interpreter",
            )
        )
    ok = f"Python {interp.version} is the {seen.status} interpreter ({spec})"
    return CheckResult.from_findings("python_version", title, findings, ok=ok, details=details)


def _probe_remedy(failure: ProbeFailure) -> str:
    if failure.kind == "missing":
        # Typically a venv whose base interpreter was removed or moved (a broken symlink).
        return "recreate the environment, or pass --python an interpreter that exists"
    if failure.kind in ("not_executable", "not_python"):
        return "pass --python the path of a Python interpreter, e.g. .venv/bin/python"
    if failure.kind == "too_old":
        return "use an interpreter the policy allows"
    return "run the interpreter by hand to see what is wrong, or recreate the environment"


CHECK = Check(
    "python_version",
    "Python version",
    "The interpreter is the policy's primary or one of its fallbacks.",
    (),
    python_version,
)
