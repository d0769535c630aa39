"""environment_config: the seed's SMVM_* variables and .smvm_config, as policy-driven warnings."""

from __future__ import annotations

from pathlib import Path

from packaging.version import InvalidVersion, Version

from preflight._checks.base import Check, Context
from preflight._checks.result import CheckResult, Finding, Severity

W = Severity.WARNING


def _consistent(claimed: str, actual: str) -> bool:
    """'3.12' agrees with 3.12.1, '3.12.1' only with 3.12.1 (compared as versions)."""
    try:
        want = Version(claimed).release
    except InvalidVersion:
        return False
    return Version(actual).release[: len(want)] == want


def read_config(path: Path) -> tuple[dict[str, str], list[Finding]]:
    """``key = value`` or ``key: value`` lines; ``#`` comments. Bad lines are named."""
    values: dict[str, str] = {}
    findings = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return values, [Finding(W, f"{path} cannot be read: {exc}", "fix or remove the file")]
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        sep = min((i for i in (line.find("="), line.find(":")) if i > 0), default=-1)
        if sep < 0:
            findings.append(
                Finding(W, f"{path}, line {number}: {raw!r} is not 'key = value'", "fix the line")
            )
            continue
        values[line[:sep].strip().lower()] = line[sep + 1 :].strip().strip("\"'")
    return values, findings


def environment_config(ctx: Context) -> CheckResult:
    version = ctx.facts.version
    findings = []
    details: dict[str, object] = {}
    for var in ctx.policy.env_vars:
        value = ctx.environ.get(var)
        details[var] = value
        if not value:
            example = version if var.endswith("PYTHON_VERSION") else "healthy"
            findings.append(Finding(W, f"{var} is not set", f"export {var}={example}"))
        elif var.endswith("PYTHON_VERSION") and not _consistent(value, version):
            findings.append(
                Finding(
                    W,
                    f"{var}={value} does not match the interpreter ({version})",
                    f"export {var}={version}",
                )
            )
    path = ctx.policy.project_dir / ctx.policy.config_file
    details["config_file"] = str(path)
    if not path.exists():
        details["config_file_present"] = False
        if ctx.policy.config_file_required:
            findings.append(
                Finding(
                    W, f"{path} does not exist", f"create it with a line python_version = {version}"
                )
            )
    else:
        details["config_file_present"] = True
        values, bad = read_config(path)
        findings += bad
        claimed = values.get("python_version")
        details["config_python_version"] = claimed
        if claimed is None:
            findings.append(
                Finding(
                    W, f"{path} has no python_version setting", f"add python_version = {version}"
                )
            )
        elif not _consistent(claimed, version):
            findings.append(
                Finding(
                    W,
                    f"{path} says python_version = {claimed}, the interpreter is {version}",
                    f"set python_version = {version}",
                )
            )
    return CheckResult.from_findings(
        "environment_config",
        "Environment configuration",
        findings,
        ok="environment variables and config file agree with the interpreter",
        details=details,
    )


CHECK = Check(
    "environment_config",
    "Environment configuration",
    "The policy's environment variables are set and agree with the interpreter, "
    "as does the config file.",
    ("interpreter",),
    environment_config,
)
