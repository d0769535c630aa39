"""The wheelhouse: which wheel in a folder the lock vouches for, and what that wheel holds.

A wheelhouse is what ``pip download --require-hashes --no-deps -r LOCK -d DIR`` leaves: the
locked artifacts, one file each, named as their index named them. Nothing in the folder is
trusted for being there: a wheel is the locked artifact of a pin only when its sha256 is one
of the ``--hash`` values the lock gives for that pin. The wheel's file name (PEP 427:
``{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl``) only chooses which files are
worth hashing, so a wheelhouse of hundreds of wheels costs the hashing of the few that can be
the installed ones.

A wheel is a zip made by someone else: it is read bounded. It must be a regular file (a FIFO
is never opened for reading) of at most :data:`WHEEL_LIMIT` bytes; its central directory is
checked before ``zipfile`` reads it whole (:data:`CENTRAL_DIRECTORY_LIMIT`,
:data:`MAX_MEMBERS`); a member is inflated at most to the size its header claims and never
past :data:`MEMBER_LIMIT` (a zip bomb stops there), and the metadata read from it (RECORD,
``entry_points.txt``, WHEEL) have limits of their own. The members read to verify what is
installed are read through one open archive per wheel (:class:`MemberReader`: 3,000 members
re-opening it each parsed its directory 3,000 times). A member hashed to be compared with an
installed file is inflated only when that file has the member's declared size (so never more
than the environment holds on disk); any other read (a script, compared whole) counts
against :data:`INFLATE_LIMIT` (40 members of 1 GiB in a 42 MB wheel would be 40 GiB).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import threading
import weakref
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion

from preflight._facts.integrity import Stopped
from preflight._policy.spec import parse_version
from preflight._read import MIB, RECORD_LIMIT, ReadError, check_zip_directory, open_regular

__all__ = [
    "CENTRAL_DIRECTORY_LIMIT",
    "INFLATE_LIMIT",
    "MAX_MEMBERS",
    "MEMBER_LIMIT",
    "WHEEL_LIMIT",
    "Candidate",
    "MemberReader",
    "UnusableWheel",
    "WheelContent",
    "Wheelhouse",
    "hash_candidate",
    "index_wheelhouse",
    "read_wheel",
]

WHEEL_LIMIT = 4096 * MIB  # one wheel file; the largest on PyPI (CUDA builds) are ~2-3 GiB
MEMBER_LIMIT = 1024 * MIB  # one member, inflated
CENTRAL_DIRECTORY_LIMIT = 64 * MIB  # zipfile reads it whole, before any member
MAX_MEMBERS = 100_000  # tensorflow's wheels hold ~20,000
# All the members of one wheel inflated to verify what is installed (real wheels' RECORD
# hashes every member: only scripts and a member it does not hash are read).
INFLATE_LIMIT = 1024 * MIB
_OPEN_READERS = 32  # archives kept open at once; the least recently used is closed past it
MAX_CANDIDATES = 64  # files of one name and version: more is not a wheelhouse pip made
_METADATA_LIMIT = 1 * MIB  # entry_points.txt, WHEEL
_CHUNK = 1 << 20
# PEP 427 names; the name and version parts never hold "-" (they are escaped to "_").
_WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")
_SDIST_NAME = re.compile(r"^(?P<name>.+)-(?P<version>[^-]+)\.(tar\.gz|zip)$")


class UnusableWheel(Exception):
    """A file that is not a wheel that can be read within the limits; the text says why."""


@dataclass(frozen=True)
class Candidate:
    """A file in the wheelhouse whose name says it may be ``name`` at ``version``."""

    path: Path
    name: str  # canonical
    version: str  # normalised (PEP 440) when it parses, else as written
    sdist: bool = False


@dataclass(frozen=True)
class Wheelhouse:
    """The wheelhouse folder, its files indexed by (canonical name, normalised version)."""

    folder: Path
    files: int  # regular files looked at
    by_pin: Mapping[tuple[str, str], tuple[Candidate, ...]]

    def candidates(self, name: str, version: str) -> tuple[Candidate, ...]:
        return self.by_pin.get((canonicalize_name(name), _normal(version)), ())


def _normal(version: str) -> str:
    try:
        return str(parse_version(version))
    except InvalidVersion:
        return version


def index_wheelhouse(folder: Path) -> Wheelhouse:
    """Index the wheels (and sdists) directly in ``folder`` by the name their file gives.

    Raises :class:`ReadError` when ``folder`` is not a readable folder. Entries that are not
    regular files (a FIFO, a folder, a broken link) are passed over, never opened.
    """
    try:
        mode = os.stat(folder).st_mode
        if not stat.S_ISDIR(mode):
            raise ReadError(folder, "special", "is not a folder")
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except FileNotFoundError:
        raise ReadError(folder, "missing", "does not exist") from None
    except OSError as exc:
        raise ReadError(folder, "unreadable", f"cannot be read: {exc.strerror or exc}") from None
    by_pin: dict[tuple[str, str], list[Candidate]] = {}
    files = 0
    for entry in entries:
        try:
            regular = entry.is_file(follow_symlinks=True) and stat.S_ISREG(entry.stat().st_mode)
        except OSError:
            regular = False
        if not regular:
            continue
        files += 1
        wheel = _WHEEL_NAME.match(entry.name)
        match = wheel or _SDIST_NAME.match(entry.name)
        if match is None:
            continue
        key = (canonicalize_name(match["name"]), _normal(match["version"].replace("_", "-")))
        found = by_pin.setdefault(key, [])
        if len(found) < MAX_CANDIDATES:
            found.append(Candidate(Path(entry.path), key[0], key[1], sdist=wheel is None))
    return Wheelhouse(folder, files, {k: tuple(v) for k, v in by_pin.items()})


def hash_candidate(path: Path, stop: threading.Event | None = None) -> str:
    """``sha256:<hex>`` of a wheelhouse file, as the lock writes it; bounded, regular only.

    Raises :class:`UnusableWheel` (not a regular file, unreadable, over :data:`WHEEL_LIMIT`)
    or :class:`Stopped`."""
    try:
        fd = open_regular(path)
    except (ReadError, ValueError) as exc:
        raise UnusableWheel(getattr(exc, "problem", str(exc))) from None
    hasher = hashlib.sha256()
    size = 0
    try:
        with open(fd, "rb", closefd=True) as handle:
            while chunk := handle.read(_CHUNK):
                if stop is not None and stop.is_set():
                    raise Stopped
                size += len(chunk)
                if size > WHEEL_LIMIT:
                    raise UnusableWheel(f"is larger than {WHEEL_LIMIT // MIB} MiB, the limit")
                hasher.update(chunk)
    except OSError as exc:
        raise UnusableWheel(f"cannot be read: {exc.strerror or exc}") from None
    return "sha256:" + hasher.hexdigest()


@dataclass(frozen=True)
class Member:
    """One file of a wheel: its archive name and size as the zip's directory gives them."""

    name: str
    size: int


@dataclass(frozen=True)
class WheelContent:
    """What a vouched wheel holds, read once: its members, its RECORD, its entry points."""

    path: Path
    members: Mapping[str, Member]  # by archive name (files only)
    record: str | None  # the wheel's own RECORD text; None when it has none
    entry_points: str  # entry_points.txt ("" when none)
    root_is_purelib: bool
    dist_info: str  # "tidy-1.0.dist-info"
    data_dir: str  # "tidy-1.0.data"
    # The members' bytes, through one open archive and one budget for the whole wheel.
    reader: MemberReader = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reader", MemberReader(self.path))


def read_wheel(path: Path) -> WheelContent:
    """The members and metadata of the wheel at ``path``; :class:`UnusableWheel` if it is
    not one that can be read within the limits."""
    with open_archive(path) as archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if len(infos) > MAX_MEMBERS:
            raise UnusableWheel(f"holds more than {MAX_MEMBERS} members, the limit")
        members: dict[str, Member] = {}
        for info in infos:
            if info.filename in members:
                # zipfile (and pip, which reads through it) takes the last of the two; another
                # reader (unzip, a scanner, a reviewer) the first: what the lock's hash
                # vouches for is not one thing
                raise UnusableWheel(
                    f"holds the member {info.filename!r} twice (a wheel names each file "
                    "once; which copy is installed depends on the reader)"
                )
            members[info.filename] = Member(info.filename, info.file_size)
        dist_info = _dist_info(members)
        wheel_text = _text(archive, f"{dist_info}/WHEEL", _METADATA_LIMIT) or ""
        record = _text(archive, f"{dist_info}/RECORD", RECORD_LIMIT)
        entry_points = _text(archive, f"{dist_info}/entry_points.txt", _METADATA_LIMIT)
        purelib = any(
            line.split(":", 1)[0].strip().lower() == "root-is-purelib"
            and line.split(":", 1)[1].strip().lower() == "true"
            for line in wheel_text.splitlines()
            if ":" in line
        )
        return WheelContent(
            path=path,
            members=members,
            record=record,
            entry_points=entry_points or "",
            root_is_purelib=purelib,
            dist_info=dist_info,
            data_dir=dist_info.removesuffix(".dist-info") + ".data",
        )


def _dist_info(members: Iterable[str]) -> str:
    folders = {name.split("/", 1)[0] for name in members if "/" in name}
    found = sorted(f for f in folders if f.endswith(".dist-info"))
    if len(found) != 1:
        what = "no .dist-info folder" if not found else f"{len(found)} .dist-info folders"
        raise UnusableWheel(f"holds {what} (a wheel holds exactly one)")
    return found[0]


def _text(archive: zipfile.ZipFile, name: str, limit: int) -> str | None:
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    data = b"".join(member_chunks(archive, info, limit=limit))
    return data.decode("utf-8", "replace")


def member_chunks(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    *,
    limit: int = MEMBER_LIMIT,
    stop: threading.Event | None = None,
) -> Iterable[bytes]:
    """The member's bytes in chunks, never more than ``limit`` inflated (nor more than its
    header's size: zipfile stops there); :class:`UnusableWheel` past the limit or when the
    member does not inflate."""
    total = 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(min(_CHUNK, limit + 1 - total)):
                if stop is not None and stop.is_set():
                    raise Stopped
                total += len(chunk)
                if total > limit:
                    raise UnusableWheel(
                        f"member {info.filename} is larger than {limit // MIB} MiB inflated, "
                        "the limit"
                    )
                yield chunk
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise UnusableWheel(f"member {info.filename} cannot be extracted: {exc}") from None
    except (OSError, ValueError) as exc:
        raise UnusableWheel(f"member {info.filename} cannot be extracted: {exc}") from None


@contextmanager
def open_archive(path: Path) -> Iterator[zipfile.ZipFile]:
    """The wheel at ``path`` as an open archive (its directory checked), for member reads;
    the file is closed on the way out (``zipfile`` leaves a file it was handed open)."""
    try:
        fd = open_regular(path)
    except (ReadError, ValueError) as exc:
        raise UnusableWheel(getattr(exc, "problem", str(exc))) from None
    with os.fdopen(fd, "rb") as handle:
        _check_central_directory(handle)
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            raise UnusableWheel(f"is not a zip ({exc})") from None
        with archive:
            yield archive


def _check_central_directory(handle: IO[bytes]) -> None:
    """Refuse a wheel over the size limit, or whose central directory is over the limits
    (or holds entries sharing one member's data), before ``zipfile`` reads it."""
    size = handle.seek(0, os.SEEK_END)
    handle.seek(0)
    if size > WHEEL_LIMIT:
        raise UnusableWheel(f"is larger than {WHEEL_LIMIT // MIB} MiB, the limit")
    why = check_zip_directory(handle, max_entries=MAX_MEMBERS, max_bytes=CENTRAL_DIRECTORY_LIMIT)
    if why is not None:
        raise UnusableWheel(why)


_OPEN: OrderedDict[int, weakref.ref[MemberReader]] = OrderedDict()  # least recent first
_OPEN_LOCK = threading.RLock()  # re-entrant: a reader dropped while it is held closes itself


class MemberReader:
    """The members of one wheel, read through one open archive, within one budget.

    Opened on the first read and kept open for the next (at most :data:`_OPEN_READERS`
    archives are open at once: past that the least recently used is closed, and opened again
    if it is read again); closed by :meth:`close` or when the wheel's content is dropped. The
    declared size of each member read (``zipfile`` inflates no more than it) is charged to
    :data:`INFLATE_LIMIT` before a byte is inflated; past it, a member is
    :class:`UnusableWheel` without being read. Thread-safe: reads of one wheel take turns."""

    def __init__(self, path: Path, budget: int = INFLATE_LIMIT) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._handle: IO[bytes] | None = None
        self._archive: zipfile.ZipFile | None = None
        self._left = budget
        self._budget = budget

    def digest(
        self, member: str, stop: threading.Event | None = None, *, charged: bool = True
    ) -> bytes:
        """The sha256 of ``member``'s bytes (at most :data:`MEMBER_LIMIT`).

        ``charged=False`` for a member compared with an installed file of its declared size,
        already read: what it inflates to is bounded by what the environment holds on disk,
        not by the wheel's budget (every member of a 2 GiB wheel is read that way)."""
        hasher = hashlib.sha256()
        with self._lock:
            archive, info = self._member(member, MEMBER_LIMIT, charged=charged)
            for chunk in member_chunks(archive, info, stop=stop):
                hasher.update(chunk)
        return hasher.digest()

    def read(self, member: str, limit: int) -> bytes:
        """``member``'s bytes, at most ``limit``."""
        with self._lock:
            archive, info = self._member(member, limit)
            return b"".join(member_chunks(archive, info, limit=limit))

    def _member(
        self, member: str, limit: int, *, charged: bool = True
    ) -> tuple[zipfile.ZipFile, zipfile.ZipInfo]:
        archive = self._archive or self._open_archive()
        with _OPEN_LOCK:
            if id(self) in _OPEN:
                _OPEN.move_to_end(id(self), last=True)
        try:
            info = archive.getinfo(member)
        except KeyError:
            raise UnusableWheel(f"holds no member {member}") from None
        cost = min(info.file_size, limit + 1) if charged else 0
        if cost > self._left:
            raise UnusableWheel(
                f"member {info.filename}: the members read of this wheel would inflate to more "
                f"than {self._budget // MIB} MiB in all, the limit"
            )
        self._left -= cost
        return archive, info

    def _open_archive(self) -> zipfile.ZipFile:
        try:
            fd = open_regular(self.path)
        except (ReadError, ValueError) as exc:
            raise UnusableWheel(getattr(exc, "problem", str(exc))) from None
        handle = os.fdopen(fd, "rb")
        try:
            _check_central_directory(handle)
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            handle.close()
            raise UnusableWheel(f"is not a zip ({exc})") from None
        except BaseException:
            handle.close()
            raise
        self._handle, self._archive = handle, archive
        with _OPEN_LOCK:
            _OPEN[id(self)] = weakref.ref(self)
            over = max(0, len(_OPEN) - _OPEN_READERS)
            excess = [ref() for ref in list(_OPEN.values())[:over]]
        for reader in excess:
            if reader is not None and reader._lock.acquire(blocking=False):
                try:
                    reader._close()
                finally:
                    reader._lock.release()
        return archive

    def _close(self) -> None:
        archive, handle = self._archive, self._handle
        self._archive = self._handle = None
        with _OPEN_LOCK:
            _OPEN.pop(id(self), None)
        if archive is not None:
            archive.close()
        if handle is not None:
            handle.close()

    def close(self) -> None:
        with self._lock:
            self._close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at exit, or a half-made reader
            self._close()
