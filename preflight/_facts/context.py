"""What the checks judge: the gathered facts, with the policy they were gathered for.

Built by ``gather`` in two stages (the verified facts, then a copy with the facts of running the
environment's code) and never changed; checks are pure functions of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, get_args

from preflight._errors import LockError
from preflight._facts.baseline import BaselineFacts
from preflight._facts.bytecode import BytecodeFacts
from preflight._facts.model import (
    ConfigFile,
    FileMode,
    FirstStartFacts,
    IntegrityFacts,
    InterpreterFacts,
    PerformanceFacts,
    ProbeFailure,
    SuiteFacts,
)
from preflight._facts.osv import DataUnavailable, VulnerabilityData
from preflight._lock.requirements import Lock
from preflight._policy.policy import Policy

# The facts a check may need; what the chosen checks need is what is gathered.
Need = Literal[
    "interpreter",
    "lock",
    "integrity",
    "bytecode",
    "baseline",
    "performance",
    "suite",
    "vulnerabilities",
]
ALL_NEEDS: frozenset[Need] = frozenset(get_args(Need))


@dataclass(frozen=True)
class Remedies:
    """How fixes are phrased for the front end in use.

    The CLI, the gate and the monitor name ``preflight`` commands and plain pip steps (the
    default); inside a nox session, the sessions that do the same (:data:`NOX_REMEDIES`).
    ``{lock}`` in :attr:`fresh_env` is the lock's path.
    """

    fresh_env: str = (
        "build a fresh environment from the lock (`python -m venv ENV`, then "
        "`ENV/bin/python -m pip install --require-hashes --no-deps -r {lock}`)"
    )
    relock: str = "run `preflight relock`"

    def fresh(self, lock: Path | str | None) -> str:
        return self.fresh_env.format(lock=lock if lock is not None else "LOCK")


NOX_REMEDIES = Remedies(
    fresh_env="run `nox -s preflight` for a fresh environment", relock="run `nox -s relock`"
)


@dataclass(frozen=True)
class Context:
    """Everything the checks judge. Gathered by ``gather.py``; never changed after."""

    policy: Policy
    python: str  # the interpreter path as the user gave it
    interpreter: InterpreterFacts | ProbeFailure
    environ: Mapping[str, str]  # the environment the checked application runs with
    now: datetime
    lock_path: Path | None = None  # None when the interpreter could not be probed
    lock: Lock | LockError | None = None
    lock_committed: datetime | None = None  # last git commit of the lock, if in git
    integrity: IntegrityFacts | None = None
    bytecode: BytecodeFacts | ProbeFailure | None = None  # the pycs Python would load
    performance: PerformanceFacts | ProbeFailure | None = None
    suite: SuiteFacts | None = None  # None: the policy names none, or it was skipped
    first_start: FirstStartFacts | None = None  # None: not asked for (not a fresh env)
    # The OSV data for the installed and locked packages; None: no data was configured.
    vulnerabilities: VulnerabilityData | DataUnavailable | None = None
    baseline: BaselineFacts | None = None  # None: no --baseline given
    substitute_for: str | None = None  # the exact pin this interpreter may stand in for
    remedies: Remedies = field(default_factory=Remedies)  # phrased for the front end
    # The project's files: the lock in use and the protected files' mode bits (security),
    # the policy's config file (environment_config; None: it names none).
    protected: tuple[FileMode, ...] = ()
    config_file: ConfigFile | None = None

    @property
    def facts(self) -> InterpreterFacts:
        """The interpreter facts; only call from checks that declare ``needs=("interpreter",)``."""
        assert isinstance(self.interpreter, InterpreterFacts)
        return self.interpreter

    @property
    def parsed_lock(self) -> Lock:
        assert isinstance(self.lock, Lock)
        return self.lock
