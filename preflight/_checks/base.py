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
    """A declarative unit: a stable id, its purpose, what it needs, and the function.

    ``requires`` names checks whose failure makes this one's verdict a repetition (the same
    broken thing seen again): when one of them fails, this check is skipped and points at it
    (repo-review's model). ``runs_environment`` says whether gathering this check's facts runs
    the judged environment's code (or is a function of the context that says whether): such
    a check is judged only once every verifying check has passed (``VERIFYING`` in
    ``preflight._checks``), and its facts are gathered only then.
    """

    id: str
    title: str
    purpose: str
    needs: tuple[Need, ...]
    run: Callable[[Context], CheckResult]
    requires: tuple[str, ...] = ()
    runs_environment: bool | Callable[[Context], bool] = False

    def runs_code(self, ctx: Context) -> bool:
        """Whether gathering this check's facts for ``ctx`` runs the environment's code."""
        runs = self.runs_environment
        return runs if isinstance(runs, bool) else runs(ctx)


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
