"""package_dependencies: every requirement of the policy is installed at a satisfying version."""

from __future__ import annotations

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion

from preflight._checks._installed import installed
from preflight._checks.base import Check, Context
from preflight._checks.result import CheckResult, Finding, Severity
from preflight._policy.spec import parse_version

C = Severity.CRITICAL


def package_dependencies(ctx: Context) -> CheckResult:
    facts = ctx.facts
    found = installed(facts.distributions)
    fresh = ctx.remedies.fresh(ctx.lock_path)
    findings = []
    required: list[dict[str, str]] = []
    not_applicable: list[str] = []
    for req in ctx.policy.requires:
        if req.marker is not None and not req.marker.evaluate(facts.marker_env):
            not_applicable.append(str(req))
            continue
        name = canonicalize_name(req.name)
        dists = found.get(name)
        if not dists:
            findings.append(Finding(C, f"{req.name} is required ({req}) but not installed", fresh))
            continue
        version = dists[0].version
        required.append({"name": req.name, "spec": str(req.specifier), "version": version})
        try:
            ok = req.specifier.contains(parse_version(version), prereleases=True)
        except InvalidVersion:
            findings.append(
                Finding(C, f"{req.name} has version {version!r}, which is not PEP 440", fresh)
            )
            continue
        if not ok:
            findings.append(
                Finding(
                    C,
                    f"{req.name} {version} is installed but the policy requires {req}",
                    f"{fresh}, or {ctx.remedies.relock} if the lock pins it too low",
                )
            )
    n = len(ctx.policy.requires)
    return CheckResult.from_findings(
        "package_dependencies",
        "Required packages",
        findings,
        ok=(
            "the required package is installed at a satisfying version"
            if n == 1
            else f"all {n} required packages are installed at satisfying versions"
        ),
        details={"required": required, "not_applicable": not_applicable},
    )


CHECK = Check(
    "package_dependencies",
    "Required packages",
    "Every requirement of the policy is installed at a version that satisfies it.",
    ("interpreter",),
    package_dependencies,
    # A required package missing from an environment that should hold its lock is lock_sync's
    # finding ("locked but not installed"); said once, there.
    requires=("lock_sync",),
)
