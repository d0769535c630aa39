"""Interpreter facts from files alone: a root filesystem (an unpacked image) judged without
running anything of it.

Beside the probe (``probes.py``, which runs the target as ``-I -S -B``), this is the second
provider of :class:`~preflight._facts.model.ProbeReport`: every fact the probe would report is
read here from the files of a root folder, never from a process. ``site.interpreter_facts``
then adds what the environment's files say, as for a venv on this machine. Paths in the facts
are this machine's (``ROOT/usr/local/...``) so that every reader of files works unchanged;
:func:`inside` maps them back for the report.

Where each fact comes from (said in :attr:`RootFacts.sources`):

* the interpreter: ``--python`` resolved *inside* the root: a link ``/usr/bin/python3 ->
  /usr/local/bin/python3.12`` is resolved against the root, never followed out of it
  (:func:`resolve_in_root`); a ``pyvenv.cfg`` beside or above it makes it a venv whose
  ``home`` (inside the root too) names the base;
* X.Y: the interpreter's name (``python3.12``) or, for ``python3``, the one
  ``lib/pythonX.Y/os.py`` of its prefix; the standard library must be there;
* X.Y.Z: ``include/pythonX.Y/patchlevel.h`` (``PY_VERSION``), Debian's
  ``/var/lib/dpkg/status`` (``libpythonX.Y-minimal``'s version), the ``PY_VERSION`` string in
  the bytes of the interpreter or its ``libpythonX.Y.so``, a venv's ``pyvenv.cfg``
  (``version`` / ``version_info``). Every source found must agree: files that disagree about
  the interpreter are refused (``foreign``), never averaged;
* ABI flags, ``platlibdir``, the machine: the ``_sysconfigdata_*.py`` of the standard library,
  parsed as data (``ast.literal_eval`` of its ``build_time_vars``), never imported;
* the site folders: site.py's rule for the prefix, plus Debian's ``dist-packages`` folders
  when the interpreter is the distro's (``/usr`` with ``/usr/lib/python3/dist-packages``).
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from preflight._facts import site
from preflight._facts.model import InterpreterFacts, ProbeFailure, ProbeFailureKind, ProbeReport
from preflight._read import ReadError, read_bytes

__all__ = [
    "RootError",
    "RootFacts",
    "facts_from_root",
    "find_pythons",
    "inside",
    "resolve_in_root",
]

KIB = 1024
MIB = 1024 * KIB
SYSCONFIGDATA_LIMIT = 4 * MIB  # about 60 KiB in CPython 3.12
PATCHLEVEL_LIMIT = 256 * KIB
DPKG_STATUS_LIMIT = 64 * MIB  # a large Debian image's status file is a few MiB
BINARY_LIMIT = 128 * MIB  # libpython3.12.so is about 30 MiB with its symbols
_MAX_LINKS = 40  # as the kernel's MAXSYMLINKS
_RELEASE = re.compile(r"(\d{1,4})\.(\d{1,4})\.(\d{1,4})((a|b|rc)\d{1,4})?\+?\Z")
_LEVELS = {"a": "alpha", "b": "beta", "rc": "candidate", None: "final"}
_PYTHON_NAME = re.compile(r"python(\d)\.(\d{1,3})\Z")
_SYSCONFIGDATA = re.compile(r"_sysconfigdata_[A-Za-z0-9_.-]*\.py\Z")
_USUAL = ("/usr/local/bin", "/usr/bin", "/opt/venv/bin", "/venv/bin", "/app/.venv/bin")


class RootError(ValueError):
    """The root or the interpreter named in it cannot be judged; the text says why."""


@dataclass(frozen=True)
class RootFacts:
    """The interpreter of a root read from its files, and where each fact came from."""

    root: str  # the root folder on this machine, absolute
    python: str  # the interpreter as named inside the root ("/usr/local/bin/python3.12")
    facts: InterpreterFacts | ProbeFailure
    sources: dict[str, str] = field(default_factory=dict)  # fact -> the file it was read from


# --- paths inside the root ----------------------------------------------------------------------


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


def resolve_in_root(root: str, path: str, *, follow_last: bool = True) -> str:
    """``path`` (absolute inside ``root``) with every link resolved *inside* the root, as the
    image's own kernel view would: an absolute link target starts again at the root and
    ``..`` stops at the root. Returns the resolved path inside the root (``/usr/...``).
    Raises :class:`RootError` for a link loop (more than 40 links)."""
    todo = _parts(path)
    done: list[str] = []
    hops = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *done, part)
        is_last = not todo
        try:
            mode = os.lstat(candidate).st_mode
        except OSError:
            done.append(part)  # absent: the rest is taken as written
            continue
        if stat.S_ISLNK(mode) and (follow_last or not is_last):
            hops += 1
            if hops > _MAX_LINKS:
                raise RootError(f"{path}: more than {_MAX_LINKS} links (a loop?) inside the root")
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            todo = _parts(target) + todo
            continue
        done.append(part)
    return "/" + "/".join(done)


def on_host(root: str, inner: str) -> str:
    """The path on this machine of ``inner`` (absolute inside the root; not resolved)."""
    return os.path.join(root, *_parts(inner))


def inside(root: str, host: str) -> str:
    """``host`` as the image names it, when it is under ``root``; else as it is."""
    base = root.rstrip("/")
    if host == base:
        return "/"
    if host.startswith(base + "/"):
        return host[len(base) :]
    return host


def _is_file(root: str, inner: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(on_host(root, inner)).st_mode)
    except OSError:
        return False


def _is_dir(root: str, inner: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(on_host(root, inner)).st_mode)
    except OSError:
        return False


def _read(root: str, inner: str, *, what: str, limit: int) -> bytes | None:
    """A regular file inside the root (links in its path resolved inside it), or None."""
    real = resolve_in_root(root, inner)
    if not _is_file(root, real):
        return None
    try:
        return read_bytes(on_host(root, real), what=what, limit=limit)
    except ReadError:
        return None


def find_pythons(root: str) -> list[str]:
    """The interpreters in the usual places of ``root`` (``python3.X`` files and links that
    resolve to one inside it), for a user who did not say which to judge."""
    found = []
    for folder in _USUAL:
        try:
            names = sorted(os.listdir(on_host(root, folder)))
        except OSError:
            continue
        for name in names:
            if _PYTHON_NAME.match(name) or name in ("python", "python3"):
                inner = f"{folder}/{name}"
                try:
                    if _is_file(root, resolve_in_root(root, inner)):
                        found.append(inner)
                except RootError:
                    continue
    return found


# --- facts read as data ------------------------------------------------------------------------


def parse_sysconfigdata(data: bytes) -> dict[str, Any]:
    """The ``build_time_vars`` of a ``_sysconfigdata_*.py``, parsed as a literal (never run).
    Raises :class:`RootError` when it is not a plain literal dict."""
    try:
        tree = ast.parse(data.decode("utf-8", "replace"))
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise RootError(f"does not parse as Python source ({type(exc).__name__})") from None
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "build_time_vars"
        ):
            try:
                value = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
                raise RootError("its build_time_vars is not a plain literal") from None
            if isinstance(value, dict):
                return value
    raise RootError("holds no build_time_vars = {...}")


def patchlevel_version(data: bytes) -> str | None:
    """``PY_VERSION`` of a ``patchlevel.h``."""
    found = re.search(rb'^#define\s+PY_VERSION\s+"([^"\n]{1,40})"', data, re.MULTILINE)
    return found.group(1).decode("ascii", "replace") if found else None


def dpkg_version(data: bytes, minor: str) -> str | None:
    """The upstream release of Debian's installed ``libpythonX.Y-minimal`` (or
    ``pythonX.Y-minimal``), from ``/var/lib/dpkg/status``: ``3.11.2-6+deb12u2`` -> ``3.11.2``."""
    wanted = {f"libpython{minor}-minimal", f"python{minor}-minimal"}
    for block in data.decode("utf-8", "replace").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep and not line.startswith((" ", "\t")):
                fields[key.strip().lower()] = value.strip()
        if fields.get("package") in wanted and "installed" in fields.get("status", "").split():
            version = fields.get("version", "").split(":")[-1].split("-")[0]
            upstream = re.match(r"\d+\.\d+\.\d+((a|b|rc)\d+)?", version.replace("~", ""))
            if upstream:
                return upstream.group(0)
    return None


def binary_version(data: bytes, minor: str) -> str | None:
    """The ``PY_VERSION`` literal in an interpreter's (or libpython's) bytes: the one
    ``\\0X.Y.Z\\0`` string of that X.Y; None when there is none or more than one."""
    pattern = rb"\x00(" + re.escape(minor.encode()) + rb"\.\d{1,4}((a|b|rc)\d{1,4})?\+?)\x00"
    found = {m.group(1).decode("ascii") for m in re.finditer(pattern, data)}
    return found.pop() if len(found) == 1 else None


def _machine(config: Mapping[str, Any]) -> str | None:
    for key in ("MULTIARCH", "HOST_GNU_TYPE", "BUILD_GNU_TYPE"):
        value = config.get(key)
        if isinstance(value, str) and value:
            return value.split("-")[0]
    return None


# --- the whole picture ---------------------------------------------------------------------------


@dataclass
class _Found:
    sources: dict[str, str] = field(default_factory=dict)
    versions: list[tuple[str, str]] = field(default_factory=list)  # (version, source)


def _failure(python: str, message: str, kind: ProbeFailureKind = "not_python") -> ProbeFailure:
    return ProbeFailure(kind, message, command=(python,))


def facts_from_root(root: str, python: str) -> RootFacts:
    """The facts of ``python`` (absolute inside ``root``), read from files only."""
    root = os.path.abspath(root)
    found = _Found()
    try:
        facts = _facts(root, python, found)
    except RootError as exc:
        facts = _failure(python, f"{python} in {root}: {exc}")
    return RootFacts(root, python, facts, found.sources)


def _facts(root: str, python: str, found: _Found) -> InterpreterFacts | ProbeFailure:
    if not python.startswith("/"):
        raise RootError("--python must be an absolute path inside the root (/usr/bin/python3)")
    real = resolve_in_root(root, python)
    if not _is_file(root, real):
        shown = f"{python} (resolving to {real} inside the root)" if real != python else python
        return _failure(python, f"{shown} is not a file inside {root}", "missing")
    found.sources["executable"] = f"{python} resolved inside the root to {real}"
    venv_cfg = _venv_cfg(root, python)
    base_real, venv_prefix = real, None
    cfg: dict[str, str] = {}
    if venv_cfg is not None:
        cfg_path, cfg = venv_cfg
        venv_prefix = os.path.dirname(os.path.dirname(python))
        home = cfg.get("home", "")
        found.sources["venv"] = f"{cfg_path} (home = {home})"
        if not home.startswith("/"):
            return _failure(python, f"{cfg_path} names no absolute home: {home!r}", "foreign")
        home_real = resolve_in_root(root, home)
        if os.path.dirname(real) != home_real:
            return _failure(
                python,
                f"{python} resolves to {real}, which is not in {cfg_path}'s home {home} "
                f"({home_real} inside the root): not this environment's interpreter",
                "foreign",
            )
    prefix = os.path.dirname(os.path.dirname(base_real))
    minor = _minor(root, base_real, prefix, found)
    stdlib = f"{prefix}/lib/python{minor}"
    config, config_path = _sysconfig(root, stdlib)
    found.sources["abiflags"] = found.sources["platlibdir"] = config_path
    version, level = _release(root, (base_real, prefix, minor), cfg, found)
    abiflags = str(config.get("ABIFLAGS", ""))
    platlibdir = str(config.get("PLATLIBDIR", "lib")) or "lib"
    machine = _machine(config)
    if machine is None:
        found.sources["platform_machine"] = "unknown: the sysconfigdata names no MULTIARCH"
    else:
        found.sources["platform_machine"] = f"MULTIARCH of {config_path}"
    where = _Where(root, python, base_real, prefix, venv_prefix, minor)
    facts = site.interpreter_facts(
        _report(where, version, level, (abiflags, platlibdir, machine)),
        anchor=_anchor(python, real, venv_prefix, cfg),
        root=root,
    )
    _links_stay_inside(root, [*facts.site_packages, *facts.system_site_packages])
    owned = _dpkg_owned(root, [*facts.site_packages, *facts.system_site_packages])
    found.sources["distro_owned"] = (
        f"/var/lib/dpkg/info/*.list: {len(owned)} paths in the site folders" if owned else "none"
    )
    hooks = tuple(
        replace(hook, owner=_dpkg_hook_owner(root, hook.path, owned))
        if hook.owner is None and hook.path in owned
        else hook
        for hook in facts.startup_hooks
    )
    facts = replace(facts, root=root, distro_owned=owned, startup_hooks=hooks)
    found.sources["site_packages"] = "site.py's rule for the prefix" + (
        " and Debian's dist-packages" if _debian(root, prefix) else ""
    )
    return facts


def _links_stay_inside(root: str, sites: list[str]) -> None:
    """Every link in the site folders resolves inside the root: the facts are read through
    them on this machine, so a link out of the root (``/etc/...``, ``../../..``) is refused,
    never followed. (An image given with ``--image`` has its links rewritten inside.)"""
    base = os.path.realpath(root).rstrip("/") + "/"
    for site_folder in sites:
        for folder, dirs, files in os.walk(site_folder):
            for name in (*dirs, *files):
                path = os.path.join(folder, name)
                if os.path.islink(path) and not (os.path.realpath(path) + "/").startswith(base):
                    raise RootError(
                        f"{inside(root, path)} links to {os.readlink(path)!r}, which leads out "
                        "of the root; preflight never follows a link out of it: judge the "
                        "image with --image (its links are kept inside), or fix the link"
                    )


DPKG_INFO = "/var/lib/dpkg/info"
DPKG_LIST_LIMIT = 8 * MIB
DPKG_LISTS = 20_000


def _dpkg_owned(root: str, sites: list[str]) -> dict[str, str]:
    """The paths (on this machine) in ``sites`` that a Debian package installed, by its
    ``/var/lib/dpkg/info/PACKAGE.list``: ``{path: "dpkg:PACKAGE"}``."""
    folder = on_host(root, DPKG_INFO)
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".list"))[:DPKG_LISTS]
    except OSError:
        return {}
    inner_sites = tuple(inside(root, s).rstrip("/") + "/" for s in sites)
    owned: dict[str, str] = {}
    for name in names:
        data = _read(root, f"{DPKG_INFO}/{name}", what="a dpkg file list", limit=DPKG_LIST_LIMIT)
        if data is None:
            continue
        package = name[: -len(".list")].split(":")[0]
        for line in data.decode("utf-8", "replace").splitlines():
            if line.startswith(inner_sites):
                owned.setdefault(on_host(root, line), f"dpkg:{package}")
    return owned


def _dpkg_hook_owner(root: str, host: str, owned: Mapping[str, str]) -> str | None:
    """The package of a start-up hook the distro installed, only when its bytes are still
    the ones the package shipped (``PACKAGE.md5sums``); else None (it is then unowned)."""
    package = owned[host].removeprefix("dpkg:")
    inner = inside(root, host).lstrip("/")
    sums = None
    for name in (f"{package}.md5sums", *(n for n in _arch_sums(root, package))):
        sums = _read(root, f"{DPKG_INFO}/{name}", what="dpkg md5sums", limit=DPKG_LIST_LIMIT)
        if sums is not None:
            break
    data = _read(root, "/" + inner, what="a start-up hook", limit=DPKG_LIST_LIMIT)
    if sums is None or data is None:
        return None
    digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
    for line in sums.decode("utf-8", "replace").splitlines():
        recorded, _, path = line.partition("  ")
        if path == inner:
            return owned[host] if recorded == digest else None
    return None


def _arch_sums(root: str, package: str) -> list[str]:
    try:
        names = os.listdir(on_host(root, DPKG_INFO))
    except OSError:
        return []
    return sorted(n for n in names if n.startswith(f"{package}:") and n.endswith(".md5sums"))


def _venv_cfg(root: str, python: str) -> tuple[str, dict[str, str]] | None:
    """``site.venv()``'s rule: a pyvenv.cfg beside the executable (as named) or one up."""
    exe_dir = os.path.dirname(python)
    for inner in (f"{exe_dir}/pyvenv.cfg", f"{os.path.dirname(exe_dir)}/pyvenv.cfg"):
        if _is_file(root, inner):
            try:
                return inner, site.read_pyvenv_cfg(on_host(root, inner))
            except (ReadError, site.AmbiguousConfig) as exc:
                raise RootError(f"{inner}: {exc}") from None
    return None


def _minor(root: str, real: str, prefix: str, found: _Found) -> str:
    named = _PYTHON_NAME.match(os.path.basename(real))
    if named:
        minor = f"{named.group(1)}.{named.group(2)}"
        if not _is_file(root, f"{prefix}/lib/python{minor}/os.py"):
            raise RootError(
                f"{real} is named for Python {minor}, but {prefix}/lib/python{minor}/os.py "
                "(its standard library) is not there"
            )
        found.sources["version_minor"] = f"the name of {real} and {prefix}/lib/python{minor}/"
        return minor
    try:
        names = sorted(os.listdir(on_host(root, f"{prefix}/lib")))
    except OSError:
        names = []
    minors = [
        n[len("python") :]
        for n in names
        if re.fullmatch(r"python\d\.\d{1,3}", n) and _is_file(root, f"{prefix}/lib/{n}/os.py")
    ]
    if len(minors) != 1:
        raise RootError(
            f"{real}: found {len(minors)} standard libraries in {prefix}/lib "
            f"({', '.join(minors) or 'none'}); name the interpreter as pythonX.Y"
        )
    found.sources["version_minor"] = f"the one standard library, {prefix}/lib/python{minors[0]}/"
    return minors[0]


def _sysconfig(root: str, stdlib: str) -> tuple[dict[str, Any], str]:
    try:
        names = sorted(n for n in os.listdir(on_host(root, stdlib)) if _SYSCONFIGDATA.match(n))
    except OSError:
        names = []
    if not names:
        return {}, f"defaults (no _sysconfigdata_*.py in {stdlib})"
    inner = f"{stdlib}/{names[0]}"
    data = _read(root, inner, what="a _sysconfigdata", limit=SYSCONFIGDATA_LIMIT)
    if data is None:
        raise RootError(f"{inner} cannot be read as a regular file")
    try:
        return parse_sysconfigdata(data), inner
    except RootError as exc:
        raise RootError(f"{inner} {exc}") from None


def _release(
    root: str, base: tuple[str, str, str], cfg: Mapping[str, str], found: _Found
) -> tuple[str, str]:
    """X.Y.Z and the release level, from every source there is; all must agree. ``base`` is
    the interpreter's real path, its prefix and its X.Y."""
    real, prefix, minor = base
    header = f"{prefix}/include/python{minor}/patchlevel.h"
    data = _read(root, header, what="a patchlevel.h", limit=PATCHLEVEL_LIMIT)
    if data is not None and (value := patchlevel_version(data)):
        found.versions.append((value, header))
    status = "/var/lib/dpkg/status"
    data = _read(root, status, what="dpkg's status", limit=DPKG_STATUS_LIMIT)
    if data is not None and (value := dpkg_version(data, minor)):
        found.versions.append((value, f"{status} (libpython{minor}-minimal)"))
    if not found.versions:  # the bytes are the last resort: 30 MiB to read
        for binary in (real, *_libpythons(root, prefix, minor)):
            data = _read(root, binary, what="an interpreter", limit=BINARY_LIMIT)
            if data is not None and (value := binary_version(data, minor)):
                found.versions.append((value, f"the PY_VERSION string in {binary}"))
                break
    if not found.versions:  # a venv's record of its base: the last resort (the
        # virtual_environment check compares it with the base's own when both are known)
        for key in ("version_info", "version"):
            if cfg.get(key):
                found.versions.append((".".join(cfg[key].split(".")[:3]), f"pyvenv.cfg {key}"))
                break
    if not found.versions:
        raise RootError(
            f"no file tells Python {minor}'s patch release: looked for {header}, {status} "
            f"and a PY_VERSION string in {real} and libpython{minor}.so"
        )
    distinct = {v for v, _ in found.versions}
    if len(distinct) > 1:
        said = "; ".join(f"{v} ({where})" for v, where in found.versions)
        raise RootError(f"the files disagree about the interpreter's release: {said}")
    value = found.versions[0][0]
    parsed = _RELEASE.match(value)
    if parsed is None:
        raise RootError(f"{found.versions[0][1]} gives {value!r}, not a release like 3.12.1")
    if f"{parsed.group(1)}.{parsed.group(2)}" != minor:
        raise RootError(f"{found.versions[0][1]} gives {value}, not a Python {minor} release")
    found.sources["version"] = ", ".join(where for _, where in found.versions)
    return ".".join(parsed.group(i) for i in (1, 2, 3)), _LEVELS[parsed.group(5)]


def _libpythons(root: str, prefix: str, minor: str) -> list[str]:
    name = f"libpython{minor}.so.1.0"
    folders = [f"{prefix}/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"]
    return [f"{folder}/{name}" for folder in folders if _is_file(root, f"{folder}/{name}")]


def _debian(root: str, prefix: str) -> bool:
    return prefix == "/usr" and _is_dir(root, "/usr/lib/python3/dist-packages")


@dataclass(frozen=True)
class _Where:
    """The interpreter inside the root: as named, resolved, its prefix, a venv's, its X.Y."""

    root: str
    python: str
    real: str
    prefix: str
    venv_prefix: str | None
    minor: str


def _report(
    where: _Where, version: str, level: str, build: tuple[str, str, str | None]
) -> ProbeReport:
    """What the probe would have said, from files; every path on this machine. ``build`` is
    the ABI flags, ``platlibdir`` and the machine."""
    root, python, real, prefix = where.root, where.python, where.real, where.prefix
    venv_prefix, minor = where.venv_prefix, where.minor
    abiflags, platlibdir, machine = build

    def host(inner: str) -> str:
        return on_host(root, inner)

    def scheme(base: str) -> dict[str, str]:
        return {
            "purelib": host(f"{base}/lib/python{minor}/site-packages"),
            "platlib": host(f"{base}/{platlibdir}/python{minor}/site-packages"),
            "scripts": host(f"{base}/bin"),
        }

    vendor: tuple[str, ...] = ()
    base_paths = scheme(prefix)
    if _debian(root, prefix):  # Debian's site.py: its own folders, not site-packages
        vendor = tuple(
            host(p)
            for p in (
                f"/usr/local/lib/python{minor}/dist-packages",
                "/usr/lib/python3/dist-packages",
                f"/usr/lib/python{minor}/dist-packages",
            )
        )
        base_paths = {
            "purelib": host(f"/usr/local/lib/python{minor}/dist-packages"),
            "platlib": host(f"/usr/local/lib/python{minor}/dist-packages"),
            "scripts": host("/usr/local/bin"),
        }
    stdlib = f"{prefix}/lib/python{minor}"
    nodot = minor.replace(".", "")
    marker = {
        "implementation_name": "cpython",
        "implementation_version": version,
        "os_name": "posix",
        "platform_machine": machine or "",
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": version,
        "python_version": minor,
        "sys_platform": "linux",
    }
    return ProbeReport(
        executable=host(python),
        base_executable=host(real),
        version=version,
        release_level=level,
        implementation="cpython",
        base_prefix=host(prefix),
        base_exec_prefix=host(prefix),
        platlibdir=platlibdir,
        abiflags=abiflags,
        venv_prefix=host(venv_prefix) if venv_prefix else None,
        venv_paths=scheme(venv_prefix) if venv_prefix else {},
        base_paths=base_paths,
        vendor_site=vendor,
        user_site=host(f"/root/.local/lib/python{minor}/site-packages"),
        # root's (an image's process runs as root unless told otherwise), when it exists
        user_site_allowed=_is_dir(root, f"/root/.local/lib/python{minor}/site-packages"),
        marker_env=marker,
        stdlib_path=(
            host(f"{prefix}/lib/python{nodot}.zip"),
            host(stdlib),
            host(f"{stdlib}/lib-dynload"),
        ),
    )


def _anchor(python: str, real: str, venv_prefix: str | None, cfg: Mapping[str, str]) -> str:
    if venv_prefix is None:
        return (
            f"read from files, never run: {python} (inside the image: {real}) and its own "
            "standard library and site-packages"
        )
    return (
        f"read from files, never run: {python} links to {real}, in pyvenv.cfg's home "
        f"{cfg.get('home')}"
    )
