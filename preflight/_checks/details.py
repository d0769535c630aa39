"""The details of a check that another layer reads, typed: read here, once, by the layer that
writes them, so that no renderer, front end or operation reads a check's ``details`` by key.

A report read back from a file is untrusted: each reader takes only a value of the right type
(a bool is no number) and gives None otherwise, as the readers by key did.
"""

from __future__ import annotations

from dataclasses import dataclass

from preflight._checks.result import CheckResult

__all__ = ["LockAge", "first_start_seconds", "lock_age", "measured_seconds"]

# The work a check's details time, done for that check while the facts were gathered (the
# suite's run, the bytecode probe, the performance probe).
_MEASURED = {"suite": "seconds", "bytecode": "probe_seconds", "performance": "total_seconds"}


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


@dataclass(frozen=True)
class LockAge:
    """What ``wheel_status`` found of the lock's age: in days (from its header, or its last
    git commit), and when it was compiled (ISO 8601, as its header says)."""

    age_days: float | None = None
    compiled_at: str | None = None


def lock_age(result: CheckResult) -> LockAge:
    """The lock's age of a ``wheel_status`` result (nothing of another check's)."""
    if result.id != "wheel_status":
        return LockAge()
    compiled = result.details.get("compiled_at")
    return LockAge(
        age_days=_number(result.details.get("age_days")),
        compiled_at=compiled if isinstance(compiled, str) else None,
    )


def measured_seconds(result: CheckResult) -> float:
    """The time of the probe or run a check's facts took (the suite, the bytecode probe, the
    performance probe), more than 0; else 0."""
    key = _MEASURED.get(result.id)
    measured = _number(result.details.get(key)) if key is not None else None
    return measured if measured is not None and measured > 0 else 0.0


def first_start_seconds(result: CheckResult) -> float | None:
    """How long the environment's first start took, of a ``performance`` result that
    measured it."""
    if result.id != "performance":
        return None
    return _number(result.details.get("first_start_seconds"))
