"""What one check is asked to judge: :class:`CheckRequest`, built once, valid once built.

``preflight.check(**keywords)`` builds one from its keywords; the engine, the facts, the CLI
and the nox sessions pass it along instead of copying the options through their signatures.
It lives at the facts' layer because the facts read it (``gather.py``); it validates what it
can know about itself (types, ranges, combinations). What needs the world (the policy loaded,
a folder that exists, an interpreter that runs) is checked when the check runs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from preflight._errors import UsageError
from preflight._facts.context import Remedies
from preflight._policy.policy import Policy

__all__ = ["CHECK_IDS", "SKIPPABLE", "CheckRequest"]

# The id of every check, in the order they are judged. ``preflight._checks.ALL`` defines the
# checks, a layer above this one; tests/test_request.py holds the two equal.
CHECK_IDS = (
    "python_version",
    "virtual_environment",
    "package_dependencies",
    "wheel_status",
    "lock_sync",
    "integrity",
    "startup_hooks",
    "bytecode",
    "baseline",
    "environment_config",
    "security",
    "vulnerabilities",
    "performance",
    "suite",
)
# python_version decides the verdict (READY / READY_FALLBACK): it cannot be left out.
SKIPPABLE = tuple(sorted(set(CHECK_IDS) - {"python_version"}))

_PATHS = ("lock", "vulnerability_db", "baseline", "wheelhouse", "root")


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckRequest:
    """The options of one check, typed, with ``preflight.check()``'s keywords and meanings.

    A path may be given as a string (it is kept as an absolute :class:`~pathlib.Path`); ``skip``
    as any collection of check ids (kept as a tuple). A value that cannot work raises
    :class:`~preflight.UsageError` naming the key, as ``preflight.check()`` does; an unknown
    keyword is a ``TypeError``. ``dataclasses.replace(request, lock=...)`` changes one field (and
    validates again).
    """

    python: str | None = None  # a path or a command on PATH; None: the running interpreter
    project: Path | Policy = Path(".")  # folder or pyproject.toml, or a Policy already loaded
    lock: Path | None = None
    skip: tuple[str, ...] = ()
    substitute_for: str | None = None
    timeout: float | None = None  # None: each probe's own default
    # None: this process's (an image's: its own). Never in the repr: it holds credentials.
    environ: Mapping[str, str] | None = field(default=None, repr=False)
    remedies: Remedies = field(default_factory=Remedies)
    first_start: bool = False
    vulnerability_db: Path | None = None
    baseline: Path | None = None
    wheelhouse: Path | None = None
    root: Path | None = None
    image: str | None = None  # an OCI layout (folder or tar) or a `docker save` archive

    def __post_init__(self) -> None:
        for key, value in _normalised(self).items():
            object.__setattr__(self, key, value)  # frozen: normalised once, here
        _timeout(self.timeout)
        if self.substitute_for is not None and not isinstance(self.substitute_for, str):
            raise UsageError(
                f"substitute_for: {self.substitute_for!r} is not a version",
                hint="pass an exact pin of the policy, e.g. substitute_for='3.11.13'",
            )
        if self.environ is not None and not isinstance(self.environ, Mapping):
            raise UsageError(
                f"environ: {type(self.environ).__name__} is not a mapping of variables",
                hint="pass e.g. environ={**os.environ, 'APP_MODE': 'prod'}",
            )
        for key, value in (self.environ or {}).items():  # a child given them would fail
            wrong = value if isinstance(key, str) else key
            if not isinstance(wrong, str):
                raise UsageError(
                    f"environ: {(key if isinstance(key, str) else repr(key))[:80]}: "
                    f"{type(wrong).__name__} is not a string (names and values are strings)",
                    hint="pass e.g. environ={**os.environ, 'APP_PORT': '8080'}",
                )
        if not isinstance(self.remedies, Remedies):
            raise UsageError(
                f"remedies: {self.remedies!r} is not a Remedies",
                hint="pass preflight.Remedies(...)",
            )
        self._combinations()

    def _combinations(self) -> None:
        if self.image is not None and self.root is not None:
            raise UsageError("--root and --image both name what to judge", hint="keep one")

    def timeout_or(self, default: float) -> float:
        """The bound of one probe: the request's ``timeout``, else that probe's ``default``."""
        return self.timeout if self.timeout is not None else default


def _normalised(request: CheckRequest) -> dict[str, object]:
    """The fields given in a looser form, in the form kept: paths as absolute Paths (the
    interpreter and the image as the text given), ``skip`` as a tuple, no remedies as the
    default ones."""
    out: dict[str, object] = {"skip": _skip(request.skip)}
    for key in ("python", "image"):  # kept as given: "./python" is not "python" (on PATH)
        value: object = getattr(request, key)
        if value is not None:
            _path(key, value, empty=key == "python")  # "" is a python not named (a root's)
            out[key] = os.fspath(value)  # type: ignore[call-overload]
    project: object = request.project
    if not isinstance(project, Policy):
        out["project"] = _path("project", project, empty=True)
    vulnerability_db: object = request.vulnerability_db
    if vulnerability_db == "":
        out["vulnerability_db"] = None  # as before: an empty path is none given
    for key in _PATHS:
        value = out.get(key, getattr(request, key))
        if value is not None:
            out[key] = _path(key, value).absolute()
    if request.remedies is None:
        out["remedies"] = Remedies()
    return out


def _path(key: str, value: object, *, empty: bool = False) -> Path:
    """``value`` as a Path; an empty one only where it means something (``python`` inside a
    root is named apart, ``project=""`` is the current folder)."""
    if isinstance(value, str | os.PathLike) and (empty or os.fspath(value) != ""):
        return Path(value)
    raise UsageError(
        f"{key}: {value!r} is not a path", hint=_HINTS.get(key, f"pass {key} a file or folder")
    )


_HINTS = {
    "python": "pass the interpreter's path or command, e.g. python='.venv/bin/python'",
    "project": "pass the folder holding pyproject.toml, that file, or a Policy",
    "image": "pass an OCI image layout (folder or tar) or a `docker save` archive",
}


def _skip(skip: object) -> tuple[str, ...]:
    if isinstance(skip, str):
        raise UsageError(
            f"skip: {skip!r} is a string, not a collection of check ids",
            hint=f"pass e.g. skip=({skip!r},)",
        )
    if not isinstance(skip, Collection) or not all(isinstance(s, str) for s in skip):
        raise UsageError(
            f"skip: {skip!r} is not a collection of check ids", hint="pass e.g. skip=('suite',)"
        )
    unknown = sorted(set(skip) - set(SKIPPABLE))
    if unknown:
        raise UsageError(
            f"skip: {unknown[0]!r} is not a check that can be left out",
            hint=f"choose from {', '.join(SKIPPABLE)}",
        )
    return tuple(skip)


def _timeout(timeout: object) -> None:
    number = isinstance(timeout, int | float) and not isinstance(timeout, bool)
    if timeout is not None and not (number and 0 < timeout < math.inf):  # type: ignore[operator]
        raise UsageError(
            f"timeout: {timeout!r} must be a number of seconds more than 0",
            hint="e.g. timeout=30",
        )
