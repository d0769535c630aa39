"""What the nox sessions give pip or uv to install: a requirements lock as it is; a PEP 751
lock as the requirements file of the pins it selects for the target.

pip cannot install from a ``pylock.toml`` yet, and the environment's markers are what the
lock's own markers are evaluated against (PEP 751: the lock's ``default-groups``, no
extras), which a requirements marker cannot express. So the target interpreter is probed,
its pins selected exactly as the check selects them (:meth:`Lock.applicable`), and each is
written as ``name==version --hash=...`` for every artifact hash the lock gives, to be
installed with hashes required and no resolving, like any lock. A package that is no index
pin (vcs, directory, archive), has no version or no hash cannot be installed that way: an
error naming it, before anything is installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from preflight._atomic import write_atomic
from preflight._errors import LockError, PreflightError
from preflight._facts.model import InterpreterFacts
from preflight._facts.probes import probe_interpreter
from preflight._lock import read
from preflight._lock.select import Ambiguity

__all__ = ["installable_lock"]


def installable_lock(
    lock: Path, python: Path, folder: Path, *, withhold: Sequence[str] = ()
) -> Path:
    """``lock`` itself when pip and uv install its format as written (a requirements file),
    else (a PEP 751 lock) the requirements file of its pins for ``python``, written in
    ``folder``; :class:`PreflightError` saying why it cannot be.
    ``withhold``: the policy's credential variables, never handed to the probe."""
    lock_format = read.lock_format(lock)
    if lock_format.installs_as_written:
        return lock
    parsed = lock_format.read(lock)
    facts = probe_interpreter(python, withhold=withhold)
    if not isinstance(facts, InterpreterFacts):
        raise PreflightError(f"cannot read the markers of {python}: {facts.message}")
    selected = parsed.applicable(facts.marker_env)
    if isinstance(selected, Ambiguity):
        raise LockError(lock, None, f"is ambiguous for {python}: {selected.describe()}")
    lines = [f"# the pins of {lock.name} for {python} (preflight)"]
    for entry in selected:
        if entry.url or entry.editable or entry.version is None or not entry.hashes:
            raise LockError(
                lock,
                entry.line,
                f"{entry.raw_name} is not an index pin with hashes (a vcs, directory or "
                "archive source, or no file hash): it cannot be installed with hashes "
                "required",
                hint="lock it from an index, with hashes",
            )
        hashes = " ".join(f"--hash={value}" for value in entry.hashes)
        lines.append(f"{entry.name}=={entry.version} {hashes}")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{lock.stem}.requirements.txt"
    write_atomic(target, "\n".join(lines) + "\n")
    return target
