"""What an interpreter spec of the policy is, and which interpreter may stand in for which pin.

A spec is one entry of ``pythons``: ``"3.12"`` takes any 3.12.x, ``"3.11.13"`` only 3.11.13.
Discovery, resolution, the policy's classification and the ``python_version`` check all ask
this one model, so "does 3.11.7 match?" and "may 3.11.7 stand in for 3.11.13?" have one answer
each. Everything that compares interpreters by X.Y (one lock per X.Y) goes through
:func:`minor_of`, so no caller splits version strings by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

__all__ = [
    "VERSION_LIMIT",
    "PythonSpec",
    "interpreter_version",
    "minor_of",
    "parse_version",
    "same_minor",
]

# Characters of a version read from data nobody vouched for (METADATA, a lock, an OSV record,
# a file name). The longest real ones (a local label: "2.5.1+cu124.git1a2b3c4") are a few
# dozen; packaging converts each number of a release with int(), which refuses more than 4,300
# digits with a plain ValueError (a traceback past every ``except InvalidVersion``).
VERSION_LIMIT = 128

_SPEC = re.compile(r"^([0-9]+)\.([0-9]+)(?:\.([0-9]+))?$")
_PRERELEASE_TAGS = {"alpha": "a", "beta": "b", "candidate": "rc"}


def parse_version(text: str) -> Version:
    """``Version(text)`` that fails in one way only, :class:`InvalidVersion` (a ValueError):
    for text that is not PEP 440, and for text longer than :data:`VERSION_LIMIT` characters.
    Every version from untrusted data is parsed here."""
    if len(text) > VERSION_LIMIT:
        raise InvalidVersion(
            f"{text[:24]!r}… is {len(text)} characters long; a version has at most {VERSION_LIMIT}"
        )
    try:
        return Version(text)
    except InvalidVersion:
        raise
    except ValueError as exc:  # not reached below the limit; never a traceback if it were
        raise InvalidVersion(f"{text[:24]!r}…: {exc}") from None


def _version(version: str | Version) -> Version:
    return version if isinstance(version, Version) else parse_version(version)


def interpreter_version(release: str, level: str = "final", serial: int | str = 0) -> Version:
    """An interpreter's ``sys.version_info`` as one Version: ``("3.13.0", "candidate", 2)`` is
    3.13.0rc2, so a pre-release interpreter is a pre-release to every rule here.

    The probe reports ``release`` ("3.13.0") and ``level`` apart; without the serial the
    version is ``rc0``, which is still a pre-release (no rule reads the serial). Raises
    ValueError (InvalidVersion) when ``release`` is not a version.
    """
    suffix = "" if level == "final" else f"{_PRERELEASE_TAGS.get(level, 'dev')}{serial}"
    return parse_version(release + suffix)


def minor_of(version: str | Version) -> str:
    """The X.Y of a version: ``"3.12"`` for ``"3.12.1"``, ``"3.12.0rc1"`` or ``Version("3.12")``.

    Raises ValueError (``packaging``'s InvalidVersion) for text that is not a version.
    """
    v = _version(version)
    return f"{v.major}.{v.minor}"


def same_minor(a: str | Version, b: str | Version) -> bool:
    """Whether two versions share their X.Y; text that is not a version shares it with none.

    For values read from files (a lock header's ``python``): a garbled one is "another X.Y",
    which the caller reports, instead of an error.
    """
    try:
        return minor_of(a) == minor_of(b)
    except ValueError:
        return False


@dataclass(frozen=True)
class PythonSpec:
    """One entry of ``pythons``: "3.12" matches any 3.12.x, "3.11.13" only 3.11.13."""

    text: str
    release: tuple[int, ...]  # (3, 12) or (3, 11, 13)

    @classmethod
    def parse(cls, text: str) -> PythonSpec:
        """``"3.12"`` or ``"3.11.13"`` (blanks around ignored); ValueError for anything else."""
        match = _SPEC.match(text.strip())
        if match is None:
            raise ValueError(
                f"{text!r} is not an interpreter spec; write 'X.Y' for any X.Y.z or 'X.Y.Z' for "
                "exactly that release, e.g. '3.12' or '3.11.13'"
            )
        return cls(
            text=text.strip(), release=tuple(int(p) for p in match.groups() if p is not None)
        )

    @property
    def exact(self) -> bool:
        """A pin of one patch release (``3.11.13``), not a whole X.Y (``3.12``)."""
        return len(self.release) == 3

    @property
    def minor(self) -> str:
        """The X.Y this spec belongs to, e.g. "3.11" for "3.11.13": its lock is that X.Y's."""
        return f"{self.release[0]}.{self.release[1]}"

    def matches(self, version: str | Version) -> bool:
        """Whether ``version`` is what this spec asks for, compared as versions, not strings.

        (The seed's ``startswith("3.11.13")`` also accepted 3.11.130.)
        """
        v = _version(version)
        return v.release[: len(self.release)] == self.release and (
            not self.exact or len(v.release) <= 3
        )

    def why_not_substitute(self, version: str | Version) -> str | None:
        """Why ``version`` may not stand in for this pin, or None when it may.

        A patch-level substitute (accepted only on request) is another final release of the
        same X.Y as an exact pin: 3.11.7 for 3.11.13. A X.Y spec needs none (it takes any
        patch), the pin itself is a match rather than a substitute, and a pre-release is not
        what any policy asks for.
        """
        v = _version(version)
        if minor_of(v) != self.minor:
            return "a substitute must be another patch release of a pin of the policy"
        if v.is_prerelease:
            return "a substitute must be a final release, not a pre-release"
        if not self.exact:
            return f"{self} is not an exact pin; it takes any {self.minor}.x already"
        if self.matches(v):
            return f"it is {self} itself, not a substitute"
        return None

    def accepts_substitute(self, version: str | Version) -> bool:
        """Whether ``version`` may stand in for this exact pin (see :meth:`why_not_substitute`)."""
        return self.why_not_substitute(version) is None

    def __str__(self) -> str:
        return self.text
