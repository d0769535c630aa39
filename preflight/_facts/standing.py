"""Whether the files that decide which interpreter runs can be trusted, read before it runs.

``site.anchor_problem`` ties a venv's interpreter to the one its ``pyvenv.cfg`` names; this
module says whether the files that tie rests on are beyond anyone else's reach, and whether the
``home`` it names is an interpreter installation of its own, not a copy of one beside a
standard library of someone's choosing. All of it is read from files; nothing runs.

* **The path as given** (:func:`path_problems`): every component of ``--python`` as the
  kernel walks it, each symlink on the way (followed, its target walked too) and each folder,
  under the ownership rule of the census (``census.foreign`` / ``census.loose``): owned by root
  or by the environment's owner, writable by no one else; a folder on the way may be writable
  by others when it is sticky (``/tmp``: only an entry's owner renames it), the last one not.
  A symlink chooses which environment is judged, so the environment's owner cannot vouch for
  it: it must be root's or the user's running preflight. Children are then run by the
  resolved path (:func:`resolved_python`), never through the links.
* **The environment** (:func:`venv_problems`): its folder, its scripts folder, every entry of
  that folder (console scripts are code, whatever their suffix; ``bin/python`` is what runs)
  and ``pyvenv.cfg``, under the same rule, strictly.
* **The home** (:func:`home_problems`): the path to ``home`` under the same rule; the prefix
  CPython's getpath finds from it (``search_up(home, lib/pythonX.Y/os.py)``) and that
  prefix's standard library folders (``lib/pythonX.Y``, its ``lib-dynload``, which must
  exist: without it getpath looks further up for extension modules, and
  ``lib/pythonXY.zip``) under the rule; and that prefix must be the interpreter program's own,
  as the program's bytes say: an absolute ``RUNPATH`` into it (``/PREFIX/lib``), or, for a
  program with no search path, its compiled-in ``PREFIX`` string (in the program or in the
  system's ``libpython``). A byte-identical copy of a real interpreter put in a folder of one's
  own, beside a standard library of one's own, names its build's prefix, not that folder: it
  is refused. A program relative to where it lies (``$ORIGIN/../lib``, relocatable builds)
  names no prefix: it is tied to the prefix it lies in, and only the ownership rule guards it.
"""

from __future__ import annotations

import glob
import os
import re
import stat
from collections.abc import Iterator

from preflight._facts.census import foreign, loose
from preflight._facts.elf import search_paths
from preflight._read import ReadError, open_regular, read_bytes

__all__ = [
    "environment_owner",
    "home_problems",
    "path_problems",
    "resolved_python",
    "venv_problems",
]

_LINKS = 40  # symlinks followed on one path, at most (Linux's own limit)
_BIN_ENTRIES = 20_000  # entries of a scripts folder read, at most
_STDLIB = re.compile(r"python3\.\d+t?\Z")
_CHUNK = 1 << 20
_PROGRAM_LIMIT = 512 << 20  # bytes of a program (or libpython) searched for its prefix
_SYSTEM_LIBS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64")  # where ld.so looks by default


def environment_owner(prefix: str) -> int | None:
    """The uid that owns the environment's folder (followed), if it can be read."""
    try:
        return os.stat(prefix).st_uid
    except OSError:
        return None


def _rule(path: str, info: os.stat_result, owner: int | None, *, sticky_ok: bool) -> str | None:
    """Why an entry breaks the ownership rule, or None."""
    why = foreign(info.st_uid, owner)
    if why is not None:
        return why
    if stat.S_ISLNK(info.st_mode):
        return None  # a symlink's mode means nothing; its owner is what counts
    mode = stat.S_IMODE(info.st_mode)
    loose_why = loose(mode, info.st_uid, info.st_gid)
    if loose_why is None or (sticky_ok and stat.S_ISDIR(info.st_mode) and mode & stat.S_ISVTX):
        return None
    return loose_why


def path_problems(
    path: str, owner: int | None, what: str, inside: str | None = None
) -> Iterator[str]:
    """Why ``path`` (``what`` it is) could be redirected by someone else: each component as
    the kernel walks it, each symlink on the way and what it points to, under the rule. A
    symlink in the folder ``inside`` (the environment, resolved) is the environment's (its
    owner's, like ``bin/python``); one outside it chooses which environment is judged: only
    root's or the running user's is trusted."""
    if not path.startswith(os.sep):
        path = os.path.join(os.getcwd(), path)
    todo = [p for p in path.split(os.sep) if p not in ("", ".")]
    current = os.sep
    links = 0
    try:
        info = os.lstat(current)
    except OSError:
        return
    why = _rule(current, info, owner, sticky_ok=bool(todo))
    if why is not None:
        yield f"{current}, a folder on the way to {what}, is {why}"
    while todo:
        part = todo.pop(0)
        if part == "..":
            current = os.path.dirname(current)
            continue
        here = os.path.join(current, part)
        try:
            info = os.lstat(here)
        except OSError as exc:  # it was there a moment ago (path_problem looked): a race
            yield f"{here}, on the way to {what}, cannot be read ({exc.strerror})"
            return
        if stat.S_ISLNK(info.st_mode):
            # a link chooses which environment is judged: the environment it leads to cannot
            # vouch for it, so only root and the user running preflight are trusted with it
            ours = inside is not None and _within(current, inside)
            why = foreign(info.st_uid, owner if ours else os.geteuid())
            if why is not None:
                yield (
                    f"{here}, a symlink on the way to {what}, is {why}: they can point it "
                    "elsewhere at any moment"
                )
            links += 1
            if links > _LINKS:
                yield f"{path} goes through more than {_LINKS} symlinks"
                return
            try:
                target = os.readlink(here)
            except OSError as exc:
                yield f"{here}, a symlink on the way to {what}, cannot be read ({exc.strerror})"
                return
            if target.startswith(os.sep):
                current = os.sep
            todo = [p for p in target.split(os.sep) if p not in ("", ".")] + todo
            continue
        why = _rule(here, info, owner, sticky_ok=bool(todo))
        if why is not None:
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a file"
            where = "on the way to" if todo else "that is"
            yield f"{here}, {kind} {where} {what}, is {why}"
        current = here


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def resolved_python(python: str) -> str:
    """The path children are run by: the folder ``python`` lies in, resolved, joined to its
    name (kept: a venv's ``bin/python`` must stay the venv's), so that a symlink on the way
    flipped after the check cannot send them elsewhere."""
    folder, name = os.path.split(os.path.abspath(python))
    return os.path.join(os.path.realpath(folder), name)


def _strict(path: str, owner: int | None, what: str) -> str | None:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    why = _rule(path, info, owner, sticky_ok=False)
    return None if why is None else f"{path} ({what}) is {why}"


def venv_problems(prefix: str, cfg_path: str, python: str, owner: int | None) -> Iterator[str]:
    """Why the environment's folder, its scripts folder, an entry of it or its pyvenv.cfg
    could be changed by someone other than root or the environment's owner."""
    scripts = os.path.realpath(os.path.dirname(os.path.abspath(python)))
    for path, what in (
        (os.path.realpath(prefix), "the environment's folder"),
        (scripts, "the environment's scripts folder"),
        (cfg_path, "the environment's pyvenv.cfg, which names its interpreter"),
    ):
        found = _strict(path, owner, what)
        if found is not None:
            yield found
    try:
        with os.scandir(scripts) as listing:
            names = []
            for entry in listing:
                names.append(entry.name)
                if len(names) > _BIN_ENTRIES:
                    yield f"{scripts} holds more than {_BIN_ENTRIES} entries: not read"
                    return
    except OSError:
        return
    for name in sorted(names):
        found = _strict(
            os.path.join(scripts, name), owner,
            "in the environment's scripts folder: code that runs, whatever its suffix",
        )  # fmt: skip
        if found is not None:
            yield found


def _stdlib_prefix(home: str) -> tuple[str, list[str]] | None:
    """The prefix getpath finds from ``home`` (the first folder, ``home`` itself upwards,
    holding ``lib/pythonX.Y/os.py`` or ``.pyc``) and its standard library folders."""
    folder = home.rstrip(os.sep) or os.sep
    while True:
        found = []
        for libdir in ("lib", "lib64"):
            try:
                names = sorted(os.listdir(os.path.join(folder, libdir)))
            except OSError:
                continue
            for name in names:
                stdlib = os.path.join(folder, libdir, name)
                if _STDLIB.match(name) and any(
                    os.path.isfile(os.path.join(stdlib, landmark))
                    for landmark in ("os.py", "os.pyc")
                ):
                    found.append(stdlib)
        if found:
            return folder, found
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _holds(path: str, needle: bytes) -> bool:
    """Whether the regular file ``path`` holds ``needle`` (streamed, bounded)."""
    try:
        fd = open_regular(path)
    except ReadError:
        return False
    try:
        tail, seen = b"", 0
        while seen < _PROGRAM_LIMIT:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                return False
            if needle in tail + chunk:
                return True
            tail = chunk[-len(needle) :]
            seen += len(chunk)
        return False
    except OSError:
        return False
    finally:
        os.close(fd)


def _ld_so_conf(path: str = "/etc/ld.so.conf", depth: int = 0) -> list[str]:
    """The folders ``/etc/ld.so.conf`` (and the files its ``include`` lines name) add to the
    loader's search (``/usr/local/lib`` in Debian's and the official Docker images, where
    ``--enable-shared`` builds keep their libpython). Read bounded; unreadable is nothing."""
    if depth > 2:
        return []
    try:
        text = read_bytes(path, what="the loader's configuration", limit=64 * 1024)
    except ReadError:
        return []
    folders: list[str] = []
    for raw in text.decode("utf-8", "replace").splitlines()[:1000]:
        line = raw.split("#", 1)[0].strip()
        if line.startswith("include"):
            pattern = line.removeprefix("include").strip()
            for name in sorted(glob.glob(os.path.join(os.path.dirname(path), pattern)))[:100]:
                folders += _ld_so_conf(name, depth + 1)
        elif line.startswith("/"):
            folders.append(line)
    return folders


def _system_libpythons() -> list[str]:
    """The ``libpython3*.so*`` files of the folders the dynamic loader searches: this
    process's ``LD_LIBRARY_PATH`` (the children's too), the default ones, and those
    ``/etc/ld.so.conf`` adds."""
    folders = [*_SYSTEM_LIBS, *glob.glob("/usr/lib/*-linux-gnu"), *glob.glob("/lib/*-linux-gnu")]
    folders += [f for f in _ld_so_conf() if f not in folders]
    # LD_LIBRARY_PATH is this process's, handed to the children (clean_env keeps it): the
    # loader searches it first (actions/setup-python's shared builds may rely on it)
    first = [f for f in os.environ.get("LD_LIBRARY_PATH", "").split(":") if f.startswith("/")]
    folders = [*first, *(f for f in folders if f not in first)]
    found = []
    for folder in folders:
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        found += [
            os.path.join(folder, n) for n in names if n.startswith("libpython3") and ".so" in n
        ]
    return found


def _untied(real: str, stdlib: str) -> str | None:
    """Why the program ``real`` is not the interpreter whose standard library is ``stdlib``
    (a ``PREFIX/lib/pythonX.Y`` folder), as the program's bytes say; None when it is."""
    libdir = os.path.dirname(os.path.realpath(stdlib))
    prefix = os.path.dirname(libdir)
    entries = search_paths(real)
    origin = os.path.dirname(real)
    named = []
    for entry in entries:
        path = entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
        if not path.startswith(os.sep):
            continue
        if os.path.realpath(path) == libdir:
            return None
        named.append(entry)
    if named:
        return (
            f"{real} loads its libraries from {':'.join(named)} (its build's own prefix), "
            f"not from {libdir}"
        )
    needle = b"\0" + os.fsencode(prefix) + b"\0"
    # "/" is in every program: a prefix of "/" is never taken as compiled in
    if prefix != os.sep and any(_holds(p, needle) for p in [real, *_system_libpythons()]):
        return None
    return f"nothing in {real} (or the system's libpython) names {prefix} as its prefix"


def home_problems(home: str, real: str, owner: int | None) -> Iterator[str]:
    """Why ``home`` is no interpreter installation ``real`` (the program that runs) belongs
    to, or could be changed by someone else: the path to it, the standard library getpath
    would load from it, and whether the program names that prefix as its own."""
    yield from path_problems(home, owner, "pyvenv.cfg's home")
    found = _stdlib_prefix(home)
    if found is None:
        yield (
            f"no standard library (lib/pythonX.Y/os.py) is in or above pyvenv.cfg's home "
            f"{home}: it is no interpreter installation"
        )
        return
    prefix, stdlibs = found
    for stdlib in stdlibs:
        dynload = os.path.join(stdlib, "lib-dynload")
        if not os.path.isdir(dynload):
            yield (
                f"{stdlib} has no lib-dynload folder: the interpreter would look for its "
                f"extension modules above {prefix}"
            )
        zipped = os.path.join(
            os.path.dirname(stdlib), os.path.basename(stdlib).replace(".", "") + ".zip"
        )
        for path, what in (
            (stdlib, "the standard library pyvenv.cfg's home loads"),
            (dynload, "the standard library's extension modules"),
            (zipped, "a standard library archive, first on sys.path"),
        ):
            problem = _strict(path, owner, what)
            if problem is not None:
                yield problem
    untied = [why for stdlib in stdlibs if (why := _untied(real, stdlib)) is not None]
    if len(untied) == len(stdlibs):
        yield (
            f"pyvenv.cfg's home {home} holds a standard library ({', '.join(stdlibs)}) that is "
            f"not the interpreter's own: {untied[0]}. A copy of an interpreter beside a "
            "standard library of one's choosing is not that interpreter; point home at the "
            "folder the interpreter was installed in"
        )
