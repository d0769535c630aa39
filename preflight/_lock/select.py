"""Which entries of a lock apply to one interpreter: its markers, evaluated for the *target*.

A universal lock (``uv pip compile --universal``, ``uv export``, a ``pylock.toml``) pins a
name more than once, one pin per marker range::

    docutils==0.21.2 ; python_full_version < '3.11'
    docutils==0.22.4 ; python_full_version >= '3.11'

pip installs the entries whose markers hold for the interpreter it runs in; a lock judged
for another interpreter is read the same way, with that interpreter's marker environment
(the probe reports it: ``InterpreterFacts.marker_env``), never preflight's own. Exactly one
entry may apply per name: two that both apply make the lock ambiguous for that interpreter
(pip would refuse to install it), which is a value here, not an exception, so a check can
report it as a finding.

The entries are anything with a ``name`` (canonical), ``markers`` (text or None) and
``line``: the requirements-file reader's :class:`LockEntry` and a ``pylock.toml`` reader's
entries alike. Only how a marker is evaluated differs: a requirements file's as pip evaluates
a requirement's; a PEP 751 lock's in that PEP's ``lock_file`` context, where ``extras`` and
``dependency_groups`` are sets (no extras, the lock's ``default-groups``): the caller passes
``dependency_groups`` for a PEP 751 lock (``Lock.applicable`` does).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.version import InvalidVersion

__all__ = ["Ambiguity", "AmbiguousName", "Pin", "applies", "select_entries"]


class Pin(Protocol):
    """What selection reads of an entry."""

    @property
    def name(self) -> str: ...  # canonical (PEP 503)

    @property
    def markers(self) -> str | None: ...

    @property
    def line(self) -> int: ...  # where the entry is written (1-based)


E = TypeVar("E", bound=Pin)


@dataclass(frozen=True)
class AmbiguousName:
    """A name more than one of whose entries applies to the interpreter."""

    name: str
    lines: tuple[int, ...]  # of the entries that apply, ascending
    markers: tuple[str | None, ...]  # theirs, in the same order

    def describe(self) -> str:
        """``"docutils is pinned by lines 3 and 9 (markers ...), which both apply"``."""
        lines = [str(line) for line in self.lines]
        where = ", ".join(lines[:-1]) + f" and {lines[-1]}"
        shown = "; ".join(m if m else "no marker" for m in self.markers)
        both = "both" if len(lines) == 2 else "all"
        return f"{self.name} is pinned by lines {where} ({shown}), which {both} apply"


@dataclass(frozen=True)
class Ambiguity:
    """The error value: the lock does not say which pin this interpreter installs."""

    names: tuple[AmbiguousName, ...]  # by name

    def describe(self) -> str:
        return "; ".join(n.describe() for n in self.names)


def applies(
    marker: str | None, env: Mapping[str, str], *, dependency_groups: Collection[str] | None = None
) -> bool:
    """Whether an entry's marker holds in ``env`` (no marker: always).

    ``env`` is a complete PEP 508 environment (the probe reports every key of
    ``packaging.markers.default_environment()``), so nothing of this process leaks in. With
    ``dependency_groups`` the marker is a PEP 751 lock's, evaluated in the ``lock_file``
    context with no extras and these groups. A marker the reader accepted cannot be invalid;
    one naming a variable ``env`` lacks (``extra`` outside an extra) or comparing what cannot
    be compared counts as applying: the entry is then judged, never silently dropped.
    """
    if not marker:
        return True
    try:
        if dependency_groups is None:
            return Marker(marker).evaluate(dict(env))
        lock_env: dict[str, str | frozenset[str]] = {
            **env,
            "extras": frozenset(),
            "dependency_groups": frozenset(dependency_groups),
        }
        return Marker(marker).evaluate(lock_env, context="lock_file")
    except (InvalidMarker, UndefinedEnvironmentName, UndefinedComparison, InvalidVersion):
        return True


def select_entries(
    entries: Sequence[E],
    env: Mapping[str, str],
    *,
    dependency_groups: Collection[str] | None = None,
) -> tuple[E, ...] | Ambiguity:
    """The entries that apply in ``env``, in lock order; or which names are ambiguous.

    ``dependency_groups``: for a PEP 751 lock, its default groups (see :func:`applies`)."""
    chosen = tuple(
        e for e in entries if applies(e.markers, env, dependency_groups=dependency_groups)
    )
    by_name: dict[str, list[E]] = {}
    for entry in chosen:
        by_name.setdefault(entry.name, []).append(entry)
    ambiguous = [_ambiguous(name, found) for name, found in sorted(by_name.items())]
    names = tuple(a for a in ambiguous if a is not None)
    return Ambiguity(names) if names else chosen


def _ambiguous(name: str, found: Iterable[Pin]) -> AmbiguousName | None:
    pins = sorted(found, key=lambda e: e.line)
    if len(pins) < 2:
        return None
    return AmbiguousName(name, tuple(p.line for p in pins), tuple(p.markers for p in pins))
