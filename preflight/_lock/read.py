"""One door to every lock format: the file's name says which reader reads it.

PEP 751 names its locks ``pylock.toml`` or ``pylock.NAME.toml``; any other name is a
requirements file (``pip-compile`` output). Both give a :class:`Lock` of :class:`LockEntry`,
so ``preflight check``, the policy's ``lock`` and ``preflight.read_lock`` take either.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from packaging.markers import InvalidMarker, Marker

from preflight._lock import pylock
from preflight._lock.requirements import Lock, LockEntry, parse_lock

__all__ = ["applicable", "read_lock"]


def read_lock(path: str | os.PathLike[str]) -> Lock:
    """Read the lock at ``path`` (a requirements file or a PEP 751 lock); raise LockError."""
    if pylock.is_pylock_path(Path(path)):
        return pylock.parse_pylock(path)
    return parse_lock(path)


def applicable(lock: Lock, environment: Mapping[str, str]) -> tuple[LockEntry, ...]:
    """The entries of ``lock`` that apply to a target with this marker ``environment``.

    A PEP 751 lock's markers are evaluated in its own context (its default dependency
    groups); a requirements file's as pip evaluates a requirement's marker.
    """
    if isinstance(lock, pylock.Pylock):
        return pylock.applicable(lock.entries, environment, dependency_groups=lock.default_groups)
    return tuple(e for e in lock.entries if _applies(e.markers, environment))


def _applies(marker: str | None, environment: Mapping[str, str]) -> bool:
    if not marker:
        return True
    try:
        return Marker(marker).evaluate(dict(environment))
    except InvalidMarker:
        return True  # the lock parser already accepted it; judge it as applicable
