"""Find Python interpreters: on PATH and where version managers install them.

``python3.12`` on PATH is often a pyenv/asdf/mise shim that only resolves when a version is
active, so the managers' install folders are read directly:

* pyenv: ``$PYENV_ROOT`` or ``~/.pyenv``, ``versions/*/bin/python3``
* uv: ``$UV_PYTHON_INSTALL_DIR`` or ``$XDG_DATA_HOME/uv/python`` or
  ``~/.local/share/uv/python``, ``*/bin/python3``
* asdf: ``$ASDF_DATA_DIR`` or ``~/.asdf``, ``installs/python/*/bin/python3``
* mise: ``$MISE_DATA_DIR`` or ``$XDG_DATA_HOME/mise`` or ``~/.local/share/mise``,
  ``installs/python/*/bin/python3``

A version is read from the install folder's name when it is a plain ``X.Y.Z`` (or uv's
``cpython-X.Y.Z-...``); otherwise the interpreter is asked, with a short timeout. Virtual
environments are skipped (this finds base interpreters), and so are shims. Results are deduped
by resolved path, first finding kept. POSIX layouts only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from preflight._policy.spec import PythonSpec, interpreter_version, minor_of
from preflight._process import run_python

__all__ = [
    "Found",
    "best_match",
    "find_interpreters",
    "nearest",
    "searched_locations",
]

# How long an interpreter may take to say its version. Start-up is ~20 ms; a cold disk is slow.
_VERSION_TIMEOUT = 10.0
# Works on every Python from 2.6 on; prints "3.12.1 final 0".
_VERSION_SCRIPT = (
    "import sys; v = sys.version_info; "
    "sys.stdout.write('%d.%d.%d %s %d' % (v[0], v[1], v[2], v[3], v[4]))"
)
_PLAIN_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_UV_CPYTHON = re.compile(r"^cpython-(\d+\.\d+\.\d+)-[^+]+$")  # no "+freethreaded", "+debug"
_PATH_NAME = re.compile(r"^python3(\.\d+)?$")
_PATH_SHOWN = 3  # PATH folders named in messages; the rest are counted


@dataclass(frozen=True)
class Found:
    """One interpreter: where it is, its version, and who installed it."""

    path: Path
    version: Version
    source: str  # "PATH", "pyenv", "uv", "asdf" or "mise"

    def __str__(self) -> str:
        return f"Python {self.version} at {self.path} ({self.source})"


@dataclass(frozen=True)
class _Manager:
    """A version manager's install folder: ``<root>/<version>/bin/python3``."""

    source: str
    root: Path
    shims: Path | None


# ---------------------------------------------------------------------------------------------
# Where to look
# ---------------------------------------------------------------------------------------------


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME")
    return Path(home) if home else Path.home()


def _data_home(env: Mapping[str, str]) -> Path:
    """``$XDG_DATA_HOME`` if absolute (as the XDG spec requires), else ``~/.local/share``."""
    xdg = env.get("XDG_DATA_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg)
    return _home(env) / ".local" / "share"


def _managers(env: Mapping[str, str]) -> list[_Manager]:
    """The version managers' install folders, in the order they are searched."""
    home = _home(env)
    pyenv = Path(env.get("PYENV_ROOT") or home / ".pyenv")
    uv = Path(env.get("UV_PYTHON_INSTALL_DIR") or _data_home(env) / "uv" / "python")
    asdf = Path(env.get("ASDF_DATA_DIR") or home / ".asdf")
    mise = Path(env.get("MISE_DATA_DIR") or _data_home(env) / "mise")
    return [
        _Manager("pyenv", pyenv.expanduser() / "versions", pyenv.expanduser() / "shims"),
        _Manager("uv", uv.expanduser(), None),
        _Manager("asdf", asdf.expanduser() / "installs" / "python", asdf.expanduser() / "shims"),
        _Manager("mise", mise.expanduser() / "installs" / "python", mise.expanduser() / "shims"),
    ]


def _path_dirs(env: Mapping[str, str]) -> list[Path]:
    return [Path(part) for part in env.get("PATH", "").split(os.pathsep) if part]


def searched_locations(*, env: Mapping[str, str] | None = None) -> list[str]:
    """Human-readable list of where :func:`find_interpreters` looks, for error messages."""
    env = os.environ if env is None else env
    shims = {str(m.shims) for m in _managers(env) if m.shims is not None}
    path = list(dict.fromkeys(str(d) for d in _path_dirs(env) if str(d) not in shims))
    shown = ", ".join(path[:_PATH_SHOWN])
    if len(path) > _PATH_SHOWN:
        shown += f" and {len(path) - _PATH_SHOWN} more"
    locations = [f"PATH ({shown})" if path else "PATH (empty)"]
    locations += [f"{m.source} ({m.root}/*/bin/python3)" for m in _managers(env)]
    return locations


# ---------------------------------------------------------------------------------------------
# Candidates
# ---------------------------------------------------------------------------------------------


def _is_executable_file(path: Path) -> bool:
    try:
        return path.is_file() and os.access(path, os.X_OK)
    except OSError:
        return False


def _is_venv(executable: Path) -> bool:
    """A ``pyvenv.cfg`` next to or above it, as ``site.py`` decides."""
    folder = executable.parent
    return (folder / "pyvenv.cfg").is_file() or (folder.parent / "pyvenv.cfg").is_file()


def _within(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def _path_candidates(env: Mapping[str, str]) -> Iterator[Path]:
    """``python3`` and ``python3.X`` on PATH, in PATH order, shim folders skipped."""
    shim_dirs = [m.shims for m in _managers(env) if m.shims is not None]
    for folder in _path_dirs(env):
        if any(_within(folder, shims) for shims in shim_dirs):
            continue
        try:
            names = sorted(entry.name for entry in folder.iterdir())
        except OSError:
            continue
        for name in names:
            if _PATH_NAME.match(name):
                yield folder / name


def _version_from_folder(source: str, name: str) -> Version | None:
    """The version a plain install-folder name states, else None."""
    if source == "uv":
        match = _UV_CPYTHON.match(name)
        return Version(match.group(1)) if match else None
    return Version(name) if _PLAIN_VERSION.match(name) else None


def _manager_candidates(manager: _Manager) -> Iterator[tuple[Path, Version | None]]:
    """``(bin/python3, version from folder name)`` per install, plainly named ones first.

    Plain names come first so that an alias folder (mise's ``3.12 -> 3.12.1``, uv's
    ``cpython-3.12-...``) is deduped against them instead of being run.
    """
    try:
        installs = [entry for entry in manager.root.iterdir() if not entry.name.startswith(".")]
    except OSError:
        return
    versioned = [(entry, _version_from_folder(manager.source, entry.name)) for entry in installs]
    versioned.sort(key=lambda item: (item[1] is None, item[1] or Version("0"), item[0].name))
    for entry, version in versioned:
        for name in ("python3", "python"):  # pyenv's 2.7 has no python3
            executable = entry / "bin" / name
            if _is_executable_file(executable):
                yield executable, version
                break


def _ask_version(executable: Path) -> Version | None:
    """Run the interpreter to learn its version; None if it does not answer like a Python.

    ``-S`` (after ``-I -B``): no ``site``, so no ``.pth`` or ``sitecustomize`` runs."""
    completed = run_python(executable, ["-S", "-c", _VERSION_SCRIPT], timeout=_VERSION_TIMEOUT)
    return _parse_version_output(completed.stdout) if completed.ok else None


def _parse_version_output(text: str) -> Version | None:
    """``"3.13.0 candidate 2"`` -> ``Version("3.13.0rc2")``; None if it is not that shape."""
    parts = text.split()
    if len(parts) != 3:
        return None
    release, level, serial = parts
    try:
        return interpreter_version(release, level, serial)
    except InvalidVersion:
        return None


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def _all_candidates(env: Mapping[str, str]) -> Iterator[tuple[Path, Version | None, str]]:
    for executable in _path_candidates(env):
        yield executable, None, "PATH"
    for manager in _managers(env):
        for executable, version in _manager_candidates(manager):
            yield executable, version, manager.source


def find_interpreters(*, env: Mapping[str, str] | None = None) -> list[Found]:
    """Every base interpreter on PATH and in pyenv, uv, asdf and mise install folders.

    ``env`` defaults to ``os.environ`` (it supplies PATH, HOME and the managers' variables).
    Order: PATH first (in PATH order), then pyenv, uv, asdf, mise. Interpreters that resolve
    to the same file are reported once; venvs and interpreters that do not answer are skipped.
    """
    env = os.environ if env is None else env
    seen: set[Path] = set()
    found: list[Found] = []
    for executable, folder_version, source in _all_candidates(env):
        try:
            resolved = executable.resolve()
        except OSError:
            continue
        if resolved in seen or _is_venv(executable):
            continue
        seen.add(resolved)
        version = folder_version or _ask_version(executable)
        if version is not None:
            found.append(Found(executable, version, source))
    return found


def _same_minor(spec: PythonSpec, found: Iterable[Found]) -> list[Found]:
    return [f for f in found if minor_of(f.version) == spec.minor]


def best_match(spec: PythonSpec, found: Sequence[Found]) -> Found | None:
    """The interpreter ``spec`` asks for, or None.

    ``3.12`` matches any final 3.12.x release, the highest winning; ``3.11.13`` matches
    exactly 3.11.13. On a tie the earlier entry of ``found`` wins.
    """
    candidates = [f for f in found if spec.matches(f.version) and not f.version.is_prerelease]
    # max() keeps the first of equal keys, so the earlier entry wins a tie.
    return max(candidates, key=lambda f: f.version, default=None)


def nearest(spec: PythonSpec, found: Sequence[Found]) -> Found | None:
    """The closest interpreter with the same major.minor, for "3.11.7 found, 3.11.13 needed".

    Final releases are preferred; among them the smallest micro distance wins, then the
    higher micro. Pre-releases count only if nothing else has that major.minor.
    """
    same = _same_minor(spec, found)
    finals = [f for f in same if not f.version.is_prerelease]
    pool = finals or same
    if not pool:
        return None
    if not spec.exact:
        return max(pool, key=lambda f: f.version)
    target = spec.release[2]

    def distance(f: Found) -> tuple[int, int]:
        micro = f.version.micro
        return abs(micro - target), -micro

    return min(pool, key=distance)
