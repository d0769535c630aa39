"""What a check returns: a status, findings with remedies, details. Frozen values."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CheckResult", "Finding", "Severity", "Status", "status_of"]


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
    """One problem found by a check: what is wrong and what to do about it.

    ``file`` and ``line`` say where, for a finding about one line of a file (a lock entry):
    the path as the check was given it, and the 1-based line. An annotation on GitHub or a
    JUnit consumer points at that line; the message still names it for a reader of text.
    """

    severity: Severity
    message: str
    remedy: str | None = None
    file: str | None = None
    line: int | None = None


def status_of(findings: list[Finding] | tuple[Finding, ...]) -> Status:
    """The status a check's findings give it: FAIL with a critical one, WARN with warnings
    only, PASS with none (a check that was not run is SKIP, and has none)."""
    if any(f.severity is Severity.CRITICAL for f in findings):
        return Status.FAIL
    if findings:
        return Status.WARN
    return Status.PASS


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
        status = status_of(findings)
        worst = sorted(findings, key=lambda f: f.severity is not Severity.CRITICAL)
        message = ok if not findings else worst[0].message
        if len(findings) > 1:
            message += f" (+{len(findings) - 1} more)"
        return cls(id, title, status, message, tuple(findings), details or {})
