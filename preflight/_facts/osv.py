"""Vulnerability data from an OSV export: read, bounded, into typed advisories; and matching.

The data is what OSV publishes per ecosystem: ``PyPI/all.zip`` (one ``<ID>.json`` record per
member), or a folder of such records (the zip extracted, or any tree of ``*.json`` records).
Only what the OSV schema (1.x) defines is used: ``id``, ``aliases``, ``modified``,
``withdrawn``, ``summary``, and for each ``affected`` entry whose package is in the ``PyPI``
ecosystem its ``versions`` list and its ``ECOSYSTEM`` ranges (``introduced``, ``fixed``,
``last_affected``, ``limit`` events, compared as PEP 440 versions).

The data is the user's, but it is still a large download: reading it is bounded. Each record
(a zip member or a file) is read up to :data:`RECORD_LIMIT` bytes of *decompressed* content,
whatever its header claims, so a zip bomb stops at the limit; the total decompressed is capped
(:data:`TOTAL_LIMIT`), and so are the number of records and the zip's central directory, which
``zipfile`` would otherwise read whole before any check. A record that is not what the schema
says (not JSON, a field of the wrong type or longer than such a field is, over the limit)
is skipped and counted with the key named, never a crash; a withdrawn record is ignored.
Every record is parsed, not only those naming an installed package: that is what makes the
counts and the data's date (the newest ``modified``) true.

Matching follows the schema's evaluation algorithm. Where a bound cannot be read as a PEP 440
version, the reading errs towards "affected": an unreadable ``introduced`` counts as ``0``,
an unreadable ``fixed`` / ``last_affected`` / ``limit`` is dropped (the range stays open).
"""

from __future__ import annotations

import os
import stat
import threading
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import IO, Literal, TypeVar

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from preflight import _json
from preflight._policy.policy import version_or_none
from preflight._read import MIB, ReadError, check_zip_directory, open_regular, read_bytes
from preflight._strict import Node, ShapeError, Table, shown

__all__ = [
    "RECORD_LIMIT",
    "TOTAL_LIMIT",
    "Advisory",
    "Affected",
    "DataUnavailable",
    "VulnerabilityData",
    "load",
]

RECORD_LIMIT = 8 * MIB  # one record; the largest of the PyPI export are a few hundred KB
TOTAL_LIMIT = 2048 * MIB  # all records decompressed; the PyPI export is a few hundred MB
MAX_RECORDS = 200_000  # members or files; the PyPI export holds tens of thousands
RECORD_VALUES = 1_000_000  # JSON values of one record (a real one: a few thousand)
CENTRAL_DIRECTORY_LIMIT = 32 * MIB  # zipfile reads it whole; the PyPI export's is ~3 MB
_EXAMPLES = 5  # malformed records named in the report
ECOSYSTEM = "PyPI"

EventKind = Literal["introduced", "fixed", "last_affected", "limit"]
_EVENT_KINDS: tuple[EventKind, ...] = ("introduced", "fixed", "last_affected", "limit")


class _Malformed(Exception):
    """A record that is not what the OSV schema says; the text says which part."""


_T = TypeVar("_T")


@dataclass(frozen=True)
class Event:
    kind: EventKind
    version: Version | None  # None: the introduced "0", before every version


@dataclass(frozen=True)
class Range:
    events: tuple[Event, ...]  # sorted as the schema's evaluation sorts them

    def includes(self, version: Version) -> bool:
        """The schema's ``IncludedInRanges`` for one range (limits first)."""
        limits = [e.version for e in self.events if e.kind == "limit" and e.version is not None]
        if limits and not any(version < limit for limit in limits):
            return False
        vulnerable = False
        for event in self.events:
            bound = event.version
            if event.kind == "introduced":
                vulnerable = vulnerable or bound is None or version >= bound
            elif bound is None or event.kind == "limit":
                continue
            elif version >= bound if event.kind == "fixed" else version > bound:
                vulnerable = False
        return vulnerable


@dataclass(frozen=True)
class Affected:
    """One ``affected`` entry of the PyPI ecosystem: the package, its versions and ranges."""

    name: NormalizedName
    versions: frozenset[Version]
    raw_versions: frozenset[str]  # listed versions that are not PEP 440, compared as text
    ranges: tuple[Range, ...]

    def affects(self, version: str) -> bool:
        if version in self.raw_versions:
            return True
        parsed = version_or_none(version)
        if parsed is None:
            return False  # a version that is not PEP 440 can only match a listed one
        return parsed in self.versions or any(r.includes(parsed) for r in self.ranges)

    def fixed_after(self, version: str) -> tuple[Version, ...]:
        """The ``fixed`` versions above ``version``, lowest first: where an upgrade goes."""
        parsed = version_or_none(version)
        fixed = {
            e.version
            for r in self.ranges
            for e in r.events
            if e.kind == "fixed" and e.version is not None
        }
        return tuple(sorted(v for v in fixed if parsed is None or v > parsed))


@dataclass(frozen=True)
class Advisory:
    id: str
    aliases: tuple[str, ...]
    summary: str  # the summary, else the first line of the details, else ""
    modified: datetime | None
    affected: tuple[Affected, ...]  # the PyPI entries only

    def affecting(self, name: str, version: str) -> tuple[Affected, ...]:
        """The entries of this advisory that say ``name`` at ``version`` is affected."""
        canonical = canonicalize_name(name)
        return tuple(a for a in self.affected if a.name == canonical and a.affects(version))

    def fixed_after(self, name: str, version: str) -> tuple[Version, ...]:
        canonical = canonicalize_name(name)
        found = {v for a in self.affected if a.name == canonical for v in a.fixed_after(version)}
        return tuple(sorted(found))


@dataclass(frozen=True)
class VulnerabilityData:
    """What an export held, and the advisories of the packages asked about."""

    source: str  # the path given
    form: Literal["zip", "folder"]
    records: int  # records read (parsed or malformed), withdrawn ones included
    pypi_records: int  # records with a PyPI entry, not withdrawn
    withdrawn: int
    malformed: int
    malformed_examples: tuple[str, ...]  # "NAME: why", the first few
    newest_modified: datetime | None  # the data's date
    advisories: Mapping[NormalizedName, tuple[Advisory, ...]] = field(default_factory=dict)

    def for_package(self, name: str, version: str) -> tuple[Advisory, ...]:
        """The advisories that affect ``name`` at ``version``, by id."""
        candidates = self.advisories.get(canonicalize_name(name), ())
        return tuple(a for a in candidates if a.affecting(name, version))


@dataclass(frozen=True)
class DataUnavailable:
    """The configured data could not be used: nothing was audited, and this says why."""

    source: str
    reason: str


# --- loading -------------------------------------------------------------------------------


def load(
    path: str | os.PathLike[str],
    names: Collection[str] = (),
    *,
    stop: threading.Event | None = None,
) -> VulnerabilityData | DataUnavailable:
    """Read the export at ``path`` (a zip or a folder), keeping the advisories of ``names``.

    Every record is read and counted; the result keeps only the advisories naming one of
    ``names`` (compared canonically). Never raises for bad data: it is a
    :class:`DataUnavailable` saying why, or counted in :attr:`VulnerabilityData.malformed`.
    ``stop`` set (an interrupted check) ends the reading at the next record.
    """
    source = Path(path)
    try:
        mode = os.stat(source).st_mode
    except FileNotFoundError:
        return DataUnavailable(str(source), f"{source} does not exist")
    except OSError as exc:
        return DataUnavailable(str(source), f"{source} cannot be read: {exc.strerror or exc}")
    reader = _Reader(str(source), {canonicalize_name(n) for n in names})
    try:
        reader.form = "folder" if stat.S_ISDIR(mode) else "zip"
        records = _folder_records(source) if reader.form == "folder" else _zip_records(source)
        for label, data in records:
            if stop is not None and stop.is_set():
                raise _Unusable("was not read to the end: the check was interrupted")
            reader.feed(label, data)
    except _Unusable as exc:
        return DataUnavailable(str(source), f"{source} {exc}")
    return reader.result()


class _Unusable(Exception):
    """The export as a whole cannot be used (not a zip, over a limit, no record in it)."""


_Item = tuple[str, "bytes | _Malformed"]  # (record name, its bytes or why they are unusable)


def _folder_records(folder: Path) -> Iterator[_Item]:
    count = 0
    total = 0
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            if not name.endswith(".json"):
                continue
            count += 1
            if count > MAX_RECORDS:
                raise _Unusable(f"holds more than {MAX_RECORDS} records, the limit")
            path = Path(root) / name
            label = str(path.relative_to(folder))
            try:
                data = read_bytes(path, what="an OSV record", limit=RECORD_LIMIT)
            except ReadError as exc:
                yield label, _Malformed(exc.problem)
                continue
            total += len(data)
            if total > TOTAL_LIMIT:
                raise _Unusable(f"holds more than {TOTAL_LIMIT // MIB} MiB of records, the limit")
            yield label, data
    if count == 0:
        raise _Unusable("holds no OSV record (no *.json file)")


def _zip_records(path: Path) -> Iterator[_Item]:
    try:
        fd = open_regular(path)
    except ReadError as exc:
        raise _Unusable(exc.problem) from None
    with os.fdopen(fd, "rb") as handle:
        _check_central_directory(handle)
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            raise _Unusable(
                f"is neither a folder of OSV records nor a zip of them ({exc})"
            ) from None
        with archive:
            members = [i for i in archive.infolist() if i.filename.endswith(".json")]
            if not members:
                raise _Unusable("holds no OSV record (no *.json member)")
            if len(members) > MAX_RECORDS:
                raise _Unusable(f"holds more than {MAX_RECORDS} records, the limit")
            total = 0
            for info in members:
                data, inflated = _member(archive, info)
                total += inflated  # a member over the limit counts what was inflated of it
                if total > TOTAL_LIMIT:
                    raise _Unusable(
                        f"holds more than {TOTAL_LIMIT // MIB} MiB of records, the limit"
                    )
                yield info.filename, data


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[bytes | _Malformed, int]:
    """The member's content, at most :data:`RECORD_LIMIT` bytes inflated, or why not; and
    how many bytes were inflated to learn it (counted towards :data:`TOTAL_LIMIT`)."""
    try:
        with archive.open(info) as member:
            data = member.read(RECORD_LIMIT + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        return _Malformed(f"cannot be extracted: {exc}"), min(info.file_size, RECORD_LIMIT + 1)
    except (OSError, ValueError) as exc:
        return _Malformed(f"cannot be extracted: {exc}"), min(info.file_size, RECORD_LIMIT + 1)
    if len(data) > RECORD_LIMIT:
        problem = f"is larger than {RECORD_LIMIT // MIB} MiB decompressed, the limit"
        return _Malformed(problem), len(data)
    return data, len(data)


def _check_central_directory(handle: IO[bytes]) -> None:
    """Refuse a zip whose central directory is over the limits (or holds entries sharing
    one member's data) before ``zipfile`` reads it."""
    why = check_zip_directory(handle, max_entries=MAX_RECORDS, max_bytes=CENTRAL_DIRECTORY_LIMIT)
    if why is not None:
        raise _Unusable(why)


class _Reader:
    """Counts and keeps what the records hold, one record at a time."""

    def __init__(self, source: str, names: set[NormalizedName]) -> None:
        self.source = source
        self.names = names
        self.form: Literal["zip", "folder"] = "folder"
        self.records = 0
        self.pypi = 0
        self.withdrawn = 0
        self.malformed = 0
        self.examples: list[str] = []
        self.newest: datetime | None = None
        self.kept: dict[str, Advisory] = {}

    def feed(self, label: str, data: bytes | _Malformed) -> None:
        self.records += 1
        try:
            if isinstance(data, _Malformed):
                raise data
            record = _parse_json(data)
            modified = _timestamp(record, "modified")
            withdrawn = bool(_optional_string(record, "withdrawn", max_length=_TIME))
            pypi, advisory = (False, None) if withdrawn else _advisory(record, modified, self.names)
        except _Malformed as exc:
            self.malformed += 1
            if len(self.examples) < _EXAMPLES:
                self.examples.append(f"{label}: {exc}")
            return
        if modified is not None and (self.newest is None or modified > self.newest):
            self.newest = modified
        if withdrawn:
            self.withdrawn += 1
            return
        self.pypi += pypi
        if advisory is not None:
            previous = self.kept.get(advisory.id)
            if previous is None or _newer(advisory, previous):
                self.kept[advisory.id] = advisory

    def result(self) -> VulnerabilityData | DataUnavailable:
        if self.records and self.malformed == self.records:
            return DataUnavailable(
                self.source,
                f"{self.source}: none of its {self.records} records could be read "
                f"(e.g. {self.examples[0]})",
            )
        if self.pypi == 0:
            return DataUnavailable(
                self.source,
                f"{self.source} holds no current PyPI advisory ({self.records} records read): "
                "is it OSV's PyPI export?",
            )
        by_name: dict[NormalizedName, list[Advisory]] = {}
        for advisory in sorted(self.kept.values(), key=lambda a: a.id):
            for name in dict.fromkeys(a.name for a in advisory.affected):
                if name in self.names:
                    by_name.setdefault(name, []).append(advisory)
        return VulnerabilityData(
            source=self.source,
            form=self.form,
            records=self.records,
            pypi_records=self.pypi,
            withdrawn=self.withdrawn,
            malformed=self.malformed,
            malformed_examples=tuple(self.examples),
            newest_modified=self.newest,
            advisories={name: tuple(found) for name, found in by_name.items()},
        )


def _newer(a: Advisory, b: Advisory) -> bool:
    if a.modified is None or b.modified is None:
        return b.modified is None and a.modified is not None
    return a.modified > b.modified


# --- one record ----------------------------------------------------------------------------

# A text of a record is bounded by the record's bytes (RECORD_LIMIT), never refused for its
# length: a record refused is an advisory lost, and a check that loses advisories errs towards
# "not affected". A long id is capped where it is shown; a long version or bound is one that
# is no PEP 440 version (version_or_none), which errs towards "affected". Only a time is
# short: one longer than this is no RFC 3339 time, refused as before (and a withdrawn time
# of garbage is now a malformed record, counted and named, not a silently withdrawn one).
# Keys the schema does not define are tolerated: OSV adds fields over time.
_TIME = 64


def _parse_json(data: bytes) -> Table:
    try:
        value = _json.loads(data, max_values=RECORD_VALUES)
    except ValueError as exc:  # JSONError: not JSON, not UTF-8, over a limit
        raise _Malformed(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise _Malformed(f"not a JSON object but {type(value).__name__}")
    return Node(value).table()


def _shaped(read: Callable[[], _T]) -> _T:
    """What ``read`` reads, its :class:`ShapeError` a :class:`_Malformed` naming the key."""
    try:
        return read()
    except ShapeError as exc:
        raise _Malformed(f"{exc.key!r} {exc.problem}") from None


def _advisory(
    record: Table, modified: datetime | None, names: Collection[NormalizedName]
) -> tuple[bool, Advisory | None]:
    """Whether the record has a PyPI entry, and the advisory if one of ``names`` is in it.

    Every record is checked for its shape; only the entries of ``names`` have their versions
    parsed (parsing every listed version of the whole export would take seconds)."""
    schema = record.value.get("schema_version", "1.0.0")
    if not isinstance(schema, str) or not schema.split(".")[0] == "1":
        raise _Malformed(f"schema_version {shown(schema)}: only OSV schema 1.x is understood")
    ident = _string(record, "id")
    if not ident.strip():
        raise _Malformed("'id' is empty")
    summary = _optional_string(record, "summary") or ""
    if not summary.strip():
        details = _optional_string(record, "details") or ""
        summary = next((line.strip() for line in details.splitlines() if line.strip()), "")
    aliases = tuple(_strings(record, "aliases"))
    pypi = False
    kept = []
    for item in _list(record, "affected"):
        entry = _shaped(partial(_affected, item, names))
        pypi = pypi or entry is not None
        if isinstance(entry, Affected):
            kept.append(entry)
    if not kept:
        return pypi, None
    return pypi, Advisory(ident, aliases, summary.strip(), modified, tuple(kept))


def _affected(node: Node, names: Collection[NormalizedName]) -> Affected | str | None:
    """The entry if it is PyPI's and names one of ``names``; its name if it is PyPI's but of
    another package (its shape checked, its versions left unparsed); None if not PyPI's."""
    item = node.table()
    package = item.get("package")
    if package is None or package.value is None:
        return None  # an entry without a package (a GIT range of a repository): not PyPI's
    named = package.table()
    ecosystem = named["ecosystem"].string(empty=True, max_length=RECORD_LIMIT)
    name = named["name"].string(empty=True, max_length=RECORD_LIMIT)
    if ecosystem != ECOSYSTEM:
        return None
    canonical = canonicalize_name(name)
    wanted = canonical in names
    listed = _strings(item, "versions")
    ranges = []
    for ranged in _list(item, "ranges"):
        entry = ranged.table()
        kind = entry["type"].string(empty=True, max_length=RECORD_LIMIT)
        events = _events(entry, parse=wanted)
        if kind == "ECOSYSTEM":
            ranges.append(Range(events))
    if not wanted:
        return canonical
    parsed: set[Version] = set()
    raw: set[str] = set()
    for text in listed:
        version = version_or_none(text)
        if version is None:
            raw.add(text)
        else:
            parsed.add(version)
    return Affected(canonical, frozenset(parsed), frozenset(raw), tuple(ranges))


def _events(entry: Table, *, parse: bool) -> tuple[Event, ...]:
    events = entry["events"].items(max_items=RECORD_VALUES)
    if not events:
        raise entry.error("events", "must be a non-empty list")
    found = []
    for node in events:
        event = node.table()
        if len(event.value) != 1:
            raise node.error(f"must be a table of one key, not {shown(event.value)}")
        ((kind, member),) = event.nodes()
        if kind not in _EVENT_KINDS:
            raise ShapeError(member.key, "is not an OSV event")
        text = member.string(empty=True, max_length=RECORD_LIMIT)
        if not parse:
            continue
        version = version_or_none(text)
        if kind == "introduced":
            # "0" sorts before everything; an unreadable bound errs towards "affected".
            found.append(Event("introduced", None if text == "0" else version))
        elif version is not None:
            found.append(Event(_EVENT_KINDS[_EVENT_KINDS.index(kind)], version))
    order = {kind: rank for rank, kind in enumerate(_EVENT_KINDS)}
    found.sort(key=lambda e: (e.version is not None, e.version or Version("0"), order[e.kind]))
    return tuple(found)


def _string(record: Table, key: str, *, max_length: int = RECORD_LIMIT) -> str:
    node = record.get(key)
    if node is None:
        raise _Malformed(f"{record.at(key)!r} must be a string, not missing")
    return _shaped(lambda: node.string(empty=True, max_length=max_length))


def _optional_string(record: Table, key: str, *, max_length: int = RECORD_LIMIT) -> str | None:
    node = record.get(key)
    if node is None or node.value is None:
        return None
    return _string(record, key, max_length=max_length)


def _list(record: Table, key: str) -> list[Node]:
    node = record.get(key)
    if node is None or node.value is None:
        return []
    return _shaped(lambda: node.items(max_items=RECORD_VALUES))


def _strings(record: Table, key: str, *, max_length: int = RECORD_LIMIT) -> list[str]:
    node = record.get(key)
    if node is None or node.value is None:
        return []
    return _shaped(lambda: node.strings(max_items=RECORD_VALUES, max_length=max_length))


def _timestamp(record: Table, key: str) -> datetime | None:
    text = _optional_string(record, key, max_length=_TIME)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _Malformed(f"{key!r} is not an RFC 3339 time: {text[:40]!r}") from None
    if value.tzinfo is None:
        raise _Malformed(f"{key!r} has no time zone: {text[:40]!r}")
    return value
