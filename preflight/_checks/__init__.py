"""The checks, in report order, and the engine that runs them.

One module per check id, each exporting its ``CHECK``; the order of :data:`ALL` is the order
of the report (part of its schema). The engine judges them in an order of its own, each after
what it depends on:

* a check whose needed fact could not be gathered is skipped, pointing at the check that
  reports the root cause (:data:`~preflight._checks.base.OWNER`);
* a check whose prerequisite (``requires``) failed is skipped, pointing at it: one broken thing
  is reported once (repo-review's model);
* a check that runs the environment's code (``runs_environment``) is judged only when every
  verifying check (:data:`VERIFYING`) passed: verify, then run. Otherwise it is skipped, and
  its facts were never gathered (``_engine.py`` gathers in two stages): nothing of the
  environment runs before its files are verified.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

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

# The checks that verify what the environment would run (its interpreter and isolation, its
# installed set, its files, its bytecode, its start-up hooks). Each must have passed (pass or
# warn; not failed, not left out, not cut short) before a check that runs the environment's
# code is judged. An id that is not (yet) in ALL is not waited for.
VERIFYING: tuple[str, ...] = (
    "virtual_environment",
    "lock_sync",
    "integrity",
    "bytecode",
    "startup_hooks",
)
# Verifying too, but run only when asked (``--baseline``): when run, a failure holds the code.
VERIFYING_WHEN_RUN: tuple[str, ...] = ("baseline",)


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


@dataclass(frozen=True)
class Held:
    """Why the environment's code is not run: the verifying checks that did not pass."""

    failed: tuple[str, ...]  # failed
    unfinished: tuple[str, ...]  # ran, but could not verify everything (a probe timed out)
    unchecked: tuple[tuple[str, str], ...]  # (id, why): left out, or skipped

    @property
    def blocked_by(self) -> str:
        return (self.failed + self.unfinished + tuple(i for i, _ in self.unchecked))[0]

    @property
    def message(self) -> str:
        parts = []
        if self.failed:
            parts.append(f"the environment failed {_and(self.failed)}")
        if self.unfinished:
            parts.append(f"{_and(self.unfinished)} did not finish verifying it")
        parts += [f"{check_id} was not checked ({why})" for check_id, why in self.unchecked]
        return f"not run: {', '.join(parts)}; its code is not executed"


def _and(ids: tuple[str, ...]) -> str:
    return ids[0] if len(ids) == 1 else f"{', '.join(ids[:-1])} and {ids[-1]}"


def held_back(results: Mapping[str, CheckResult], checks: Iterable[Check]) -> Held | None:
    """Whether the environment's code must not run, judged on the verifying checks' ``results``
    (a check in ``checks`` without a result was left out); None: verified, run it."""
    chosen = {check.id for check in checks}
    failed, unfinished, unchecked = [], [], []
    for check_id in VERIFYING + VERIFYING_WHEN_RUN:
        if check_id not in BY_ID:
            continue  # not a check of this version
        result = results.get(check_id) if check_id in chosen else None
        if result is None:
            if check_id in VERIFYING:
                unchecked.append((check_id, "left out"))
        elif result.status is Status.FAIL:
            failed.append(check_id)
        elif result.status is Status.SKIP:
            if check_id in VERIFYING:
                blocker = result.details.get("blocked_by")
                unchecked.append((check_id, f"see {blocker}" if blocker else result.message))
        elif result.details.get("incomplete"):
            unfinished.append(check_id)
    if not (failed or unfinished or unchecked):
        return None
    return Held(tuple(failed), tuple(unfinished), tuple(unchecked))


def verifying_stage(checks: Iterable[Check]) -> tuple[Check, ...]:
    """Of ``checks``, the ones judged before any code of the environment may run: the verifying
    checks and what they require, in report order."""
    chosen = {check.id: check for check in checks}
    wanted: set[str] = set()
    todo = [i for i in VERIFYING + VERIFYING_WHEN_RUN if i in chosen]
    while todo:
        check_id = todo.pop()
        if check_id not in wanted:
            wanted.add(check_id)
            todo += [r for r in chosen[check_id].requires if r in chosen]
    return tuple(check for check in chosen.values() if check.id in wanted)


def _after(check: Check) -> tuple[str, ...]:
    """The checks judged before ``check``: its prerequisites and, if it runs the environment's
    code, every verifying check."""
    gate = VERIFYING + VERIFYING_WHEN_RUN if check.runs_environment is not False else ()
    return check.requires + gate


def judging_order(checks: tuple[Check, ...]) -> tuple[Check, ...]:
    """``checks`` in an order where each comes after what it depends on (among ``checks``);
    otherwise in report order."""
    present = {check.id for check in checks}
    done: set[str] = set()
    order: list[Check] = []
    left = list(checks)
    while left:
        ready = next(
            (c for c in left if all(d in done or d not in present for d in _after(c))), None
        )
        if ready is None:  # a programming error: tests/test_checks.py keeps the graph acyclic
            raise RuntimeError(f"the checks' prerequisites form a cycle: {[c.id for c in left]}")
        order.append(ready)
        done.add(ready.id)
        left.remove(ready)
    return tuple(order)


def _skipped(check: Check, message: str, **details: object) -> CheckResult:
    return CheckResult(check.id, check.title, Status.SKIP, message, details=details)


def _blocked(
    ctx: Context, check: Check, results: Mapping[str, CheckResult], checks: tuple[Check, ...]
) -> CheckResult | None:
    """The skip ``check`` gets, or None when it is judged."""
    blocked = next((n for n in check.needs if _missing(ctx, n)), None)
    if blocked is not None and owner_of(ctx, blocked) != check.id:
        owner = owner_of(ctx, blocked)
        return _skipped(
            check,
            f"skipped: needs the {blocked}, which is unavailable (see {owner})",
            blocked_by=owner,
        )
    runs = check.runs_code(ctx)
    if check.runs_environment is not False and not runs:
        return None  # nothing of the environment to run (no suite named): judged as it is
    if runs:
        held = held_back(results, checks)
        if held is not None:
            return _skipped(
                check,
                held.message,
                blocked_by=held.blocked_by,
                reason="not_verified",
                not_verified=[*held.failed, *held.unfinished, *(i for i, _ in held.unchecked)],
            )
    for prerequisite in check.requires:
        result = results.get(prerequisite)
        if result is None:
            continue  # left out: nothing to repeat
        if result.status is Status.FAIL:
            root = prerequisite
        elif result.status is Status.SKIP and result.details.get("reason") == "failed":
            root = result.details["blocked_by"]  # skipped for the same broken thing
        else:
            continue
        return _skipped(
            check,
            f"skipped: it depends on {root}, which failed (see {root})",
            blocked_by=root,
            reason="failed",
        )
    return None


def run_checks(
    ctx: Context,
    checks: tuple[Check, ...] = ALL,
    *,
    judged: Mapping[str, CheckResult] | None = None,
    clock: Callable[[], float] | None = None,
) -> list[CheckResult]:
    """The results of ``checks`` on ``ctx``, in the order of ``checks``; ``judged`` holds results
    already had (the verifying stage's), kept as they are. ``clock`` (the engine passes
    ``time.perf_counter``) times each check; without it, ``seconds`` stays 0: the checks read
    no clock of their own."""
    results: dict[str, CheckResult] = dict(judged or {})
    for check in judging_order(checks):
        if check.id in results:
            continue
        skip = _blocked(ctx, check, results, checks)
        if skip is not None:
            results[check.id] = skip
            continue
        start = clock() if clock is not None else 0.0
        result = check.run(ctx)
        if clock is not None:
            result = replace(result, seconds=round(clock() - start, 4))
        results[check.id] = result
    return [results[check.id] for check in checks]


__all__ = [
    "ALL",
    "BY_ID",
    "VERIFYING",
    "VERIFYING_WHEN_RUN",
    "Check",
    "Context",
    "Held",
    "held_back",
    "judging_order",
    "needs_of",
    "owner_of",
    "run_checks",
    "verifying_stage",
]
