"""What a check is: a stable id, its purpose, the facts it needs, and a pure function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from preflight._checks.result import CheckResult
from preflight._facts.context import Context, Need, Remedies
from preflight._facts.model import ProbeFailure

__all__ = ["OWNER", "Check", "Context", "Need", "Remedies", "owner_of"]


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


def owner_of(ctx: Context, need: Need) -> str:
    """The check that reports why ``need`` is missing: an interpreter that is not the
    environment's (not run) is virtual_environment's finding, any other probe failure
    python_version's."""
    failure = ctx.interpreter
    if need == "interpreter" and isinstance(failure, ProbeFailure) and failure.kind == "foreign":
        return "virtual_environment"
    return OWNER[need]
