"""The result model: one set of frozen objects, several renderings (JSON, log, terminal).

The verdict and the exit code are pure functions of the check results.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1


class Status(enum.IntEnum):
    """A check's outcome, ordered by gravity so that ``max()`` gives the worst."""

    PASS = 0
    SKIP = 1
    WARN = 2
    FAIL = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class Severity(enum.StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Finding:
    """One problem found by a check: what is wrong and what to do about it."""

    severity: Severity
    message: str
    remedy: str | None = None


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    status: Status
    message: str  # one line summary
    findings: tuple[Finding, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @classmethod
    def from_findings(
        cls,
        id: str,
        title: str,
        findings: list[Finding],
        *,
        ok: str,
        details: dict[str, Any] | None = None,
    ) -> CheckResult:
        """PASS with ``ok`` when nothing was found, else FAIL/WARN summarised by the worst."""
        if any(f.severity is Severity.CRITICAL for f in findings):
            status = Status.FAIL
        elif findings:
            status = Status.WARN
        else:
            status = Status.PASS
        worst = sorted(findings, key=lambda f: f.severity is not Severity.CRITICAL)
        message = ok if not findings else worst[0].message
        if len(findings) > 1:
            message += f" (+{len(findings) - 1} more)"
        return cls(id, title, status, message, tuple(findings), details or {})


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
