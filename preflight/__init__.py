"""preflight: verify that a Python environment is exactly what its lock says, and fit to run.

The public API is what this module exports; everything under a ``_``-prefixed name is
private and may change without notice::

    import dataclasses
    from pathlib import Path

    import preflight

    report = preflight.check(".venv/bin/python", project=".")
    if report.status != "READY":
        for check_id, finding in report.violations():
            print(check_id, finding.message, finding.remedy)

    # the same options as one typed value, validated once, reused with one field changed
    request = preflight.CheckRequest(project=Path("."), skip=("performance",))
    report = preflight.check_request(dataclasses.replace(request, python=".venv/bin/python"))

``preflight.nox`` registers the nox sessions (``import preflight.nox`` in a noxfile).

The names are loaded on first use, so that ``preflight --help`` and the small commands do not
pay for the whole engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from preflight._version import __version__

if TYPE_CHECKING:
    from preflight._checks.result import CheckResult, Finding, Severity, Status
    from preflight._engine import Judged, check, check_request, judge
    from preflight._errors import ConfigError, LockError, PreflightError, UsageError
    from preflight._facts.context import Remedies
    from preflight._facts.request import CheckRequest
    from preflight._lock.read import read_lock
    from preflight._lock.requirements import Lock, LockEntry
    from preflight._policy.policy import Policy, PythonSpec, load_policy
    from preflight._report.interpreter import Interpreter
    from preflight._report.model import Overall, Report, Verdict

# public name -> (private module, name there)
_EXPORTS = {
    "check": ("preflight._engine", "check"),
    "check_request": ("preflight._engine", "check_request"),
    "judge": ("preflight._engine", "judge"),
    "Judged": ("preflight._engine", "Judged"),
    "Interpreter": ("preflight._report.interpreter", "Interpreter"),
    "CheckRequest": ("preflight._facts.request", "CheckRequest"),
    "load_policy": ("preflight._policy.policy", "load_policy"),
    "read_lock": ("preflight._lock.read", "read_lock"),
    "Policy": ("preflight._policy.policy", "Policy"),
    "PythonSpec": ("preflight._policy.policy", "PythonSpec"),
    "Lock": ("preflight._lock.requirements", "Lock"),
    "LockEntry": ("preflight._lock.requirements", "LockEntry"),
    "Report": ("preflight._report.model", "Report"),
    "Verdict": ("preflight._report.model", "Verdict"),
    "Overall": ("preflight._report.model", "Overall"),
    "CheckResult": ("preflight._checks.result", "CheckResult"),
    "Finding": ("preflight._checks.result", "Finding"),
    "Severity": ("preflight._checks.result", "Severity"),
    "Status": ("preflight._checks.result", "Status"),
    "Remedies": ("preflight._facts.context", "Remedies"),
    "PreflightError": ("preflight._errors", "PreflightError"),
    "ConfigError": ("preflight._errors", "ConfigError"),
    "LockError": ("preflight._errors", "LockError"),
    "UsageError": ("preflight._errors", "UsageError"),
}

__all__ = [
    "CheckRequest",
    "CheckResult",
    "ConfigError",
    "Finding",
    "Interpreter",
    "Judged",
    "Lock",
    "LockEntry",
    "LockError",
    "Overall",
    "Policy",
    "PreflightError",
    "PythonSpec",
    "Remedies",
    "Report",
    "Severity",
    "Status",
    "UsageError",
    "Verdict",
    "__version__",
    "check",
    "check_request",
    "judge",
    "load_policy",
    "read_lock",
]


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'preflight' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
