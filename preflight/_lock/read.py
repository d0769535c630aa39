"""One door to every lock format: the file's name says which reader reads it.

PEP 751 names its locks ``pylock.toml`` or ``pylock.NAME.toml``; any other name is a
requirements file (``pip-compile``, ``uv pip compile``, ``uv export`` output). Both give a
:class:`Lock` of :class:`LockEntry`, so ``preflight check``, the policy's ``lock`` and
``preflight.read_lock`` take either, and both are selected for an interpreter the same way
(:meth:`Lock.applicable`, ``select.py``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from preflight._lock import pylock
from preflight._lock.requirements import Lock, parse_lock

__all__ = ["read_lock"]


def read_lock(
    path: str | os.PathLike[str], *, environment: Mapping[str, str] | None = None
) -> Lock:
    """Read the lock at ``path`` (a requirements file or a PEP 751 lock); raise LockError.

    With ``environment`` (a PEP 508 marker environment, e.g.
    ``packaging.markers.default_environment()`` for this interpreter), only the entries that
    apply there are returned (:meth:`Lock.select`; a name pinned twice there is a
    :class:`LockError`); without, every entry of the lock.
    """
    if pylock.is_pylock_path(Path(path)):
        lock: Lock = pylock.parse_pylock(path)
        return lock if environment is None else lock.select(environment)
    return parse_lock(path, environment=environment)
