"""Hash every installed file against its distribution's RECORD, and find what no RECORD owns.

This runs in preflight's own process and only *reads* the target environment: the probe
reported where the distributions are; here their files are opened and hashed.

RECORD (the wheel spec, "Signed wheel files") is a CSV of ``path,hash,size`` rows:

* ``path`` is relative to the site-packages folder holding the ``.dist-info`` (scripts are
  written as ``../../../bin/name``); a few installers write absolute paths;
* ``hash`` is ``algorithm=urlsafe_b64encode_nopad(digest)``; it is empty for RECORD itself and
  for files made at install time (``.pyc``), which are therefore not checked;
* md5 and sha1 are not allowed by the spec, so such rows are "unverifiable";
* uv_build before 0.8.13 wrote the digest in hex instead of base64 (astral-sh/uv#15398) and
  installers copy it into the installed RECORD: such a digest is checked as hex, never taken
  for a modified file; anything else that does not decode is "unverifiable".

Files are hashed on a small thread pool: hashlib and file reads release the GIL, so the scan of
a large environment (pandas, numpy: about 5,000 files) keeps both cores busy.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from threading import Event
from typing import Protocol

from preflight._facts.model import (
    AnchorFacts,
    DistFacts,
    FileProblem,
    IntegrityFacts,
    InterpreterFacts,
    UnownedEntry,
    UnownedKind,
)
from preflight._read import RECORD_LIMIT, ReadError, open_regular, read_bytes, read_text

# One file to check on the pool: (problem or None, bytes read, what it counts as).
Job = Callable[[], tuple[FileProblem | None, int, str]]


class Anchoring(Protocol):
    """The anchored mode (``anchored.py``, which builds on this module) as the scan drives it:
    the vouched wheels are found first (their hashing on the scan's pool), then each
    distribution that has one is planned against it instead of its RECORD."""

    def begin(self, facts: InterpreterFacts, pool: Executor, stop: Event | None) -> None: ...

    def plan(
        self,
        dist: DistFacts,
        rows: Sequence[RecordRow] | None,
        verify_row: Callable[[str, RecordRow], Job],
        stop: Event | None,
    ) -> tuple[list[Job], list[FileProblem]] | None: ...

    def summary(self, counts: Mapping[str, int]) -> AnchorFacts: ...


__all__ = ["WORKERS", "Stopped", "expected_digest", "hash_file", "parse_record", "scan"]

_WEAK = frozenset({"md5", "sha1"})
_CHUNK = 1 << 20
WORKERS = max(2, min(8, os.cpu_count() or 2))
# What the venv creation tools place in site-packages themselves (owned by no distribution):
# virtualenv (and uv, which follows it) install a start-up hook as a .pth plus a module.
# The .pth is recognised by its exact content, not its name alone (a look-alike is flagged);
# the module is recognised only beside that .pth, which is the only thing that imports it.
_VENV_TOOL_PTH = "_virtualenv.pth"
_VENV_TOOL_PTH_TEXT = "import _virtualenv"
_VENV_TOOL_MODULE = "_virtualenv.py"
_PTH_LIMIT = 4096  # its known content is one short line
_VENV_TOOL = "virtualenv"
_EXTENSION_SUFFIXES = (".so", ".pyd")
_METADATA_DIRS = (".dist-info", ".egg-info", ".data")
# Rows RECORD may leave without a hash: itself, and bytecode written at install time. Code
# (modules, extensions, start-up .pth files) without a hash cannot be verified: say so.
_CODE_SUFFIXES = (".py", ".pth", *_EXTENSION_SUFFIXES)
_NO_HASH = "RECORD gives no hash"
UNHASHED = "unhashed"  # with a wheelhouse: a row counted as resting on RECORD, with no hash


@dataclass(frozen=True)
class RecordRow:
    """One row of RECORD: the file's absolute path and what RECORD says about it."""

    written: str  # the path as written in RECORD
    path: str  # absolute, normalised
    algorithm: str | None  # None when the row has no hash
    digest: str  # as written, after "algorithm="
    size: int | None
    malformed: str | None = None  # why the row cannot be read; ``written`` then names the row


_MAX_FIELD = 4096  # characters: a path, a digest or a size longer than this is not a RECORD's


def parse_record(text: str, site: str) -> list[RecordRow]:
    """The rows of a RECORD file; ``site`` is the folder the relative paths start from.

    One physical line is one row (RECORD quotes, but never spans lines). A row that does not
    read (a NUL, a lone CR, a field too long, a size that is not a plain number) comes back
    with ``malformed`` set and ``written`` = "RECORD row N": a finding, never an exception.
    """
    rows = []
    for number, physical in enumerate(text.split("\n"), start=1):
        line = physical.removesuffix("\r")
        if not line.strip():
            continue
        fields, why = _fields(line)
        if why is None and fields[0] == "":
            why = "it names no file"
        if why is not None:
            rows.append(RecordRow(f"RECORD row {number}", "", None, "", None, malformed=why))
            continue
        written = fields[0]
        hash_text = fields[1] if len(fields) > 1 else ""
        size_text = fields[2] if len(fields) > 2 else ""
        algorithm, _, digest = hash_text.partition("=")
        rows.append(
            RecordRow(
                written=written,
                path=os.path.normpath(os.path.join(site, written)),
                algorithm=algorithm.lower() if hash_text else None,
                digest=digest,
                size=int(size_text) if size_text.isascii() and size_text.isdigit() else None,
            )
        )
    return rows


def _fields(line: str) -> tuple[list[str], str | None]:
    """The CSV fields of one RECORD line, or why it is malformed."""
    why = None
    if "\0" in line:
        why = "it holds a NUL byte"
    elif "\r" in line:
        why = "it holds a carriage return"
    elif len(line) > 3 * _MAX_FIELD:
        why = f"it is {len(line)} characters long"
    if why is not None:
        return [], why
    try:
        fields = next(csv.reader([line], strict=True), [])
    except csv.Error as exc:
        return [], f"it is not CSV ({exc})"
    size = fields[2] if len(fields) > 2 else ""
    if not fields:
        why = "it is empty"
    elif any(len(field) > _MAX_FIELD for field in fields):
        why = f"a field is over {_MAX_FIELD} characters"
    elif size and not (size.isascii() and size.isdigit() and len(size) <= 20):
        why = f"its size {size[:20]!r} is not a number of bytes"
    return fields, why


def expected_digest(row: RecordRow) -> tuple[bytes | None, str | None]:
    """``(digest bytes, None)``, or ``(None, why it cannot be verified)``.

    A digest in hex (uv_build < 0.8.13) decodes to the right length as hex, not as base64.
    """
    assert row.algorithm is not None
    if row.algorithm in _WEAK:
        return None, f"{row.algorithm} is not allowed in RECORD (sha256 or stronger)"
    if row.algorithm not in hashlib.algorithms_guaranteed:
        return None, f"unknown hash algorithm {row.algorithm!r}"
    size = hashlib.new(row.algorithm).digest_size
    if size == 0:  # shake_128 / shake_256: no fixed length, digest() would need one
        return None, f"{row.algorithm} has no fixed digest length (sha256 or stronger)"
    if len(row.digest) == 2 * size:
        try:
            return bytes.fromhex(row.digest), None
        except ValueError:
            pass
    try:
        raw = base64.urlsafe_b64decode(row.digest + "=" * (-len(row.digest) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        return None, f"malformed hash {row.algorithm}={row.digest!r}"
    return raw, None


class Stopped(Exception):
    """The scan was told to stop (the check is being interrupted): its result is not wanted."""


def hash_file(path: str, algorithm: str, stop: Event | None = None) -> tuple[bytes, int] | None:
    """``(digest, size)`` of the file, or None if it does not exist or cannot be read."""
    hasher = hashlib.new(algorithm)
    size = 0
    try:  # a FIFO or a device named in RECORD is never opened for reading (it may not end)
        fd = open_regular(path)
    except (ReadError, ValueError):  # ValueError: a path that cannot be a path (a NUL in it)
        return None
    try:
        with open(fd, "rb", closefd=True) as handle:
            while chunk := handle.read(_CHUNK):
                if stop is not None and stop.is_set():
                    raise Stopped  # Ctrl-C in a 20 GiB file: within one chunk, not 41 s
                hasher.update(chunk)
                size += len(chunk)
    except OSError:
        return None
    return hasher.digest(), size


def _verify(dist: str, row: RecordRow, stop: Event | None = None) -> tuple[FileProblem | None, int]:
    """Check one hashed row; ``(problem or None, bytes read)``."""
    if not os.path.lexists(row.path):  # missing is missing, whatever the hash field says
        return FileProblem(dist, row.written, "missing", "file not found"), 0
    expected, why = expected_digest(row)
    if expected is None:
        return FileProblem(dist, row.written, "unverifiable", str(why)), 0
    assert row.algorithm is not None
    actual = hash_file(row.path, row.algorithm, stop)
    if actual is None:
        if not os.path.lexists(row.path):
            return FileProblem(dist, row.written, "missing", "file not found"), 0
        return FileProblem(dist, row.written, "modified", "not a readable regular file"), 0
    digest, size = actual
    if digest != expected:
        detail = f"{row.algorithm} differs"
        if row.size is not None and row.size != size:
            detail += f"; {size} bytes, RECORD says {row.size}"
        return FileProblem(dist, row.written, "modified", detail), size
    return None, size


@dataclass(frozen=True)
class _DistRecord:
    dist: DistFacts
    rows: tuple[RecordRow, ...]


def _read_records(
    dists: Iterable[DistFacts],
) -> tuple[list[_DistRecord], list[str], list[FileProblem]]:
    """RECORD rows per distribution, the names of those without a readable RECORD, and a
    problem for each whose RECORD is something that is not a file (a FIFO, ``/dev/zero``)."""
    records: list[_DistRecord] = []
    without: list[str] = []
    refused: list[FileProblem] = []
    for dist in dists:
        record = Path(dist.path) / "RECORD"
        if dist.kind != "dist-info":
            without.append(dist.name)
            continue
        try:
            data = read_bytes(record, what="a RECORD", limit=RECORD_LIMIT)
        except ReadError as exc:
            if exc.kind in ("missing", "unreadable"):
                without.append(dist.name)
            else:  # a FIFO, a device, a folder or a huge file where RECORD should be
                written = os.path.relpath(record, dist.site)
                detail = f"{exc.problem.removeprefix('is ')}; its files cannot be verified"
                refused.append(FileProblem(dist.name, written, "modified", detail))
            continue
        text = data.decode("utf-8", "replace")
        records.append(_DistRecord(dist, tuple(parse_record(text, dist.site))))
    return records, without, refused


def _top_level(path: str, site: str) -> str | None:
    """The first component of ``path`` below ``site``, or None if it lies elsewhere."""
    relative = os.path.relpath(path, site)
    if relative.startswith(os.pardir) or os.path.isabs(relative):
        return None
    return relative.split(os.sep, 1)[0]


def _kind_of(entry: os.DirEntry[str]) -> UnownedKind | None:
    """What an unowned site-packages entry is, if it is something Python would load."""
    name = entry.name
    if entry.is_dir(follow_symlinks=False):
        if name == "__pycache__" or name.endswith(_METADATA_DIRS):
            return None
        return "package" if _holds_python(entry.path) else None
    if name.endswith(".pth"):
        return "pth"
    if name.endswith((".py", ".pyc")):
        return "module"
    if name.endswith(_EXTENSION_SUFFIXES):
        return "extension"
    return None


def _holds_python(folder: str) -> bool:
    for _root, _dirs, files in os.walk(folder):
        if any(f.endswith((".py", ".pyc", *_EXTENSION_SUFFIXES)) for f in files):
            return True
    return False


def _unowned(
    site_dirs: Iterable[str], owned: dict[str, set[str]], files: set[str]
) -> Iterator[UnownedEntry]:
    """What Python would load from each site folder that no RECORD lists.

    Top-level entries that no RECORD lists a file under; and, inside the folders that are
    owned, importable files that no RECORD lists (a module dropped into numpy/).
    """
    for site in site_dirs:
        try:
            entries = sorted(os.scandir(site), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name not in owned.get(site, set()):
                kind = _kind_of(entry)
                if kind is not None:
                    yield UnownedEntry(entry.path, kind, _placed_by(site, entry.name))
            elif entry.is_dir(follow_symlinks=False) and not entry.name.endswith(_METADATA_DIRS):
                yield from _unowned_inside(entry.path, files)


def _unowned_inside(folder: str, files: set[str]) -> Iterator[UnownedEntry]:
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            path = os.path.join(root, name)
            if path in files:
                continue
            if name.endswith((".py", ".pyc")):
                yield UnownedEntry(path, "module")
            elif name.endswith(_EXTENSION_SUFFIXES):
                yield UnownedEntry(path, "extension")


def _placed_by(site: str, name: str) -> str | None:
    """The venv tool that placed ``name`` in ``site``, if it is that tool's known hook."""
    if name not in (_VENV_TOOL_PTH, _VENV_TOOL_MODULE):
        return None
    try:  # a FIFO or /dev/zero under that name must not hang the scan
        text = read_text(os.path.join(site, _VENV_TOOL_PTH), what="a .pth file", limit=_PTH_LIMIT)
    except ReadError:
        return None
    return _VENV_TOOL if text.strip() == _VENV_TOOL_PTH_TEXT else None


def scan(
    facts: InterpreterFacts,
    *,
    stop: Event | None = None,
    anchoring: Anchoring | None = None,
) -> IntegrityFacts:
    """Hash every file of every distribution the probe found; list unowned code.

    ``stop``, once set, ends the scan within one chunk of each file being hashed, by
    :class:`Stopped`: the check that wanted it is being interrupted. With ``anchoring`` (a
    wheelhouse), a distribution whose locked wheel is found is checked against that wheel
    instead of its RECORD; the others against RECORD, as without it.
    """
    records, without, problems = _read_records(facts.distributions)
    owned: dict[str, set[str]] = {}
    files: set[str] = set()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        if anchoring is not None:
            anchoring.begin(facts, pool, stop)
        jobs: list[Job] = []
        for record in records:
            site = os.path.normpath(record.dist.site)
            names = owned.setdefault(site, set())
            planned = (
                anchoring.plan(record.dist, record.rows, _optional_job(stop), stop)
                if anchoring is not None
                else None
            )
            if planned is not None:
                jobs.extend(planned[0])
                problems.extend(planned[1])
            for row in record.rows:
                if row.malformed is not None:
                    problems.append(
                        FileProblem(record.dist.name, row.written, "malformed", row.malformed)
                    )
                    continue
                files.add(row.path)
                top = _top_level(row.path, site)
                if top is not None:
                    names.add(top)
                if planned is not None:
                    continue  # checked against its wheel
                if row.algorithm is not None:
                    jobs.append(_record_job(record.dist.name, row, stop))
                elif row.path.endswith(_CODE_SUFFIXES):
                    problems.append(
                        FileProblem(record.dist.name, row.written, "unverifiable", _NO_HASH)
                    )
        bytes_checked = 0
        counts: dict[str, int] = {}
        for problem, size, kind in pool.map(lambda job: job(), jobs):
            bytes_checked += size
            counts[kind] = counts.get(kind, 0) + 1
            if problem is not None:
                problems.append(problem)
    site_dirs = [os.path.normpath(s) for s in facts.site_packages]
    unverifiable = sum(p.kind == "unverifiable" and p.detail != _NO_HASH for p in problems)
    return IntegrityFacts(
        files_checked=sum(counts.values()) - counts.get(UNHASHED, 0) - unverifiable,
        bytes_checked=bytes_checked,
        problems=tuple(problems),
        unowned=tuple(_unowned(site_dirs, owned, files)),
        without_record=tuple(without),
        anchor=anchoring.summary(counts) if anchoring is not None else None,
    )


def _optional_job(stop: Event | None) -> Callable[[str, RecordRow], Job]:
    return lambda dist, row: _record_job(dist, row, stop, optional=True)


def _record_job(dist: str, row: RecordRow, stop: Event | None, *, optional: bool = False) -> Job:
    """Check one row against the installed RECORD: a file that rests on RECORD alone.
    ``optional``: a row without a hash (RECORD itself, bytecode) is counted, not checked."""

    def job() -> tuple[FileProblem | None, int, str]:
        if row.algorithm is None:
            if optional and not row.path.endswith(_CODE_SUFFIXES):
                return None, 0, UNHASHED
            return FileProblem(dist, row.written, "unverifiable", _NO_HASH), 0, "record_only"
        problem, size = _verify(dist, row, stop)
        return problem, size, "record_only"

    return job
