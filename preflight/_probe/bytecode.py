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

Stdlib only, nothing of preflight; writes nothing. Every file is ``stat``-ed and opened the way
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
_HEX = frozenset("0123456789abcdef")


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
    """The verified pairs in preflight's cache file; an unreadable cache is an empty one."""
    if not path:
        return frozenset()
    try:
        text = _read(path, CACHE_LIMIT)[0].decode("ascii", "replace")
    except Unreadable:
        return frozenset()
    return frozenset(k for k in text.split() if len(k) == 64 and _HEX.issuperset(k))


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
    known = _known(request.get("cache"))
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


def main(argv):
    try:
        request = json.loads(argv[1])
        if not isinstance(request, dict):
            raise ValueError("the request is not a JSON object")
    except (IndexError, ValueError) as exc:
        _emit({"ok": False, "reason": "bad_request", "detail": str(exc)})
        return 2
    _emit(check(request))
    return 0


if __name__ == "__main__":
    # This folder is the probe's, not the application's: its files must not shadow a module.
    if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    sys.exit(main(sys.argv))
