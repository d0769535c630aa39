"""One door to every lock format: the file's name says which reader reads it.

PEP 751 names its locks ``pylock.toml`` or ``pylock.NAME.toml``; any other name is a
requirements file (``pip-compile``, ``uv pip compile``, ``uv export`` output). Both give a
:class:`Lock` of :class:`LockEntry`, so ``preflight check``, the policy's ``lock`` and
``preflight.read_lock`` take either, and both are selected for an interpreter the same way
(:meth:`Lock.applicable`, ``select.py``). What differs between them is asked of the format
(:func:`lock_format`, ``format.py``), never tested for.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from preflight._lock.format import LockFormat
from preflight._lock.pylock import PYLOCK
from preflight._lock.requirements import REQUIREMENTS, Lock

__all__ = ["FORMATS", "lock_format", "read_lock"]

# Every format, by its name (relock's --format values, in this order): a new format is one
# reader module and one entry here.
FORMATS: Mapping[str, LockFormat] = MappingProxyType({f.name: f for f in (REQUIREMENTS, PYLOCK)})
# The first whose claim holds reads a lock: the fallback (a requirements file claims any
# name) is asked last.
_BY_CLAIM = sorted(FORMATS.values(), key=lambda f: f is REQUIREMENTS)


def lock_format(path: str | os.PathLike[str]) -> LockFormat:
    """The format of the lock at ``path`` (which need not exist): its file name says."""
    return next(f for f in _BY_CLAIM if f.claims(Path(path)))


def read_lock(
    path: str | os.PathLike[str], *, environment: Mapping[str, str] | None = None
) -> Lock:
    """Read the lock at ``path`` (a requirements file or a PEP 751 lock); raise LockError.

    With ``environment`` (a PEP 508 marker environment, e.g.
    ``packaging.markers.default_environment()`` for this interpreter), only the entries that
    apply there are returned (:meth:`Lock.select`; a name pinned twice there is a
    :class:`LockError`); without, every entry of the lock.
    """
    lock = lock_format(path).read(Path(path))
    return lock if environment is None else lock.select(environment)
