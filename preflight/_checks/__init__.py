"""The checks, in report order, and the engine that runs them.

One module per check id, each exporting its ``CHECK``; the order of :data:`ALL` is the order
of the report (part of its schema).

A check whose needed fact could not be gathered is skipped, pointing at the check that reports
the root cause, so one broken thing is reported once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import replace

from preflight._checks import (
    baseline,
    bytecode,
    environment_config,
    integrity,
    lock_sync,
    package_dependencies,
    performance,
    python_version,
    security,
    startup_hooks,
    suite,
    virtual_environment,
    vulnerabilities,
    wheel_status,
)
from preflight._checks.base import Check, Context, Need, owner_of
from preflight._checks.result import CheckResult, Status
from preflight._errors import LockError
from preflight._facts.model import ProbeFailure

ALL: tuple[Check, ...] = (
    python_version.CHECK,
    virtual_environment.CHECK,
    package_dependencies.CHECK,
    wheel_status.CHECK,
    lock_sync.CHECK,
    integrity.CHECK,
    startup_hooks.CHECK,
    bytecode.CHECK,
    baseline.CHECK,
    environment_config.CHECK,
    security.CHECK,
    vulnerabilities.CHECK,
    performance.CHECK,
    suite.CHECK,
)
BY_ID = {c.id: c for c in ALL}


def _missing(ctx: Context, need: Need) -> bool:
    value = {
        "interpreter": ctx.interpreter,
        "lock": ctx.lock,
        "integrity": ctx.integrity,
        "bytecode": ctx.bytecode,
        "performance": ctx.performance,
        "suite": ctx.suite,
        "vulnerabilities": ctx.vulnerabilities,
        "baseline": ctx.baseline,
    }[need]
    return value is None or isinstance(value, ProbeFailure | LockError)


def needs_of(checks: Iterable[Check]) -> frozenset[Need]:
    """What must be gathered for ``checks``: nothing that only a left-out check would read."""
    return frozenset(need for check in checks for need in check.needs)


def run_checks(ctx: Context, checks: tuple[Check, ...] = ALL) -> list[CheckResult]:
    results = []
    for check in checks:
        blocked = next((n for n in check.needs if _missing(ctx, n)), None)
        if blocked is not None and owner_of(ctx, blocked) != check.id:
            owner = owner_of(ctx, blocked)
            results.append(
                CheckResult(
                    check.id,
                    check.title,
                    Status.SKIP,
                    f"skipped: needs the {blocked}, which is unavailable (see {owner})",
                    details={"blocked_by": owner},
                )
            )
            continue
        start = time.perf_counter()
        result = check.run(ctx)
        results.append(replace(result, seconds=round(time.perf_counter() - start, 4)))
    return results


__all__ = ["ALL", "BY_ID", "Check", "Context", "needs_of", "owner_of", "run_checks"]
