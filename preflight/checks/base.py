"""What a check is, and the facts it is a pure function of."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from preflight.errors import LockError
from preflight.facts import (
    IntegrityFacts,
    InterpreterFacts,
    PerformanceFacts,
    ProbeFailure,
    SuiteFacts,
)
from preflight.lockfile import Lock
from preflight.policy import Policy
from preflight.results import CheckResult

Need = Literal["interpreter", "lock", "integrity", "performance", "suite"]


@dataclass(frozen=True)
class Context:
    """Everything the checks judge. Gathered once (``gather.py``); never changed after."""

    policy: Policy
    python: str  # the interpreter path as the user gave it
    interpreter: InterpreterFacts | ProbeFailure
    environ: Mapping[str, str]  # the environment the checked application runs with
    now: datetime
    lock_path: Path | None = None  # None when the interpreter could not be probed
    lock: Lock | LockError | None = None
    lock_committed: datetime | None = None  # last git commit of the lock, if in git
    integrity: IntegrityFacts | None = None
    performance: PerformanceFacts | ProbeFailure | None = None
    suite: SuiteFacts | None = None  # None: the policy names none, or it was skipped
    substitute_for: str | None = None  # the exact pin this interpreter may stand in for

    @property
    def facts(self) -> InterpreterFacts:
        """The interpreter facts; only call from checks that declare ``needs=("interpreter",)``."""
        assert isinstance(self.interpreter, InterpreterFacts)
        return self.interpreter

    @property
    def parsed_lock(self) -> Lock:
        assert isinstance(self.lock, Lock)
        return self.lock


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
    "performance": "performance",
    "suite": "suite",
}
