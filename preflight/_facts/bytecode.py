"""Run the bytecode probe in the target, in shards, and keep what it verified in a cache.

RECORD gives no hash for ``__pycache__/*.pyc`` (pip writes them after the wheel is unpacked;
the application writes more at run time), yet Python runs a pyc *instead of* its source
whenever the pyc's header is valid for it. ``_probe/bytecode.py`` finds, inside the target,
every pyc that interpreter would load from site-packages and compares its code with a fresh
compile of the source; this module runs it and turns its JSON into :class:`BytecodeFacts`.

Compiling is what costs: about 5 ms per module, so 17 s of CPU for pandas + numpy + the rest
(3,400 modules). Two things keep a check fast:

* **shards**: one probe child per core (at most 8), each taking every n-th pyc;
* **a cache of verified pairs**, outside the environment (``$PREFLIGHT_CACHE_DIR``, default
  ``$XDG_CACHE_HOME/preflight`` or ``~/.cache/preflight``; set it empty for none). Each line
  is a sha256 that names a verified pair either by *content* (interpreter, optimisation level,
  sha256 of the source and of the pyc's body: the same wheel in a fresh venv shares it) or by
  *stat* (both paths with device, inode, size, mtime and ctime in nanoseconds: nothing to
  read). ``st_ctime`` is set by the kernel on every change of an inode and cannot be set back
  by its owner, so a pyc rewritten since is never covered by a stat key. The cache is used
  only when it is a regular file owned by this user and writable by nobody else, in a folder
  writable by nobody else; new lines are appended in one write, and the file is pruned to its
  newest lines past :data:`CACHE_MAX_BYTES`.

**Nothing the probe prints enters the cache.** The probe reports the pairs it verified as
facts (paths, level, the sha256 of the source and of the pyc's body); preflight then reads
both files itself, and only a pair whose bytes hash as reported is keyed, from those bytes and
the descriptors' own ``fstat`` (:attr:`BytecodeFacts.learned`). Keys are written by
:func:`remember_verified`, which the engine calls only once the verdict allows it (no check
failed): an environment that is NOT_READY teaches the cache nothing. The cache file's inode
stamps are taken before the probe starts; if anything else changed the file before the keys
are written (code of the environment, run by the check, writing as this user), the whole
cache is dropped, since any line of it may be forged. What runs as this user *between* checks
can still write it: keep ``$PREFLIGHT_CACHE_DIR`` where the application's user cannot write, or
set it empty for none.

**Compiled ahead, for an environment preflight built** (:func:`compile_imports`, the nox
session's ``first_start``): the same probe in mode ``compile`` compiles the policy's modules
and what their code imports at import time beside the census (:class:`CompileAhead`), and
writes their pycs once the files are verified (a source changed since it was compiled gets
none), following no link; the pairs written are keyed like the verified ones (from the bytes
read back). The first start then finds them and compiles nothing; once it
(and whatever else ran) has ended, every pyc is checked again (:func:`merged`: those written
are found by their stat keys, any other is compiled and compared), so none the environment
wrote escapes the verdict.

The probe children run the target as ``-I -S -B``: no ``site``, so no ``.pth`` line or
``sitecustomize`` of the environment runs in them (they compile its sources; they never import
them). They are started and waited for from the calling thread (Ctrl-C kills them), beside the
hashing and before any of the environment's code runs (verify, then run: ``gather.py``), at
normal priority: nothing is timed beside them, and they are on the check's critical path.
A ``nice`` request (lower the priority before the first compile) is kept for callers that time
something beside them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import TypeVar

from preflight import _json
from preflight._atomic import write_atomic
from preflight._facts.model import ProbeFailure
from preflight._process import Completed, Running, clean_env, start
from preflight._read import ReadError, open_regular
from preflight._strict import Node, ShapeError, Table, shown

__all__ = [
    "CACHE_FILE",
    "DEFAULT_TIMEOUT",
    "BytecodeFacts",
    "BytecodeRun",
    "CompileAhead",
    "CompiledFacts",
    "PycProblem",
    "cache_file",
    "compile_imports",
    "merged",
    "parse_bytecode_output",
    "remember_verified",
    "verify_bytecode",
]

PROBE_VERSION = 2  # must match PROBE_VERSION in _probe/bytecode.py
CACHE_FILE = "bytecode-verified.txt"
CACHE_MAX_BYTES = 16 << 20  # about 250,000 pairs; the probe reads at most 64 MiB
_KEY_LENGTH = 64
_MAX_SHARDS = 8
# The probe's time limit when the check is given none: a cold cache of a large environment
# compiles for minutes. A timeout the user gives (``--timeout``) is the limit instead.
DEFAULT_TIMEOUT = 600.0
_SHOWN = 300  # characters of a message quoted from the probe's stderr
SOURCE_LIMIT = 32 << 20  # as the probe's: a pair it could read, preflight can read
PYC_LIMIT = 64 << 20


@dataclass(frozen=True)
class PycProblem:
    """A pyc the target would load that does not hold its source's code, or cannot be read."""

    pyc: str  # absolute path
    source: str  # the source it stands for
    level: int  # optimisation level: 0, 1 (.opt-1) or 2 (.opt-2)
    detail: str
    loads: bool = True  # of one that cannot be verified: whether Python would still run it


@dataclass(frozen=True)
class BytecodeFacts:
    """What the bytecode probe found in the environment's site-packages."""

    candidates: int  # pycs of the target's cache tag in a __pycache__ beside their source
    other_tags: int  # pycs of other interpreters: never loaded by this one
    stale: int  # header not valid for the source: Python ignores them, and so does the check
    cached: int  # verified before, by content or by stat (the cache)
    identical: int  # compiled now: marshal output equal to the pyc's body
    compared: int  # compiled now: compared code object by code object
    mismatches: tuple[PycProblem, ...]
    unverifiable: tuple[PycProblem, ...]  # not a regular file, too large, unreadable
    seconds: float  # wall time of the probe children
    cache: str | None  # the cache file used; None when none was
    cache_note: str | None = None  # why the cache was not used, when it was not
    # Keys of the pairs verified now, computed by preflight from bytes it read itself; written
    # by remember_verified() only when the verdict allows. cache_seal: the cache file's inode
    # stamps before the probe started (None: it did not exist).
    learned: tuple[str, ...] = ()
    cache_seal: tuple[int, ...] | None = None
    timeout: float | None = None  # the limit each probe child ran under, in seconds
    # pycs preflight compiled from the verified sources for an environment it just built
    # (:func:`compile_sources`), checked again once its first start had run (:func:`merged`)
    written: int = 0


# ---------------------------------------------------------------------------------------------
# The cache
# ---------------------------------------------------------------------------------------------


def cache_file(environ: Mapping[str, str]) -> Path | None:
    """Where the verified pairs are kept; None when ``PREFLIGHT_CACHE_DIR`` is set empty."""
    folder = environ.get("PREFLIGHT_CACHE_DIR")
    if folder is None:
        base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, "preflight")
    if not folder:
        return None
    return Path(folder).absolute() / CACHE_FILE


def _untrusted(path: Path) -> str | None:
    """Why the cache at ``path`` must not be believed, or None (also when it does not exist)."""
    for item, what in ((path.parent, "its folder"), (path, "the file")):
        try:
            info = os.lstat(item)
        except FileNotFoundError:
            continue
        except OSError as exc:
            return f"{what} cannot be read ({exc.strerror})"
        kind_ok = stat.S_ISDIR(info.st_mode) if item == path.parent else stat.S_ISREG(info.st_mode)
        if not kind_ok:
            return f"{what} is not a {'folder' if item == path.parent else 'regular file'}"
        if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
            return f"{what} belongs to another user (uid {info.st_uid})"
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return f"{what} is writable by others (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def _seal_of(path: Path) -> tuple[int, ...] | None:
    """What any change to the cache file changes (``st_ctime_ns`` cannot be set back)."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def remember_verified(facts: BytecodeFacts) -> str | None:
    """Append what ``facts`` verified to its cache; call it only for an environment whose
    verdict allows it. Returns a note when the cache was dropped instead: it changed since
    the check read it, and this check did not change it."""
    if facts.cache is None:
        return None
    path = Path(facts.cache)
    if _seal_of(path) != facts.cache_seal:
        with contextlib.suppress(OSError):
            path.unlink()
        return (
            f"{path} was changed during the check by something else (the environment's "
            "code runs as this user): dropped, since any line of it may be forged"
        )
    if facts.learned and _untrusted(path) is None:
        _remember(path, facts.learned)
    return None


def _remember(path: Path, keys: Sequence[str]) -> None:
    """Append ``keys`` in one write (checks running side by side lose nothing); prune the
    file to its newest half past :data:`CACHE_MAX_BYTES`. Best effort: a cache that cannot be
    written only means the next check compiles again."""
    if not keys:
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags, 0o600)
        try:
            os.write(fd, ("\n".join(keys) + "\n").encode("ascii"))
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size > CACHE_MAX_BYTES:
            with path.open("rb") as handle:
                handle.seek(size - CACHE_MAX_BYTES // 2)
                tail = handle.read().decode("ascii", "replace").split("\n")[1:]
            write_atomic(path, "\n".join(line for line in tail if line) + "\n", mode=0o600)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


def _workers() -> int:
    return max(1, min(_MAX_SHARDS, os.cpu_count() or 1))


class BytecodeRun:
    """The probe children, started; :meth:`wait` for the facts, :meth:`kill` to drop them.

    ``nice``: they lower their own priority (``os.nice``) before their first compile, for a
    caller that times something beside them (a cold cache's compiling then takes the cycles
    that work leaves); a warm cache (only ``stat``) keeps its priority and ends at once.
    ``timeout`` bounds each child (the check's ``--timeout`` when given).
    """

    def __init__(
        self,
        python: str | os.PathLike[str],
        site_dirs: Sequence[str],
        *,
        environ: Mapping[str, str],
        timeout: float = DEFAULT_TIMEOUT,
        workers: int | None = None,
        withhold: Sequence[str] = (),
        nice: bool = False,
        known: Sequence[str] = (),
    ) -> None:
        path = cache_file(environ)
        self._note = None if path is not None else "PREFLIGHT_CACHE_DIR is empty: no cache"
        if path is not None and (why := _untrusted(path)) is not None:
            self._note = f"{path} not used: {why}"
            path = None
        self._cache = path
        self._seal = None if path is None else _seal_of(path)  # before any probe reads it
        self._timeout = timeout
        self._began = time.perf_counter()
        self._running: list[Running] = []
        shards = max(1, workers or _workers())
        env = clean_env(withhold=withhold)
        probe = _probe_path()
        # Keys this check learned and has not written yet: in a private file the probe reads
        # beside the cache (verified pairs it then stats rather than compiles).
        self._private = _Private("\n".join(known) + "\n") if known else None
        try:
            for shard in range(shards):
                request = {
                    "sites": list(site_dirs),
                    "cache": None if path is None else str(path),
                    "known": None if self._private is None else self._private.path,
                    "shard": shard,
                    "shards": shards,
                    "nice": nice,
                }
                # -S: no site, so no .pth line or sitecustomize of the environment runs here
                argv = [os.fspath(python), "-I", "-S", "-B", probe, json.dumps(request)]
                self._running.append(start(argv, timeout=timeout, env=env))
        except BaseException:
            self.kill()
            raise

    def kill(self) -> None:
        for child in self._running:
            child.kill()
            child.close()
        if self._private is not None:
            self._private.remove()

    def wait(self) -> BytecodeFacts | ProbeFailure:
        try:
            done = [child.wait() for child in self._running]
        except BaseException:
            self.kill()
            raise
        if self._private is not None:
            self._private.remove()
        seconds = time.perf_counter() - self._began
        parts: list[_Part] = []
        for completed in done:
            part = _parse_completed(completed, self._timeout)
            if isinstance(part, ProbeFailure):
                return part
            parts.append(part)
        learned = (
            _learn([item for part in parts for item in part.verified])
            if self._cache is not None
            else ()
        )
        return BytecodeFacts(
            candidates=sum(p.counts["candidates"] for p in parts),
            other_tags=sum(p.counts["other_tags"] for p in parts),
            stale=sum(p.counts["stale"] for p in parts),
            cached=sum(p.counts["cached"] for p in parts),
            identical=sum(p.counts["identical"] for p in parts),
            compared=sum(p.counts["compared"] for p in parts),
            mismatches=tuple(m for p in parts for m in p.mismatches),
            unverifiable=tuple(u for p in parts for u in p.unverifiable),
            seconds=round(seconds, 3),
            cache=None if self._cache is None else str(self._cache),
            cache_note=self._note,
            learned=learned,
            cache_seal=self._seal,
            timeout=self._timeout,
        )


# ---------------------------------------------------------------------------------------------
# Keys, computed here from bytes read here (the same formulas as the probe's lookups)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    """A pair the probe reports it verified: the facts, never a key."""

    pyc: str
    source: str
    level: int
    source_sha256: str
    body_sha256: str
    identity: str  # the probe's interpreter identity (see _probe/bytecode.py _identity)


def _stat_part(info: os.stat_result) -> str:
    return f"{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}"


def _digest(path: str, limit: int, skip: int = 0) -> tuple[str, os.stat_result] | None:
    """sha256 (of the bytes past ``skip``) and the descriptor's stat, or None."""
    try:
        fd = open_regular(path)
    except ReadError:
        return None
    try:
        info = os.fstat(fd)  # before the first byte: a later write changes st_ctime_ns
        digest, total = hashlib.sha256(), 0
        while chunk := os.read(fd, 1 << 20):
            total += len(chunk)
            if total > limit:
                return None
            digest.update(chunk[max(0, skip - (total - len(chunk))) :])
        return (digest.hexdigest(), info) if total >= skip else None
    except OSError:
        return None
    finally:
        os.close(fd)


def _learn(items: Sequence[Verified]) -> tuple[str, ...]:
    """The cache keys of the pairs whose bytes, read here, hash as the probe reported."""
    keys: list[str] = []
    for item in items:
        source = _digest(item.source, SOURCE_LIMIT)
        pyc = _digest(item.pyc, PYC_LIMIT, skip=16)
        if source is None or pyc is None:
            continue
        if (source[0], pyc[0]) != (item.source_sha256, item.body_sha256):
            continue  # changed since the probe compiled it: nothing is vouched for
        level = str(item.level)
        by_stat = "|".join(
            ("stat", item.identity, level, item.pyc, _stat_part(pyc[1]), item.source,
             _stat_part(source[1]))
        )  # fmt: skip
        by_content = "|".join(("content", item.identity, level, source[0], pyc[0]))
        keys.append(hashlib.sha256(by_stat.encode("utf-8", "surrogateescape")).hexdigest())
        keys.append(hashlib.sha256(by_content.encode("ascii")).hexdigest())
    return tuple(keys)


def _probe_path() -> str:
    # The package lies on disk (not in a zip), so the path stays valid for the children.
    with resources.as_file(resources.files("preflight._probe").joinpath("bytecode.py")) as p:
        return str(p)


class _Private:
    """A file only this user can read, in a folder of its own (``mkdtemp``: mode 700), for
    what a probe child reads that is too long for its command line."""

    def __init__(self, text: str) -> None:
        self._folder = tempfile.mkdtemp(prefix="preflight-")
        self.path = os.path.join(self._folder, "data")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)

    def remove(self) -> None:
        shutil.rmtree(self._folder, ignore_errors=True)


@dataclass(frozen=True)
class CompiledFacts:
    """What preflight compiled into an environment it built, from its verified sources."""

    written: int  # pycs written (the sources that had none of this interpreter's)
    unwritten: tuple[tuple[str, str], ...]  # (source, why): left to Python, checked after
    learned: tuple[str, ...]  # their keys, computed here from the bytes written (_learn)
    seconds: float


class CompileAhead:
    """:func:`compile_imports` started before the environment's files are verified: the
    children read and compile (``-I -S -B``: nothing of the environment runs) beside the
    census, and write nothing until :meth:`decide` says so; :meth:`wait` for the facts,
    :meth:`kill` to drop them.

    Each child waits on a FIFO of its own in a folder only this user can enter (``mkdtemp``),
    which this process holds open from the start: ``decide(True)`` (the verifying checks
    passed) lets them write, ``decide(False)`` or this process's end (the FIFO's last writer
    gone) ends them having written nothing. A child writes a pyc only for a source that is
    the very file it compiled, unchanged since (its inode's stamps): the bytes compiled are
    the bytes the census read and the checks judged.
    """

    def __init__(
        self,
        python: str | os.PathLike[str],
        site_dirs: Sequence[str],
        modules: Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        workers: int | None = None,
        withhold: Sequence[str] = (),
        gated: bool = True,
    ) -> None:
        self._began = time.perf_counter()
        self._timeout = timeout
        roots = list(dict.fromkeys(modules))
        children = max(1, min(workers or _workers(), len(roots)))
        env, probe = clean_env(withhold=withhold), _probe_path()
        self._folder = tempfile.mkdtemp(prefix="preflight-claims-")  # mode 700: ours alone
        self._running: list[Running] = []
        self._gates: list[int] = []
        self._decided = not gated
        try:
            for number in range(children):
                go: str | None = None
                if gated:
                    go = os.path.join(self._folder, f"go-{number}")
                    os.mkfifo(go, 0o600)
                    # read and write: opening does not wait for the child, and a write never
                    # fails for want of a reader (a child that ended early)
                    self._gates.append(os.open(go, os.O_RDWR | getattr(os, "O_CLOEXEC", 0)))
                # Each child starts from another root; a module is compiled by whichever
                # child claims it first, and that child follows its imports.
                request = {"mode": "compile", "sites": list(site_dirs),
                           "roots": roots[number:] + roots[:number], "claims": self._folder,
                           "go": go}  # fmt: skip
                argv = [os.fspath(python), "-I", "-S", "-B", probe, json.dumps(request)]
                self._running.append(start(argv, timeout=timeout, env=env))
        except BaseException:
            self.kill()
            raise

    def decide(self, write: bool) -> None:
        """Let the children write their pycs (``write``: the environment's files are
        verified), or end them having written none. Only the first decision counts. The
        FIFOs stay open here until the children have ended: a FIFO no process holds open
        loses what was written to it, and a child may not have opened its own yet."""
        if self._decided:
            return
        self._decided = True
        for fd in self._gates:
            os.write(fd, b"w" if write else b"a")  # one byte: the pipe holds it, never blocks

    def _close_gates(self) -> None:
        gates, self._gates = self._gates, []
        for fd in gates:
            os.close(fd)

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.decide(False)
        for child in self._running:
            child.kill()
            child.close()
        self._close_gates()
        shutil.rmtree(self._folder, ignore_errors=True)

    def wait(self) -> CompiledFacts | ProbeFailure:
        """The facts, once :meth:`decide` was called (or the children run ungated); a wait
        with no decision decides no."""
        self.decide(False)
        try:
            done = [child.wait() for child in self._running]
        except BaseException:
            self.kill()
            raise
        self._close_gates()
        shutil.rmtree(self._folder, ignore_errors=True)
        written, unwritten, items = 0, [], []
        for completed in done:
            part = _parse_compiled(completed, self._timeout)
            if isinstance(part, ProbeFailure):
                return part
            written += part[0]
            unwritten += part[1]
            items += part[2]
        return CompiledFacts(
            written=written,
            unwritten=tuple(unwritten),
            learned=_learn(items),
            seconds=round(time.perf_counter() - self._began, 3),
        )


def compile_imports(
    python: str | os.PathLike[str],
    site_dirs: Sequence[str],
    modules: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    workers: int | None = None,
    withhold: Sequence[str] = (),
) -> CompiledFacts | ProbeFailure:
    """Compile, in the target interpreter (``-I -S -B``: it compiles, it imports nothing of
    the environment), ``modules`` and what their code imports at import time (read from the
    compiled code, never run), each into the pyc Python would load where there is none yet
    (a timestamp pyc, as pip's compileall writes it).

    For an environment preflight just built, once its files are verified and before its first
    start: that start then loads these pycs instead of compiling (and writing) its own, and
    the check pays for compiling once, not for compiling and then verifying. The pairs written
    are keyed here, from the bytes read back (:func:`_learn`), as the bytecode probe's are;
    they enter the cache only with the rest, when the verdict allows. :class:`CompileAhead`
    starts the same children before the files are verified and lets them write after.
    """
    ahead = CompileAhead(
        python, site_dirs, modules, timeout=timeout, workers=workers, withhold=withhold,
        gated=False,
    )  # fmt: skip
    return ahead.wait()


def _parse_compiled(
    completed: Completed, timeout: float
) -> tuple[int, list[tuple[str, str]], list[Verified]] | ProbeFailure:
    """One compile child's report, every field type-checked; anything else a ProbeFailure."""
    if completed.returncode != 0 or completed.timed_out:
        failed = _parse_completed(completed, timeout)
        if isinstance(failed, ProbeFailure):
            return failed
    try:
        payload = _last_object(completed.stdout)
        _header(payload)

        def read() -> tuple[int, list[tuple[str, str]]]:
            written = payload["written"].integer(minimum=0, maximum=_MAX_COUNT)
            unwritten = []
            for node in payload["unwritten"].items(max_items=_MAX_LISTED):
                item = node.table()
                unwritten.append(
                    (
                        item["source"].string(empty=True, max_length=_PATH),
                        item["detail"].string(empty=True, max_length=_DETAIL),
                    )
                )
            return written, unwritten

        written, unwritten = _shaped(read)
        return written, unwritten, list(_verified(payload))
    except _Malformed as exc:
        return ProbeFailure(
            "not_python",
            f"the bytecode probe's compile output is not its report ({exc})",
            command=completed.argv,
            stdout=completed.stdout,
            stderr=completed.stderr,
        )


def merged(
    verified: BytecodeFacts,
    compiled: CompiledFacts | ProbeFailure | None,
    after: BytecodeFacts | ProbeFailure,
) -> BytecodeFacts | ProbeFailure:
    """The bytecode facts of a check that compiled (``compiled``) and then ran the environment
    (its first start): ``verified`` (before anything ran) with ``after`` (every pyc checked
    again once it had run: those preflight wrote are found by their keys, stat only; any the
    environment wrote anyway is compiled and compared). The cache's seal stays the one taken
    before the first probe: a cache the environment's code changed is dropped."""
    if isinstance(after, ProbeFailure):
        return after
    learned = verified.learned + after.learned
    written, note, ahead = 0, verified.cache_note, 0.0
    if isinstance(compiled, CompiledFacts):
        learned += compiled.learned
        written, ahead = compiled.written, compiled.seconds
    elif compiled is not None:
        note = "; ".join(filter(None, (note, f"not compiled ahead: {compiled.message}")))
    return replace(
        after,
        # pairs of after's "cached" that this check verified or wrote: not "verified before"
        cached=max(0, after.cached - verified.identical - verified.compared - written),
        identical=verified.identical + after.identical,
        compared=verified.compared + after.compared,
        mismatches=verified.mismatches + after.mismatches,
        seconds=round(verified.seconds + after.seconds + ahead, 3),
        cache=verified.cache,
        cache_note=note,
        learned=tuple(dict.fromkeys(learned)),
        cache_seal=verified.cache_seal,
        written=written,
    )


def verify_bytecode(
    python: str | os.PathLike[str],
    site_dirs: Sequence[str],
    *,
    environ: Mapping[str, str],
    timeout: float = DEFAULT_TIMEOUT,
    workers: int | None = None,
    withhold: Sequence[str] = (),
    remember: bool = False,
) -> BytecodeFacts | ProbeFailure:
    """Check every pyc the target would load from ``site_dirs``; see the module docstring.

    ``environ`` is where ``PREFLIGHT_CACHE_DIR`` (and ``XDG_CACHE_HOME``) are read.
    ``remember`` writes what was verified to the cache at once (:func:`remember_verified`),
    for a caller that judged nothing else.
    """
    run = BytecodeRun(
        python, site_dirs, environ=environ, timeout=timeout, workers=workers, withhold=withhold
    )
    found = run.wait()
    if remember and isinstance(found, BytecodeFacts):
        remember_verified(found)
    return found


def _parse_completed(completed: Completed, timeout: float) -> _Part | ProbeFailure:
    command = completed.argv
    if completed.returncode is None:
        return ProbeFailure("not_executable", f"the bytecode probe could not be started "
                            f"({completed.stderr.strip()[:_SHOWN]})", command=command)  # fmt: skip
    if completed.timed_out:
        return ProbeFailure(
            "timeout",
            f"the bytecode probe did not finish within {timeout:g} s (the check's timeout) "
            "and was killed; compiling a large environment the first time takes long: raise "
            f"the timeout (`--timeout SECONDS`; without one this probe gets "
            f"{DEFAULT_TIMEOUT:g} s)",
            command=command,
            stdout=completed.stdout,
            stderr=completed.stderr,
        )
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["(no error output)"])[-1]
        return ProbeFailure(
            "crashed",
            f"the bytecode probe exited with code {completed.returncode}: {last[:_SHOWN]}",
            command=command,
            returncode=completed.returncode,
            stdout=completed.stdout,
            stderr=completed.stderr,
        )
    return parse_bytecode_output(completed.stdout)


# ---------------------------------------------------------------------------------------------
# Parsing: every field is type-checked; anything unexpected is a ProbeFailure, never a crash.
# ---------------------------------------------------------------------------------------------

_COUNTS = ("candidates", "other_tags", "stale", "cached", "identical", "compared")


@dataclass(frozen=True)
class _Part:
    """One shard's report."""

    counts: dict[str, int]
    mismatches: tuple[PycProblem, ...]
    unverifiable: tuple[PycProblem, ...]
    verified: tuple[Verified, ...]


class _Malformed(Exception):
    pass


_T = TypeVar("_T")


_MAX_COUNT = 10_000_000  # files of one environment: no shard counts more
_MAX_LISTED = 1_000_000  # problems or pairs one shard lists
_PATH = 65_536  # characters of a path the probe names (PATH_MAX is 4096)
_DETAIL = 65_536  # characters of what the probe says about one file


def _shaped(read: Callable[[], _T]) -> _T:
    """What ``read`` reads, its :class:`ShapeError` a :class:`_Malformed` naming the key."""
    try:
        return read()
    except ShapeError as exc:
        raise _Malformed(f"{exc.key!r} {exc.problem}") from None


def _header(payload: Table) -> None:
    ok, version = payload.value.get("ok"), payload.value.get("probe_version")
    if ok is not True or version != PROBE_VERSION or isinstance(version, bool):
        raise _Malformed(f"ok={shown(ok)}, probe_version {shown(version)}, "
                         f"detail {shown(payload.value.get('detail'))}")  # fmt: skip


def parse_bytecode_output(text: str) -> _Part | ProbeFailure:
    """One shard's output as typed values; pure."""
    try:
        payload = _last_object(text)
        _header(payload)
        counts = _shaped(
            lambda: {name: payload[name].integer(minimum=0, maximum=_MAX_COUNT) for name in _COUNTS}
        )
        return _Part(
            counts,
            _problems(payload, "mismatches"),
            _problems(payload, "unverifiable"),
            _verified(payload),
        )
    except _Malformed as exc:
        return ProbeFailure(
            "not_python", f"the bytecode probe's output is not its report ({exc})", stdout=text
        )


def _verified(payload: Table) -> tuple[Verified, ...]:
    """The pairs verified, as facts; preflight keys them itself (:func:`_learn`)."""

    def read() -> tuple[Verified, ...]:
        items = payload["verified"].items(max_items=_MAX_LISTED)
        if not items:
            return ()
        identity = payload["identity"].hex_digest(length=_KEY_LENGTH)
        result = []
        for node in items:
            item = node.table()
            result.append(
                Verified(
                    item["pyc"].string(empty=True, max_length=_PATH),
                    item["source"].string(empty=True, max_length=_PATH),
                    item["level"].integer(minimum=0, maximum=2),
                    item["source_sha256"].hex_digest(length=_KEY_LENGTH),
                    item["body_sha256"].hex_digest(length=_KEY_LENGTH),
                    identity,
                )
            )
        return tuple(result)

    return _shaped(read)


def _last_object(text: str) -> Table:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise _Malformed("it printed nothing")
    try:
        value = _json.loads(lines[-1])
    except ValueError:
        raise _Malformed("its last line is not JSON") from None
    if not isinstance(value, dict):
        raise _Malformed("its last line is not a JSON object")
    return Node(value).table()  # keys a later probe adds are tolerated, as they were


def _problems(payload: Table, key: str) -> tuple[PycProblem, ...]:
    def read() -> tuple[PycProblem, ...]:
        result = []
        for node in payload[key].items(max_items=_MAX_LISTED):
            item = node.table()
            loads = item.get("loads")
            result.append(
                PycProblem(
                    item["pyc"].string(empty=True, max_length=_PATH),
                    item["source"].string(empty=True, max_length=_PATH),
                    item["level"].integer(minimum=0, maximum=2),
                    item["detail"].string(empty=True, max_length=_DETAIL),
                    True if loads is None else loads.boolean(),
                )
            )
        return tuple(result)

    return _shaped(read)
