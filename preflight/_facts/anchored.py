"""Integrity anchored in the lock's hashes: lock hash → wheel → installed file.

The RECORD beside the installed files is written by whoever installed them, and whoever can
rewrite a file can rewrite its row. With a wheelhouse (``--wheelhouse DIR``, the locked
artifacts as ``pip download --require-hashes`` leaves them), each installed distribution is
checked against the wheel whose sha256 is one of the lock's hashes for its pin:

* every member of that wheel is where the install scheme puts it (site-packages for the root
  and ``.data/purelib|platlib``, ``bin`` for ``.data/scripts``, the prefix for ``.data/data``,
  ``include/site/pythonX.Y/<name>`` for ``.data/headers``), and holds the member's own bytes:
  *anchored*. The lock's hash covers the wheel's bytes, not what its RECORD claims: a RECORD
  row naming other content than its member vouches for nothing (no install of the wheel can
  write that content), so the wheel's RECORD is never asked. Sizes are compared first: a
  member is inflated only to be compared with an installed file of its declared size, so what
  is inflated is bounded by what the environment holds;
* what the installer writes from the wheel is checked as far as it can be (*derived*): a
  script whose first line is ``#!python`` equals the member but for that line, which must be,
  byte for byte, a prelude installers write for the environment's own ``bin/python``,
  ``bin/python3`` or ``bin/pythonX.Y`` (``#!EXE``, or the ``/bin/sh`` two-line exec form for
  a long or spaced path; see ``_preludes``); a console or GUI launcher of ``entry_points.txt``
  has such a prelude and a body that does nothing but import and call the entry point the
  wheel declares (its syntax tree is compared against that, so quoting and installer
  templates may differ; the body is read as Python reads the file, and a coding cookie
  naming anything but UTF-8 is refused), under the names installers give it (pip's ``pip``,
  ``pipX``, ``pipX.Y`` for the target);
* what the installer writes on its own (``INSTALLER``, ``REQUESTED``, ``direct_url.json``,
  RECORD itself, any other file in the ``.dist-info`` folder) and the bytecode it compiles
  (a ``.pyc`` is accepted only for a source the wheel ships, a Python script of its
  ``.data/scripts`` included; virtualenv's seeder lists ``NAME.TAG.pyc`` beside each source
  without a hash) rest on the installed RECORD alone: *record only*. Their content is the
  bytecode check's; a ``.pyc`` outside ``__pycache__`` that RECORD gives no hash is code
  that cannot be verified;
* any other file the installed RECORD claims is *foreign*: the locked wheel does not ship it.

The installed files are not opened here: the census (``census.py``) reads each once (sha256)
and keeps the bytes of the scripts and launchers compared whole (a script over 64 KiB is read
again, here). The members are inflated when the files are judged, on the scan's pool.

A distribution the lock pins whose wheel is not in the wheelhouse, or whose candidates there
no lock hash vouches for, is unanchored: its files are checked against RECORD as before, and
the check says so.
"""

from __future__ import annotations

import ast
import codecs
import configparser
import io
import os
import re
import threading
import tokenize
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion

from preflight._facts import wheels
from preflight._facts.census import Census, Entry
from preflight._facts.integrity import (
    UNHASHED,
    Job,
    RecordRow,
    link_problem,
)
from preflight._facts.model import (
    AnchoredWheel,
    AnchorFacts,
    DistFacts,
    FileProblem,
    InterpreterFacts,
    Unanchored,
    UnanchoredKind,
)
from preflight._lock.requirements import Lock, LockEntry
from preflight._lock.select import Ambiguity
from preflight._policy.spec import minor_of, parse_version
from preflight._read import MIB, ReadError, open_regular

__all__ = ["Anchoring", "DistAnchor", "Resolution", "WheelhouseRequest", "launcher_problem"]

_SCRIPT_LIMIT = 64 * MIB  # a script member read whole to compare its body
_LAUNCHER_LIMIT = 64 * 1024  # a launcher is a dozen lines
_SCRIPT_KEEP = 64 * 1024  # a script's bytes kept by the census (a larger one is read again)
_SHEBANG_MAX = 127  # the longest ``#!EXE\n`` installers write (distlib, uv, installer on Linux)
_SHELL_SAFE = re.compile(rb"^[\w@%+=:,./-]+$", re.ASCII)  # what shlex.quote leaves bare
_SHELL_CODE = re.compile(rb"[\"'$`\\\n\r]")  # what the shell reads as code in quotes
_COOKIE = re.compile(rb"coding[:=][ \t\f]*([-\w.]+)", re.ASCII)
_ENTRY_POINT = re.compile(
    r"^(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+))?\s*(\[[^\]]*\])?\s*$", re.ASCII
)
_PIP_SCRIPT = re.compile(r"^pip(\d+(\.\d+)?)?$")  # pip's installer: the names it replaces
_EASY_INSTALL_SCRIPT = re.compile(r"^easy_install(-\d+\.\d+)?$")
Kind = str  # "anchored" | "derived" | "record_only" | "unhashed" (RECORD gives no hash)


@dataclass(frozen=True)
class WheelhouseRequest:
    """What the anchored scan needs besides the environment: the folder and the lock."""

    folder: Path
    lock: Lock | str  # the lock, or why it cannot be read
    ignore: Collection[str] = ()  # canonical names of tooling the policy ignores


@dataclass(frozen=True)
class DistAnchor:
    """An installed distribution with its vouched wheel, read."""

    dist: DistFacts
    wheel: AnchoredWheel
    content: wheels.WheelContent


@dataclass
class Resolution:
    """Which distributions have a vouched wheel, and why the others do not."""

    anchors: list[DistAnchor] = field(default_factory=list)
    unanchored: list[Unanchored] = field(default_factory=list)
    bytes_hashed: int = 0


def _pins(facts: InterpreterFacts, lock: Lock) -> dict[str, list[LockEntry]]:
    """The index pins that apply to the target, by canonical name, selected as the checks
    select them (a PEP 751 lock's markers in its own context); where the lock is ambiguous,
    every entry that applies counts (the wheel_status check reports the ambiguity)."""
    selected = lock.applicable(facts.marker_env)
    if isinstance(selected, Ambiguity):
        selected = lock.applying(facts.marker_env)
    found: dict[str, list[LockEntry]] = {}
    for entry in selected:
        found.setdefault(entry.name, []).append(entry)
    return found


def resolve(
    facts: InterpreterFacts,
    request: WheelhouseRequest,
    house: wheels.Wheelhouse,
    *,
    hash_many: Callable[[list[Path]], list[str | Exception]],
) -> Resolution:
    """Find each distribution's vouched wheel: candidates by file name, then by hash.

    ``hash_many`` hashes the candidates (on the scan's thread pool); it returns for each path
    its ``sha256:<hex>`` or the exception that stopped it."""
    assert not isinstance(request.lock, str)
    pins = _pins(facts, request.lock)
    result = Resolution()
    wanted: list[tuple[DistFacts, list[str], tuple[wheels.Candidate, ...]]] = []
    for dist in facts.distributions:
        name = canonicalize_name(dist.name)
        entries = pins.get(name, [])
        hashes = [
            h.lower()
            for e in entries
            if e.pinned and _same_version(e.version, dist.version)
            for h in e.hashes
        ]
        if not hashes:
            result.unanchored.append(_not_locked(dist, entries, name in request.ignore))
            continue
        wanted.append((dist, hashes, house.candidates(dist.name, dist.version)))
    paths = [c.path for _, _, found in wanted for c in found]
    digests = dict(zip(paths, hash_many(paths), strict=True))
    for dist, hashes, found in wanted:
        _choose(result, dist, hashes, found, digests)
    return result


def _not_locked(dist: DistFacts, entries: list[LockEntry], ignored: bool) -> Unanchored:
    if ignored and not entries:
        detail = "tooling the policy ignores; the lock does not pin it"
        return Unanchored(dist.name, dist.version, "ignored", detail)
    if entries:
        first = entries[0]
        pinned = first.specifier or first.url or "it"
        detail = f"the lock pins {pinned} (line {first.line}) with no hash for {dist.version}"
    else:
        detail = "the lock does not pin it"
    return Unanchored(dist.name, dist.version, "not_locked", detail)


def _same_version(pinned: str | None, installed: str) -> bool:
    if pinned is None:
        return False
    try:
        return parse_version(pinned) == parse_version(installed)
    except InvalidVersion:
        return pinned == installed


def _choose(
    result: Resolution,
    dist: DistFacts,
    hashes: list[str],
    found: tuple[wheels.Candidate, ...],
    digests: dict[Path, str | Exception],
) -> None:
    pin = f"{dist.name}=={dist.version}"
    untrusted: list[str] = []
    sdist: str | None = None
    problems: list[str] = []
    for candidate in found:
        digest = digests[candidate.path]
        if isinstance(digest, Exception):
            problems.append(f"{candidate.path.name} {digest}")
            continue
        if os.path.exists(candidate.path):
            result.bytes_hashed += os.path.getsize(candidate.path)
        if digest not in hashes:
            untrusted.append(candidate.path.name)
            continue
        if candidate.sdist:
            sdist = candidate.path.name
            continue
        try:
            content = wheels.read_wheel(candidate.path)
        except wheels.UnusableWheel as exc:
            problems.append(f"{candidate.path.name} {exc}")
            continue
        anchored = AnchoredWheel(dist.name, dist.version, str(candidate.path), digest)
        result.anchors.append(DistAnchor(dist, anchored, content))
        return
    kind: UnanchoredKind
    if problems:
        kind, detail = "unusable", f"the wheelhouse's file cannot be used: {problems[0]}"
    elif sdist is not None:
        kind = "sdist"
        detail = (
            f"the locked artifact in the wheelhouse is an sdist ({sdist}): what was built "
            "from it cannot be anchored"
        )
    elif untrusted:
        kind = "untrusted"
        shown = ", ".join(untrusted[:3]) + (" ..." if len(untrusted) > 3 else "")
        detail = (
            f"the wheelhouse holds {shown}, but no hash the lock lists for {pin} vouches for it"
        )
    else:
        kind, detail = "no_wheel", f"the wheelhouse holds no wheel of {pin}"
    result.unanchored.append(Unanchored(dist.name, dist.version, kind, detail))


# --- one distribution's files ---------------------------------------------------------------


@dataclass(frozen=True)
class _Expected:
    member: str  # archive name
    path: str  # installed path, absolute, normalised
    size: int  # the member's size, as the archive's directory declares it


@dataclass(frozen=True)
class _Plan:
    """What one anchored distribution's files must hold, worked out from its wheel before
    the census reads them (so that the census reads each with the algorithm it needs)."""

    anchor: DistAnchor
    layout: _Layout
    expected: dict[str, _Expected]
    scripts: list[_Script]
    launchers: dict[str, str]  # installed path → entry point
    optional: frozenset[str]  # launchers an installer may leave out (pip's own, renamed)
    problems: list[FileProblem]
    stop: threading.Event | None


def prepare(
    facts: InterpreterFacts, anchor: DistAnchor, stop: threading.Event | None = None
) -> _Plan:
    """The files one vouched wheel ships, where they are installed and what they hold."""
    layout = _Layout(facts, anchor.dist, anchor.content)
    problems: list[FileProblem] = []
    expected, scripts = _expected_files(layout, problems)
    launchers, optional = layout.launchers(anchor.content.entry_points)
    return _Plan(anchor, layout, expected, scripts, launchers, optional, problems, stop)


def plan_dist(
    prepared: _Plan,
    rows: Sequence[RecordRow] | None,
    *,
    verify_row: Callable[[str, RecordRow], Job],
    census: Census,
) -> tuple[list[Job], list[FileProblem]]:
    """The checks of one anchored distribution against the census: jobs for the pool, and
    what is already known.

    ``rows`` are the installed RECORD's rows (None without RECORD); ``verify_row`` makes the
    job that checks one row against the installed RECORD (what rests on RECORD alone)."""
    layout, anchor = prepared.layout, prepared.anchor
    expected, scripts, launchers = prepared.expected, prepared.scripts, prepared.launchers
    problems = list(prepared.problems)
    name = anchor.dist.name
    jobs: list[Job] = [
        _file_job(layout, e, census.get(e.path), prepared.stop) for e in expected.values()
    ]
    jobs.extend(_script_job(layout, script, census.get(script.path)) for script in scripts)
    jobs.extend(
        _launcher_job(layout, path, target, census.get(path))
        for path, target in launchers.items()
        if path not in prepared.optional or census.get(path) is not None
    )
    covered = set(expected) | {s.path for s in scripts} | set(launchers)
    # The sources an installer compiles: the wheel's modules, and its scripts that are
    # Python files (pip compiles bin/jp.py into bin/__pycache__ too).
    sources = {p for p in (*expected, *(s.path for s in scripts)) if p.endswith(".py")}
    for row in rows or ():
        if row.malformed is not None or row.path in covered:
            continue
        # The installer's own files (INSTALLER, REQUESTED, direct_url.json, RECORD...) and
        # the bytecode of a source the wheel ships: they rest on RECORD alone.
        if _installers(row, anchor, sources):
            jobs.append(verify_row(name, row))
        else:
            detail = "RECORD lists it, but the locked wheel does not ship it"
            problems.append(FileProblem(name, row.written, "foreign", detail))
    return jobs, problems


@dataclass(frozen=True)
class _Script:
    member: str  # archive name under .data/scripts
    path: str  # installed path


def _expected_files(
    layout: _Layout, problems: list[FileProblem]
) -> tuple[dict[str, _Expected], list[_Script]]:
    """Each member's installed path; the scripts apart (compared whole). What a member holds
    is its own bytes, read when its file is judged: the wheel's RECORD is not asked (a
    RECORD row can claim what no member holds, and no install of the wheel writes it)."""
    content, name = layout.content, layout.dist.name
    expected: dict[str, _Expected] = {}
    scripts: list[_Script] = []
    for member in sorted(content.members):
        if member == f"{content.dist_info}/RECORD":
            continue  # replaced by the installer's
        path = layout.destination(member)
        if path is None:
            detail = "the locked wheel names a path outside the install scheme"
            problems.append(FileProblem(name, member, "foreign", detail))
        elif member.startswith(f"{content.data_dir}/scripts/"):
            scripts.append(_Script(member, path))
        else:
            expected[path] = _Expected(member, path, content.members[member].size)
    return expected, scripts


def _member_bytes(content: wheels.WheelContent, member: str, limit: int) -> bytes:
    return content.reader.read(member, limit)


def _installers(row: RecordRow, anchor: DistAnchor, sources: set[str]) -> bool:
    """Whether a RECORD row the wheel does not ship names what an installer writes of its own:
    the files of the ``.dist-info`` folder, the bytecode of a shipped source; and the rows
    virtualenv's seeder adds without a hash (its ``NAME.virtualenv`` marker, and for each
    source ``NAME.TAG.pyc`` beside it and its folder's ``__pycache__``, which it lists so that
    an uninstall removes them). Such a row rests on RECORD alone (``.pyc`` outside
    ``__pycache__`` is code and, without a hash, unverifiable)."""
    path = row.path
    if path.startswith(os.path.normpath(anchor.dist.path) + os.sep):
        return True
    if _compiled_from(path) in sources:
        return True
    if row.algorithm is not None:
        return False
    folder, file = os.path.split(path)
    if file == "__pycache__":
        return any(os.path.dirname(source) == folder for source in sources)
    if file.endswith(".pyc") and file.count(".") >= 2:
        return os.path.join(folder, file.split(".", 1)[0] + ".py") in sources
    marker = os.path.basename(os.path.normpath(anchor.dist.path)).removesuffix(".dist-info")
    return folder == os.path.normpath(anchor.dist.site) and file == f"{marker}.virtualenv"


def _compiled_from(path: str) -> str | None:
    """The source a ``__pycache__/NAME.TAG[.opt-N].pyc`` is compiled from."""
    folder, file = os.path.split(path)
    if os.path.basename(folder) != "__pycache__" or not file.endswith(".pyc"):
        return None
    return os.path.join(os.path.dirname(folder), file.split(".", 1)[0] + ".py")


class _Layout:
    """Where the install scheme of the target puts a wheel's members (POSIX layout)."""

    def __init__(self, facts: InterpreterFacts, dist: DistFacts, content: wheels.WheelContent):
        self.facts = facts
        self.dist = dist
        self.content = content
        self.site = os.path.normpath(dist.site)
        self.bin = os.path.normpath(os.path.join(facts.prefix, "bin"))
        xy = minor_of(facts.version)  # the probe's version parses (else no InterpreterFacts)
        self.headers = os.path.join(facts.prefix, "include", "site", f"python{xy}", dist.name)
        self.pythons = ("python", f"python{xy.split('.')[0]}", f"python{xy}")
        self.preludes = _preludes(self.bin, self.pythons)

    def destination(self, member: str) -> str | None:
        parts = member.split("/")
        if member.startswith("/") or any(p in ("", ".", "..") for p in parts):
            return None
        base = self.site
        if parts[0] == self.content.data_dir and len(parts) > 2:
            scheme, parts = parts[1], parts[2:]
            bases = {
                "purelib": self.site,
                "platlib": self.site,
                "scripts": self.bin,
                "data": os.path.normpath(self.facts.prefix),
                "headers": self.headers,
            }
            if scheme not in bases:
                return None
            base = bases[scheme]
        return os.path.normpath(os.path.join(base, *parts))

    def written(self, path: str) -> str:
        """``path`` as RECORD would write it (relative to site-packages)."""
        return os.path.relpath(path, self.site)

    def launchers(self, text: str) -> tuple[dict[str, str], frozenset[str]]:
        """Installed launcher path → the entry point's ``module:attr``, from entry_points.txt;
        and the launchers an installer may leave out.

        pip renames the launchers of a ``pip`` (and an ``easy_install``) console script for the
        interpreter it runs on: the wheel's ``pip``, ``pipX``, ``pipX.Y`` become ``pip``,
        ``pip{major}`` and ``pip{major}.{minor}`` of the target (``ENSUREPIP_OPTIONS`` leaves
        some out), virtualenv's seeder writes these and distlib's ``pip-{major}.{minor}``; uv
        writes what the wheel declares. Each of these, when present, must be a launcher of
        that entry point; none is required."""
        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None, strict=False)
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # names are case-sensitive
        try:
            parser.read_string(text)
        except configparser.Error:
            return {}, frozenset()
        found: dict[str, str] = {}
        optional: set[str] = set()
        major, minor = minor_of(self.facts.version).split(".")[:2]
        for section in ("console_scripts", "gui_scripts"):
            if not parser.has_section(section):
                continue
            items = dict(parser.items(section))
            for script, target in items.items():
                if script and "/" not in script and script not in (".", ".."):
                    found[os.path.join(self.bin, script)] = target.strip()
            if section != "console_scripts":
                continue
            for base, pattern, names in (
                (
                    "pip",
                    _PIP_SCRIPT,
                    ("pip", f"pip{major}", f"pip{major}.{minor}", f"pip-{major}.{minor}"),
                ),
                (
                    "easy_install",
                    _EASY_INSTALL_SCRIPT,
                    ("easy_install", f"easy_install-{major}.{minor}"),
                ),
            ):
                if base not in items:
                    continue
                renamed = {s for s in items if pattern.match(s)} | set(names)
                for script in renamed:
                    path = os.path.join(self.bin, script)
                    found[path] = items[base].strip()
                    optional.add(path)
        return found, frozenset(optional)

    def split(self, data: bytes) -> tuple[bytes, bytes] | None:
        """The prelude an installer writes for this environment's python, and the rest; None
        if the file does not start, byte for byte, with one of them."""
        for prelude in self.preludes:
            if data.startswith(prelude):
                return prelude, data[len(prelude) :]
        return None


def _preludes(bin_dir: str, names: tuple[str, ...]) -> tuple[bytes, ...]:
    """Every first line (or lines) an installer writes atop a launcher or a ``#!python``
    script of this environment, exactly. The interpreter is the environment's own
    ``bin/python``, ``bin/python3`` or ``bin/pythonX.Y`` (what ``sys.executable`` of the
    installing process is): no other name, no other folder, nothing normalised.

    * ``#!EXE`` and a newline, when it fits (127 bytes) and holds no space (distlib's
      ``ScriptMaker._build_shebang``, uv's ``format_shebang``, installer's ``build_shebang``);
    * the ``/bin/sh`` form: ``#!/bin/sh``, ``'''exec' EXE "$0" "$@"``, ``' '''``, the path
      bare (distlib without a space; ``shlex.quote`` of a safe path: installer), in double
      quotes (distlib with a space) or single quotes (uv; installer's ``shlex.quote``); uv's
      relocatable form names ``"$(dirname -- "$(realpath -- "$0")")"/'NAME'``, its fixed
      text. A path holding a quote, ``$``, a backtick or a backslash, which the shell reads
      as code, has no quoted form here."""
    found: list[bytes] = []
    for name in names:
        exe = os.path.join(bin_dir, name).encode("utf-8", "surrogateescape")
        if b" " not in exe and len(exe) + 3 <= _SHEBANG_MAX:
            found.append(b"#!" + exe + b"\n")
        forms: list[bytes] = []
        if _SHELL_CODE.search(exe) is None:
            forms += [b'"' + exe + b'"', b"'" + exe + b"'"]
            if _SHELL_SAFE.match(exe):
                forms.append(exe)
        forms.append(b'"$(dirname -- "$(realpath -- "$0")")"/\'' + name.encode() + b"'")
        for form in forms:
            found.append(b"#!/bin/sh\n'''exec' " + form + b" \"$0\" \"$@\"\n' '''\n")
    return tuple(found)


def _file_job(
    layout: _Layout, expected: _Expected, entry: Entry | None, stop: threading.Event | None
) -> Job:
    """The installed file against the member's own bytes: the sizes first (a member is never
    inflated past the size of the file it is compared with), then the sha256 of both."""
    dist, written = layout.dist.name, layout.written(expected.path)

    def job() -> tuple[FileProblem | None, int, Kind]:
        problem = _unreadable(dist, written, entry)
        if problem is not None or entry is None:
            return problem, 0, "anchored"
        digest = entry.digests.get("sha256")
        if digest is None:
            return (
                FileProblem(dist, written, "modified", "not a readable regular file"),
                0,
                "anchored",
            )
        if entry.size != expected.size:
            detail = (
                f"sha256 differs from the locked wheel's {expected.member} ({entry.size} "
                f"bytes, the member {expected.size})"
            )
            return FileProblem(dist, written, "modified", detail), entry.size, "anchored"
        try:
            shipped = layout.content.reader.digest(expected.member, stop, charged=False)
        except wheels.UnusableWheel as exc:
            return FileProblem(dist, written, "unverifiable", str(exc)), 0, "anchored"
        if digest != shipped:
            detail = f"sha256 differs from the locked wheel's {expected.member}"
            return FileProblem(dist, written, "modified", detail), entry.size, "anchored"
        return None, entry.size, "anchored"

    return job


def _read_installed(path: str, limit: int) -> bytes | None:
    try:
        fd = open_regular(path)
    except (ReadError, ValueError):
        return None
    with open(fd, "rb", closefd=True) as handle:
        try:
            return handle.read(limit + 1)
        except OSError:
            return None


def _script_job(layout: _Layout, script: _Script, entry: Entry | None) -> Job:
    written = layout.written(script.path)
    dist = layout.dist.name

    def job() -> tuple[FileProblem | None, int, Kind]:
        try:
            shipped = _member_bytes(layout.content, script.member, _SCRIPT_LIMIT)
        except wheels.UnusableWheel as exc:
            return FileProblem(dist, written, "unverifiable", str(exc)), 0, "derived"
        problem = _unreadable(dist, written, entry)
        if problem is not None or entry is None:
            return problem, 0, "derived"
        installed = entry.content
        if installed is None:  # larger than the census keeps: the one file read twice
            installed = _read_installed(script.path, len(shipped) + 4096)
        if installed is None:
            return (
                FileProblem(dist, written, "modified", "not a readable regular file"),
                0,
                ("derived"),
            )
        why = _script_problem(layout, script.member, shipped, installed)
        problem = FileProblem(dist, written, "modified", why) if why is not None else None
        kind = "derived" if shipped.startswith(b"#!python") else "anchored"
        return problem, len(installed), kind

    return job


def _unreadable(dist: str, written: str, entry: Entry | None) -> FileProblem | None:
    """Why the census has no content of this file: missing, a symlink, not a regular file."""
    if entry is None:
        return FileProblem(dist, written, "missing", "the locked wheel ships it; not found")
    linked = link_problem(dist, written, entry)
    if linked is not None:
        return linked
    if entry.type == "file" and entry.state == "skipped" and entry.why is not None:
        return FileProblem(dist, written, "modified", entry.why)
    if entry.type != "file" or entry.state != "read":
        return FileProblem(dist, written, "modified", "not a readable regular file")
    return None


def _script_problem(layout: _Layout, member: str, shipped: bytes, installed: bytes) -> str | None:
    """Why an installed script is not the wheel's: byte for byte, or, for a ``#!python``
    script, the environment's python in its shebang and the member's body below it."""
    if not shipped.startswith(b"#!python"):
        return None if installed == shipped else f"differs from the locked wheel's {member}"
    split = layout.split(installed)
    if split is None:
        return _shebang_problem(layout, installed)
    if split[1] != shipped.partition(b"\n")[2]:
        return f"differs from the locked wheel's {member} below the shebang"
    return None


def _shebang_problem(layout: _Layout, data: bytes) -> str:
    first, _, rest = data.partition(b"\n")
    if first == b"#!/bin/sh":
        first = rest.partition(b"\n")[0]
    shown = first[:120].decode("utf-8", "backslashreplace")
    python, *others = layout.pythons
    return (
        f"its shebang ({shown}) does not name this environment's python as installers write "
        f"it: #!{os.path.join(layout.bin, python)} (or {', '.join(others)}), or the /bin/sh "
        "exec form of that path"
    )


def _launcher_job(layout: _Layout, path: str, target: str, entry: Entry | None) -> Job:
    written = layout.written(path)
    dist = layout.dist.name

    def job() -> tuple[FileProblem | None, int, Kind]:
        if entry is None:
            detail = f"the locked wheel declares the entry point {target}; no launcher found"
            return FileProblem(dist, written, "missing", detail), 0, "derived"
        linked = link_problem(dist, written, entry)
        if linked is not None:
            return linked, 0, "derived"
        data = entry.content
        if data is None or len(data) > _LAUNCHER_LIMIT:
            detail = "not a launcher (not a small regular file)"
            return FileProblem(dist, written, "modified", detail), 0, "derived"
        split = layout.split(data)
        if split is None:
            why: str | None = _shebang_problem(layout, data)
        else:
            why = launcher_problem(split[1], target, split[0])
        problem = FileProblem(dist, written, "modified", why) if why is not None else None
        return problem, len(data), "derived"

    return job


# --- launchers ------------------------------------------------------------------------------

_SAFE_NAMES = frozenset({"sys", "re"})


def launcher_problem(body: bytes, target: str, prelude: bytes = b"#!python\n") -> str | None:
    """Why a launcher's body is not one that only calls ``target`` (``module:attr``), or None.

    ``prelude`` is the shebang line(s) above it: Python reads the whole file, and a coding
    cookie on its first two lines decides how (``# -*- coding: utf-7 -*-`` turns a comment
    into code). The body is parsed as the UTF-8 Python reads, and any other cookie refused.

    Accepted: ``import sys`` / ``import re``, ``from MODULE import NAME`` for the entry point,
    and ``if __name__ == "__main__":`` holding only rewrites of ``sys.argv[0]`` (plain or in
    ``if`` chains, using ``re.sub`` and string methods) and ``sys.exit(NAME.attr...())``.
    Anything else (another import, a call elsewhere, code after the block) is refused."""
    match = _ENTRY_POINT.match(target)
    if match is None or match["attr"] is None:
        return f"the entry point {target!r} is not module:attr"
    module, attrs = match["module"], match["attr"].split(".")
    tree = _parsed(body, prelude)
    if isinstance(tree, str):
        return tree
    imported = False
    main = 0
    for node in tree.body:
        if isinstance(node, ast.If) and _is_main_test(node.test) and not node.orelse:
            # distlib >= 0.3.9 (pip 25, virtualenv) imports the entry point inside the block
            block = node.body
            if block and _imports_entry_point(block[0], module, attrs):
                imported, block = True, block[1:]
            if not block or not _main_body_ok(block, attrs):
                return f"its __main__ block does more than call {target}"
            main += 1
            continue
        if isinstance(node, ast.Import) and all(
            a.name in _SAFE_NAMES and a.asname is None for a in node.names
        ):
            continue
        if _imports_entry_point(node, module, attrs):
            imported = True
            continue
        return f"line {getattr(node, 'lineno', '?')} is not what a launcher of {target} holds"
    if not imported or main != 1:
        return f"it does not import and call {target}"
    return _template_problem(body, module, match["attr"])


# The launcher bodies installers write below the prelude, {module}, {name} (the attribute's
# first part) and {func} (the attribute) filled in, as each installer fills them.
_TEMPLATES = (
    # distlib's ScriptMaker before 0.3.9 (pip up to 24.x, older virtualenv seeds)
    "# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom {module} import {name}\n"
    "if __name__ == '__main__':\n"
    "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
    "    sys.exit({func}())\n",
    # distlib >= 0.3.9 (pip 25+, virtualenv): the import inside the block
    "# -*- coding: utf-8 -*-\nimport re\nimport sys\nif __name__ == '__main__':\n"
    "    from {module} import {name}\n"
    "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
    "    sys.exit({func}())\n",
    # pip's PipScriptMaker.script_template (pip 25.x+): no cookie, no ``re``
    "import sys\nfrom {module} import {name}\nif __name__ == '__main__':\n"
    "    sys.argv[0] = sys.argv[0].removesuffix('.exe')\n"
    "    sys.exit({func}())\n",
    # pip's own template (pip 10 to 19), blank lines and ``pyw?``
    "# -*- coding: utf-8 -*-\nimport re\nimport sys\n\nfrom {module} import {name}\n\n"
    "if __name__ == '__main__':\n"
    "    sys.argv[0] = re.sub(r'(-script\\.pyw?|\\.exe)?$', '', sys.argv[0])\n"
    "    sys.exit({func}())\n",
    # installer (pypa/installer: python -m installer, distro packagers)
    "# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom {module} import {name}\n"
    'if __name__ == "__main__":\n'
    '    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])\n'
    "    sys.exit({func}())\n",
    # uv (its get_script_launcher)
    "# -*- coding: utf-8 -*-\nimport sys\nfrom {module} import {name}\n"
    'if __name__ == "__main__":\n'
    '    if sys.argv[0].endswith("-script.pyw"):\n'
    "        sys.argv[0] = sys.argv[0][:-11]\n"
    '    elif sys.argv[0].endswith(".exe"):\n'
    "        sys.argv[0] = sys.argv[0][:-4]\n"
    "    sys.exit({func}())\n",
)


def _template_problem(body: bytes, module: str, attr: str) -> str | None:
    """None if ``body`` is, byte for byte, one of the launchers installers write for
    ``module:attr`` (distlib's old and new, pip's own, installer's, uv's)."""
    fill = {"module": module, "name": attr.split(".", maxsplit=1)[0], "func": attr}
    if any(body == template.format(**fill).encode() for template in _TEMPLATES):
        return None
    return (
        f"its body calls {module}:{attr} but is not the launcher pip, uv, installer or "
        "virtualenv writes (not byte for byte)"
    )


def _parsed(body: bytes, prelude: bytes) -> ast.Module | str:
    """The body's syntax tree, read as Python reads the file; or why it cannot be."""
    problem = _encoding_problem(prelude + body)
    if problem is not None:
        return problem
    try:
        return ast.parse(body.decode("utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return "its body is not Python"


def _encoding_problem(source: bytes) -> str | None:
    """Why Python would not read ``source`` as UTF-8: a coding cookie naming another codec on
    its first two lines (as ``tokenize.detect_encoding`` finds it, and any ``coding:`` or
    ``coding=`` there at all, lest the interpreter's own tokenizer read one this does not)."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
    except SyntaxError as exc:
        return f"its coding cookie is not one Python reads ({exc})"
    names = [encoding.encode("ascii", "replace")]
    for line in re.split(rb"\r\n|\r|\n", source, maxsplit=2)[:2]:
        names += _COOKIE.findall(line)
    for name in names:
        try:
            codec = codecs.lookup(name.decode("ascii")).name
        except LookupError:
            codec = None
        if codec != "utf-8":
            shown = name[:40].decode("ascii", "backslashreplace")
            return f"its coding cookie names {shown}, not utf-8: Python would read other code"
    return None


def _imports_entry_point(node: ast.stmt, module: str, attrs: list[str]) -> bool:
    """``from MODULE import NAME``, NAME the entry point's first attribute, not renamed."""
    return (
        isinstance(node, ast.ImportFrom)
        and node.module == module
        and node.level == 0
        and [(a.name, a.asname) for a in node.names] == [(attrs[0], None)]
    )


def _is_main_test(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Eq)
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def _main_body_ok(body: list[ast.stmt], attrs: list[str]) -> bool:
    *rewrites, last = body
    return all(_argv_rewrite(s) for s in rewrites) and _exit_call(last, attrs)


def _argv_rewrite(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Assign):
        return len(stmt.targets) == 1 and _is_argv0(stmt.targets[0]) and _safe_expr(stmt.value)
    if isinstance(stmt, ast.If):
        return (
            _safe_expr(stmt.test)
            and all(_argv_rewrite(s) for s in stmt.body)
            and all(_argv_rewrite(s) for s in stmt.orelse)
        )
    return False


def _is_argv0(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Subscript)
        and _dotted(node.value) == "sys.argv"
        and isinstance(node.slice, ast.Constant)
        and node.slice.value == 0
    )


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base is not None else None
    return None


_SAFE_METHODS = frozenset({"endswith", "startswith", "removesuffix"})


def _safe_expr(node: ast.expr) -> bool:
    """Strings, ``sys.argv[...]``, slices, ``re.sub`` and a few string methods: nothing else."""
    if isinstance(node, ast.Constant):
        safe = isinstance(node.value, str | int | type(None))
    elif isinstance(node, ast.UnaryOp):
        safe = _safe_expr(node.operand)
    elif isinstance(node, ast.Subscript):
        safe = _safe_expr(node.value) and _safe_expr(node.slice)
    elif isinstance(node, ast.Slice):
        safe = all(p is None or _safe_expr(p) for p in (node.lower, node.upper, node.step))
    elif isinstance(node, ast.Call):
        safe = _safe_call(node)
    else:
        safe = _dotted(node) == "sys.argv"
    return safe


def _safe_call(node: ast.Call) -> bool:
    if node.keywords or not all(_safe_expr(a) for a in node.args):
        return False
    func = node.func
    if _dotted(func) == "re.sub":
        return True
    return isinstance(func, ast.Attribute) and func.attr in _SAFE_METHODS and _safe_expr(func.value)


def _exit_call(stmt: ast.stmt, attrs: list[str]) -> bool:
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return False
    call = stmt.value
    if _dotted(call.func) != "sys.exit" or len(call.args) != 1 or call.keywords:
        return False
    inner = call.args[0]
    return (
        isinstance(inner, ast.Call)
        and not inner.args
        and not inner.keywords
        and _dotted(inner.func) == ".".join(attrs)
    )


# --- the scan's two ends ---------------------------------------------------------------------


class Anchoring:
    """The anchored mode of one scan (``integrity.Anchoring``): made by ``gather`` from the
    request, driven by ``integrity.scan``."""

    def __init__(self, request: WheelhouseRequest) -> None:
        self.request = request
        self.facts: InterpreterFacts | None = None
        self.resolution: Resolution | str = "not started"
        self.by_path: dict[str, _Plan] = {}

    def begin(self, facts: InterpreterFacts, pool: Executor, stop: threading.Event | None) -> None:
        """Find the vouched wheel of each distribution, hashing candidates on ``pool``."""
        self.facts = facts
        request = self.request
        if isinstance(request.lock, str):
            self.resolution = (
                f"the lock cannot be read ({request.lock}): nothing can be anchored in it"
            )
            return
        try:
            house = wheels.index_wheelhouse(request.folder)
        except ReadError as exc:
            self.resolution = f"the wheelhouse {exc}"
            return

        def hash_many(paths: list[Path]) -> list[str | Exception]:
            return list(pool.map(lambda path: _hash_or_error(path, stop), paths))

        self.resolution = resolve(facts, request, house, hash_many=hash_many)
        self.by_path = {a.dist.path: prepare(facts, a, stop) for a in self.resolution.anchors}

    def wants(self) -> tuple[dict[str, set[str]], dict[str, int]]:
        """What the census reads for the wheels: each shipped file with the algorithm its
        wheel's RECORD uses, and the bytes of the scripts and launchers (compared whole)."""
        want: dict[str, set[str]] = {}
        keep: dict[str, int] = {}
        for prepared in self.by_path.values():
            for expected in prepared.expected.values():
                want.setdefault(expected.path, set()).add("sha256")
            for script in prepared.scripts:
                keep[script.path] = _SCRIPT_KEEP
            for path in prepared.launchers:
                keep[path] = _LAUNCHER_LIMIT
        return want, keep

    def plan(
        self,
        dist: DistFacts,
        rows: Sequence[RecordRow] | None,
        verify_row: Callable[[str, RecordRow], Job],
        census: Census,
    ) -> tuple[list[Job], list[FileProblem]] | None:
        prepared = self.by_path.get(dist.path)
        if prepared is None:
            return None
        return plan_dist(prepared, rows, verify_row=verify_row, census=census)

    def summary(self, counts: Mapping[str, int]) -> AnchorFacts:
        resolution = self.resolution
        record_only = counts.get("record_only", 0) + counts.get(UNHASHED, 0)
        if isinstance(resolution, str):
            return AnchorFacts(
                str(self.request.folder), (), (), 0, 0, record_only, 0, unavailable=resolution
            )
        return AnchorFacts(
            wheelhouse=str(self.request.folder),
            wheels=tuple(a.wheel for a in resolution.anchors),
            unanchored=tuple(resolution.unanchored),
            files_anchored=counts.get("anchored", 0),
            files_derived=counts.get("derived", 0),
            files_record_only=record_only,
            wheel_bytes_hashed=resolution.bytes_hashed,
        )


def _hash_or_error(path: Path, stop: threading.Event | None) -> str | Exception:
    try:
        return wheels.hash_candidate(path, stop)
    except wheels.UnusableWheel as exc:
        return exc
