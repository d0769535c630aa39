"""What a check is: a stable id, its purpose, the facts it needs, and a pure function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from preflight._checks.result import CheckResult
from preflight._facts.context import Context, Need, Remedies

__all__ = ["OWNER", "Check", "Context", "Need", "Remedies"]


@dataclass(frozen=True)
class Check:
    """A declarative unit: a stable id, its purpose, what it needs, and the function."""

    id: str
    title: str
    purpose: str
    needs: tuple[Need, ...]
    run: Callable[[Context], CheckResult]


# Which check reports the root cause when a needed fact is missing, so it is said once.
OWNER: dict[Need, str] = {
    "interpreter": "python_version",
    "lock": "wheel_status",
    "integrity": "integrity",
    "bytecode": "bytecode",
    "performance": "performance",
    "suite": "suite",
    "vulnerabilities": "vulnerabilities",
    "baseline": "baseline",
}
