"""The lock's entries that apply to the judged interpreter (shared by wheel_status, lock_sync).

A universal lock pins some names once per marker range; which pin counts is decided by the
*target* interpreter's marker environment, as the probe reported it (``select.py``), for a
requirements file and a PEP 751 lock alike (``Lock.applicable``). Without
an interpreter to read it for (the probe failed, an explicit ``--lock``), every entry counts.
"""

from __future__ import annotations

from preflight._facts.context import Context
from preflight._facts.model import InterpreterFacts
from preflight._lock.requirements import LockEntry
from preflight._lock.select import Ambiguity


def lock_entries(ctx: Context) -> tuple[LockEntry, ...] | Ambiguity:
    """The entries of ``ctx.parsed_lock`` that apply here, or why the lock is ambiguous."""
    lock = ctx.parsed_lock
    if not isinstance(ctx.interpreter, InterpreterFacts):
        return lock.entries
    return lock.applicable(ctx.interpreter.marker_env)
