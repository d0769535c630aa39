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

The files are read by the census (``census.py``): walked once, each read once on a small thread
pool (hashlib and file reads release the GIL, so a large environment, pandas and numpy's 5,000
files, keeps both cores busy), each RECORD parsed once. Here the rows are compared with it, and
so is what no RECORD owns and what exposes code (``census.exposures``): a file RECORD lists that
is now a symlink, a link leaving the environment, a symlinked folder import enters, code or an
import folder others than its owner can write.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from threading import Event
from typing import Protocol

from preflight._facts.census import (
    WORKERS,
    Census,
    Deadline,
    Entry,
    RecordRow,
    Stopped,
    expected_digest,
    exposures,
    hash_file,
    parse_record,
    read_records,
    take,
)
from preflight._facts.model import (
    AnchorFacts,
    DistFacts,
    FileProblem,
    IntegrityFacts,
    InterpreterFacts,
    UnownedEntry,
    UnownedKind,
)
from preflight._read import ReadError, read_bytes, read_text

# One file to check on the pool: (problem or None, bytes read, what it counts as).
Job = Callable[[], tuple[FileProblem | None, int, str]]


class Anchoring(Protocol):
    """The anchored mode (``anchored.py``, which builds on this module) as the scan drives it:
    the vouched wheels are found first (their hashing on the scan's pool), then what they
    ship is read by the census with the rest, then each distribution that has one is
    planned against it instead of its RECORD."""

    def begin(self, facts: InterpreterFacts, pool: Executor, stop: Event | None) -> None: ...

    def wants(self) -> tuple[Mapping[str, Iterable[str]], Mapping[str, int]]: ...

    def plan(
        self,
        dist: DistFacts,
        rows: Sequence[RecordRow] | None,
        verify_row: Callable[[str, RecordRow], Job],
        census: Census,
    ) -> tuple[list[Job], list[FileProblem]] | None: ...

    def summary(self, counts: Mapping[str, int]) -> AnchorFacts: ...


__all__ = [
    "WORKERS",
    "RecordRow",
    "Stopped",
    "expected_digest",
    "hash_file",
    "judge",
    "link_problem",
    "parse_record",
    "scan",
]

# What the venv creation tools place in site-packages themselves (owned by no distribution):
# virtualenv (and uv, which follows it) install a start-up hook as a .pth plus a module.
# The .pth is recognised by its exact content, not its name alone (a look-alike is flagged);
# the module is recognised only beside that .pth, which is the only thing that imports it.
_VENV_TOOL_PTH = "_virtualenv.pth"
_VENV_TOOL_PTH_TEXT = "import _virtualenv"
_VENV_TOOL_MODULE = "_virtualenv.py"
_PTH_LIMIT = 4096  # its known content is one short line
_MODULE_LIMIT = 64 * 1024  # _virtualenv.py is about 4 KB
_VENV_TOOL = "virtualenv"
_EXTENSION_SUFFIXES = (".so", ".pyd")
_PYTHON_SUFFIXES = (".py", ".pyc", *_EXTENSION_SUFFIXES)
_METADATA_DIRS = (".dist-info", ".egg-info", ".data")
_STARTUP_MODULES = frozenset({"sitecustomize", "usercustomize"})
# Rows RECORD may leave without a hash: itself, and bytecode written at install time. Code
# (modules, extensions, start-up .pth files, a .pyc outside __pycache__, which Python imports
# without a source) without a hash cannot be verified: say so (_hashless_code).
_CODE_SUFFIXES = (".py", ".pth", *_EXTENSION_SUFFIXES)
_NO_HASH = "RECORD gives no hash"
UNHASHED = "unhashed"  # with a wheelhouse: a row counted as resting on RECORD, with no hash


def link_problem(dist: str, written: str, entry: Entry | None) -> FileProblem | None:
    """A file RECORD (or a locked wheel) lists that is now a symlink, whatever it points at:
    an identical copy today, anything once its target changes."""
    if entry is None or entry.type != "link":
        return None
    return FileProblem(dist, written, "symlink", f"a symlink to {entry.target}, not a file")


def _verify(dist: str, row: RecordRow, census: Census) -> tuple[FileProblem | None, int]:
    """Check one hashed row against the census; ``(problem or None, bytes read)``."""
    entry = census.get(row.path)
    if entry is None:  # missing is missing, whatever the hash field says
        return FileProblem(dist, row.written, "missing", "file not found"), 0
    linked = link_problem(dist, row.written, entry)
    if linked is not None:
        return linked, 0
    expected, why = expected_digest(row)
    if expected is None:  # (said so even of a file of another size: RECORD's hash is what fails)
        return FileProblem(dist, row.written, "unverifiable", str(why)), 0
    assert row.algorithm is not None
    digest = entry.digests.get(row.algorithm)
    if entry.type != "file" or entry.state != "read" or digest is None:
        unread = FileProblem(dist, row.written, "modified", "not a readable regular file")
        return _skipped(dist, row.written, entry) or unread, 0
    if digest != expected:
        detail = f"{row.algorithm} differs"
        if row.size is not None and row.size != entry.size:
            detail += f"; {entry.size} bytes, RECORD says {row.size}"
        return FileProblem(dist, row.written, "modified", detail), entry.size
    return None, entry.size


def _skipped(dist: str, written: str, entry: Entry) -> FileProblem | None:
    """A file the census did not read: of a size RECORD rules out (modified), or too large
    to verify (critical when it is code, as "modified"; else it cannot be verified)."""
    if entry.type != "file" or entry.state != "skipped":
        return None
    why = entry.why or "not read"
    if why.startswith("size ") or written.endswith(_CODE_SUFFIXES):
        return FileProblem(dist, written, "modified", why)
    return FileProblem(dist, written, "unverifiable", why)


def _top_level(path: str, site: str) -> str | None:
    """The first component of ``path`` below ``site``, or None if it lies elsewhere."""
    prefix = site.rstrip(os.sep) + os.sep  # both normalised: a prefix test, not relpath's
    if not path.startswith(prefix):
        return None
    return path[len(prefix) :].split(os.sep, 1)[0] or None


class _Tree:
    """The census below the site folders, as the unowned scan reads it."""

    def __init__(self, census: Census) -> None:
        self.census = census
        self.children = census.children()
        entered = set(census.entered)
        self.folders = {
            p for p, e in census.entries.items() if e.type == "dir" or p in entered
        }  # fmt: skip
        self.holding: set[str] = set()  # folders with Python below them
        for path, entry in census.entries.items():
            if entry.root is not None and path.endswith(_PYTHON_SUFFIXES):
                folder = os.path.dirname(path)
                while folder not in self.holding and folder in self.folders:
                    self.holding.add(folder)
                    folder = os.path.dirname(folder)

    def below(self, folder: str) -> Iterator[Entry]:
        """Everything below ``folder``, depth first, by name; not into ``__pycache__``: the
        bytecode Python writes there is the bytecode check's (and never loaded without its
        source beside the folder)."""
        for entry in sorted(self.children.get(folder, ()), key=lambda e: e.path):
            name = os.path.basename(entry.path)
            if entry.path in self.folders:
                if name != "__pycache__":
                    yield from self.below(entry.path)
            else:
                yield entry


def _kind_of(tree: _Tree, entry: Entry) -> UnownedKind | None:
    """What an unowned site-packages entry is, if it is something Python would load."""
    name = os.path.basename(entry.path)
    startup = name.split(".", 1)[0] in _STARTUP_MODULES
    if entry.path in tree.folders:
        if name == "__pycache__" or name.endswith(_METADATA_DIRS):
            return None
        if entry.path not in tree.holding:
            return None
        return "startup_module" if startup else "package"
    if name.endswith(".pth"):
        return "pth"
    kind: UnownedKind | None = None
    if name.endswith((".py", ".pyc")):
        kind = "module"
    elif name.endswith(_EXTENSION_SUFFIXES):
        kind = "extension"
    return "startup_module" if kind is not None and startup else kind


def _unowned(
    tree: _Tree, site_dirs: Iterable[str], owned: dict[str, set[str]], files: set[str]
) -> Iterator[UnownedEntry]:
    """What Python would load from each site folder that no RECORD lists.

    Top-level entries that no RECORD lists a file under; and, inside the folders that are
    owned (symlinked ones entered, as import enters them), importable files that no RECORD
    lists (a module dropped into numpy/). Bytecode in ``__pycache__`` (at the top too) is
    never unowned: Python writes it beside the sources it imports, at every level of -O.
    """
    for site in site_dirs:
        for entry in sorted(tree.children.get(site, ()), key=lambda e: e.path):
            name = os.path.basename(entry.path)
            if name not in owned.get(site, set()):
                kind = _kind_of(tree, entry)
                if kind is not None:
                    yield UnownedEntry(entry.path, kind, _placed_by(site, name))
            elif (
                entry.path in tree.folders
                and name != "__pycache__"
                and not name.endswith(_METADATA_DIRS)
            ):
                yield from _unowned_inside(tree, entry.path, files)


def _unowned_inside(tree: _Tree, folder: str, files: set[str]) -> Iterator[UnownedEntry]:
    for entry in tree.below(folder):
        if entry.path in files:
            continue
        if entry.path.endswith((".py", ".pyc")):
            yield UnownedEntry(entry.path, "module")
        elif entry.path.endswith(_EXTENSION_SUFFIXES):
            yield UnownedEntry(entry.path, "extension")


# What virtualenv and uv write into the scripts folder beside the activation scripts: a
# module no one imports (it is exec'd by name), named for no distribution.
_SCRIPTS_TOOL_MODULE = "activate_this.py"
_SCRIPTS_NOTE = (
    "in the scripts folder, which is sys.path[0] for every script there: it is imported "
    "before anything in site-packages"
)


def _unowned_scripts(tree: _Tree, files: set[str]) -> Iterator[UnownedEntry]:
    """What a script of the scripts folder would import from it that no RECORD lists.

    A console script's folder is ``sys.path[0]`` when it runs: a ``tidy.py``, a sourceless
    ``tidy.pyc``, an extension or a package folder (or a link to one) there shadows the
    environment's ``tidy`` for every script. The scripts RECORD lists (a wheel's console and
    data scripts) are the RECORD comparison's; bytecode in ``__pycache__`` is loaded only
    beside its source."""
    for name, folder in tree.census.roots:
        if name != "scripts":
            continue
        for entry in sorted(tree.children.get(folder, ()), key=lambda e: e.path):
            if entry.path in files:
                continue
            kind = _script_kind(tree, entry)
            if kind is None:
                continue
            base = os.path.basename(entry.path)
            tool = _VENV_TOOL_SCRIPTS if base == _SCRIPTS_TOOL_MODULE else None
            yield UnownedEntry(entry.path, kind, tool, note=_SCRIPTS_NOTE)


_VENV_TOOL_SCRIPTS = "virtualenv or uv"


def _script_kind(tree: _Tree, entry: Entry) -> UnownedKind | None:
    """What import makes of an entry of the scripts folder, if anything."""
    name = os.path.basename(entry.path)
    if name == "__pycache__":
        return None
    if name.endswith((".py", ".pyc")):
        return "module"
    if name.endswith(_EXTENSION_SUFFIXES):
        return "extension"
    package = name.isidentifier() and (
        (entry.type == "dir" and entry.path in tree.holding)
        # a link: not walked (the scripts folder's links are not entered), named
        or (entry.type == "link" and os.path.isdir(entry.path))
    )
    return "package" if package else None


# sha256 of the _virtualenv.py virtualenv's releases write (20.17 to 20.36 and 21.x: four
# contents in all); the one of a virtualenv importable beside preflight counts too.
_VENV_TOOL_MODULES = frozenset(
    {
        "c9199315871b11b12df226f890a38e66e63191e1adbfb11a66e6861151b33fca",
        "0aeb86546345c1d0fada097536e35525714d5cdbcc2d8eb3f9912a955044fcff",
        "0f20351ea7e90039c46d3fabdef991f28b1e3ff33eb13ee6f0d5cd21ea0e8b14",
        "bec6155ff7bfc88f8e79e481f27fd7ee0a3b40eeca9bfeb41f4c4b997b2f8100",
        "cfe56cafbd68fd31a0e87100f111d7d2f6b7157241096500013c07e88d80a22f",
    }
)


def _shipped_module() -> str | None:
    """sha256 of the _virtualenv.py of the virtualenv importable here, if one is."""
    spec = importlib.util.find_spec("virtualenv")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = next(iter(spec.submodule_search_locations))
    path = os.path.join(folder, "create", "via_global_ref", _VENV_TOOL_MODULE)
    try:
        data = read_bytes(path, what="virtualenv's _virtualenv.py", limit=_MODULE_LIMIT)
    except ReadError:
        return None
    return hashlib.sha256(data).hexdigest()


def _placed_by(site: str, name: str) -> str | None:
    """The venv tool that placed ``name`` in ``site``, if it is that tool's known hook: the
    ``.pth`` by its one line, the module it imports (run at every start) by its bytes, which
    must be a ``_virtualenv.py`` virtualenv ships."""
    if name not in (_VENV_TOOL_PTH, _VENV_TOOL_MODULE):
        return None
    try:  # a FIFO or /dev/zero under that name must not hang the scan
        text = read_text(os.path.join(site, _VENV_TOOL_PTH), what="a .pth file", limit=_PTH_LIMIT)
    except ReadError:
        return None
    if text.strip() != _VENV_TOOL_PTH_TEXT:
        return None
    if name == _VENV_TOOL_MODULE:
        try:
            data = read_bytes(os.path.join(site, name), what="a .py file", limit=_MODULE_LIMIT)
        except ReadError:
            return None
        digest = hashlib.sha256(data).hexdigest()
        if digest not in _VENV_TOOL_MODULES and digest != _shipped_module():
            return None
    return _VENV_TOOL


def scan(
    facts: InterpreterFacts,
    *,
    stop: Event | None = None,
    anchoring: Anchoring | None = None,
) -> IntegrityFacts:
    """Take the census of the environment and judge it against RECORD (or, with
    ``anchoring``, a wheelhouse): every file of every distribution, and what is unowned.

    ``stop``, once set, ends the scan within one chunk of each file being read, by
    :class:`Stopped`: the check that wanted it is being interrupted.
    """
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="preflight-scan") as pool:
        census = survey(facts, pool=pool, stop=stop, anchoring=anchoring)
        return judge(census, facts, anchoring=anchoring, pool=pool)


def survey(
    facts: InterpreterFacts,
    *,
    pool: Executor,
    stop: Event | None = None,
    anchoring: Anchoring | None = None,
    read_all: bool = False,
    deadline: Deadline | None = None,
) -> Census:
    """The census integrity judges: with ``anchoring``, the vouched wheels are found first
    (on ``pool``) and what they ship is read with the rest; ``read_all`` for a baseline."""
    want: Mapping[str, Iterable[str]] = {}
    keep: Mapping[str, int] = {}
    if anchoring is not None:
        anchoring.begin(facts, pool, stop)
        want, keep = anchoring.wants()
    return take(
        facts,
        records=read_records(facts.distributions),
        want={path: set(names) for path, names in want.items()},
        keep=keep,
        read_all=read_all,
        pool=pool,
        stop=stop,
        deadline=deadline,
    )


def judge(
    census: Census,
    facts: InterpreterFacts,
    *,
    anchoring: Anchoring | None = None,
    pool: Executor | None = None,
) -> IntegrityFacts:
    """Every RECORD row (or locked wheel) compared with the census; what no RECORD owns; and
    what exposes code (links, write permissions). The census has read the installed files,
    so a RECORD row is a lookup; with a wheelhouse, the locked wheels' members are inflated
    and hashed too, on ``pool`` when one is given (the members of one wheel one after the
    other, through its one open archive; different wheels at once)."""
    problems = list(census.refused)
    owned: dict[str, set[str]] = {}
    files: set[str] = set()
    jobs: list[Job] = []
    for record in census.records:
        site = os.path.normpath(record.dist.site)
        names = owned.setdefault(site, set())
        planned = (
            anchoring.plan(record.dist, record.rows, _optional_job(census), census)
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
                jobs.append(_record_job(record.dist.name, row, census))
                continue
            linked = link_problem(record.dist.name, row.written, census.get(row.path))
            if linked is not None:
                problems.append(linked)
            elif _hashless_code(row.path, census):
                problems.append(
                    FileProblem(record.dist.name, row.written, "unverifiable", _NO_HASH)
                )
    bytes_checked = 0
    counts: dict[str, int] = {}
    results = (
        pool.map(_run, jobs) if pool is not None and anchoring is not None else map(_run, jobs)
    )
    for problem, size, kind in results:
        bytes_checked += size
        counts[kind] = counts.get(kind, 0) + 1
        if problem is not None:
            problems.append(problem)
    site_dirs = [os.path.normpath(s) for s in facts.site_packages]
    tree = _Tree(census)
    unverifiable = sum(p.kind == "unverifiable" and p.detail != _NO_HASH for p in problems)
    return IntegrityFacts(
        files_checked=sum(counts.values()) - counts.get(UNHASHED, 0) - unverifiable,
        bytes_checked=bytes_checked,
        problems=tuple(problems),
        unowned=(*_unowned(tree, site_dirs, owned, files), *_unowned_scripts(tree, files)),
        without_record=census.without_record,
        anchor=anchoring.summary(counts) if anchoring is not None else None,
        exposed=tuple(exposures(census, facts)),
    )


def _hashless_code(path: str, census: Census) -> bool:
    """Whether a row RECORD gives no hash names code: a module, an extension, a ``.pth``; or
    a ``.pyc`` that is there outside ``__pycache__`` (Python imports it without a source, as
    ``sitecustomize.pyc``). The bytecode in ``__pycache__`` is loaded only beside its source,
    and is the bytecode check's; a ``.pyc`` an installer lists but never wrote runs nothing."""
    if path.endswith(_CODE_SUFFIXES):
        return True
    return (
        path.endswith(".pyc")
        and os.path.basename(os.path.dirname(path)) != "__pycache__"
        and census.get(path) is not None
    )


def _run(job: Job) -> tuple[FileProblem | None, int, str]:
    return job()


def _optional_job(census: Census) -> Callable[[str, RecordRow], Job]:
    return lambda dist, row: _record_job(dist, row, census, optional=True)


def _record_job(dist: str, row: RecordRow, census: Census, *, optional: bool = False) -> Job:
    """Check one row against the installed RECORD: a file that rests on RECORD alone.
    ``optional``: a row without a hash (RECORD itself, bytecode) is counted, not checked."""

    def job() -> tuple[FileProblem | None, int, str]:
        if row.algorithm is None:
            linked = link_problem(dist, row.written, census.get(row.path))
            if optional and not _hashless_code(row.path, census):
                return linked, 0, UNHASHED
            return (
                linked or FileProblem(dist, row.written, "unverifiable", _NO_HASH),
                0,
                ("record_only"),
            )
        problem, size = _verify(dist, row, census)
        return problem, size, "record_only"

    return job
