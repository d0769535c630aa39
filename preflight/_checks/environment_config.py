"""environment_config: the policy's environment variables and config file, as warnings.

Nothing is checked unless the policy names it (``env_vars``, ``config_file``): an adopter's
policy of only ``pythons`` and ``requires`` passes here.
"""

from __future__ import annotations

from packaging.version import InvalidVersion

from preflight._checks.base import Check, Context
from preflight._checks.result import CheckResult, Finding, Severity
from preflight._facts.model import ConfigFile
from preflight._policy.environment import EnvVar
from preflight._policy.spec import parse_version
from preflight._text import plural

W = Severity.WARNING


def _consistent(claimed: str, actual: str) -> bool:
    """'3.12' agrees with 3.12.1, '3.12.1' only with 3.12.1 (compared as versions)."""
    try:
        want = parse_version(claimed).release
        return parse_version(actual).release[: len(want)] == want
    except InvalidVersion:
        return False


def parse_config(config: ConfigFile) -> tuple[dict[str, str], list[Finding]]:
    """``key = value`` or ``key: value`` lines; ``#`` comments. Bad lines are named."""
    values: dict[str, str] = {}
    findings = []
    path = config.path
    if config.text is None:  # a FIFO, /dev/zero, a folder, a huge or non-UTF-8 file
        problem = config.problem or f"{path} was not read"
        return values, [Finding(W, f"{problem} (it cannot be read)", "fix or remove the file")]
    for number, raw in enumerate(config.text.splitlines(), 1):
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
    findings: list[Finding] = []
    details: dict[str, object] = {}
    for var in ctx.policy.env_vars:
        value = ctx.environ.get(var.name)
        details[var.name] = value
        findings += _variable(var, value, version)
    config_file = ctx.policy.config_file
    if config_file is not None:
        config = ctx.config_file or ConfigFile(ctx.policy.project_dir / config_file, True)
        findings += _config_file(config, ctx, details)
    return CheckResult.from_findings(
        "environment_config",
        "Environment configuration",
        findings,
        ok=_ok(len(ctx.policy.env_vars), config_file, details.get("config_file_present")),
        details=details,
    )


def _variable(var: EnvVar, value: str | None, version: str) -> list[Finding]:
    """Unset, or not what the table form expects, or (the list form) a version that disagrees."""
    name, expected = var.name, var.expected_for(version)
    if not value:
        example = expected or (version if name.endswith("PYTHON_VERSION") else "healthy")
        return [Finding(W, f"{name} is not set", f"export {name}={example}")]
    if expected is not None:
        if value != expected:
            return [
                Finding(
                    W, f"{name}={value}, the policy expects {expected}", f"export {name}={expected}"
                )
            ]
    elif name.endswith("PYTHON_VERSION") and not _consistent(value, version):
        return [
            Finding(
                W,
                f"{name}={value} does not match the interpreter ({version})",
                f"export {name}={version}",
            )
        ]
    return []


def _config_file(config: ConfigFile, ctx: Context, details: dict[str, object]) -> list[Finding]:
    """The config file's python_version agrees with the interpreter; absent is fine unless
    the policy requires it."""
    version, path = ctx.facts.version, config.path
    details["config_file"] = str(path)
    if not config.present:
        details["config_file_present"] = False
        if ctx.policy.config_file_required:
            return [
                Finding(
                    W, f"{path} does not exist", f"create it with a line python_version = {version}"
                )
            ]
        return []
    details["config_file_present"] = True
    values, findings = parse_config(config)
    claimed = values.get("python_version")
    details["config_python_version"] = claimed
    if claimed is None:
        findings.append(
            Finding(W, f"{path} has no python_version setting", f"add python_version = {version}")
        )
    elif not _consistent(claimed, version):
        findings.append(
            Finding(
                W,
                f"{path} says python_version = {claimed}, the interpreter is {version}",
                f"set python_version = {version}",
            )
        )
    return findings


def _ok(variables: int, config_file: str | None, present: object) -> str:
    named = (
        f"{plural(variables, 'environment variable')} set as the policy expects"
        if variables
        else ""
    )
    if config_file is None:
        return named or "the policy names no environment variables and no config file"
    if present is False:  # named, absent, not required: nothing was compared
        return f"{named + '; ' if named else ''}{config_file} is absent (not required)"
    if named:
        return "environment variables and config file agree with the interpreter"
    return f"{config_file} agrees with the interpreter"


CHECK = Check(
    "environment_config",
    "Environment configuration",
    "The policy's environment variables are set and agree with the interpreter, "
    "as does the config file.",
    ("interpreter",),
    environment_config,
)
