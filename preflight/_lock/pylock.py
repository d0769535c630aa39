"""Read a PEP 751 lock (``pylock.toml``, ``pylock.NAME.toml``) into the values a pip-tools
lock is read into: a :class:`Lock` of :class:`LockEntry`, so every check judges both alike.

``packaging.pylock`` validates the document (types, names, one source per package); this
module adds what judging needs and ``packaging`` leaves to the caller:

* ``lock-version`` is checked here first: an unknown major is a :class:`LockError` naming the
  key (``packaging`` says so too, but a newer minor only reaches its logger, which would print
  on the tool's stderr: the version is kept on the lock and judged as a warning instead);
* ``requires-python``, ``environments`` and ``default-groups`` are kept on the lock
  (:class:`Pylock`), for the ``wheel_status`` check to judge against the *target* interpreter,
  never against the tool's own;
* each package's ``marker`` is kept on its entry as text; which entries apply to a target is
  decided as for a universal requirements file (``select.py``, through
  :meth:`Pylock.applicable`), except that the markers are evaluated in PEP 751's
  ``lock_file`` context, where ``extras`` and ``dependency_groups`` are sets;
* an index package's hashes are those of its wheels and its sdist (``sha256:...``, as a
  requirements file writes them); a vcs, directory or archive package is an entry with a
  ``url``, which the checks report as not an index pin, as they do ``name @ url`` lines.

TOML has no line numbers for values: an entry's ``line`` is the line of its ``[[packages]]``
header when the lock is written with headers (as uv, pip and PDM write it), else the line of
the ``packages`` key. An error names the file, the key (``packages[2].wheels[0].hashes``)
and, where it can, the line.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging import pylock as pep751
from packaging.version import InvalidVersion, Version

from preflight._errors import LockError
from preflight._lock.format import RESOLVERS, LockFormat, Resolver, Tool
from preflight._lock.meta import python_minor
from preflight._lock.requirements import Lock, LockEntry, LockHeader, lock_read_error
from preflight._policy.spec import parse_version
from preflight._read import LOCK_LIMIT, ReadError, parse_toml, read_text

__all__ = [
    "META_KEY",
    "PYLOCK",
    "Pylock",
    "is_pylock_path",
    "parse_pylock",
    "parse_pylock_text",
]

# The table of the lock's ``[tool]`` where ``preflight relock`` records what the header line
# ``# preflight-lock:`` records in a requirements file (when, from what, with which Python).
META_KEY = "preflight"
META_HEADER = f"[tool.{META_KEY}]"
SUPPORTED_MAJOR = 1
SUPPORTED = Version("1.0")

_HINT = (
    "the file is not a PEP 751 lock preflight can read; write it again with its tool "
    "(`preflight relock --format pylock`, `uv pip compile -o pylock.toml`, `pip lock`)"
)
_NEWER_HINT = "upgrade preflight, or write the lock with a tool that writes lock-version 1.0"
_PACKAGES_HEADER_RE = re.compile(r"^[ \t]*\[\[[ \t]*packages[ \t]*\]\][ \t]*(?:#.*)?$")
_CONTEXT_INDEX_RE = re.compile(r"^packages\[(\d+)\]")


@dataclass(frozen=True)
class Pylock(Lock):
    """A PEP 751 lock: a :class:`Lock`, plus which interpreters it is for.

    The judging side checks ``requires_python`` and ``environments`` against the target
    interpreter (a mismatch is a finding naming both); ``lock_version`` newer than
    :data:`SUPPORTED` is a warning (its new keys are not read).
    """

    lock_version: str = "1.0"
    created_by: str = ""
    requires_python: str | None = None  # a PEP 440 specifier, as written
    environments: tuple[str, ...] = ()  # PEP 508 markers; one must hold for the target
    default_groups: tuple[str, ...] = ()  # the dependency groups selected by default

    @property
    def marker_groups(self) -> Collection[str] | None:
        """Markers evaluated as PEP 751 says: no extras, the lock's ``default-groups`` as its
        ``dependency_groups``."""
        return self.default_groups

    @property
    def format(self) -> LockFormat:
        return PYLOCK

    @property
    def version_warning(self) -> tuple[str, str] | None:
        if Version(self.lock_version) <= SUPPORTED:
            return None
        return (
            f"lock-version {self.lock_version} is newer than {SUPPORTED}, which preflight "
            "reads; keys it does not know are ignored",
            _NEWER_HINT,
        )

    def format_details(self) -> dict[str, object]:
        return {
            "lock_version": self.lock_version,
            "requires_python": self.requires_python,
            "environments": list(self.environments),
        }


class PylockFormat(LockFormat):
    """A PEP 751 lock. pip cannot install one yet: its pins for the target are installed
    (``_ops/installable.py``). relock compiles it with uv (universal when the policy names
    one lock for every interpreter) or ``pip lock`` (one interpreter), and records its
    metadata in the ``[tool.preflight]`` table (PEP 751 keeps ``[tool]`` for tools)."""

    name = "pylock"
    noun = "a PEP 751 lock"
    naming_hint = (
        'name a PEP 751 lock in [tool.preflight]: lock = "pylock.toml" (one for every '
        'interpreter, with uv) or lock = "pylock.py{major}{minor}.toml" (one per X.Y)'
    )
    no_hash = "has no file with hashes"
    hash_remedy = ""
    installs_as_written = False
    resolvers = RESOLVERS
    universal_when_shared = True
    producer = "the resolver"
    sound_pin = "a pinned version and hashes"

    def claims(self, path: Path) -> bool:
        return is_pylock_path(path)

    def read(self, path: Path) -> Pylock:
        return parse_pylock(path)

    def parse(self, text: str, path: Path) -> Pylock:
        return parse_pylock_text(text.removeprefix("\ufeff"), path)

    def tool(self, resolver: Resolver | None, *, universal: bool) -> Tool:
        return "pip lock" if resolver == "pip" else "uv"

    def stamp(self, raw: str, meta: Mapping[str, str], path: Path) -> str:
        """The ``[tool.preflight]`` table appended; a table of that name the resolver wrote
        makes the result a LockError."""
        table = "\n".join(f"{key} = {json.dumps(value)}" for key, value in sorted(meta.items()))
        body = raw.rstrip("\n")
        text = f"{body}\n\n{META_HEADER}\n{table}\n"
        parse_pylock_text(text, path)
        return text

    def comparable_lines(self, lines: Sequence[str]) -> list[str]:
        out, inside = [], False
        for line in lines:
            stripped = line.strip()
            if stripped.startswith("["):
                inside = stripped == META_HEADER
            elif inside and stripped.startswith("compiled"):
                continue
            elif inside and stripped.startswith("python"):
                value = stripped.partition("=")[2].strip().strip('"')
                out.append(f'python = "{python_minor(value) or value}"')
                continue
            out.append(line)
        return out


PYLOCK = PylockFormat()


def is_pylock_path(path: str | os.PathLike[str]) -> bool:
    """``pylock.toml`` or ``pylock.NAME.toml`` (NAME without a dot), as PEP 751 names them."""
    return pep751.is_valid_pylock_path(Path(path))


def parse_pylock(path: str | os.PathLike[str]) -> Pylock:
    """Read and parse the PEP 751 lock at ``path``; raise :class:`LockError` if unusable.

    The read is bounded as every lock read is (:data:`LOCK_LIMIT`, regular files only)."""
    path = Path(path)
    try:
        text = read_text(path, what="a lock file", limit=LOCK_LIMIT)
    except ReadError as exc:
        raise lock_read_error(exc) from None
    return parse_pylock_text(text.removeprefix("\ufeff"), path)


def parse_pylock_text(text: str, path: Path) -> Pylock:
    """Parse the text of a PEP 751 lock; ``path`` is named in errors."""
    try:
        data = parse_toml(text)
    except ValueError as exc:  # TOML, a 5000-digit integer, nesting (parse_toml)
        raise LockError(path, None, f"is not valid TOML: {exc}", hint=_HINT) from None
    lines = _Lines(text)
    version = _lock_version(data, path, lines)
    # packaging logs a newer minor on its logger (printed on stderr when nothing handles it);
    # the version was judged above and is kept on the lock.
    checked = {**data, "lock-version": str(SUPPORTED)} if version > SUPPORTED else data
    try:
        document = pep751.Pylock.from_dict(checked)
    except pep751.PylockValidationError as exc:
        raise lines.error(path, exc.context, exc.message) from None
    except (ValueError, TypeError, RecursionError) as exc:  # not spec-shaped in a way not named
        raise LockError(path, None, f"is not a valid PEP 751 lock: {exc}", hint=_HINT) from None
    if not document.packages:
        raise LockError(
            path,
            lines.key("packages"),
            "packages: the lock lists no packages",
            hint=f"an empty lock installs nothing; {_HINT}",
        )
    entries = tuple(
        _entry(package, lines.package(index)) for index, package in enumerate(document.packages)
    )
    return Pylock(
        path=path,
        entries=entries,
        # No `python`: a PEP 751 lock says which interpreters it is for (requires-python),
        # which wheel_status judges; the Python that resolved it is in `preflight`.
        header=LockHeader(python=None, preflight=_meta(data, path, lines), command=None),
        lock_version=str(version),
        created_by=document.created_by,
        requires_python=str(document.requires_python) if document.requires_python else None,
        environments=tuple(str(m) for m in document.environments or ()),
        default_groups=tuple(document.default_groups or ()),
    )


# --- the parts ----------------------------------------------------------------------------


def _lock_version(data: Mapping[str, Any], path: Path, lines: _Lines) -> Version:
    """The ``lock-version`` if its major is one preflight reads, else a LockError naming it."""
    value = data.get("lock-version")
    line = lines.key("lock-version")
    if value is None:
        raise LockError(
            path, None, "lock-version: missing (every PEP 751 lock names its version)", hint=_HINT
        )
    if not isinstance(value, str):
        raise LockError(path, line, f"lock-version: must be a string, not {value!r}", hint=_HINT)
    try:
        version = parse_version(value)
    except InvalidVersion:
        raise LockError(
            path, line, f"lock-version: {value!r} is not a version", hint=_HINT
        ) from None
    if version.major != SUPPORTED_MAJOR:
        raise LockError(
            path,
            line,
            f"lock-version: {value} is not a version preflight reads (it reads "
            f"{SUPPORTED_MAJOR}.x, PEP 751)",
            hint=f"a new major version of the format is not compatible: {_NEWER_HINT}",
        )
    return version


def _entry(package: pep751.Package, line: int) -> LockEntry:
    version = str(package.version) if package.version is not None else None
    url, editable = _direct_source(package)
    return LockEntry(
        name=package.name,
        raw_name=package.name,
        specifier=f"=={version}" if version is not None else "",
        version=version,
        hashes=_hashes(package),
        markers=str(package.marker) if package.marker is not None else None,
        extras=(),
        line=line,
        url=url,
        editable=editable,
    )


def _direct_source(package: pep751.Package) -> tuple[str | None, bool]:
    """Where a vcs, directory or archive package comes from (an index package: None)."""
    if package.vcs is not None:
        vcs = package.vcs
        return f"{vcs.type}+{vcs.url or vcs.path}@{vcs.commit_id}", False
    if package.directory is not None:
        return package.directory.path, bool(package.directory.editable)
    if package.archive is not None:
        return package.archive.url or package.archive.path, False
    return None, False


def _hashes(package: pep751.Package) -> tuple[str, ...]:
    """``algorithm:digest`` of each file the lock allows installing, in order, once each."""
    files: list[pep751.PackageWheel | pep751.PackageSdist | pep751.PackageArchive] = [
        *(package.wheels or ())
    ]
    if package.sdist is not None:
        files.append(package.sdist)
    if package.archive is not None:
        files.append(package.archive)
    hashes = (f"{algo}:{digest}" for f in files for algo, digest in f.hashes.items())
    return tuple(dict.fromkeys(hashes))


def _meta(data: Mapping[str, Any], path: Path, lines: _Lines) -> dict[str, str]:
    """``[tool] preflight = {...}``, written by ``preflight relock``: strings or numbers."""
    tool = data.get("tool")
    meta = tool.get(META_KEY) if isinstance(tool, Mapping) else None
    if meta is None:
        return {}
    if not isinstance(meta, Mapping) or not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in meta.values()
    ):
        raise LockError(
            path,
            lines.key(META_KEY),
            f"tool.{META_KEY}: must be a table of strings (it is written by `preflight relock`)",
            hint="run `preflight relock` again",
        )
    return {str(k): str(v) for k, v in meta.items()}


class _Lines:
    """Where keys and ``[[packages]]`` tables are in the text (TOML values have no lines)."""

    def __init__(self, text: str) -> None:
        self._lines = text.splitlines()
        self._packages = [
            number
            for number, line in enumerate(self._lines, start=1)
            if _PACKAGES_HEADER_RE.match(line)
        ]

    def key(self, key: str) -> int | None:
        pattern = re.compile(rf"^[ \t]*[\"']?{re.escape(key)}[\"']?[ \t]*=")
        return next((n for n, line in enumerate(self._lines, start=1) if pattern.match(line)), None)

    def package(self, index: int) -> int:
        if index < len(self._packages):
            return self._packages[index]
        return self.key("packages") or 1

    def error(self, path: Path, context: str | None, message: str) -> LockError:
        match = _CONTEXT_INDEX_RE.match(context or "")
        line = self.package(int(match.group(1))) if match else None
        if line is None and context:
            line = self.key(context.split(".")[0].split("[")[0])
        where = f"{context}: " if context else ""
        return LockError(path, line, f"{where}{message}", hint=_HINT)
