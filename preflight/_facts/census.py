"""One census of the environment's files: walked once, each file read once, each RECORD parsed once.

What ``rpm -V`` records of an installed file, the census records of every entry below the
environment's install folders (sysconfig's ``purelib``, ``platlib`` and ``scripts``, and the
site-packages folders the probe found), and of every other path a RECORD (or, with a
wheelhouse, a locked wheel) names: its type (file, folder, symlink, FIFO, device...), its
permission bits, its owner's uid and gid, its size, its sha256 (and, in the same pass, any
other algorithm a RECORD row asks for) and, for a symlink, its target.

Integrity against RECORD (``integrity.py``), against the locked wheels (``anchored.py``) and
against a baseline manifest (``baseline.py``) are comparisons against this one census; none of
them opens an installed file itself.

The census sees what Python's import sees: a symlinked folder that import would enter (a
package folder or its ``__pycache__``, a name import can reach) is entered, and what it holds
is listed under the path Python would use. Beside the plain record, the census names what
exposes the environment's code (:func:`exposures`): a symlink that leaves the environment, a
folder import enters that is a symlink, and code (a module, its bytecode, an extension, a
``.pth``) or a folder on its import path that anyone but its owner can write (by its mode
bits, or by a POSIX ACL: a named user or group with write under the mask, or a folder's
default ACL that gives what is created in it to others), or that anyone but root or the
environment's owner (the owner of its root folder) owns; and a folder above site-packages, up
to ``/``, that lets another user swap what it holds (owned by another, or writable by others
without the sticky bit). The folders ``.pth`` lines add outside the folders walked are judged
as site-packages is; one that does not exist, by the nearest folder above it that does.

Files are read through :func:`preflight._read.open_regular` (a FIFO or a device is never
opened for reading) on a small thread pool (hashlib and reads release the GIL), in chunks,
each checking ``stop``. Without a baseline, only the files something compares are read (the
rows RECORD hashes, the members a locked wheel ships); with one, every file is. A file is read
only at the size RECORD gives it (another size cannot match: it is named, unread), or, with
none, up to :data:`UNSIZED_LIMIT`; the walk and the reads share a :class:`Deadline` and stop
at :data:`ENTRY_LIMIT` entries (:class:`Unfinished`, said by the checks instead of a verdict).

The bytecode probe's list of ``.pyc`` files can be derived from the census (every
``__pycache__/*.pyc`` entry, linked folders included: :meth:`Census.bytecode`); today the
probe lists them itself, inside the target.
"""

from __future__ import annotations

import base64
import binascii
import csv
import errno
import grp
import hashlib
import os
import pwd
import re
import stat
import struct
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from threading import Event
from typing import Literal

from preflight._facts.model import DistFacts, Exposure, FileProblem, InterpreterFacts
from preflight._read import RECORD_LIMIT, ReadError, open_regular, read_bytes

__all__ = [
    "WORKERS",
    "Census",
    "Deadline",
    "DistRecord",
    "Entry",
    "EntryType",
    "RecordRow",
    "Stopped",
    "Unfinished",
    "expected_digest",
    "exposures",
    "hash_file",
    "parse_record",
    "read_file",
    "read_records",
    "roots_of",
    "take",
]

_WEAK = frozenset({"md5", "sha1"})
_CHUNK = 1 << 20
WORKERS = max(2, min(8, os.cpu_count() or 2))
_ROOT_NAMES = ("purelib", "platlib", "scripts")
SITE_ROOT = "site"  # a site-packages folder the probe found that is no install folder
# Entries reached through symlinked folders, at most: a link to "/" is a finding, not a walk of
# the whole machine.
LINKED_LIMIT = 50_000
# A file no RECORD gives a size for (unowned, read for a baseline; a row without a size) is
# read up to this many bytes; a larger one is not read, and named as too large to verify. A
# file RECORD sizes is read only at that size: any other cannot match, and is not read.
UNSIZED_LIMIT = 4 << 30
# Entries in one census, at most: a folder of a million files is refused, not held in memory.
ENTRY_LIMIT = 1_000_000
# Without --timeout, the census (walk and reads) gets this long before the check says so.
DEFAULT_TIMEOUT = 600.0
CODE_SUFFIXES = (".py", ".pyc", ".pth", ".so", ".pyd")
_METADATA_DIRS = (".dist-info", ".egg-info", ".data")
_IMPORTABLE = re.compile(r"^[^\W\d]\w*$")  # a name import can reach as a package

EntryType = Literal["file", "dir", "link", "fifo", "socket", "char", "block", "other"]
# skipped: not read on purpose (a size RECORD rules out, over UNSIZED_LIMIT): Entry.why says
ReadState = Literal["unread", "read", "unreadable", "skipped"]

_BY_FORMAT: dict[int, EntryType] = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "dir",
    stat.S_IFLNK: "link",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "char",
    stat.S_IFBLK: "block",
}


def type_of(mode: int) -> EntryType:
    return _BY_FORMAT.get(stat.S_IFMT(mode), "other")


# --- RECORD ----------------------------------------------------------------------------------


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
    elif any(len(f) > _MAX_FIELD for f in fields):
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


@dataclass(frozen=True)
class DistRecord:
    dist: DistFacts
    rows: tuple[RecordRow, ...]
    sha256: bytes = b""  # of the RECORD file as read: the census does not read it again
    size: int = 0


def read_records(
    dists: Iterable[DistFacts],
) -> tuple[list[DistRecord], list[str], list[FileProblem]]:
    """RECORD rows per distribution, the names of those without a readable RECORD, and a
    problem for each whose RECORD is something that is not a file (a FIFO, ``/dev/zero``)."""
    records: list[DistRecord] = []
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
        rows = tuple(parse_record(text, dist.site))
        records.append(DistRecord(dist, rows, hashlib.sha256(data).digest(), len(data)))
    return records, without, refused


# --- reading one file ------------------------------------------------------------------------


class Stopped(Exception):
    """The scan was told to stop (the check is being interrupted): its result is not wanted."""


class Unfinished(Exception):
    """The census could not be finished (out of time, too many entries): the message says
    why, and the checks that needed it say so instead of judging half of it."""


_clock: Callable[[], float] = time.monotonic  # the deadline's clock (tests tick their own)


class Deadline:
    """The census's time: ``seconds`` from when it is made, on ``clock``."""

    def __init__(self, seconds: float, clock: Callable[[], float] | None = None) -> None:
        self.seconds = seconds
        self._clock = clock or _clock
        self._end = self._clock() + seconds
        self._abandoned: str | None = None

    def abandon(self, why: str) -> None:
        """End the census's other reads at their next look (it cannot be finished)."""
        self._abandoned = why

    def check(self) -> None:
        """Raise :class:`Unfinished` once the time is up, or the census was abandoned."""
        if self._abandoned is not None:
            raise Unfinished(self._abandoned)
        if self._clock() >= self._end:
            raise Unfinished(
                f"the census of the environment's files did not finish within "
                f"{self.seconds:g} s (the check's timeout): its files are not verified. Raise "
                "the timeout (`--timeout SECONDS`), or look for what makes reading them slow "
                "(a huge file, a slow or hung file system)"
            )


def _halt(stop: Event | None, deadline: Deadline | None) -> None:
    if stop is not None and stop.is_set():
        raise Stopped
    if deadline is not None:
        deadline.check()


@dataclass(frozen=True)
class Read:
    """What one read of a file gave: a digest per algorithm, its size, its bytes if kept."""

    digests: Mapping[str, bytes]
    size: int
    content: bytes | None  # the whole file, when asked for and no larger than asked
    skipped: str | None = None  # why it was not read (its size): digests is then empty


def read_file(
    path: str,
    algorithms: Collection[str],
    stop: Event | None = None,
    *,
    keep: int = 0,
    sizes: Collection[int] = (),
    deadline: Deadline | None = None,
) -> Read | None:
    """Read the regular file at ``path`` once, hashing it with every algorithm asked for;
    None if it does not exist or cannot be read (a FIFO or a device is never opened).
    ``keep`` > 0: its bytes are kept too, if it holds no more than that.

    ``sizes``: the sizes it may have (RECORD's); one of another size is not read (nothing
    could match), nor one of no expected size over :data:`UNSIZED_LIMIT`: the result is
    then ``skipped`` with its ``fstat`` size. A file that grows past either while read is
    left at once, the same way."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    size = 0
    kept: list[bytes] | None = [] if keep > 0 else None
    _halt(stop, deadline)
    try:
        fd = open_regular(path)
    except (ReadError, ValueError):  # ValueError: a path that cannot be a path (a NUL in it)
        return None
    try:
        with open(fd, "rb", closefd=True) as handle:
            found = os.fstat(handle.fileno()).st_size
            skipped = _skip(found, sizes)
            if skipped is not None:
                return Read({}, found, None, skipped)
            most = max(sizes) if sizes else UNSIZED_LIMIT
            while chunk := handle.read(_CHUNK):
                _halt(stop, deadline)  # Ctrl-C in a large file: within one chunk
                if size + len(chunk) > most:
                    return Read({}, size + len(chunk), None, "it grew while it was read")
                for hasher in hashers.values():
                    hasher.update(chunk)
                size += len(chunk)
                if kept is not None and size <= keep:
                    kept.append(chunk)
    except OSError:
        return None
    content = b"".join(kept) if kept is not None and size <= keep else None
    return Read({name: h.digest() for name, h in hashers.items()}, size, content)


def _skip(size: int, sizes: Collection[int]) -> str | None:
    """Why a file of ``size`` bytes is not read, or None."""
    if sizes and size not in sizes:
        said = " or ".join(str(n) for n in sorted(sizes))
        return f"size {size}, RECORD says {said}: not read, no content of that size can match"
    if not sizes and size > UNSIZED_LIMIT:
        return (
            f"{size} bytes, over the {UNSIZED_LIMIT} a file no RECORD sizes may have: too "
            "large to verify, not read"
        )
    return None


def hash_file(path: str, algorithm: str, stop: Event | None = None) -> tuple[bytes, int] | None:
    """``(digest, size)`` of the file, or None if it does not exist or cannot be read."""
    found = read_file(path, (algorithm,), stop)
    if found is None or found.skipped is not None:
        return None
    return found.digests[algorithm], found.size


# --- the census ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)  # a census holds up to ENTRY_LIMIT of them
class Entry:
    """One entry, as ``lstat`` gives it (a symlink is not followed; a folder reached through
    a symlinked folder is named by the path Python would use)."""

    path: str  # absolute, normalised
    root: str | None  # the install folder walked ("purelib", "scripts"...), None: named alone
    relative: str  # "/"-separated below that root ("" when root is None)
    type: EntryType
    mode: int  # permission bits (S_IMODE)
    uid: int
    gid: int
    size: int  # st_size; for a file read, the bytes read
    target: str | None = None  # a symlink's, as os.readlink gives it
    through: str | None = None  # the symlinked folder it was reached through
    state: ReadState = "unread"  # regular files: read (hashed) or not
    digests: Mapping[str, bytes] = field(default_factory=dict)
    content: bytes | None = None  # kept for the few files compared whole (launchers)
    why: str | None = None  # state "skipped": why it was not read ("size 9, RECORD says 4...")

    @property
    def sha256(self) -> bytes | None:
        return self.digests.get("sha256")


@dataclass(frozen=True)
class Census:
    """Every entry of the environment's install folders, and every path a RECORD names."""

    prefix: str  # the environment's prefix, resolved
    roots: tuple[tuple[str, str], ...]  # (name, path) walked
    entries: Mapping[str, Entry]  # absolute path → entry; a path that does not exist is absent
    records: tuple[DistRecord, ...]
    without_record: tuple[str, ...]
    refused: tuple[FileProblem, ...]  # RECORDs that are not files
    owners: Mapping[str, str]  # absolute path → the distribution whose RECORD lists it first
    entered: tuple[str, ...]  # symlinked folders walked into
    not_entered: tuple[str, ...]  # symlinked folders import would enter, left (loop, limit)
    files_read: int
    bytes_read: int

    def get(self, path: str) -> Entry | None:
        return self.entries.get(path)

    def owner(self, path: str) -> str | None:
        """The distribution whose RECORD lists ``path`` (absolute, normalised), if any."""
        return self.owners.get(path)

    def children(self) -> dict[str, list[Entry]]:
        """Folder path → its entries (walked entries only)."""
        found: dict[str, list[Entry]] = {}
        for entry in self.entries.values():
            if entry.root is not None:
                found.setdefault(os.path.dirname(entry.path), []).append(entry)
        return found

    def bytecode(self) -> list[str]:
        """Every ``__pycache__/*.pyc`` the census saw (the bytecode probe's list, derived)."""
        return sorted(
            e.path
            for e in self.entries.values()
            if e.type == "file"
            and e.path.endswith(".pyc")
            and os.path.basename(os.path.dirname(e.path)) == "__pycache__"
        )


def roots_of(facts: InterpreterFacts) -> tuple[tuple[str, str], ...]:
    """The named install folders of the environment that exist, each real folder once.

    On most systems purelib and platlib are one folder (or ``lib64`` links to ``lib``): it is
    recorded once, as purelib. Without install paths (a probe that could not say), the
    environment's own site folders stand in, named ``purelib`` and ``platlib``.
    """
    paths = dict(facts.install_paths)
    if not paths and facts.site_packages:
        paths = dict(zip(("purelib", "platlib"), facts.site_packages, strict=False))
    roots: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name in _ROOT_NAMES:
        path = paths.get(name)
        if not path or not os.path.isdir(path):
            continue
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        roots.append((name, os.path.normpath(path)))
    return tuple(roots)


def _walk_roots(facts: InterpreterFacts) -> list[tuple[str, str]]:
    """The install roots, then each site-packages folder they do not cover (as ``site``).
    A site folder that is an install root under another spelling replaces its path, so
    the census names files as RECORD and the probe do."""
    roots = list(roots_of(facts))
    real = {os.path.realpath(path): n for n, (_, path) in enumerate(roots)}
    for found in facts.site_packages:
        site = os.path.normpath(found)
        index = real.get(os.path.realpath(site))
        if index is None:
            if os.path.isdir(site):
                roots.append((SITE_ROOT, site))
                real[os.path.realpath(site)] = len(roots) - 1
        else:
            roots[index] = (roots[index][0], site)
    return roots


def _entry_of(
    path: str, info: os.stat_result, root: str | None, relative: str, through: str | None
) -> Entry:
    kind = type_of(info.st_mode)
    target = None
    if kind == "link":
        try:
            target = os.readlink(path)
        except OSError:
            target = ""
    return Entry(
        path, root, relative, kind, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid,
        info.st_size, target, through,
    )  # fmt: skip


@dataclass
class _Walk:
    entries: dict[str, Entry] = field(default_factory=dict)
    entered: list[str] = field(default_factory=list)
    not_entered: list[str] = field(default_factory=list)
    linked: int = 0  # entries reached through symlinked folders


def _import_enters(name: str) -> bool:
    return name == "__pycache__" or bool(_IMPORTABLE.match(name))


def _walk(
    roots: list[tuple[str, str]], stop: Event | None, deadline: Deadline | None = None
) -> _Walk:
    """Every entry below each root (the roots themselves excluded), symlinks not followed but
    for symlinked folders import would enter outside the scripts folder: those are entered
    (once on any one path: a link back up is left, and named)."""
    walk = _Walk()
    root_paths = {path for _, path in roots}
    for name, top in roots:
        try:
            top_info = os.stat(top)
        except OSError:
            continue
        stack: list[tuple[str, str, str | None, frozenset[tuple[int, int]]]] = [
            ("", top, None, frozenset({(top_info.st_dev, top_info.st_ino)}))
        ]
        while stack:
            _halt(stop, deadline)
            relative, folder, through, chain = stack.pop()
            try:
                with os.scandir(folder) as listing:
                    children = list(listing)  # in no order: the readers sort what they show
            except OSError:
                continue
            for child in children:
                rel = f"{relative}{child.name}"
                try:
                    info = child.stat(follow_symlinks=False)
                except OSError:
                    continue  # gone since it was listed
                entry = _entry_of(child.path, info, name, rel, through)
                if through is not None:
                    walk.linked += 1
                if entry.type == "dir" and child.path in root_paths:
                    continue  # walked as its own root
                walk.entries[entry.path] = entry
                if len(walk.entries) > ENTRY_LIMIT:
                    raise Unfinished(
                        f"the census stopped at {ENTRY_LIMIT:,} entries below {top} (in "
                        f"{folder}): more than an environment holds, so its files are not "
                        "verified. Look for what fills it (a data folder, a runaway cache)"
                    )
                if entry.type == "dir":
                    stack.append((rel + "/", child.path, through, chain))
                elif entry.type == "link" and name != "scripts" and _import_enters(child.name):
                    _enter(
                        walk, path=child.path, rel=rel, through=through, chain=chain, stack=stack
                    )
    return walk


def _enter(
    walk: _Walk,
    *,
    path: str,
    rel: str,
    through: str | None,
    chain: frozenset[tuple[int, int]],
    stack: list[tuple[str, str, str | None, frozenset[tuple[int, int]]]],
) -> None:
    """Walk into a symlinked folder as import would, unless it loops or the limit is hit."""
    try:
        info = os.stat(path)
    except OSError:
        return  # dangling, or a loop: import cannot enter it either
    if not stat.S_ISDIR(info.st_mode):
        return
    key = (info.st_dev, info.st_ino)
    if key in chain or walk.linked >= LINKED_LIMIT:
        walk.not_entered.append(path)
        return
    walk.entered.append(path)
    stack.append((rel + "/", path, through or path, chain | {key}))


def _usable(algorithm: str) -> bool:
    """An algorithm a RECORD row may use and the census can hash (fixed length, not weak)."""
    return (
        algorithm in hashlib.algorithms_guaranteed
        and algorithm not in _WEAK
        and hashlib.new(algorithm).digest_size > 0
    )


def take(
    facts: InterpreterFacts,
    *,
    records: tuple[list[DistRecord], list[str], list[FileProblem]] | None = None,
    want: Mapping[str, Collection[str]] | None = None,
    keep: Mapping[str, int] | None = None,
    read_all: bool = False,
    pool: Executor | None = None,
    stop: Event | None = None,
    deadline: Deadline | None = None,
) -> Census:
    """The census of the environment the probe described, as it is now.

    ``records`` (``read_records``) are read here if not given. Every file a RECORD row hashes
    is read, with sha256 and the row's algorithm; ``want`` adds paths (and algorithms) to
    read, ``keep`` paths whose bytes are kept (up to a size); ``read_all`` reads every file
    (a baseline compares them all). Each file is read once, whatever asks for it.

    The files RECORD names are read on the pool while the folders are walked (the walk only
    lists and ``lstat``-s); a read through what the walk finds is a symlink, a folder or
    nothing is dropped. A file is read only at a size RECORD gives it (or, with none, up to
    :data:`UNSIZED_LIMIT`). Past ``deadline``, or past :data:`ENTRY_LIMIT` entries, the
    census raises :class:`Unfinished`; ``stop`` set, :class:`Stopped`.
    """
    dist_records, without, refused = records or read_records(facts.distributions)
    owners, algorithms, sizes = _named(dist_records, want or {}, keep or {})
    deadline = deadline or Deadline(float("inf"))
    kept = keep or {}
    early = {
        path: {"sha256"} | {a for a in names if _usable(a)}
        for path, names in algorithms.items()
        if names or path in kept
    }
    executor = pool or ThreadPoolExecutor(
        max_workers=WORKERS, thread_name_prefix="preflight-census"
    )
    reading = _Reading()
    try:
        reading = _submit(executor, early, kept, stop, sizes=sizes, deadline=deadline)
        roots = _walk_roots(facts)
        walk = _walk(roots, stop, deadline)
        entries = walk.entries
        for path in algorithms:  # named by a RECORD or a wheel, outside the folders walked
            if path not in entries:
                try:
                    info = os.lstat(path)
                except (OSError, ValueError):
                    continue
                entries[path] = _entry_of(path, info, None, "", None)
        known, known_bytes = _known_records(entries, dist_records)
        files, total = _collect(entries, reading)
        files, total = files + known, total + known_bytes
        if read_all:
            asked = set(early)
            rest = {
                path: {"sha256"}
                for path, entry in entries.items()
                if entry.type == "file" and entry.state == "unread" and path not in asked
            }  # fmt: skip
            reading = _submit(executor, rest, kept, stop, sizes=sizes, deadline=deadline)
            more, more_bytes = _collect(entries, reading)
            files, total = files + more, total + more_bytes
    except BaseException as exc:
        if isinstance(exc, Unfinished):  # the reads still running end at their next chunk
            deadline.abandon(str(exc))
        elif stop is not None:
            stop.set()
        reading.cancel()
        if pool is None:
            executor.shutdown(wait=True, cancel_futures=True)
        raise
    if pool is None:
        executor.shutdown(wait=True)
    return Census(
        prefix=os.path.realpath(facts.prefix),
        roots=tuple(roots),
        entries=entries,
        records=tuple(dist_records),
        without_record=tuple(without),
        refused=tuple(refused),
        owners=owners,
        entered=tuple(walk.entered),
        not_entered=tuple(walk.not_entered),
        files_read=files,
        bytes_read=total,
    )


def _known_records(entries: dict[str, Entry], records: Iterable[DistRecord]) -> tuple[int, int]:
    """Each RECORD was read once, to be parsed: its digest is known, it is not read again.
    Returns the files and bytes so hashed."""
    files = total = 0
    for record in records:
        path = os.path.normpath(os.path.join(record.dist.path, "RECORD"))
        entry = entries.get(path)
        if entry is not None and entry.type == "file" and record.sha256:
            digests = {"sha256": record.sha256}
            entries[path] = replace(entry, state="read", digests=digests, size=record.size)
            files, total = files + 1, total + record.size
    return files, total


def _named(
    records: Iterable[DistRecord], want: Mapping[str, Collection[str]], keep: Mapping[str, int]
) -> tuple[dict[str, str], dict[str, set[str]], dict[str, set[int]]]:
    """Who owns each path RECORD names; each path to read with the algorithms asked; and
    the sizes RECORD gives each path (none for a path a row names without a size)."""
    owners: dict[str, str] = {}
    algorithms: dict[str, set[str]] = {}
    sizes: dict[str, set[int]] = {}
    unsized: set[str] = set()
    for record in records:
        for row in record.rows:
            if row.malformed is not None:
                continue
            if row.size is None:
                unsized.add(row.path)
            else:
                sizes.setdefault(row.path, set()).add(row.size)
            owners.setdefault(row.path, record.dist.name)
            names = algorithms.setdefault(row.path, set())
            if row.algorithm is not None:
                names.add(row.algorithm)
        itself = os.path.normpath(os.path.join(record.dist.path, "RECORD"))
        owners.setdefault(itself, record.dist.name)
    for path, asked in want.items():
        algorithms.setdefault(path, set()).update(asked)
    for path in keep:
        algorithms.setdefault(path, set())
    for path in unsized:
        sizes.pop(path, None)
    return owners, algorithms, sizes


_BATCH = 16  # files read by one task of the pool: fewer hand-offs between threads


@dataclass(frozen=True)
class _Reading:
    """Files being read on the pool, in batches: ``paths[n]`` gives ``batches[n]``."""

    paths: tuple[tuple[str, ...], ...] = ()
    batches: tuple[Future[list[Read | None]], ...] = ()

    def __contains__(self, path: object) -> bool:
        return any(path in batch for batch in self.paths)

    def cancel(self) -> None:
        for future in self.batches:
            future.cancel()


def _submit(
    executor: Executor,
    to_read: Mapping[str, set[str]],
    keep: Mapping[str, int],
    stop: Event | None,
    *,
    sizes: Mapping[str, set[int]],
    deadline: Deadline | None,
) -> _Reading:
    """Each file of ``to_read`` to be read once, with its algorithms, on ``executor``."""
    ordered = sorted(to_read)
    batches = [tuple(ordered[n : n + _BATCH]) for n in range(0, len(ordered), _BATCH)]

    def read(paths: tuple[str, ...]) -> list[Read | None]:
        return [
            read_file(
                path, sorted(to_read[path]), stop, keep=keep.get(path, 0),
                sizes=sizes.get(path, ()), deadline=deadline,
            )
            for path in paths
        ]  # fmt: skip

    return _Reading(tuple(batches), tuple(executor.submit(read, batch) for batch in batches))


def _collect(entries: dict[str, Entry], reading: _Reading) -> tuple[int, int]:
    """What the reads gave, into ``entries``; the files read and their bytes. A read of a
    path the walk found to be no regular file (a symlink, a folder) or nothing is dropped."""
    files = total = 0
    for paths, future in zip(reading.paths, reading.batches, strict=True):
        for path, found in zip(paths, future.result(), strict=True):
            entry = entries.get(path)
            if entry is None or entry.type != "file":
                continue
            if found is None:
                entries[path] = replace(entry, state="unreadable")
                continue
            if found.skipped is not None:
                entries[path] = replace(entry, state="skipped", size=found.size, why=found.skipped)
                continue
            files += 1
            total += found.size
            entries[path] = replace(
                entry, state="read", digests=found.digests, size=found.size, content=found.content
            )
    return files, total


# --- what exposes the environment's code ------------------------------------------------------


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


@lru_cache(maxsize=64)
def _private_group(uid: int, gid: int) -> bool:
    """Whether ``gid`` is ``uid``'s own group: its primary group, with no other member (no
    one listed in it, no other account whose primary group it is)."""
    try:
        owner = pwd.getpwuid(uid)
        group = grp.getgrgid(gid)
    except KeyError:
        return False
    if owner.pw_gid != gid or any(m != owner.pw_name for m in group.gr_mem):
        return False
    return not any(p.pw_gid == gid and p.pw_uid != uid for p in pwd.getpwall())


def _group_name(gid: int) -> str:
    try:
        return f"group {grp.getgrgid(gid).gr_name!r} (gid {gid})"
    except KeyError:
        return f"gid {gid}"


# POSIX ACLs as Linux stores them in the ``system.posix_acl_access`` and
# ``system.posix_acl_default`` attributes (``include/uapi/linux/posix_acl_xattr.h``): a
# little-endian u32 version (2), then entries of (u16 tag, u16 permissions, u32 id).
ACL_ACCESS = "system.posix_acl_access"
ACL_DEFAULT = "system.posix_acl_default"
_ACL_VERSION = 2
_ACL_HEADER = struct.Struct("<I")
_ACL_ENTRY = struct.Struct("<HHI")
ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_GROUP, ACL_MASK, ACL_OTHER = (
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20,
)  # fmt: skip
_ACL_WRITE = 0o2
_ACL_LIMIT = 1 << 16  # bytes: the kernel's own limit on one xattr is 64 KiB
# An attribute a file system does not have, or cannot have (no ACL support): no ACL.
_NO_ACL = frozenset(
    {
        getattr(errno, n)
        for n in ("ENODATA", "ENOATTR", "ENOTSUP", "EOPNOTSUPP")
        if hasattr(errno, n)
    }
)


@dataclass(frozen=True)
class AclEntry:
    tag: int
    perm: int
    id: int


def parse_acl(blob: bytes) -> tuple[AclEntry, ...]:
    """The entries of an ACL attribute; ValueError if it is not one (another version, a
    length that is not a header and whole entries)."""
    if len(blob) < _ACL_HEADER.size or (len(blob) - _ACL_HEADER.size) % _ACL_ENTRY.size:
        raise ValueError(f"{len(blob)} bytes are no ACL (a 4-byte header, then 8-byte entries)")
    (version,) = _ACL_HEADER.unpack_from(blob)
    if version != _ACL_VERSION:
        raise ValueError(f"ACL version {version}, not {_ACL_VERSION}")
    return tuple(
        AclEntry(*_ACL_ENTRY.unpack_from(blob, offset))
        for offset in range(_ACL_HEADER.size, len(blob), _ACL_ENTRY.size)
    )


def read_acl(path: str, name: str, *, follow: bool = False) -> tuple[AclEntry, ...] | str:
    """The ACL ``name`` of ``path`` (empty: it has none), or why it cannot be read."""
    try:
        blob = os.getxattr(path, name, follow_symlinks=follow)
    except OSError as exc:
        # none, or none possible here; ENOENT: gone since it was listed (the census says so)
        if exc.errno in _NO_ACL or exc.errno == errno.ENOENT:
            return ()
        return f"its ACL ({name}) cannot be read ({exc.strerror})"
    except ValueError:  # a NUL in the path
        return ()
    if len(blob) > _ACL_LIMIT:
        return f"its ACL ({name}) is {len(blob)} bytes, more than any ACL"
    try:
        return parse_acl(blob)
    except ValueError as exc:
        return f"its ACL ({name}) cannot be read: {exc}"


def _acl_writers(
    entries: tuple[AclEntry, ...], uid: int, gid: int, trusted: Collection[int], *, default: bool
) -> list[str]:
    """Who an ACL lets write, besides the owner, root and ``trusted``: its named users and
    groups (under its mask), and in a default ACL (what is created inside) its owning group
    and others too."""
    masks = [e.perm for e in entries if e.tag == ACL_MASK]
    mask = masks[0] if masks else 0o7
    found = []
    for e in entries:
        if e.tag == ACL_USER and e.perm & mask & _ACL_WRITE and e.id not in {0, uid, *trusted}:
            found.append(f"user:{_user_name(e.id)}:{_perms(e.perm)}")
        elif e.tag == ACL_GROUP and e.perm & mask & _ACL_WRITE and not _private_group(uid, e.id):
            found.append(f"group:{_group_name(e.id)}:{_perms(e.perm)}")
        elif default and e.tag == ACL_OTHER and e.perm & _ACL_WRITE:
            found.append(f"other::{_perms(e.perm)}")
        elif (
            default
            and e.tag == ACL_GROUP_OBJ
            and e.perm & mask & _ACL_WRITE
            and not _private_group(uid, gid)
        ):
            found.append(f"group::{_perms(e.perm)} ({_group_name(gid)})")
    return found


def _perms(perm: int) -> str:
    return "".join(c if perm & bit else "-" for c, bit in (("r", 4), ("w", 2), ("x", 1)))


def acl_loose(
    path: str,
    mode: int,
    uid: int,
    gid: int,
    *,
    folder: bool,
    trusted: Collection[int] = (),
    follow: bool = False,
) -> str | None:
    """Why a POSIX ACL lets anyone but the owner (root, ``trusted``) write ``path``, or None.

    With named entries an ACL has a mask, and the mode's group bits are that mask: without
    group write in the mode no named entry can write, and the access ACL is not read (one
    ``getxattr`` saved per file of an environment). A folder's default ACL (what is created
    in it inherits) shows in no mode bit: it is read for every folder."""
    kinds = (
        (ACL_ACCESS, bool(mode & stat.S_IWGRP), False, "its ACL lets {} write it"),
        (ACL_DEFAULT, folder, True, "its default ACL lets {} write what is created in it"),
    )
    reasons = []
    for kind, wanted, default, said in kinds:
        if not wanted:
            continue
        acl = read_acl(path, kind, follow=follow)
        if isinstance(acl, str):
            reasons.append(acl)
        elif named := _acl_writers(acl, uid, gid, trusted, default=default):
            reasons.append(said.format(", ".join(named)))
    return "; ".join(reasons) or None


def loose(
    mode: int,
    uid: int,
    gid: int,
    *,
    path: str | None = None,
    folder: bool = False,
    trusted: Collection[int] = (),
    follow: bool = False,
) -> str | None:
    """Why anyone but the owner can write an entry of this mode (with ``path``: or of its
    POSIX ACL), or None."""
    reasons = []
    if mode & stat.S_IWOTH:
        reasons.append(f"mode {mode:04o}: any user can write it")
    acl = (
        acl_loose(path, mode, uid, gid, folder=folder, trusted=trusted, follow=follow)
        if path is not None
        else None
    )
    if mode & stat.S_IWGRP and not _private_group(uid, gid):
        reasons.append(
            f"mode {mode:04o}: {_group_name(gid)} can write it, and that is not its owner's "
            "private group"
        )
    if acl is not None:
        reasons.append(f"mode {mode:04o}+: {acl}")
    return "; ".join(reasons) or None


def _on_import_path(entry: Entry, site_roots: list[str]) -> bool:
    """A folder below a site-packages folder that import reads (no metadata folder)."""
    for site in site_roots:
        if _inside(entry.path, site) and entry.path != site:
            parts = os.path.relpath(entry.path, site).split(os.sep)
            return not any(p.endswith(_METADATA_DIRS) for p in parts)
    return False


def environment_owner(census: Census) -> int | None:
    """The uid that owns the environment's root folder (its prefix), if it can be read."""
    try:
        return os.stat(census.prefix).st_uid
    except OSError:
        return None


def _user_name(uid: int) -> str:
    try:
        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except KeyError:
        return f"uid {uid}"


def foreign(uid: int, owner: int | None) -> str | None:
    """Why an entry owned by ``uid`` is not trusted, or None: the ownership rule (ssh's
    StrictModes, applied to the import path) trusts root and the environment's owner only;
    any other owner can write the entry (or ``chmod`` it) whatever its mode says."""
    if uid in {0, owner}:
        return None
    whose = "root's" if owner in (None, 0) else f"root's or {_user_name(owner)}'s"
    return (
        f"owned by {_user_name(uid)}, who can change it whatever its mode (only {whose} is trusted)"
    )


def _trust(
    path: str,
    mode: int,
    uid: int,
    gid: int,
    *,
    owner: int | None,
    what: str,
    folder: bool,
    follow: bool = False,
) -> list[Exposure]:
    """The exposures of one entry on the import path: a foreign owner, loose write bits or
    a POSIX ACL that lets another user write it."""
    found = []
    why = foreign(uid, owner)
    if why is not None:
        found.append(Exposure(path, "foreign_owner", f"{what}: {why}"))
    loose_why = loose(
        mode, uid, gid, path=path, folder=folder, trusted=_trusted(owner), follow=follow
    )
    if loose_why is not None:
        found.append(Exposure(path, "writable", f"{what}: {loose_why}"))
    return found


def _trusted(owner: int | None) -> tuple[int, ...]:
    return () if owner is None else (owner,)


def _ancestors(
    census: Census,
    site_roots: list[str],
    owner: int | None,
    seen: set[str] | None = None,
    held: str | None = None,
) -> list[Exposure]:
    """The folders that hold the site-packages folders, up to ``/``: whoever can rename an
    entry of one can move site-packages (or the whole environment) aside and put their own
    in its place. Each must be owned by root or the environment's owner, and writable by no
    one else unless it is sticky (``/tmp``: there only an entry's owner renames it).
    ``held``: what the folders hold, when they are not site-packages (a folder a ``.pth``
    adds); ``seen``: the folders already judged."""
    found: list[Exposure] = []
    seen = set() if seen is None else seen
    prefix = census.prefix
    for site in site_roots:
        folder = os.path.dirname(os.path.realpath(site))
        while folder not in seen:
            seen.add(folder)
            try:
                info = os.lstat(folder)
            except OSError:
                break
            inside = _inside(folder, prefix)
            what = (
                f"a folder that holds {held}"
                if held is not None
                else "a folder that holds site-packages"
                if inside
                else "a folder that holds the environment"
            )
            mode = stat.S_IMODE(info.st_mode)
            why = foreign(info.st_uid, owner)
            if why is not None:
                found.append(Exposure(folder, "foreign_owner", f"{what}: {why}"))
            loose_why = loose(
                mode, info.st_uid, info.st_gid, path=folder, folder=True, trusted=_trusted(owner)
            )
            if loose_why is not None and not mode & stat.S_ISVTX:
                found.append(
                    Exposure(
                        folder,
                        "writable",
                        f"{what}: {loose_why}, and it is not sticky: they can rename what it "
                        "holds and put their own in its place",
                    )
                )
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
    return found


def exposures(census: Census, facts: InterpreterFacts) -> list[Exposure]:
    """What lets code into the environment past its files' hashes: a symlink that resolves
    outside the environment, a folder import enters that is a symlink, code or a folder on
    its import path that anyone but its owner can write, code or such a folder owned by
    anyone but root or the environment's owner, and a folder above site-packages (up to
    ``/``) that lets another user swap what it holds; the same of each folder a ``.pth``
    puts on ``sys.path`` outside the folders walked, and of the nearest existing folder
    above one that does not exist (whoever can write it can make it). A file RECORD lists
    that is a symlink is the RECORD comparison's finding, not repeated here."""
    site_roots = [path for name, path in census.roots if name != "scripts"]
    owner = environment_owner(census)
    seen: set[str] = set()
    found: list[Exposure] = _ancestors(census, site_roots, owner, seen)
    found += _pth_folders(census, facts, owner, seen)
    for path in site_roots:  # the site-packages folders themselves
        try:
            info = os.stat(path)
        except OSError:
            continue
        found.extend(
            _trust(path, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid, owner=owner,
                   what="a site-packages folder", folder=True, follow=True)
        )  # fmt: skip
    entered = set(census.entered) | set(census.not_entered)
    for path in sorted(census.entries):
        entry = census.entries[path]
        if entry.type == "link":
            found.extend(_link_exposure(census, entry, path in entered))
            if path in entered:
                found.extend(_target_writable(entry, owner))
            continue
        if entry.type == "file" and path.endswith(CODE_SUFFIXES):
            what = "code"
        elif entry.type == "dir" and _on_import_path(entry, site_roots):
            what = "a folder on the import path"
        else:
            continue
        found.extend(
            _trust(path, entry.mode, entry.uid, entry.gid, owner=owner, what=what,
                   folder=entry.type == "dir")
        )  # fmt: skip
    return found


def _link_exposure(census: Census, entry: Entry, entered: bool) -> list[Exposure]:
    resolved = os.path.realpath(entry.path)
    outside = not _inside(resolved, census.prefix)
    where = f"a symlink to {entry.target}" + (
        f", which resolves outside the environment ({resolved})" if outside else ""
    )
    if entered:
        return [Exposure(entry.path, "linked_folder", f"a folder import enters is {where}")]
    if census.owner(entry.path) is not None or entry.root == "scripts":
        # a file RECORD lists: the RECORD comparison names it; a link in the scripts folder
        # that no RECORD lists is no code of the environment (bin/python is the interpreter
        # check's; a system's /usr/bin holds links to /etc/alternatives)
        return []
    if outside:
        return [Exposure(entry.path, "link_outside", where)]
    return []


def _target_writable(entry: Entry, owner: int | None) -> list[Exposure]:
    try:
        info = os.stat(entry.path)
    except OSError:
        return []
    return _trust(
        entry.path, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid, owner=owner,
        what="a folder on the import path (linked)", folder=True, follow=True,
    )  # fmt: skip


def _pth_folders(
    census: Census, facts: InterpreterFacts, owner: int | None, seen: set[str]
) -> list[Exposure]:
    """The folders ``.pth`` lines put on ``sys.path`` outside the folders the census walks
    (an editable install's checkout, a folder anywhere): each is judged as site-packages is
    (its owner, its write bits and ACLs, the folders above it). One that does not exist yet
    is made by whoever can write the nearest folder above it that does, sticky or not (the
    sticky bit keeps others from renaming, not from making): Python imports from it (a
    ``sitecustomize.py`` dropped there runs) at the next start."""
    walked = [os.path.realpath(path) for _, path in census.roots]
    found: list[Exposure] = []
    judged: set[str] = set()
    for pth in facts.pth_files:
        for folder in pth.paths:
            real = os.path.realpath(folder)
            if real in judged or any(_inside(real, root) for root in walked):
                continue
            judged.add(real)
            try:
                info = os.stat(real)
            except OSError:
                continue
            added = f"a folder {pth.path} adds to sys.path"
            found += _trust(
                folder, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid, owner=owner,
                what=added, folder=True, follow=True,
            )  # fmt: skip
            found += _ancestors(census, [real], owner, seen, held=f"{folder} ({added})")
            found += _added_code(folder, owner, added)
        for folder in pth.missing:
            if folder in judged:
                continue
            judged.add(folder)
            found += _missing_folder(census, folder, pth.path, owner, seen)
    return found


def _missing_folder(
    census: Census, folder: str, pth: str, owner: int | None, seen: set[str]
) -> list[Exposure]:
    """A folder a ``.pth`` names that does not exist: the nearest folder above it that does
    must let no one else make it (sticky or not), nor anything above it be swapped."""
    above = os.path.dirname(os.path.abspath(folder))
    while True:
        try:
            info = os.stat(above)
        except OSError:
            parent = os.path.dirname(above)
            if parent == above:
                return []
            above = parent
            continue
        break
    what = (
        f"the nearest existing folder above {folder}, which {pth} adds to sys.path but does "
        "not exist"
    )
    mode = stat.S_IMODE(info.st_mode)
    found = []
    why = foreign(info.st_uid, owner)
    if why is not None:
        found.append(Exposure(above, "foreign_owner", f"{what}: {why}"))
    loose_why = loose(
        mode, info.st_uid, info.st_gid, path=above, folder=True, trusted=_trusted(owner),
        follow=True,
    )  # fmt: skip
    if loose_why is not None:
        found.append(
            Exposure(
                above, "writable",
                f"{what}: {loose_why}: they can make it (sticky or not), and Python imports "
                "from it at the next start",
            )
        )  # fmt: skip
    seen.add(os.path.realpath(above))
    found += _ancestors(census, [os.path.realpath(above)], owner, seen, held=folder)
    return found


# Entries below one folder a .pth adds that are judged, at most (a checkout is no environment:
# a larger one is named, not walked).
ADDED_LIMIT = LINKED_LIMIT


def _added_code(folder: str, owner: int | None, added: str) -> list[Exposure]:
    """The code below a folder a ``.pth`` adds (its modules, bytecode, extensions and the
    folders import enters, by name; links are not followed) judged as site-packages' is."""
    found: list[Exposure] = []
    stack = [folder]
    count = 0
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as listing:
                children = list(listing)
        except OSError:
            continue
        for child in children:
            count += 1
            if count > ADDED_LIMIT:
                return [
                    *found,
                    Exposure(
                        folder, "unjudged",
                        f"{added}: it holds more than {ADDED_LIMIT:,} entries, so the code "
                        "in it is not judged",
                    ),
                ]  # fmt: skip
            try:
                info = child.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode) and _import_enters(child.name):
                what = f"a folder on the import path ({added})"
                stack.append(child.path)
            elif stat.S_ISREG(info.st_mode) and child.name.endswith(CODE_SUFFIXES):
                what = f"code ({added})"
            else:
                continue
            found += _trust(
                child.path, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid, owner=owner,
                what=what, folder=stat.S_ISDIR(info.st_mode),
            )  # fmt: skip
    return found
