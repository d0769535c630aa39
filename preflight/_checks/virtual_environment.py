"""virtual_environment: does the interpreter run isolated, in a virtual environment of its own?

Packages that leak in (the system or user site-packages, PYTHONPATH) make the environment
something other than what its lock says, even when every pinned package is right. The
interpreter must be the environment's: for a venv, the one its pyvenv.cfg's ``home`` names,
reporting the folder it was given in (else it was never run, and this check says why); and the
site folders site.py's rule puts on ``sys.path`` must be where the interpreter's own sysconfig
scheme installs.
"""

from __future__ import annotations

from preflight._checks.base import Check, Context
from preflight._checks.result import CheckResult, Finding, Severity, Status
from preflight._facts.model import InterpreterFacts, ProbeFailure
from preflight._facts.site import layout_disagreement

C, W = Severity.CRITICAL, Severity.WARNING
TITLE = "Virtual environment"


def virtual_environment(ctx: Context) -> CheckResult:
    if isinstance(ctx.interpreter, ProbeFailure):  # only "foreign" reaches here (owner_of)
        failure = ctx.interpreter
        remedy = "recreate the environment (`python -m venv ENV`), or give its own interpreter"
        return CheckResult(
            "virtual_environment",
            TITLE,
            Status.FAIL,
            failure.message,
            (Finding(C, failure.message, remedy),),
            {"python": ctx.python, "failure": failure.kind},
        )
    facts = ctx.facts
    findings: list[Finding] = []
    pythonpath = ctx.environ.get("PYTHONPATH", "")
    details: dict[str, object] = {
        "in_venv": facts.in_venv,
        "prefix": facts.prefix,
        "base_prefix": facts.base_prefix,
        "include_system_site_packages": bool(facts.system_site_packages),
        "user_site_enabled": facts.user_site_enabled,
        "pythonpath": pythonpath or None,
        "interpreter_anchor": facts.anchor or None,
        "site_dirs": list(facts.site_rule_dirs),
        "install_paths": dict(facts.install_paths),
    }
    for scheme, site_dirs in layout_disagreement(
        facts.site_rule_dirs, facts.install_paths, facts.real_paths
    ):
        findings.append(
            Finding(
                C,
                f"the interpreter's sysconfig scheme installs to {scheme}, but site.py puts "
                f"{site_dirs} on sys.path for {facts.prefix}: what is installed is not what "
                "is imported",
                "recreate the environment with this interpreter (`python -m venv ENV`)",
            )
        )
    if not facts.in_venv and facts.root is not None:
        details["image_interpreter"] = True  # the image is its isolation: no venv needed
    elif not facts.in_venv:
        findings.append(
            Finding(
                W,
                f"{facts.executable} is not in a virtual environment"
                + (f": {facts.anchor}" if facts.anchor else ""),
                "use a virtual environment for isolation: " + ctx.remedies.fresh(ctx.lock_path),
            )
        )
    else:
        findings += _venv_consistency(facts)
        if facts.system_site_packages:
            findings.append(
                Finding(
                    W,
                    "the virtual environment sees the system site-packages "
                    "(include-system-site-packages = true)",
                    "recreate it without --system-site-packages",
                )
            )
    if facts.user_site_enabled and not facts.in_venv:
        findings.append(
            Finding(
                W,
                f"the user site-packages ({facts.user_site}) is on sys.path at start-up",
                "set PYTHONNOUSERSITE=1 or use a virtual environment",
            )
        )
    if pythonpath:
        findings.append(
            Finding(
                W,
                f"PYTHONPATH={pythonpath} leaks packages into the environment",
                "unset PYTHONPATH",
            )
        )
    ok = f"isolated virtual environment at {facts.prefix}"
    if not facts.in_venv and facts.root is not None:
        ok = f"the image's own interpreter, isolated by the image (prefix {facts.prefix})"
    return CheckResult.from_findings("virtual_environment", TITLE, findings, ok=ok, details=details)


def _venv_consistency(facts: InterpreterFacts) -> list[Finding]:
    """The venv's recorded base version must be the interpreter's (the seed's version match)."""
    cfg = facts.pyvenv_cfg
    recorded = cfg.get("version_info") or cfg.get("version") or ""
    if not recorded:
        return []
    # virtualenv writes "3.12.1.final.0"; venv writes "3.12.1".
    recorded_release = ".".join(recorded.split(".")[:3])
    if recorded_release == facts.version:
        return []
    return [
        Finding(
            Severity.CRITICAL,
            f"the virtual environment was created with Python {recorded_release} but its "
            f"interpreter is now {facts.version} (the base interpreter changed under it)",
            "recreate the virtual environment",
        )
    ]


CHECK = Check(
    "virtual_environment",
    TITLE,
    "The interpreter is its environment's and runs isolated, in a virtual environment.",
    ("interpreter",),
    virtual_environment,
)
