"""A baseline of a deployed environment: every file it holds, hashed, and what changed since.

The ``integrity`` check trusts the RECORD beside the files: whoever rewrites a file and its
RECORD row passes it. A baseline is a manifest written once, after a passing check, of every
entry under the environment's install folders (sysconfig's ``purelib``, ``platlib`` and
``scripts``, as the probe reports them): its path relative to its named root, its type and
permission bits, and for a regular file its size and sha256, for a symlink its target (never
followed). Judged against it later, any file added, removed or changed is found whatever the
RECORDs now say; RECORD only names, for information, which distribution owned a file.

The manifest is only as trustworthy as its storage: keep it outside the environment (the
writer refuses a path inside it), best on another host or a read-only medium. Whoever can
rewrite the manifest can make any environment match it.

Bytecode that the application writes at run time (a ``.pyc`` in a ``__pycache__`` folder
whose source file is in the baseline and unchanged, and the ``__pycache__`` folders
themselves) is counted, not reported: Python writes it on import, and whether its content is
the code of its source is the bytecode check's to judge. A ``.pyc`` with no unchanged source
beside it, or anywhere but in ``__pycache__``, is a file like any other.

The entries are the census's (``census.py``): with ``--baseline`` the integrity check and this
comparison share one walk, and each file is read once for both. The manifest is read with the
bounded reader.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from threading import Event
from typing import Any, Literal

from preflight import _json
from preflight._errors import UsageError
from preflight._facts.census import (
    DEFAULT_TIMEOUT,
    Census,
    Deadline,
    EntryType,
    Unfinished,
    roots_of,
    take,
)
from preflight._facts.model import InterpreterFacts
from preflight._read import ReadError, read_text
from preflight._strict import MAX_STRING, Node, ShapeError, Table, shown

__all__ = [
    "MANIFEST_LIMIT",
    "SCHEMA",
    "SCHEMA_VERSION",
    "BaselineError",
    "BaselineFacts",
    "Change",
    "Entry",
    "Manifest",
    "ManifestInterpreter",
    "build_manifest",
    "check_identity",
    "compare",
    "manifest_json",
    "named_roots",
    "parse_manifest_text",
    "read_manifest",
    "roots_of",
]

SCHEMA = "preflight-baseline"
SCHEMA_VERSION = 1
# About 250 bytes an entry: 64 MiB holds some 250,000 files (a large ML environment: 50,000).
MANIFEST_LIMIT = 64 << 20
_ROOT_NAMES = ("purelib", "platlib", "scripts")
_HINT = "write a new baseline of this environment with `preflight baseline --output FILE`"

_TYPES: tuple[EntryType, ...] = ("file", "dir", "link", "fifo", "socket", "char", "block", "other")


class BaselineError(UsageError):
    """A baseline manifest that cannot be used: malformed, of another schema or environment."""

    def __init__(self, path: Path, key: str | None, message: str, *, hint: str = _HINT):
        where = f"baseline {path}" + (f": key {key!r}" if key else "")
        super().__init__(f"{where}: {message}", hint=hint)
        self.path = path
        self.key = key


@dataclass(frozen=True)
class Entry:
    """One entry of the environment: a file, a folder, a symlink (not followed) or other."""

    root: str  # "purelib", "platlib" or "scripts"
    path: str  # relative to the root, "/"-separated
    type: EntryType
    mode: int  # permission bits (S_IMODE)
    size: int | None = None  # regular files only
    sha256: str | None = None  # hex; regular files only
    target: str | None = None  # symlinks only, as os.readlink gives it
    owner: str | None = None  # the distribution whose RECORD lists it, when it was written

    @property
    def where(self) -> str:
        return f"{self.root}/{self.path}"


@dataclass(frozen=True)
class ManifestInterpreter:
    """Which environment a manifest is of: it is refused for any other."""

    executable: str
    version: str
    implementation: str
    prefix: str


@dataclass(frozen=True)
class Manifest:
    created: str  # ISO 8601, UTC
    tool_version: str
    interpreter: ManifestInterpreter
    roots: tuple[tuple[str, str], ...]  # (name, absolute path), in _ROOT_NAMES order
    entries: tuple[Entry, ...]  # sorted by (root, path)


ChangeKind = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class Change:
    """One difference between the baseline and the environment now."""

    kind: ChangeKind
    where: str  # "purelib/six.py"
    detail: str  # "sha256 differs; 10 → 12 bytes", "" for added/removed
    owner: str | None  # the owner the baseline recorded (or, for an added file, RECORD's now)


@dataclass(frozen=True)
class BaselineFacts:
    """The environment compared with its baseline."""

    manifest: str  # the manifest's path
    created: str  # when the baseline was written
    entries: int  # entries in the baseline
    compared: int  # entries found now
    changes: tuple[Change, ...]
    bytecode: int  # runtime bytecode added, removed or rewritten beside unchanged sources
    bytes_hashed: int
    unfinished: str | None = None  # why the census did not finish: nothing was compared


# --- the environment's entries -----------------------------------------------------------


def entries_of(census: Census, roots: tuple[tuple[str, str], ...]) -> tuple[list[Entry], int]:
    """The census's entries below ``roots`` (the manifest's), as manifest entries; and the
    bytes the census read. A file that could not be read (swapped for something else, or
    unreadable) is an entry of type ``other``: it differs from any file."""
    names = {name for name, _ in roots}
    entries = []
    for item in census.entries.values():
        if item.root not in names:
            continue
        size: int | None = None
        digest: str | None = None
        kind: EntryType = item.type
        if kind == "file":
            if item.sha256 is None:
                kind = "other"
            else:
                digest, size = item.sha256.hex(), item.size
        assert item.root is not None
        entries.append(
            Entry(
                item.root, item.relative, kind, item.mode, size, digest,
                item.target if kind == "link" else None, census.owner(item.path),
            )
        )  # fmt: skip
    entries.sort(key=lambda e: (e.root, e.path))
    return entries, census.bytes_read


def build_manifest(
    facts: InterpreterFacts, *, created: str, tool_version: str, stop: Event | None = None
) -> Manifest:
    """The manifest of the environment the probe described, as it is now."""
    roots = named_roots(facts)
    try:
        census = take(facts, read_all=True, stop=stop, deadline=Deadline(DEFAULT_TIMEOUT))
    except Unfinished as exc:
        raise UsageError(str(exc), hint="no baseline was written") from None
    entries, _ = entries_of(census, roots)
    return Manifest(
        created=created,
        tool_version=tool_version,
        interpreter=_identity(facts),
        roots=roots,
        entries=tuple(entries),
    )


def _identity(facts: InterpreterFacts) -> ManifestInterpreter:
    return ManifestInterpreter(
        executable=_named(facts, facts.executable),
        version=facts.version,
        implementation=facts.implementation,
        prefix=_named(facts, os.path.normpath(facts.prefix)),
    )


def _named(facts: InterpreterFacts, path: str) -> str:
    """``path`` as the environment names it: inside its root filesystem for an image's (so
    the manifest of one build of an image compares with the next, wherever each was
    applied), else as it is."""
    if facts.root is None:
        return path
    path, base = os.path.normpath(path), os.path.normpath(facts.root)
    if path == base:
        return "/"
    return path[len(base) :] if path.startswith(base + "/") else path


def named_roots(facts: InterpreterFacts) -> tuple[tuple[str, str], ...]:
    """The install folders (``roots_of``) as the environment names them (``_named``)."""
    return tuple((name, _named(facts, path)) for name, path in roots_of(facts))  # normalised


# --- comparing ----------------------------------------------------------------------------


def check_identity(manifest: Manifest, facts: InterpreterFacts, path: Path) -> None:
    """Refuse a manifest of another environment (exit 3): it would report every file."""
    now = _identity(facts)
    pairs = (
        ("interpreter.prefix", manifest.interpreter.prefix, now.prefix),
        ("interpreter.implementation", manifest.interpreter.implementation, now.implementation),
        ("interpreter.version", manifest.interpreter.version, now.version),
    )
    for key, recorded, actual in pairs:
        if recorded != actual:
            raise BaselineError(
                path,
                key,
                f"is {recorded!r}, but the environment judged has {actual!r}: the baseline "
                "is of another interpreter or environment",
                hint="pass the baseline written for this environment (or write one with "
                "`preflight baseline`)",
            )
    recorded_roots, actual_roots = dict(manifest.roots), dict(named_roots(facts))
    for name in sorted(set(recorded_roots) | set(actual_roots)):
        if recorded_roots.get(name) != actual_roots.get(name):
            raise BaselineError(
                path,
                f"roots.{name}",
                f"is {recorded_roots.get(name)!r}, but the environment judged has "
                f"{actual_roots.get(name)!r}: the baseline is of another environment",
                hint="pass the baseline written for this environment (or write one with "
                "`preflight baseline`)",
            )


def _differences(before: Entry, after: Entry) -> str:
    if before.type != after.type:  # what else differs follows from that
        return f"was a {before.type}, now a {after.type}"
    parts = []
    if before.mode != after.mode:
        parts.append(f"mode {before.mode:04o} → {after.mode:04o}")
    if before.type == "file":
        if before.sha256 != after.sha256:
            parts.append("sha256 differs")
        if before.size != after.size:
            parts.append(f"{before.size} → {after.size} bytes")
    if before.type == "link" and before.target != after.target:
        parts.append(f"link target {before.target!r} → {after.target!r}")
    return "; ".join(parts)


def _source_of(entry: Entry) -> tuple[str, str] | None:
    """``(root, path)`` of the source a ``__pycache__/NAME.TAG[.opt-N].pyc`` is compiled
    from, or None if the entry is not cached bytecode."""
    folder, _, name = entry.path.rpartition("/")
    parent, _, cache = folder.rpartition("/")
    if cache != "__pycache__" or not name.endswith(".pyc"):
        return None
    module = name.partition(".")[0]
    return entry.root, f"{parent}/{module}.py" if parent else f"{module}.py"


def _is_runtime_bytecode(
    before: Entry | None,
    after: Entry | None,
    old: Mapping[tuple[str, str], Entry],
    new: Mapping[tuple[str, str], Entry],
) -> bool:
    """Whether this difference is bytecode Python writes on import (see the module's doc)."""
    entry = after or before
    assert entry is not None
    if entry.path.rpartition("/")[2] == "__pycache__" and entry.type == "dir":
        # a cache folder made or removed; one whose mode or type changed is reported
        return before is None or after is None
    source = _source_of(entry)
    if source is None:
        return False
    if (
        before is not None
        and after is not None
        and (before.type != after.type or before.mode != after.mode)
    ):
        return False
    if after is not None and after.type != "file":
        return False
    was, now = old.get(source), new.get(source)
    return was is not None and now is not None and was == now and now.type == "file"


def compare(
    manifest: Manifest,
    facts: InterpreterFacts,
    *,
    path: Path,
    stop: Event | None = None,
    census: Census | None = None,
) -> BaselineFacts:
    """Every entry added, removed or changed since the manifest was written, against
    ``census`` (taken with every file read; one is taken here if none is given).

    The environment's roots are the manifest's (``check_identity`` made sure they match).
    """
    if census is None:
        census = take(facts, read_all=True, stop=stop)
    now, hashed = entries_of(census, manifest.roots)
    old = {(e.root, e.path): e for e in manifest.entries}
    new = {(e.root, e.path): e for e in now}
    changes: list[Change] = []
    bytecode = 0
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before is not None and after is not None:
            detail = _differences(before, after)
            if not detail:
                continue
            change = Change("changed", before.where, detail, before.owner)
        elif after is not None:
            change = Change("added", after.where, "", after.owner)
        else:
            assert before is not None
            change = Change("removed", before.where, "", before.owner)
        if _is_runtime_bytecode(before, after, old, new):
            bytecode += 1
            continue
        changes.append(change)
    return BaselineFacts(
        manifest=str(path),
        created=manifest.created,
        entries=len(old),
        compared=len(new),
        changes=tuple(changes),
        bytecode=bytecode,
        bytes_hashed=hashed,
    )


# --- the manifest as JSON -----------------------------------------------------------------


def manifest_json(manifest: Manifest) -> str:
    """The manifest as JSON: a header, then one entry a line (diffable, greppable).

    ASCII only: a file name that is not UTF-8 (a lone surrogate once decoded) is escaped.
    """
    head = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created": manifest.created,
        "tool_version": manifest.tool_version,
        "interpreter": {
            "executable": manifest.interpreter.executable,
            "version": manifest.interpreter.version,
            "implementation": manifest.interpreter.implementation,
            "prefix": manifest.interpreter.prefix,
        },
        "roots": dict(manifest.roots),
    }
    lines = [json.dumps(head, indent=2)[:-2] + ',\n  "entries": [']
    rows = [json.dumps(_entry_dict(e), separators=(", ", ": ")) for e in manifest.entries]
    lines.append(",\n".join(f"    {row}" for row in rows))
    lines.append("  ]\n}\n")
    return "\n".join(lines)


def _entry_dict(entry: Entry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "root": entry.root,
        "path": entry.path,
        "type": entry.type,
        "mode": f"{entry.mode:04o}",
    }
    if entry.type == "file":
        item["size"] = entry.size
        item["sha256"] = entry.sha256
    if entry.type == "link":
        item["target"] = entry.target
    item["owner"] = entry.owner
    return item


def read_manifest(path: Path) -> Manifest:
    """The manifest at ``path``, read bounded; :class:`BaselineError` (exit 3) if unusable."""
    try:
        text = read_text(path, what="a baseline manifest", limit=MANIFEST_LIMIT)
    except ReadError as exc:
        raise BaselineError(path, None, exc.problem, hint=_HINT) from None
    return parse_manifest_text(text, path)


def parse_manifest_text(text: str, path: Path) -> Manifest:
    """A manifest from its JSON text; every problem is a :class:`BaselineError` naming the key."""
    try:
        data = _json.loads(text)
    except _json.JSONError as exc:
        where = f" at line {exc.line} column {exc.column}" if exc.line is not None else ""
        raise BaselineError(
            path, None, f"not JSON that preflight reads: {exc.problem}{where}"
        ) from None
    try:
        return _manifest(data)
    except ShapeError as bad:
        raise BaselineError(path, bad.key or None, bad.problem) from None


# No entry is shorter than this many bytes of JSON: no manifest within MANIFEST_LIMIT is
# refused for its count, and a list built in memory is bounded all the same.
MAX_ENTRIES = MANIFEST_LIMIT // 32
_PATH = 65_536  # characters of a path, a link's target or a name (PATH_MAX is 4096)


def _manifest(data: Any) -> Manifest:
    if not isinstance(data, dict):
        raise ShapeError("schema", f"the manifest is {_kind(data)}, not a JSON object")
    top = Node(data).table()  # keys of no schema version are tolerated, as they were
    if data.get("schema") != SCHEMA:
        raise top.error("schema", f"is {shown(data.get('schema'))}, not {SCHEMA!r}")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise top.error(
            "schema_version",
            f"is {shown(version)}; this preflight reads schema version {SCHEMA_VERSION}",
        )
    interp = _object(top, "interpreter")
    interpreter = ManifestInterpreter(**{k: _string(interp, k) for k in _INTERPRETER_KEYS})
    roots_data = _object(top, "roots")
    roots = []
    for name in _ROOT_NAMES:
        if name in roots_data:
            value = _string(roots_data, name, max_length=_PATH)
            if not os.path.isabs(value) or "\0" in value:
                raise roots_data.error(name, f"is {shown(value)}, not an absolute path")
            roots.append((name, value))
    unknown = sorted(set(roots_data) - set(_ROOT_NAMES))
    if unknown:
        raise roots_data.error(unknown[0], f"is not one of {', '.join(_ROOT_NAMES)}")
    items = _required(top, "entries").items(max_items=MAX_ENTRIES)
    names = {name for name, _ in roots}
    entries = [_entry(item, names) for item in items]
    seen: set[tuple[str, str]] = set()
    for item, entry in zip(items, entries, strict=True):
        key = (entry.root, entry.path)
        if key in seen:
            raise ShapeError(item.at("path"), f"{shown(entry.where)} is listed twice")
        seen.add(key)
    return Manifest(
        created=_string(top, "created"),
        tool_version=_string(top, "tool_version"),
        interpreter=interpreter,
        roots=tuple(roots),
        entries=tuple(sorted(entries, key=lambda e: (e.root, e.path))),
    )


_INTERPRETER_KEYS = ("executable", "version", "implementation", "prefix")
_ENTRY_KEYS = frozenset({"root", "path", "type", "mode", "size", "sha256", "target", "owner"})


def _entry(node: Node, roots: set[str]) -> Entry:
    item = node.table(_ENTRY_KEYS, problem=f"is {_kind(node.value)}, not an object",
                      unknown="is not a key of an entry")  # fmt: skip
    root = _string(item, "root")
    if root not in roots:
        raise item.error("root", f"is {shown(root)}, not one of the manifest's roots")
    path = _string(item, "path", max_length=_PATH)
    parts = path.split("/")
    if not path or "\0" in path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise item.error("path", f"is {shown(path)}, not a plain path relative to its root")
    kind = _TYPES[_TYPES.index(_required(item, "type").choice(_TYPES))]
    mode_text = _string(item, "mode")
    if not (len(mode_text) == 4 and all(c in "01234567" for c in mode_text)):
        raise item.error("mode", f"is {shown(mode_text)}, not four octal digits like 0644")
    for only, types in (("size", ("file",)), ("sha256", ("file",)), ("target", ("link",))):
        if only in item and kind not in types:
            raise item.error(only, f"is not a key of a {kind} entry")
    size, digest = (None, None)
    if kind == "file":
        size = _required(item, "size").integer(minimum=0, what="a number of bytes")
        digest = _required(item, "sha256").hex_digest()
    target = _string(item, "target", max_length=_PATH) if kind == "link" else None
    owner = item.get("owner")
    return Entry(
        root, path, kind, int(mode_text, 8), size, digest, target,
        None if owner is None else owner.string_or_null(max_length=_PATH),
    )  # fmt: skip


def _required(table: Table, key: str) -> Node:
    """Member ``key``, which must be there and not null."""
    node = table.get(key)
    if node is None or node.value is None:
        raise table.error(key, "is missing or null")
    return node


def _object(table: Table, key: str) -> Table:
    node = table.get(key)
    if node is None or node.value is None:
        raise table.error(key, "is missing or null, not an object")
    return node.table(problem=f"is {_kind(node.value)}, not an object")


def _string(table: Table, key: str, *, max_length: int = MAX_STRING) -> str:
    node = table.get(key)
    if node is None or node.value is None:
        raise table.error(key, "is missing or null, not a string")
    return node.string(empty=True, max_length=max_length)


def _kind(value: Any) -> str:
    if value is None:
        return "missing or null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string"}.get(
        type(value), "a list" if isinstance(value, list) else "an object"
    )
