"""The result model: one set of frozen objects, several renderings (JSON, log, terminal).

The verdict and the exit code are pure functions of the check results.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from preflight._checks.result import CheckResult, Finding, Severity, Status

SCHEMA_VERSION = 1


class Verdict(enum.StrEnum):
    READY = "READY"
    READY_FALLBACK = "READY_FALLBACK"
    NOT_READY = "NOT_READY"


class Overall(enum.StrEnum):
    PASSED = "PASSED"
    WARNING = "WARNING"
    FAILED = "FAILED"


# Exit codes: as in the seed, plus 3 for usage/configuration (argparse's 2 would collide with
# WARNING), 130 for Ctrl-C and 143 for SIGTERM.
EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_WARNING = 2
EXIT_USAGE = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports it


def overall(results: list[CheckResult] | tuple[CheckResult, ...]) -> Overall:
    worst = max((r.status for r in results), default=Status.PASS)
    if worst is Status.FAIL:
        return Overall.FAILED
    if worst is Status.WARN:
        return Overall.WARNING
    return Overall.PASSED


def verdict(python_status: str, results: list[CheckResult] | tuple[CheckResult, ...]) -> Verdict:
    """READY on the primary, READY_FALLBACK on a fallback, NOT_READY on anything critical."""
    if overall(results) is Overall.FAILED:
        return Verdict.NOT_READY
    if python_status == "primary":
        return Verdict.READY
    if python_status == "fallback":
        return Verdict.READY_FALLBACK
    return Verdict.NOT_READY


def exit_code(state: Overall) -> int:
    return {Overall.PASSED: EXIT_PASSED, Overall.FAILED: EXIT_FAILED}.get(state, EXIT_WARNING)


@dataclass(frozen=True)
class Report:
    timestamp: str  # ISO 8601, UTC
    interpreter: dict[str, Any]  # path, version, implementation (what is known)
    python_status: str  # primary | fallback | unsupported | unknown
    checks: tuple[CheckResult, ...]
    duration_s: float
    project: str
    lock: str | None
    tool_version: str
    substitute_for: str | None = None  # the pin this interpreter stood in for, on request

    @property
    def overall_status(self) -> Overall:
        return overall(self.checks)

    @property
    def status(self) -> Verdict:
        return verdict(self.python_status, self.checks)

    @property
    def exit_code(self) -> int:
        return exit_code(self.overall_status)

    def violations(self) -> list[tuple[str, Finding]]:
        return [(c.id, f) for c in self.checks for f in c.findings]

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (``schema_version`` 1), as ``--format json`` prints it."""
        violations = self.violations()
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "preflight", "version": self.tool_version},
            "timestamp": self.timestamp,
            "project": self.project,
            "lock": self.lock,
            "interpreter": self.interpreter,
            "python_status": self.python_status,
            "substitute_for": self.substitute_for,
            "status": self.status.value,
            "overall_status": self.overall_status.value,
            "exit_code": self.exit_code,
            "checks": {
                c.id: {
                    "title": c.title,
                    "status": c.status.label,
                    "message": c.message,
                    "findings": [
                        {"severity": f.severity.value, "message": f.message, "remedy": f.remedy}
                        for f in c.findings
                    ],
                    "details": c.details,
                    "seconds": c.seconds,
                }
                for c in self.checks
            },
            "violations": [
                {
                    "check": cid,
                    "severity": f.severity.value,
                    "message": f.message,
                    "remedy": f.remedy,
                }
                for cid, f in violations
            ],
            # The seed's consumers count warnings separately; kept as a view of the same findings.
            "warnings": [
                {"check": cid, "message": f.message}
                for cid, f in violations
                if f.severity is Severity.WARNING
            ],
            "duration_s": self.duration_s,
        }
