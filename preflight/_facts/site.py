"""What ``site`` would do at start-up, worked out from the environment's files, never run.

The interpreter probe runs without ``site`` (``-I -S -B``), so nothing of the environment runs
in it and nothing can change what it says. What ``site`` would have done is read here, in
preflight's own process, by the rules of CPython's ``Lib/site.py``:

* ``venv()``: a ``pyvenv.cfg`` beside the executable or one folder up makes the executable's
  folder's parent the prefix; its ``home``, ``include-system-site-packages`` (``true`` when
  absent) and ``version`` are read (UTF-8; ``key = value`` lines).
* ``getsitepackages()``: ``PREFIX/{platlibdir,lib}/pythonX.Y[t]/site-packages``.
* ``addsitedir()`` / ``addpackage()``: every ``*.pth`` of a site folder in sorted order
  (3.13 leaves out names starting with ``.``); lines starting with ``#`` and blank lines are
  skipped; a line starting with ``import`` plus a space or a tab runs; any other line, right
  stripped and joined to the site folder, is added to ``sys.path`` when it exists.
* ``sitecustomize`` / ``usercustomize``: imported from ``sys.path`` after the site folders.

The distributions' metadata (METADATA headers, INSTALLER, direct_url.json, REQUESTED, the
license fields) is read here too, with the bounded readers of ``_read``.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from preflight import _json
from preflight._facts import standing
from preflight._facts.elf import origin_paths
from preflight._facts.integrity import parse_record
from preflight._facts.model import (
    DistFacts,
    HookForm,
    HookKind,
    InterpreterFacts,
    ProbeReport,
    PthFile,
    StartupHook,
)
from preflight._read import RECORD_LIMIT, ReadError, open_regular, read_bytes

__all__ = [
    "Venv",
    "anchor_problem",
    "distributions",
    "find_venv",
    "interpreter_facts",
    "layout_disagreement",
    "parse_pth",
    "pth_files",
    "read_pyvenv_cfg",
    "real_paths",
    "rule_site_dirs",
    "startup_hooks",
]

KIB = 1024
MIB = 1024 * KIB
PYVENV_CFG_LIMIT = 64 * KIB
PTH_LIMIT = 1 * MIB  # a .pth is a few lines; an editable install's a few hundred
HOOK_SOURCE_LIMIT = 1 * MIB  # a sitecustomize.py, read for its first lines
HOOK_LINES = 40  # the code lines of a hook kept in the facts (the report shows them)
HOOK_LINE_CHARS = 300
METADATA_LIMIT = MIB  # the headers of METADATA / PKG-INFO (the body is never read)
INSTALLER_LIMIT = 4 * KIB
DIRECT_URL_LIMIT = MIB
LICENSE_LIMIT = 8 * KIB  # a License field may hold a whole license text: its start is enough
_COMPARE_CHUNK = 1 << 20
_PYTHON_NAME = re.compile(r"python(3(\.\d+)?)?\Z")
_HOOK_NAMES: tuple[HookKind, ...] = ("sitecustomize", "usercustomize")
_EXTENSION = re.compile(r"(sitecustomize|usercustomize)(\.[A-Za-z0-9_-]+)*\.(so|pyd)\Z")


# --- pyvenv.cfg and the venv ------------------------------------------------------------------


@dataclass(frozen=True)
class Venv:
    """A virtual environment as ``site.venv()`` finds it from an executable's path."""

    prefix: str  # the executable's folder's parent
    cfg_path: str
    cfg: dict[str, str]  # keys lower-cased
    problem: str | None = None  # why pyvenv.cfg could not be read (then cfg is {})

    @property
    def home(self) -> str | None:
        return self.cfg.get("home") or None

    @property
    def system_site(self) -> bool:
        # site.py: "true" unless the key says otherwise
        return self.cfg.get("include-system-site-packages", "true").lower() == "true"


# Characters some reader of pyvenv.cfg splits lines at and another does not: CPython's getpath
# splits at "\n" only, site.py at every line boundary str.splitlines knows. A file holding one
# of them (or a NUL) can name one home to a checker and another to the interpreter.
_AMBIGUOUS = frozenset("\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\x00")


class AmbiguousConfig(ValueError):
    """A pyvenv.cfg that the interpreter and site.py could read differently."""


def read_pyvenv_cfg(path: str) -> dict[str, str]:
    """``key = value`` lines of a pyvenv.cfg (keys lower-cased), as site.py reads them.

    Raises :class:`ReadError` for a file that is not regular, too large or not UTF-8, and
    :class:`AmbiguousConfig` for one that getpath and site.py could read differently: a line
    break only one of them knows, a NUL, a key given twice (getpath takes the first ``home``,
    site.py the last ``include-system-site-packages``)."""
    text = read_bytes(path, what="a pyvenv.cfg", limit=PYVENV_CFG_LIMIT).decode("utf-8", "replace")
    odd = sorted({f"{ord(c):#04x}" for c in text if c in _AMBIGUOUS})
    if odd:
        raise AmbiguousConfig(f"holds {', '.join(odd)}, where readers of it split lines apart")
    config: dict[str, str] = {}
    for line in text.split("\n"):
        if "=" in line:
            key, _, value = line.partition("=")
            key = key.strip().lower()
            if key in config:
                raise AmbiguousConfig(
                    f"gives {key!r} twice (getpath and site.py keep different ones)"
                )
            config[key] = value.strip()
    return config


def find_venv(executable: str) -> Venv | None:
    """The venv ``site.venv()`` would see for ``executable`` (not resolved), or None."""
    exe_dir = os.path.dirname(os.path.abspath(executable))
    prefix = os.path.dirname(exe_dir)
    found = [
        candidate
        for candidate in (os.path.join(exe_dir, "pyvenv.cfg"), os.path.join(prefix, "pyvenv.cfg"))
        if os.path.lexists(candidate)
    ]
    if not found:
        return None
    candidate = found[0]
    if len(found) > 1:
        # getpath reads the prefix's first, site.py the executable folder's: two answers
        return Venv(prefix, candidate, {}, problem=f"and {found[1]} both exist (ambiguous)")
    try:
        return Venv(prefix, candidate, read_pyvenv_cfg(candidate))
    except ReadError as exc:
        return Venv(prefix, candidate, {}, problem=exc.problem)
    except AmbiguousConfig as exc:
        return Venv(prefix, candidate, {}, problem=str(exc))


def _same_bytes(left: str, right: str) -> bool:
    """Whether two regular files hold the same bytes (streamed; sizes compared first)."""
    try:
        a, b = open_regular(left), open_regular(right)
    except ReadError:
        return False
    try:
        if os.fstat(a).st_size != os.fstat(b).st_size:
            return False
        while True:
            x, y = os.read(a, _COMPARE_CHUNK), os.read(b, _COMPARE_CHUNK)
            if x != y:
                return False
            if not x:
                return True
    except OSError:
        return False
    finally:
        os.close(a)
        os.close(b)


def _home_pythons(home: str) -> list[str]:
    """The interpreters in ``home``: ``python``, ``python3``, ``python3.X`` that are files."""
    try:
        names = sorted(os.listdir(home))
    except OSError:
        return []
    return [
        os.path.join(home, n)
        for n in names
        if _PYTHON_NAME.match(n) and os.path.isfile(os.path.join(home, n))
    ]


def _what_it_is(path: str) -> str:
    """A short description of a file that is not the expected interpreter."""
    try:
        fd = open_regular(path)
    except ReadError as exc:
        return exc.problem
    try:
        head = os.read(fd, 4)
    except OSError:
        head = b""
    finally:
        os.close(fd)
    if head.startswith(b"#!"):
        return "a script"
    if head == b"\x7fELF":
        return "a program"
    return "a file"


def anchor_problem(python: str) -> tuple[Venv | None, str | None, str]:
    """Before anything runs: ``(venv, problem, anchor)`` for the ``--python`` path.

    For a venv, ``python`` must be the interpreter its pyvenv.cfg's ``home`` names: a link
    (chain) that resolves to one of ``home``'s pythons, or a byte-identical copy of one; and
    nothing the interpreter's own start-up reads may let the environment choose otherwise
    (an ambiguous pyvenv.cfg, a ``home`` inside the environment or relative, a ``._pth``),
    nor may another python of its ``bin`` be something else. ``problem`` (None when it is)
    names both paths. ``anchor`` says what ties the interpreter to the environment."""
    venv = find_venv(python)
    real = os.path.realpath(python)
    prefix = venv.prefix if venv is not None else os.path.dirname(os.path.dirname(real))
    owner = standing.environment_owner(prefix)
    reached = next(
        standing.path_problems(
            python, owner, f"the interpreter {python}", inside=os.path.realpath(prefix)
        ),
        None,
    )
    if reached is not None:
        return venv, f"{reached}; {python} was not run", ""
    if venv is None:
        return (
            None,
            None,
            f"not a virtual environment (no pyvenv.cfg beside or above {python}): nothing on "
            f"disk names which interpreter it must be; it runs {real} and its own "
            "standard library and site-packages",
        )
    # the interpreter compared once (a copy is read whole), for the refusals and the report
    anchor = _anchored(python, real, venv.home) if venv.home is not None else None
    problem = next(_refusals(python, real, venv, anchor), None)
    if problem is not None:
        return venv, problem, ""
    return venv, None, anchor or ""


def _refusals(python: str, real: str, venv: Venv, anchor: str | None) -> Iterator[str]:
    """Why ``python`` is not the environment's interpreter, first reason first; ``anchor``
    is how it is one of ``home``'s (:func:`_anchored`), or None."""
    if venv.problem is not None:
        yield f"{venv.cfg_path} {venv.problem}: the interpreter cannot be checked"
    home = venv.home
    if home is None:
        yield f"{venv.cfg_path} names no home, so {python} cannot be checked"
        return
    owner = standing.environment_owner(venv.prefix)
    for found in standing.venv_problems(venv.prefix, venv.cfg_path, python, owner):
        yield f"{found}; {python} was not run"
    refused = _home_refused(home, venv.prefix)
    if refused is not None:
        yield f"{venv.cfg_path}'s home {home!r} {refused}; {python} was not run"
        return
    for found in _startup_files(python, real):
        yield (
            f"{found} is a ._pth file: the interpreter's start-up reads it (even under -I -S) "
            f"and it replaces sys.path; {python} was not run"
        )
    if anchor is None:
        where = f"{python} (resolving to {real})" if real != os.path.abspath(python) else python
        pythons = _home_pythons(home)
        listed = ", ".join(pythons) if pythons else f"no python in {home}"
        yield (
            f"{where} is {_what_it_is(real)} that is not the interpreter pyvenv.cfg's home "
            f"names ({home}: {listed}); it was not run"
        )
    elif (loads := _loads_from_itself(python, real, home)) is not None:
        yield f"{loads}; it was not run"
    else:
        for found in standing.home_problems(home, real, owner):
            yield f"{found}; {python} was not run"
    yield from _sibling_refusals(python, real, home)


def _sibling_refusals(python: str, real: str, home: str) -> Iterator[str]:
    """Why another python of the environment's ``bin`` is not home's interpreter."""
    for sibling in _sibling_pythons(python):
        sibling_real = os.path.realpath(sibling)
        if sibling_real == real:
            continue
        if _anchored(sibling, sibling_real, home) is None:
            yield (
                f"{sibling}, beside {python}, is {_what_it_is(sibling_real)} that is not the "
                f"interpreter pyvenv.cfg's home names ({home}): whoever runs it runs that; "
                f"{python} was not run"
            )
        elif (loads := _loads_from_itself(sibling, sibling_real, home)) is not None:
            yield f"{loads}: whoever runs it runs that; {python} was not run"


def _loads_from_itself(python: str, real: str, home: str) -> str | None:
    """Why a *copy* of home's interpreter is not home's interpreter: its library search path
    is relative to where it lies (``$ORIGIN/../lib``), so the loader takes ``libpython`` and
    the rest from the environment, before any line of Python runs. None for a link into
    ``home`` (``$ORIGIN`` is where the link resolves) or a copy with absolute paths only."""
    if os.path.dirname(real) == os.path.realpath(home):
        return None
    relative = origin_paths(real)
    if not relative:
        return None
    return (
        f"{python} is a copy of the interpreter pyvenv.cfg's home names ({home}), but its "
        f"library search path is relative to where it lies ({':'.join(relative)}): the copy "
        f"loads the libraries of {os.path.dirname(os.path.dirname(real))}, the environment's, "
        "not home's; recreate the environment with links (python -m venv without --copies)"
    )


def _anchored(python: str, real: str, home: str) -> str | None:
    """How ``python`` (resolving to ``real``) is one of ``home``'s interpreters, or None: a
    link into ``home`` itself (not through it into another folder), or a byte-identical copy."""
    pythons = _home_pythons(home)
    home_real = os.path.realpath(home)
    for candidate in pythons:
        if os.path.realpath(candidate) == real and os.path.dirname(real) == home_real:
            return f"{python} links to {candidate}, in pyvenv.cfg's home {home}"
    if not os.path.islink(python):
        for candidate in pythons:
            if _same_bytes(real, candidate):
                return f"{python} is a byte-identical copy of {candidate}"
    return None


def _home_refused(home: str, prefix: str) -> str | None:
    """Why ``home`` cannot name the base interpreter: getpath looks for the standard library
    upwards from it, so a home in the environment (or relative to wherever the app starts)
    would load a standard library the environment holds."""
    if "\x00" in home:
        return "holds a NUL"
    if not os.path.isabs(home):
        return "is relative (the interpreter resolves it against the working folder)"
    inside = os.path.realpath(home)
    env = os.path.realpath(prefix)
    if inside == env or inside.startswith(env.rstrip(os.sep) + os.sep):
        return "is inside the environment (its standard library would be the environment's)"
    return None


def _startup_files(python: str, real: str) -> list[str]:
    """``._pth`` files beside the interpreter (as given or resolved): getpath reads
    ``<executable>._pth`` and takes its lines as the whole ``sys.path``."""
    found = []
    for folder in {os.path.dirname(os.path.abspath(python)), os.path.dirname(real)}:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        found += [os.path.join(folder, n) for n in sorted(names) if n.endswith("._pth")]
    return found


def _sibling_pythons(python: str) -> list[str]:
    """The other ``python``, ``python3``, ``python3.X`` of the environment's ``bin``."""
    folder = os.path.dirname(os.path.abspath(python))
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    own = os.path.basename(python)
    return [
        os.path.join(folder, n)
        for n in names
        if n != own and _PYTHON_NAME.match(n) and os.path.lexists(os.path.join(folder, n))
    ]


# --- site folders ------------------------------------------------------------------------------


def rule_site_dirs(prefix: str, version: str, platlibdir: str, abiflags: str) -> list[str]:
    """``site.getsitepackages([prefix])`` on POSIX, for an interpreter of ``version``."""
    major, minor = version.split(".")[:2]
    thread = "t" if "t" in abiflags else ""
    libdirs = [platlibdir] if platlibdir == "lib" else [platlibdir, "lib"]
    return [
        os.path.join(prefix, libdir, f"python{major}.{minor}{thread}", "site-packages")
        for libdir in libdirs
    ]


def _key(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


def layout_disagreement(
    rule_dirs: Sequence[str],
    install_paths: Mapping[str, str],
    real: Mapping[str, str] | None = None,
) -> list[tuple[str, str]]:
    """``(sysconfig key and path, the site folders)`` for each of sysconfig's purelib and
    platlib that is none of the folders site.py's rule puts on ``sys.path``: what pip
    installs there, Python would not import (or the other way round). Pure: each path is
    compared by its real path in ``real`` (:func:`real_paths`: a venv's ``lib64`` links to
    ``lib``), else as it is written."""
    if not rule_dirs:  # nothing to compare with (facts built without the rule's folders)
        return []
    known = {} if real is None else real

    def key(path: str) -> str:
        return os.path.normcase(known.get(path, path))

    keys = {key(d) for d in rule_dirs}
    shown = ", ".join(rule_dirs) or "(none)"
    return [
        (f"{name} {path}", shown)
        for name in ("purelib", "platlib")
        if (path := install_paths.get(name)) and key(path) not in keys
    ]


def real_paths(paths: Iterable[str]) -> dict[str, str]:
    """Each path's real path (symlinks resolved), for :func:`layout_disagreement`."""
    return {path: os.path.realpath(path) for path in paths if path}


def existing_unique(paths: Iterable[str], exclude: Iterable[str] = ()) -> list[str]:
    """The folders of ``paths`` that exist, each real folder once, none of ``exclude``."""
    seen = {_key(p) for p in exclude}
    result = []
    for path in paths:
        if not path:
            continue
        key = _key(path)
        if key in seen or not os.path.isdir(path):
            continue
        seen.add(key)
        result.append(os.path.normpath(os.path.abspath(path)))
    return result


# --- .pth files -------------------------------------------------------------------------------


def _lines(text: str, version: tuple[int, int]) -> list[str]:
    """The lines ``site.addpackage`` iterates: 3.13 splits with ``str.splitlines`` (which also
    breaks at form feeds, ``\\x1c``-``\\x1e``, ``\\x85``, ``\\u2028``...), older versions read
    the file with universal newlines (``\\n``, ``\\r\\n``, ``\\r`` only)."""
    if version >= (3, 13):
        return text.splitlines()
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


NOT_UTF8 = (
    "not UTF-8: Python decodes it in the locale's encoding at start-up, where a byte such as "
    "\\x85 may end a line and start one that runs"
)


def _decode(data: bytes, version: tuple[int, int]) -> tuple[str, str | None]:
    """The text as site.py decodes it (3.13 strips a UTF-8 BOM), and a problem when the bytes
    are not UTF-8: site.py then falls back to the locale's encoding (3.13) or reads in it
    (older), and the locale of a later start is not preflight's to know. Under Latin-1, 3.13
    splits at ``\x85`` (NEL): ``# note\x85import evil`` is a comment to a UTF-8 reader and runs
    ``import evil`` at start-up. The text is still read (bytes replaced) for the report."""
    if version >= (3, 13) and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace"), NOT_UTF8


def _in_root(root: str, site: str, line: str) -> str:
    """A ``.pth`` line's folder for an interpreter of the root filesystem ``root``: an
    absolute line is a path inside the root, and ``..`` stops at the root (as inside it)."""
    base = root.rstrip("/")
    inner = site[len(base) :] if site.startswith(base + "/") else site
    parts: list[str] = []
    for part in (line if line.startswith("/") else f"{inner}/{line}").split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return os.path.join(base, *parts) if parts else base


def parse_pth(
    data: bytes,
    path: str,
    site: str,
    version: tuple[int, int],
    known: set[str] | None = None,
    *,
    root: str | None = None,
) -> PthFile:
    """One ``.pth`` file's content read by ``site.addpackage``'s rules for ``version``.

    ``known`` (normcased folders already on ``sys.path``) is updated as site.py updates it:
    a folder is added once. ``root``: the interpreter is a root filesystem's (an image's),
    whose paths are inside that folder (:func:`_in_root`)."""
    known = set() if known is None else known
    code: list[str] = []
    paths: list[str] = []
    missing: list[str] = []
    text, problem = _decode(data, version)
    for line in _lines(text, version):
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith(("import ", "import\t")):
            code.append(line)
            continue
        folder = (
            os.path.abspath(os.path.join(site, line.rstrip()))
            if root is None
            else _in_root(root, site, line.rstrip())
        )
        if not os.path.exists(folder):
            missing.append(folder)
        elif os.path.normcase(folder) not in known:
            known.add(os.path.normcase(folder))
            paths.append(folder)
    not_folders = tuple(folder for folder in paths if not os.path.isdir(folder))
    return PthFile(
        path, site, tuple(code), tuple(paths), tuple(missing), problem=problem,
        not_folders=not_folders,
    )  # fmt: skip


def _hidden(path: str) -> bool:
    """3.13's check of a hidden file flag (BSD/macOS ``UF_HIDDEN``)."""
    try:
        flags = getattr(os.lstat(path), "st_flags", 0)
    except OSError:
        return True  # site.py returns when lstat fails
    return bool(flags & getattr(stat, "UF_HIDDEN", 0))


def pth_files(
    site: str, version: tuple[int, int], known: set[str] | None = None, root: str | None = None
) -> list[PthFile]:
    """Every ``.pth`` of ``site`` that ``site.addsitedir`` would process, in its order
    (``root``: of a root filesystem's interpreter, see :func:`parse_pth`)."""
    try:
        names = os.listdir(site)
    except OSError:
        return []
    names = [n for n in names if n.endswith(".pth")]
    if version >= (3, 13):
        names = [n for n in names if not n.startswith(".")]
    result = []
    for name in sorted(names):
        path = os.path.join(site, name)
        if version >= (3, 13) and _hidden(path):
            continue
        try:
            data = read_bytes(path, what="a .pth file", limit=PTH_LIMIT)
        except ReadError as exc:
            if exc.kind in ("missing", "directory"):
                continue  # a dangling link, a folder: site.py cannot open it either
            result.append(PthFile(path, site, (), (), (), problem=exc.problem))
            continue
        result.append(parse_pth(data, path, site, version, known, root=root))
    return result


# --- sitecustomize / usercustomize ------------------------------------------------------------


def _source_lines(path: str) -> tuple[tuple[str, ...], str | None]:
    """A hook module's first code lines (bounded), or why they cannot be read."""
    try:
        data = read_bytes(path, what="a start-up module", limit=HOOK_SOURCE_LIMIT)
    except ReadError as exc:
        return (), exc.problem
    lines = [
        line
        for line in data.decode("utf-8", "replace").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return _bounded(lines), None


def _bounded(lines: Sequence[str]) -> tuple[str, ...]:
    """At most ``HOOK_LINES`` lines of at most ``HOOK_LINE_CHARS`` characters, for the report."""
    shown = [
        line if len(line) <= HOOK_LINE_CHARS else line[: HOOK_LINE_CHARS - 3] + "..."
        for line in lines[:HOOK_LINES]
    ]
    if len(lines) > HOOK_LINES:
        shown.append(f"... ({len(lines) - HOOK_LINES} more lines)")
    return tuple(shown)


def _hook_module(folder: str, kind: HookKind) -> tuple[str, HookForm] | None:
    """The ``sitecustomize`` / ``usercustomize`` that import would find in ``folder``."""
    package = os.path.join(folder, kind)
    if os.path.isdir(package):
        return package, "package"
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return None
    for name in names:
        if _EXTENSION.match(name) and name.startswith(kind):
            return os.path.join(folder, name), "extension"
    for name, form in ((f"{kind}.py", "source"), (f"{kind}.pyc", "bytecode")):
        if os.path.lexists(os.path.join(folder, name)):
            return os.path.join(folder, name), form  # type: ignore[return-value]
    return None


def _hook_code(path: str, form: HookForm) -> tuple[tuple[str, ...], str | None]:
    if form == "source":
        return _source_lines(path)
    if form == "package":
        init = os.path.join(path, "__init__.py")
        if os.path.lexists(init):
            return _source_lines(init)
    return (), None  # bytecode, an extension, a namespace package: no source lines to show


def startup_hooks(
    pths: Sequence[PthFile],
    folders: Sequence[str],
    own_sites: Sequence[str],
    owners: Mapping[str, str],
) -> tuple[StartupHook, ...]:
    """Every start-up hook: each ``.pth`` that runs code (or cannot be read), then each
    ``sitecustomize`` / ``usercustomize`` in ``folders`` (the site folders and what the
    ``.pth`` files add). ``owners`` maps a file's path to the distribution whose RECORD
    lists it."""
    own = {os.path.normpath(s) for s in own_sites}
    hooks: list[StartupHook] = []
    for pth in pths:
        if pth.code or pth.problem is not None:
            hooks.append(
                StartupHook(
                    pth.path, "pth", "pth", pth.site, _bounded(pth.code), owners.get(pth.path),
                    os.path.normpath(pth.site) in own, pth.problem,
                )
            )  # fmt: skip
    for folder in folders:
        for kind in _HOOK_NAMES:
            found = _hook_module(folder, kind)
            if found is None:
                continue
            path, form = found
            code, problem = _hook_code(path, form)
            owner = owners.get(path) or owners.get(os.path.join(path, "__init__.py"))
            hooks.append(
                StartupHook(
                    path, kind, form, folder, code, owner, os.path.normpath(folder) in own,
                    problem,
                )
            )  # fmt: skip
    return tuple(hooks)


def owners_of(paths: Iterable[str], dists: Sequence[DistFacts]) -> dict[str, str]:
    """Which distribution's RECORD lists each of ``paths`` (read only when there are any)."""
    wanted = {os.path.normpath(p) for p in paths}
    found: dict[str, str] = {}
    if not wanted:
        return found
    for dist in dists:
        if dist.kind != "dist-info":
            continue
        try:
            raw = read_bytes(os.path.join(dist.path, "RECORD"), what="a RECORD", limit=RECORD_LIMIT)
        except ReadError:
            continue
        for row in parse_record(raw.decode("utf-8", "replace"), dist.site):
            if row.malformed is None and row.path in wanted:
                found.setdefault(row.path, dist.name)
    return found


def hook_candidates(pths: Sequence[PthFile], folders: Sequence[str]) -> list[str]:
    """The paths whose owners :func:`startup_hooks` asks for."""
    paths = [p.path for p in pths if p.code or p.problem is not None]
    for folder in folders:
        for kind in _HOOK_NAMES:
            found = _hook_module(folder, kind)
            if found is not None:
                paths += [found[0], os.path.join(found[0], "__init__.py")]
    return paths


# --- distributions ----------------------------------------------------------------------------


def _read_headers(path: str, wanted: Iterable[str]) -> dict[str, str] | None:
    """RFC 822 style headers (METADATA / PKG-INFO) up to the first blank line.

    ``{lower-cased name: value}`` for the names in ``wanted`` (first occurrence wins); None if
    the file cannot be read or its headers are over ``METADATA_LIMIT``. Continuation lines
    are joined; the body (often a long description) is never read."""
    names = set(wanted)
    try:
        fd = open_regular(path)
    except ReadError:
        return None
    found: dict[str, str] = {}
    last: str | None = None
    with os.fdopen(fd, "rb") as handle:
        left = METADATA_LIMIT
        try:
            while True:
                raw = handle.readline(left + 1)
                if not raw:
                    break
                left -= len(raw)
                if left < 0:
                    return None
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not line.strip():
                    break
                if line[0] in " \t":
                    if last is not None and last in found:
                        found[last] = found[last] + " " + line.strip()
                    continue
                key, sep, value = line.partition(":")
                last = None
                if not sep:
                    continue
                key = key.strip().lower()
                if key in names and key not in found:
                    found[key] = value.strip()
                    last = key
        except OSError:
            return None
    return found


def _read_small_text(path: str, limit: int) -> str | None:
    try:
        return read_bytes(path, what="a metadata file", limit=limit).decode("utf-8", "replace")
    except ReadError:
        return None


def _read_direct_url(path: str) -> dict[str, Any] | None:
    """Parsed ``direct_url.json`` (PEP 610), ``{"_error": ...}`` if broken, None if absent."""
    if not os.path.lexists(path):
        return None
    try:
        raw = read_bytes(path, what="a direct_url.json", limit=DIRECT_URL_LIMIT)
    except ReadError as exc:
        if exc.kind == "missing":  # a dangling symlink: as absent as before
            return None
        return {"_error": f"direct_url.json could not be read: {exc.problem}"}
    try:
        data = _json.loads(raw)
    except (ValueError, RecursionError) as exc:
        return {"_error": f"direct_url.json is not valid JSON: {exc}"}
    if not isinstance(data, dict):
        return {"_error": "direct_url.json is not a JSON object"}
    return data


def _license(value: str | None) -> str | None:
    """A license header as reported: None when empty or UNKNOWN (old setuptools wrote that)."""
    if not value or value.strip().upper() == "UNKNOWN":
        return None
    return value.strip()[:LICENSE_LIMIT]


def _dist(site: str, entry: str) -> DistFacts | None:
    path = os.path.join(site, entry)
    kind: Literal["dist-info", "egg-info"]
    if entry.endswith(".dist-info") and os.path.isdir(path):
        kind, suffix, metadata = "dist-info", ".dist-info", os.path.join(path, "METADATA")
    elif entry.endswith(".egg-info"):
        kind, suffix = "egg-info", ".egg-info"
        metadata = os.path.join(path, "PKG-INFO") if os.path.isdir(path) else path
    else:
        return None
    headers = _read_headers(metadata, ("name", "version", "license-expression", "license"))
    headers = headers or {}
    parts = entry[: -len(suffix)].split("-")
    installer = requested = direct_url = None
    if os.path.isdir(path):
        text = _read_small_text(os.path.join(path, "INSTALLER"), INSTALLER_LIMIT)
        installer = None if text is None else text.strip()
        direct_url = _read_direct_url(os.path.join(path, "direct_url.json"))
        # Never opened: only a regular file (no FIFO, no device) counts as the marker.
        requested = os.path.isfile(os.path.join(path, "REQUESTED"))
    return DistFacts(
        name=headers.get("name") or parts[0],
        version=headers.get("version") or (parts[1] if len(parts) > 1 else ""),
        path=path,
        site=site,
        kind=kind,
        installer=installer,
        direct_url=direct_url,
        requested=bool(requested),
        license_expression=_license(headers.get("license-expression")),
        license=_license(headers.get("license")),
    )


def distributions(sites: Iterable[str]) -> tuple[DistFacts, ...]:
    """Every distribution in ``sites``, in folder order, then by entry name."""
    result = []
    for site in sites:
        with contextlib.suppress(OSError):
            for entry in sorted(os.listdir(site)):
                dist = _dist(site, entry)
                if dist is not None:
                    result.append(dist)
    return tuple(result)


# --- the whole picture --------------------------------------------------------------------------


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def interpreter_facts(
    report: ProbeReport, anchor: str = "", *, root: str | None = None
) -> InterpreterFacts:
    """The facts the checks judge: the probe's report plus what the files say, ``sys.path``
    worked out as ``site.main()`` would build it (stdlib; the venv's site folders with what
    their ``.pth`` files add; the user site when enabled; the base's when visible). ``root``:
    the interpreter is a root filesystem's, whose ``.pth`` lines name paths inside it."""
    version = _minor(report.version)
    venv = find_venv(report.executable) if report.venv_prefix is not None else None
    in_venv = venv is not None
    prefix = venv.prefix if venv is not None else report.base_prefix
    system_site = venv.system_site if venv is not None else True
    base_rule = rule_site_dirs(
        report.base_prefix, report.version, report.platlibdir, report.abiflags
    )
    if report.base_exec_prefix != report.base_prefix:
        base_rule += rule_site_dirs(
            report.base_exec_prefix, report.version, report.platlibdir, report.abiflags
        )
    base_dirs = [*report.vendor_site, *base_rule]
    if venv is not None:
        rule = rule_site_dirs(venv.prefix, report.version, report.platlibdir, report.abiflags)
        scheme = report.venv_paths
        own = existing_unique(rule)
        visible = existing_unique(base_dirs, exclude=own) if system_site else []
    else:
        rule = list(dict.fromkeys(base_dirs))
        scheme = report.base_paths
        own = existing_unique(base_dirs)
        visible = []
    user_enabled = report.user_site_allowed and (venv is None or system_site)
    known = {os.path.normcase(os.path.abspath(p)) for p in report.stdlib_path}
    path = list(report.stdlib_path)
    pths: list[PthFile] = []
    user = (
        [report.user_site]
        if user_enabled and report.user_site and os.path.isdir(report.user_site)
        else []
    )
    # site.main(): a venv's own folders first (venv()), then the user site, then the base's
    # when visible; without a venv, the user site comes before the base's folders.
    order = [*own, *user, *visible] if venv is not None else [*user, *own]
    for site in order:
        if os.path.normcase(site) not in known:
            known.add(os.path.normcase(site))
            path.append(site)
        found = pth_files(site, version, known, root)
        pths += found
        path += [folder for pth in found for folder in pth.paths]
    dists = distributions([*own, *visible])
    folders = list(order)
    folders += [f for pth in pths for f in pth.paths if f not in folders]
    owners = owners_of(hook_candidates(pths, folders), dists)
    install_paths = {k: v for k, v in scheme.items() if k in ("purelib", "platlib", "scripts")}
    return InterpreterFacts(
        executable=report.executable,
        version=report.version,
        release_level=report.release_level,
        implementation=report.implementation,
        prefix=prefix,
        base_prefix=report.base_prefix,
        in_venv=in_venv,
        pyvenv_cfg=dict(venv.cfg) if venv is not None else {},
        site_packages=tuple(own),
        system_site_packages=tuple(visible),
        user_site=report.user_site,
        user_site_enabled=user_enabled,
        marker_env=dict(report.marker_env),
        distributions=dists,
        path=tuple(path),
        install_paths=install_paths,
        base_executable=report.base_executable,
        site_rule_dirs=tuple(rule),
        real_paths=real_paths([*rule, *install_paths.values()]),
        pth_files=tuple(pths),
        startup_hooks=startup_hooks(pths, folders, own, owners),
        anchor=anchor,
    )
