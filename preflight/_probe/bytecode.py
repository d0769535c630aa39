"""Check that the bytecode this interpreter would load holds the code of its source.

Run by preflight inside the *target* interpreter as ``python -I -S -B bytecode.py REQUEST``
(no ``site``: no ``.pth`` line or ``sitecustomize`` of the environment runs in it)
(``preflight/_facts/bytecode.py`` runs it and judges what it prints). ``REQUEST`` is a JSON
object: ``sites`` (the site-packages folders to walk), ``cache`` (the path of preflight's file
of pairs already verified, or null), ``shard`` and ``shards`` (this child takes every
``shards``-th candidate, so that several children share the work) and ``nice`` (lower this
process's CPU priority before the first compile: preflight times imports meanwhile).

RECORD gives no hash for ``__pycache__/*.pyc``: they are written at install time (or by the
application at run time). Python loads ``__pycache__/NAME.TAG[.opt-N].pyc`` *instead of*
compiling ``NAME.py`` whenever its header is valid for the source (importlib's
``SourceLoader.get_code``), so a pyc whose header matches ``six.py`` (same mtime and size) runs
whatever it holds. Here each such pyc is checked the way importlib would accept it, and the
accepted ones are compared with a fresh compile of their source, *in this interpreter*:

* the header: magic number, flags, then the source's mtime and size (timestamp pycs) or its
  ``importlib.util.source_hash`` (checked hash-based pycs, PEP 552). An unchecked hash-based
  pyc is loaded without looking at the source at all, so it always counts. A pyc whose header
  is not valid is *stale*: Python ignores it, and so does this probe;
* the code: ``marshal.dumps`` of the fresh compile equal to the pyc's body is the fast path.
  Otherwise (marshal output is not stable, and ``co_filename`` differs once a venv is copied)
  both code objects are compared field by field, nested code objects included. Line tables and
  file names are not compared: they only shape tracebacks, and importlib rewrites
  ``co_filename`` on load. The instructions are compared *as the interpreter runs them*:
  from 3.11 on, ``co_code`` is the de-optimised bytecode, while a pyc may store specialised
  instructions (``LOAD_GLOBAL_MODULE``) and inline caches (the index of the global it loads),
  which unmarshalling keeps and the interpreter executes. So ``_co_code_adaptive`` (the raw
  instructions and caches, after the quickening both code objects went through on creation)
  is compared too; a pyc whose stored instructions are not the compiler's is a mismatch.

A pair already verified (the same interpreter, optimisation level, source bytes and pyc body,
by sha256) is in the cache and is not compiled again: compiling every source of a large
environment takes seconds per thousand files; hashing them takes milliseconds. The probe only
reads the cache. It prints the pairs it verified as *facts* (both paths, the level, the sha256
of the source and of the pyc's body), never as cache keys: preflight reads those files itself,
computes the keys from the bytes it read, and keeps them only for an environment whose verdict
allows it (``preflight/_facts/bytecode.py``).

A request with ``"mode": "compile"`` (``sites``, ``roots``: module names) writes instead: the
pycs of those modules and of what their code imports at import time (read from the compiled
code, never run), each where none is, as pip's compileall writes them (timestamp pycs), for an
environment preflight just built and verified (``compile_closure``). With ``go`` (a FIFO
preflight holds open), everything is compiled first and nothing written until preflight writes
``w`` there (the environment's files are verified); anything else, or the FIFO closed, ends the
probe having written nothing. A pyc is written only for a source that is the very file compiled,
unchanged since (its inode's stamps). Every folder is opened
relative to its parent without following a symlink, and every pyc is a new file renamed over
its name: nothing is written through a link or outside the site folders.

Stdlib only, nothing of preflight; in mode check it writes nothing. Every file is ``stat``-ed and opened the way
the interpreter probe does (regular files only, ``O_NONBLOCK``, at most ``LIMIT + 1`` bytes
read). Output is one line of ASCII JSON.
"""

import hashlib
import importlib.util
import json
import marshal
import os
import stat
import sys
import types
import warnings

PROBE_VERSION = 2  # 2: "verified" holds facts (paths, hashes), not cache keys
# Bumped whenever what "verified" means changes: entries of an older meaning stop counting.
COMPARISON = 2  # 2: the adaptive instructions and inline caches are compared too
MIB = 1024 * 1024
SOURCE_LIMIT = 32 * MIB  # the largest real modules are a few MB
PYC_LIMIT = 64 * MIB
CACHE_LIMIT = 64 * MIB  # preflight keeps it far smaller (see _facts/bytecode.py)
LEVELS = (("", 0), (".opt-1", 1), (".opt-2", 2))
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def _emit(payload):
    sys.stdout.write("\n" + json.dumps(payload, ensure_ascii=True) + "\n")
    sys.stdout.flush()


class Unreadable(Exception):
    """The file is not a regular file, is too large, or cannot be read; the text says which.

    ``loads``: whether Python would still run it. importlib falls back to the source when it
    cannot read a pyc (permissions), but reads a FIFO and unmarshals a pyc of any size
    (``marshal`` ignores trailing bytes, so padding a poisoned pyc past our limit must not
    make it a mere warning)."""

    def __init__(self, message, loads=True, head=b""):
        Exception.__init__(self, message)
        self.loads = loads
        self.head = head  # the first 16 bytes of a file too large to read whole


def _read(path, limit):
    """``(bytes, stat)`` of a regular file of at most ``limit`` bytes, else :class:`Unreadable`.

    The stat is the open descriptor's, taken before the first byte is read: a write after it
    changes ``st_ctime_ns``, so a verdict keyed on this stat never covers what came later."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise Unreadable("not a regular file")
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise Unreadable("cannot be read (%s)" % (exc.strerror or exc,), loads=False)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable("not a regular file")
        with os.fdopen(fd, "rb") as handle:
            fd = None
            data = handle.read(limit + 1)
    except (OSError, ValueError) as exc:
        raise Unreadable("cannot be read (%s)" % (exc,), loads=False)
    finally:
        if fd is not None:
            os.close(fd)
    if len(data) > limit:
        raise Unreadable("larger than %d MiB" % (limit // MIB,), head=data[:16])
    return data, info


def _known(path):
    """The verified pairs in preflight's cache file; an unreadable cache is an empty one.

    Every line is taken as it is: a key is only ever looked up, and a line that is not a
    sha256 in hex equals none of the keys computed here (filtering them cost 0.3 s for a
    cache of 70,000 pairs, in every probe child)."""
    if not path:
        return frozenset()
    try:
        data = _read(path, CACHE_LIMIT)[0]
    except Unreadable:
        return frozenset()
    return frozenset(data.decode("ascii", "replace").split())


# ---------------------------------------------------------------------------------------------
# Candidates: every pyc of this interpreter's cache tag in a __pycache__ beside its source.
# ---------------------------------------------------------------------------------------------


def _candidates(sites, tag):
    """``(pyc, source, level)`` for each ``__pycache__/NAME.TAG[.opt-N].pyc``, sorted.

    The source is ``NAME.py`` in the folder above; a pyc of another tag or level is never
    loaded by this interpreter, and one without its source is ignored by importlib.
    """
    endings = [("." + tag + opt + ".pyc", level) for opt, level in LEVELS]
    found = []
    other = 0
    for site in sites:
        for root, dirs, files in os.walk(site):
            dirs.sort()
            if os.path.basename(root) != "__pycache__":
                continue
            parent = os.path.dirname(root)
            for name in sorted(files):
                if not name.endswith(".pyc"):
                    continue
                for ending, level in endings:
                    if name.endswith(ending) and len(name) > len(ending):
                        source = os.path.join(parent, name[: -len(ending)] + ".py")
                        found.append((os.path.join(root, name), source, level))
                        break
                else:
                    other += 1
    return found, other


# ---------------------------------------------------------------------------------------------
# The header, as importlib._bootstrap_external judges it
# ---------------------------------------------------------------------------------------------


def _header_valid(data, source_path, source_stat, magic):
    """``(valid, (source bytes, stat) or None)``: whether importlib would load this pyc's body.

    Mirrors ``_classify_pyc``, ``_validate_timestamp_pyc`` and ``_validate_hash_pyc`` with
    the default ``--check-hash-based-pycs``.
    """
    if len(data) < 16 or data[:4] != magic:
        return False, None
    flags = int.from_bytes(data[4:8], "little")
    if flags & ~0b11:
        return False, None
    if flags & 0b1:  # hash-based (PEP 552)
        if not flags & 0b10:  # unchecked: loaded whatever the source holds
            return True, None
        source = _read(source_path, SOURCE_LIMIT)
        return data[8:16] == importlib.util.source_hash(source[0]), source
    mtime = int(source_stat.st_mtime) & 0xFFFFFFFF
    size = source_stat.st_size & 0xFFFFFFFF
    valid = (
        int.from_bytes(data[8:12], "little") == mtime
        and int.from_bytes(data[12:16], "little") == size
    )
    return valid, None


# ---------------------------------------------------------------------------------------------
# Comparing code objects
# ---------------------------------------------------------------------------------------------

_FIELDS = (
    "co_argcount",
    "co_posonlyargcount",
    "co_kwonlyargcount",
    "co_nlocals",
    "co_stacksize",
    "co_flags",
    "co_code",
    # 3.11+: the instructions as executed (specialised opcodes, inline caches); absent before.
    "_co_code_adaptive",
    "co_names",
    "co_varnames",
    "co_freevars",
    "co_cellvars",
    "co_name",
    "co_qualname",
    "co_exceptiontable",
)


def _const_key(value):
    """A value equal for two constants exactly when they are the same constant.

    ``1``, ``1.0`` and ``True`` compare equal in Python; ``0.0`` and ``-0.0`` too. Here the
    type is part of the key and floats are keyed by their exact ``repr``."""
    kind = type(value)
    if kind is types.CodeType:
        return ("code", _code_key(value))
    if kind is tuple:
        return ("tuple", tuple(_const_key(item) for item in value))
    if kind is frozenset:
        return ("frozenset", frozenset(_const_key(item) for item in value))
    if kind in (float, complex):
        return (kind.__name__, repr(value))
    try:
        hash(value)
    except TypeError:
        return (kind.__module__, kind.__qualname__, repr(value))
    return (kind.__module__, kind.__qualname__, value)


def _code_key(code):
    own = tuple(getattr(code, name, None) for name in _FIELDS)
    return own + (tuple(_const_key(c) for c in code.co_consts),)


def _difference(loaded, compiled, where):
    """Where two code objects first differ (``"<module>.f: co_code"``), or None."""
    where = where + ("." if where else "") + str(compiled.co_name)
    for name in _FIELDS:
        if getattr(loaded, name, None) != getattr(compiled, name, None):
            if name == "_co_code_adaptive":
                return "%s: its stored instructions or inline caches (specialised bytecode)" % (
                    where,
                )
            return "%s: %s" % (where, name)
    ours, theirs = loaded.co_consts, compiled.co_consts
    if len(ours) != len(theirs):
        return "%s: co_consts" % (where,)
    for one, other in zip(ours, theirs):
        if type(one) is types.CodeType and type(other) is types.CodeType:
            found = _difference(one, other, where)
            if found is not None:
                return found
        elif _const_key(one) != _const_key(other):
            return "%s: co_consts" % (where,)
    return None


def _compare(body, source, source_path, level):
    """``(None, fast)`` when the pyc's body holds the code of ``source``, else ``(why, fast)``.

    ``fast`` says whether the byte-equal fast path decided."""
    try:
        compiled = compile(source, source_path, "exec", dont_inherit=True, optimize=level)
    except Exception as exc:  # SyntaxError, ValueError (a NUL), RecursionError, MemoryError
        detail = "%s: %s" % (type(exc).__name__, exc)
        return "the source does not compile here (%s), yet the pyc would be loaded" % (
            detail[:200],
        ), False
    if marshal.dumps(compiled) == body:
        return None, True
    try:
        loaded = marshal.loads(body)
    except Exception as exc:  # EOFError, ValueError, TypeError: importlib fails the import
        return "its body is not marshalled code (%s): importing it fails" % (
            type(exc).__name__,
        ), False
    if type(loaded) is not types.CodeType:
        return "its body is a %s, not code: importing it fails" % (type(loaded).__name__,), False
    try:
        found = _difference(loaded, compiled, "")
    except RecursionError:
        found = "nested too deeply to compare"
    return (None if found is None else "its code differs from the source's (%s)" % found), False


# ---------------------------------------------------------------------------------------------


def _identity():
    """What makes two compiles of the same bytes the same: this interpreter, this comparison."""
    magic = importlib.util.MAGIC_NUMBER
    text = "%d|%d|%s|%s|%s|%s" % (
        PROBE_VERSION,
        COMPARISON,
        sys.implementation.name,
        sys.implementation.cache_tag,
        magic.hex(),
        sys.version,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _stat_part(info):
    """What any change to a file changes: ``st_ctime_ns`` is set by the kernel on every write,
    chmod, utime or rename, and cannot be set back by its owner."""
    return "%d:%d:%d:%d:%d" % (
        info.st_dev,
        info.st_ino,
        info.st_size,
        info.st_mtime_ns,
        info.st_ctime_ns,
    )


def _stat_key(identity, level, pyc, pyc_stat, source, source_stat):
    """The pair by where they are and their inodes' change stamps: no byte needs reading."""
    parts = (
        "stat",
        identity,
        str(level),
        pyc,
        _stat_part(pyc_stat),
        source,
        _stat_part(source_stat),
    )
    return hashlib.sha256("|".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def _content_key(identity, level, source, body):
    """The pair by content: the same wheel installed anywhere else shares it."""
    parts = (
        "content",
        identity,
        str(level),
        hashlib.sha256(source).hexdigest(),
        hashlib.sha256(body).hexdigest(),
    )
    return hashlib.sha256("|".join(parts).encode("ascii")).hexdigest()


def _lower_priority():
    """Yield the CPU to preflight's import timing, which runs beside us: only once there is
    compiling to do (stat-ing a warm environment must not wait behind a busy machine)."""
    if hasattr(os, "nice"):
        try:
            os.nice(19)
        except OSError:
            pass


def _new_report(tag):
    return {
        "ok": True,
        "probe_version": PROBE_VERSION,
        "cache_tag": tag,
        "candidates": 0,  # pycs of this tag beside a source, in this shard
        "other_tags": 0,  # pycs of other interpreters or levels (never loaded by this one)
        "stale": 0,  # header not valid for the source: ignored, as importlib ignores it
        "cached": 0,  # verified before (preflight's cache)
        "identical": 0,  # marshal of the fresh compile equal to the pyc's body
        "compared": 0,  # compared code object by code object
        "mismatches": [],
        "unverifiable": [],
        "verified": [],  # the pairs verified now, as facts: preflight computes the keys
        "identity": None,  # what the keys are computed with (see _identity)
    }


def _check_one(pyc, source_path, level, identity, magic, known, report):
    """Judge one candidate, adding to ``report``; :class:`Unreadable` when it cannot be read."""
    try:
        source_stat = os.stat(source_path)
    except OSError:
        return  # no source: importlib never looks at this pyc
    if not stat.S_ISREG(source_stat.st_mode):
        return  # a folder named x.py: importlib's loader would not use it either
    try:
        pyc_stat = os.stat(pyc)
    except OSError:
        return  # gone since the walk
    if _stat_key(identity, level, pyc, pyc_stat, source_path, source_stat) in known:
        report["cached"] += 1
        return
    try:
        data, pyc_stat = _read(pyc, PYC_LIMIT)
    except Unreadable as exc:
        if exc.head and not _header_valid(exc.head, source_path, source_stat, magic)[0]:
            report["stale"] += 1  # too large, but importlib would not load it either
            return
        raise
    valid, source = _header_valid(data, source_path, source_stat, magic)
    if not valid:
        report["stale"] += 1
        return
    source_bytes, source_stat = source or _read(source_path, SOURCE_LIMIT)
    body = data[16:]
    by_content = _content_key(identity, level, source_bytes, body)
    verified = {
        "pyc": pyc,
        "source": source_path,
        "level": level,
        "source_sha256": hashlib.sha256(source_bytes).hexdigest(),
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }
    if by_content in known:
        report["cached"] += 1
        report["verified"].append(verified)  # preflight may key it by its stat now
        return
    if report.pop("nice_first", False):
        _lower_priority()
    why, fast = _compare(body, source_bytes, source_path, level)
    report["identical" if fast else "compared"] += 1
    if why is None:
        report["verified"].append(verified)
    else:
        report["mismatches"].append(
            {"pyc": pyc, "source": source_path, "level": level, "detail": why}
        )


def check(request):
    """The probe's report for ``request`` (see the module docstring), as a JSON-ready dict."""
    tag = sys.implementation.cache_tag
    report = _new_report(tag)
    if tag is None:  # an implementation that caches no bytecode
        return report
    shard, shards = int(request.get("shard", 0)), max(1, int(request.get("shards", 1)))
    candidates, other = _candidates(request.get("sites", []), tag)
    mine = candidates[shard::shards]
    report["candidates"], report["other_tags"] = len(mine), (other if shard == 0 else 0)
    # nothing to look up (an environment just built has no pyc yet): the cache is not read
    known = (_known(request.get("cache")) | _known(request.get("known"))) if mine else frozenset()
    identity = _identity()
    report["identity"] = identity
    report["nice_first"] = bool(request.get("nice"))
    magic = importlib.util.MAGIC_NUMBER
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a package's SyntaxWarning is not ours to print
        for pyc, source_path, level in mine:
            try:
                _check_one(pyc, source_path, level, identity, magic, known, report)
            except Unreadable as exc:
                report["unverifiable"].append(
                    {
                        "pyc": pyc,
                        "source": source_path,
                        "level": level,
                        "detail": str(exc),
                        "loads": exc.loads,
                    }
                )
    report.pop("nice_first", None)
    return report


# ---------------------------------------------------------------------------------------------
# Mode "compile": write the pycs of named sources, as pip's compileall would, and say so.
# ---------------------------------------------------------------------------------------------

_DIR_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class Unwritable(Exception):
    """The pyc of this source is not written; the text says why."""


def _parts(relative):
    """The components of a path relative to the site folder; anything that could leave it
    (absolute, ``..``, ``.``, an empty part) is refused."""
    parts = relative.split("/")
    if relative.startswith("/") or any(p in ("", ".", "..") or "\0" in p for p in parts):
        raise Unwritable("not a plain path inside the site folder")
    return parts


def _open_folder(base_fd, name, create=False):
    """The folder ``name`` of ``base_fd``, opened without following a symlink (ELOOP or
    ENOTDIR then); ``create``: made first when it does not exist (mkdir follows nothing)."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=base_fd)
    except FileNotFoundError:
        if not create:
            raise
    try:
        os.mkdir(name, 0o755, dir_fd=base_fd)
    except FileExistsError:
        pass
    return os.open(name, _DIR_FLAGS, dir_fd=base_fd)


def _folders(site_fd, parts, opened):
    """The folder of ``parts[-1]`` below the site, each opened relative to its parent without
    following a symlink; every descriptor opened is appended to ``opened`` (the caller closes
    them)."""
    folder = site_fd
    for part in parts[:-1]:
        folder = _open_folder(folder, part)
        opened.append(folder)
    return folder


def _compile_one(site_fd, site, relative):
    """Read and compile ``site/relative`` (writing nothing): ``(pending, code)``, where
    ``pending`` is what :func:`_store_one` needs to write its pyc later. Every folder below
    the site is opened relative to its parent without following a symlink, and the source is
    read from its descriptor (a regular file, not a link)."""
    parts = _parts(relative)
    if not parts[-1].endswith(".py") or len(parts[-1]) <= 3:
        raise Unwritable("not a .py source")
    fds = []
    try:
        folder = _folders(site_fd, parts, fds)
        try:
            fd = os.open(parts[-1], _OPEN_FLAGS | _NOFOLLOW, dir_fd=folder)
        except OSError as exc:
            raise Unwritable("the source cannot be opened (%s)" % (exc.strerror or exc,))
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise Unwritable("the source is not a regular file")
            with os.fdopen(fd, "rb") as handle:
                fd = None
                source = handle.read(SOURCE_LIMIT + 1)
        finally:
            if fd is not None:
                os.close(fd)
    except OSError as exc:
        raise Unwritable("cannot be read (%s)" % (exc.strerror or exc,))
    finally:
        for fd in fds:
            os.close(fd)
    if len(source) > SOURCE_LIMIT:
        raise Unwritable("the source is larger than %d MiB" % (SOURCE_LIMIT // MIB,))
    path = os.path.join(site, *parts)
    try:
        code = compile(source, path, "exec", dont_inherit=True, optimize=0)
    except Exception as exc:  # SyntaxError and the rest: pip's compileall skips it too
        raise Unwritable("the source does not compile (%s)" % (type(exc).__name__,))
    pending = {
        "parts": parts,
        "info": info,
        "body": marshal.dumps(code),
        "source_sha256": hashlib.sha256(source).hexdigest(),
    }
    return pending, code


def _same_file(before, after):
    """Whether two stats are of the same, unchanged file (``st_ctime_ns`` is set by the
    kernel on every write, chmod or rename, and cannot be set back by the file's owner)."""
    return (before.st_dev, before.st_ino, before.st_size, before.st_mtime_ns,
            before.st_ctime_ns) == (after.st_dev, after.st_ino, after.st_size,
                                    after.st_mtime_ns, after.st_ctime_ns)  # fmt: skip


def _store_one(site_fd, site, pending, tag, magic):
    """Write the pyc of a source :func:`_compile_one` compiled: a timestamp pyc (flags 0, the
    source's mtime and size), as ``py_compile`` writes it for pip, to a new file beside its
    name, then renamed over it: nothing is written through a link or outside. The source
    must be the very file compiled, unchanged since (its inode's stamps, ``lstat`` below the
    same folders): a source changed meanwhile gets no pyc (Python compiles it itself, and the
    check after its first start judges whatever was written). Returns the fact, or None when
    a pyc was there already (the check before judged it; Python decides whether to use it)."""
    parts, info, body = pending["parts"], pending["info"], pending["body"]
    stem = parts[-1][:-3]
    fds = []
    try:
        folder = _folders(site_fd, parts, fds)
        if not _same_file(info, os.stat(parts[-1], dir_fd=folder, follow_symlinks=False)):
            raise Unwritable("the source changed since it was compiled")
        cache = _open_folder(folder, "__pycache__", create=True)
        fds.append(cache)
        name = "%s.%s.pyc" % (stem, tag)
        try:
            os.lstat(name, dir_fd=cache)
            return None  # there already: the check before judged it
        except FileNotFoundError:
            pass
        head = magic + (0).to_bytes(4, "little")
        head += (int(info.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
        head += (info.st_size & 0xFFFFFFFF).to_bytes(4, "little")
        temporary = ".%s.%d.tmp" % (name, os.getpid())
        mode = (stat.S_IMODE(info.st_mode) | 0o200) & 0o666  # importlib's _calc_mode
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        out = os.open(temporary, flags, mode, dir_fd=cache)
        try:
            with os.fdopen(out, "wb") as handle:
                handle.write(head + body)
            os.replace(temporary, name, src_dir_fd=cache, dst_dir_fd=cache)
        except BaseException:
            try:
                os.unlink(temporary, dir_fd=cache)
            except OSError:
                pass
            raise
        return {
            "pyc": os.path.join(site, *parts[:-1], "__pycache__", name),
            "source": os.path.join(site, *parts),
            "level": 0,
            "source_sha256": pending["source_sha256"],
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
    except OSError as exc:
        raise Unwritable("cannot be written (%s)" % (exc.strerror or exc,))
    finally:
        for fd in fds:
            os.close(fd)


def _go(path):
    """Whether preflight says write (``w``) on the FIFO ``path`` it holds open; anything else,
    or its end closed (preflight gone), is no."""
    with open(path, "rb", buffering=0) as handle:
        return handle.read(1) == b"w"


def _locate(sites, name):
    """``(site, relative source, is_package)`` of module ``name`` in ``sites`` (in order, as
    the path finder looks: a package's ``__init__.py``, then ``NAME.py``), or None (not
    there, an extension module, or a name that is not one)."""
    parts = name.split(".")
    if not all(part.isidentifier() for part in parts):
        return None
    for site in sites:
        folder = os.path.join(site, *parts)
        if os.path.isfile(os.path.join(folder, "__init__.py")):
            return site, "/".join(parts + ["__init__.py"]), True
        if os.path.isfile(folder + ".py"):
            return site, "/".join(parts[:-1] + [parts[-1] + ".py"]), False
    return None


_CO_NEWLOCALS = 0x2  # a function's code (a class body or the module runs at import)


def _imports(code, name, package):
    """The modules ``code`` imports when it runs at import time: its ``IMPORT_NAME``
    instructions (with the level and the ``fromlist`` loaded before them) in the module's
    code and its class bodies, not in functions (those import when called, if ever). The
    instructions are read from ``co_code`` as ``modulefinder`` reads them (``dis`` is slower)."""
    import opcode  # here: mode check does not need it

    import_name, load_const = opcode.opmap["IMPORT_NAME"], opcode.opmap["LOAD_CONST"]
    small_int = opcode.opmap.get("LOAD_SMALL_INT", -1)  # 3.14: the level is loaded so
    extended = opcode.EXTENDED_ARG
    found = []
    todo = [code]
    while todo:
        current = todo.pop()
        raw, consts, names = current.co_code, current.co_consts, current.co_names
        loaded, ext = [None, None], 0
        for i in range(0, len(raw) - 1, 2):
            op, arg = raw[i], raw[i + 1] | ext
            if op == extended:
                ext = arg << 8
                continue
            ext = 0
            if op == load_const and arg < len(consts):
                loaded = [loaded[1], consts[arg]]
            elif op == small_int:
                loaded = [loaded[1], arg]
            elif op == import_name and arg < len(names):
                if type(loaded[0]) is int:
                    found.append((names[arg], loaded[0], loaded[1] or ()))
        for const in consts:
            if type(const) is types.CodeType and not const.co_flags & _CO_NEWLOCALS:
                todo.append(const)
    names = []
    base = name if package else name.rpartition(".")[0]
    for imported, level, fromlist in found:
        if level > 0:
            anchor = base.split(".")
            if level - 1 > len(anchor) - 1:
                continue
            anchor = anchor[: len(anchor) - (level - 1)]
            imported = ".".join(anchor + ([imported] if imported else []))
        if not imported:
            continue
        pieces = imported.split(".")
        names += [".".join(pieces[: i + 1]) for i in range(len(pieces))]
        if isinstance(fromlist, tuple):
            names += [imported + "." + item for item in fromlist
                      if isinstance(item, str) and item != "*"]  # fmt: skip
    return names


def compile_closure(request):
    """Mode ``compile``: the modules ``roots`` (names) and what they import at import time,
    found in ``sites`` (site-packages folders, in order), each compiled at optimisation level
    0 into its pyc where it has none. The pairs written are reported as ``verified`` facts
    (as mode check's are), for preflight to read back and key.

    What the code imports is read from its ``IMPORT_NAME`` instructions (as ``modulefinder``
    does), never by running it: an import the code makes otherwise (``importlib``, a lazy
    ``__getattr__``) is compiled by the first start instead, and checked after it.

    ``claims`` (a folder of preflight's own, or null): several children share the work, each
    starting from the roots in another order; a module is compiled (and its imports followed)
    by the one child that creates its claim file there first, and skipped by the others."""
    tag = sys.implementation.cache_tag
    report = {"ok": True, "probe_version": PROBE_VERSION, "mode": "compile",
              "written": 0, "unwritten": [], "verified": [], "identity": _identity()}  # fmt: skip
    if tag is None:
        return report
    sites = [str(site) for site in request["sites"]]
    magic = importlib.util.MAGIC_NUMBER
    fds = {}
    claims = request.get("claims")
    claims_fd = None if claims is None else os.open(claims, _DIR_FLAGS)
    queue = [str(root) for root in request["roots"]]
    queue.reverse()
    seen = set()
    compiled = []  # (site, pending), in the order compiled
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            while queue:
                name = queue.pop()
                if name in seen:
                    continue
                seen.add(name)
                where = _locate(sites, name)
                if where is None:
                    continue
                site, relative, package = where
                if claims_fd is not None and not _claim(claims_fd, site, relative):
                    continue  # another child compiles it and follows its imports
                if site not in fds:
                    fds[site] = os.open(site, _DIR_FLAGS & ~_NOFOLLOW)  # the folder as named
                try:
                    pending, code = _compile_one(fds[site], site, relative)
                except Unwritable as exc:
                    report["unwritten"].append({"source": relative, "detail": str(exc)})
                    continue
                compiled.append((site, relative, pending))
                more = [n for n in _imports(code, name, package) if n not in seen]
                more.reverse()
                queue += more
                del code
        go = request.get("go")
        if go is not None and not _go(go):
            report["aborted"] = True  # the environment was not verified: nothing written
            return report
        for site, relative, pending in compiled:
            try:
                fact = _store_one(fds[site], site, pending, tag, magic)
            except Unwritable as exc:
                report["unwritten"].append({"source": relative, "detail": str(exc)})
                continue
            if fact is not None:
                report["verified"].append(fact)
                report["written"] += 1
    finally:
        for fd in fds.values():
            os.close(fd)
        if claims_fd is not None:
            os.close(claims_fd)
    return report


def _claim(claims_fd, site, relative):
    """Whether this child is the first to claim the module (its claim file created now)."""
    name = hashlib.sha256((site + "\0" + relative).encode("utf-8", "surrogateescape")).hexdigest()
    try:
        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600,
                         dir_fd=claims_fd))  # fmt: skip
    except FileExistsError:
        return False
    return True


def main(argv):
    try:
        request = json.loads(argv[1])
        if not isinstance(request, dict):
            raise ValueError("the request is not a JSON object")
    except (IndexError, ValueError) as exc:
        _emit({"ok": False, "reason": "bad_request", "detail": str(exc)})
        return 2
    if request.get("mode") == "compile":
        try:
            _emit(compile_closure(request))
        except (OSError, ValueError, KeyError, TypeError, Unreadable) as exc:
            _emit({"ok": False, "reason": "bad_request", "detail": str(exc)})
            return 2
        return 0
    _emit(check(request))
    return 0


if __name__ == "__main__":
    # This folder is the probe's, not the application's: its files must not shadow a module.
    if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    sys.exit(main(sys.argv))
