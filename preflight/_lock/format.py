"""The lock-format seam: what differs between a requirements file and a PEP 751 lock.

Every caller that once asked "is this a ``pylock.toml``?" asks the lock's format instead:
how it is read and parsed, how messages name it, how the ``wheel_status`` check words a
package it holds without hashes, whether pip and uv install the file as it is written, and how
``preflight relock`` compiles and stamps it. A format is chosen once, by the file's name
(:func:`preflight._lock.read.lock_format`); a parsed :class:`Lock` carries it
(``Lock.format``), with the facts only some formats state (``requires_python``,
``environments``, ``version_warning``, ``format_details``) neutral for the others.

The implementations live beside their readers: ``requirements.REQUIREMENTS`` and
``pylock.PYLOCK`` (pip-audit's ``_format/interface.py`` is the model: one interface, one
module per implementation, chosen by name). A new format is one new reader and one entry in
``read.FORMATS``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

if TYPE_CHECKING:
    from preflight._lock.requirements import Lock

__all__ = ["RESOLVERS", "LockFormat", "Resolver", "Tool"]

Resolver = Literal["uv", "pip"]  # what `relock --resolver` chooses between
RESOLVERS: tuple[Resolver, ...] = ("uv", "pip")
Tool = Literal["pip-compile", "uv", "pip lock"]  # what compiles a lock


class LockFormat(ABC):
    """One lock format: how it is named, read, judged, installed and written.

    Instances are stateless singletons; compare them with ``is`` or by :attr:`name`."""

    # -- how it is named ------------------------------------------------------------------
    name: ClassVar[str]  # relock's --format value: "requirements", "pylock"
    noun: ClassVar[str]  # how messages name the format: "a requirements file"
    naming_hint: ClassVar[str]  # how [tool.preflight] lock names one (a usage error's hint)

    @abstractmethod
    def claims(self, path: Path) -> bool:
        """Whether the lock at ``path`` is of this format: its file name says."""

    # -- reading ---------------------------------------------------------------------------
    @abstractmethod
    def read(self, path: Path) -> Lock:
        """Read (bounded, regular files only) and parse the lock at ``path``; LockError."""

    @abstractmethod
    def parse(self, text: str, path: Path) -> Lock:
        """Parse a lock's decoded text (a byte-order mark is ignored); ``path`` is named in
        errors. LockError if it is no usable lock."""

    # -- judging (wheel_status) ------------------------------------------------------------
    no_hash: ClassVar[str]  # "{name} {no_hash}, so the install cannot be hash-checked"
    hash_remedy: ClassVar[str]  # appended to the relock remedy of that finding

    # -- installing ------------------------------------------------------------------------
    # pip and uv install the file as it is written (``-r``); else its pins selected for the
    # target are written as a requirements file (``_ops/installable.py``).
    installs_as_written: ClassVar[bool]

    # -- relocking -------------------------------------------------------------------------
    resolvers: ClassVar[tuple[Resolver, ...]]  # what --resolver chooses between; () none
    # A lock named once for every interpreter is universal by its name (else a usage error
    # unless --universal is given).
    universal_when_shared: ClassVar[bool]
    producer: ClassVar[str]  # how relock's errors name what wrote an unusable lock
    sound_pin: ClassVar[str]  # "{names} without {sound_pin}": what each package lacked

    @abstractmethod
    def tool(self, resolver: Resolver | None, *, universal: bool) -> Tool:
        """What compiles a lock of this format: ``resolver`` (``--resolver``, or None for the
        default) and whether the lock is for every interpreter."""

    @abstractmethod
    def stamp(self, raw: str, meta: Mapping[str, str], path: Path) -> str:
        """The compiled lock ``raw`` with relock's metadata ``meta`` (compiled, inputs,
        python, universal) written in, as this format keeps it; LockError if the result is
        no usable lock."""

    @abstractmethod
    def comparable_lines(self, lines: Sequence[str]) -> list[str]:
        """``lines`` of a lock with the stamp's compile time dropped and its Python as X.Y:
        what "unchanged" compares."""
