"""Facts: what the probes found, as typed, frozen values.

Nothing here judges. The probe (``_probe/interpreter.py``) runs inside the target interpreter
without ``site`` and prints JSON; ``probes.py`` turns that JSON into a :class:`ProbeReport`,
and ``site.py`` adds what the environment's files say (pyvenv.cfg, site folders, ``.pth``
files, distributions, start-up hooks) to make :class:`InterpreterFacts`. Checks are pure
functions of facts and policy, so tests can build facts by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class DistFacts:
    """One installed distribution, as found in a site-packages folder."""

    name: str  # the Name field of METADATA / PKG-INFO, as written
    version: str  # the Version field, as written
    path: str  # absolute path of the .dist-info / .egg-info folder (or file)
    site: str  # absolute path of the site-packages folder holding it
    kind: Literal["dist-info", "egg-info"]
    installer: str | None = None  # INSTALLER file content, stripped
    direct_url: dict[str, Any] | None = None  # parsed direct_url.json (PEP 610)
    requested: bool = False  # a REQUESTED file is present
    license_expression: str | None = None  # METADATA License-Expression (PEP 639), as written
    license: str | None = None  # METADATA License (free text; its first 8 KiB)


@dataclass(frozen=True)
class ProbeReport:
    """What the interpreter probe (run as ``-I -S -B``) says: only what must come from the
    running interpreter. ``site.py`` adds what the environment's files say."""

    executable: str  # sys.executable
    base_executable: str | None  # sys._base_executable, when there is one
    version: str  # "3.12.1"
    release_level: str
    implementation: str
    base_prefix: str
    base_exec_prefix: str
    platlibdir: str  # sys.platlibdir
    abiflags: str
    venv_prefix: str | None  # the folder site.venv() would make the prefix, by its rule
    venv_paths: dict[str, str]  # sysconfig's paths for venv_prefix ({} when no venv)
    base_paths: dict[str, str]  # sysconfig's paths for the interpreter itself
    vendor_site: tuple[str, ...]  # site.getsitepackages() of the base (vendor patches)
    user_site: str | None
    user_site_allowed: bool  # no PYTHONNOUSERSITE, uid == euid: a normal start may add it
    marker_env: dict[str, str]
    stdlib_path: tuple[str, ...]  # sys.path under -I -S: the standard library's part


HookKind = Literal["pth", "sitecustomize", "usercustomize"]
HookForm = Literal["pth", "source", "bytecode", "package", "extension"]


@dataclass(frozen=True)
class PthFile:
    """One ``.pth`` file of a site folder, read as ``site.addpackage`` would read it."""

    path: str  # absolute
    site: str  # the site folder holding it
    code: tuple[str, ...]  # the lines that run at start-up (``import ...``), as written
    paths: tuple[str, ...]  # the folders its other lines add to sys.path (they exist)
    missing: tuple[str, ...] = ()  # folders its lines name that do not exist (site skips them)
    problem: str | None = None  # unreadable, whole or as Python reads it: what runs is unknown
    # Of ``paths``, those that are not folders (a file: zipimport reads it as an archive).
    not_folders: tuple[str, ...] = ()


@dataclass(frozen=True)
class StartupHook:
    """Code the environment runs at every start: a ``.pth`` line that runs code, or a
    ``sitecustomize`` / ``usercustomize`` in a site folder. Read, never run."""

    path: str  # absolute: the .pth file, the module, the package folder
    kind: HookKind
    form: HookForm
    site: str  # the folder it is found in
    code: tuple[str, ...]  # its code lines (a .pth's import lines; a module's first lines)
    owner: str | None = None  # the distribution whose RECORD lists it; None: none does
    own_site: bool = True  # in the environment's own site-packages (where RECORDs are checked)
    problem: str | None = None  # why its code could not be read (too large, not a file)


@dataclass(frozen=True)
class InterpreterFacts:
    """What the probe reported about the target interpreter, and what preflight read from
    the environment's files itself (``site.py``): pyvenv.cfg, the site folders, the ``.pth``
    files, the distributions, the start-up hooks."""

    executable: str  # sys.executable as the target sees it
    version: str  # "3.12.1" (major.minor.micro)
    release_level: str  # "final", "candidate", ...
    implementation: str  # sys.implementation.name, e.g. "cpython"
    prefix: str  # the environment's: the venv's folder, else the base prefix
    base_prefix: str
    in_venv: bool  # a pyvenv.cfg beside or above the executable (site.venv's rule)
    pyvenv_cfg: dict[str, str]  # keys lower-cased; {} when there is no pyvenv.cfg
    site_packages: tuple[str, ...]  # the environment's own purelib/platlib, existing, deduped
    system_site_packages: tuple[str, ...]  # base interpreter's site dirs visible in this env
    user_site: str | None  # site.USER_SITE
    user_site_enabled: bool  # whether user site would be on sys.path at normal start-up
    marker_env: dict[str, str]  # PEP 508 marker environment of the target
    distributions: tuple[DistFacts, ...]
    path: tuple[str, ...] = field(default=())  # sys.path under -I, worked out from files
    # sysconfig's purelib, platlib and scripts for the prefix (absolute; {} when unknown)
    install_paths: dict[str, str] = field(default_factory=dict)
    base_executable: str | None = None  # sys._base_executable, when the interpreter has it
    # The site folders site.getsitepackages' rule names for the prefix (existing or not): the
    # layout checked against the interpreter's own sysconfig scheme (install_paths).
    site_rule_dirs: tuple[str, ...] = ()
    # The real path of each of site_rule_dirs and install_paths (a venv's lib64 links to lib),
    # so that the check comparing them reads no file.
    real_paths: dict[str, str] = field(default_factory=dict)
    pth_files: tuple[PthFile, ...] = ()  # every .pth of every site folder Python processes
    startup_hooks: tuple[StartupHook, ...] = ()
    anchor: str = ""  # one sentence: what ties the interpreter to the environment, or not
    # The root filesystem (an image) these facts were read from, on this machine; None: an
    # interpreter of this machine. An image's own interpreter needs no venv: the image is
    # what isolates it.
    root: str | None = None
    # Of a root: the paths in its site folders that its distro's package manager installed
    # (Debian's /var/lib/dpkg/info/*.list), by path, "dpkg:PACKAGE": the distro's, not unowned.
    distro_owned: dict[str, str] = field(default_factory=dict)


# "foreign": the path is not the interpreter its environment's pyvenv.cfg names (a script, a
# wrapper, another environment's interpreter), or it reports another environment: not run,
# or not believed. The virtual_environment check reports it.
ProbeFailureKind = Literal[
    "missing", "not_executable", "timeout", "crashed", "too_old", "not_python", "foreign"
]


@dataclass(frozen=True)
class ProbeFailure:
    """The probe could not report: the reason, plus everything needed to debug it."""

    kind: ProbeFailureKind
    message: str  # one human sentence: what happened and what to do
    command: tuple[str, ...] = ()
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    version: str | None = None  # known for "too_old"


@dataclass(frozen=True)
class ImportTiming:
    module: str
    seconds: float
    error: str | None = None  # "ModuleNotFoundError: No module named 'x'" when it failed


@dataclass(frozen=True)
class PerformanceFacts:
    """What the performance probe measured inside the target interpreter."""

    imports: tuple[ImportTiming, ...]
    import_seconds: float  # total for all imports, in order
    compute_kind: str  # "pandas" (the seed's DataFrame baseline) or "python"
    compute_seconds: float
    compute_error: str | None
    total_seconds: float  # wall time of the probe process, start-up included
    bytecode_cached: bool | None  # whether imported modules had __pycache__ entries to use


# "foreign": with --wheelhouse, a file the distribution's RECORD claims that its locked wheel
# does not ship (and the installer does not write).
# "symlink": a file RECORD (or the locked wheel) lists that is now a symlink, whatever it
# points at (the target can change later).
FileProblemKind = Literal["modified", "missing", "unverifiable", "malformed", "foreign", "symlink"]


@dataclass(frozen=True)
class FileProblem:
    """A file listed in a distribution's RECORD that does not match it."""

    dist: str  # distribution name
    path: str  # the path as written in RECORD
    kind: FileProblemKind
    detail: str  # e.g. "sha256 differs", "malformed hash 'abc='"


# "startup_module": a sitecustomize or usercustomize (module, bytecode, extension or package),
# which site imports at every start.
UnownedKind = Literal["pth", "module", "package", "extension", "startup_module"]


@dataclass(frozen=True)
class UnownedEntry:
    """Something importable (or a start-up .pth) in site-packages, or importable in the
    scripts folder, that no RECORD lists."""

    path: str  # absolute path
    kind: UnownedKind
    known_tool: str | None = None  # e.g. "virtualenv" for _virtualenv.pth; None if unknown
    note: str = ""  # where it is, when that is why it matters (the scripts folder)


# link_outside: a symlink that resolves outside the environment's prefix;
# linked_folder: a folder import would enter (a package, a __pycache__) that is a symlink;
# writable: code (.py, .pyc, extension, .pth) or a folder on its import path that anyone but
# its owner can write (other-write, group-write by a group that is not the owner's own, or a
# POSIX ACL entry: a named user or group with write, a folder's default ACL giving it away),
# or a folder holding site-packages or the environment that others can write and is not
# sticky; foreign_owner: such code or folder owned by anyone but root or the environment's
# owner (the owner of its root folder).
# unjudged: a folder a .pth adds that holds too much to judge the code in it.
ExposureKind = Literal["link_outside", "linked_folder", "writable", "foreign_owner", "unjudged"]


@dataclass(frozen=True)
class Exposure:
    """What lets code into the environment past its files' hashes, found by the census."""

    path: str  # absolute
    kind: ExposureKind
    detail: str  # "a symlink to /tmp/x, which resolves outside the environment (/tmp/x)"


@dataclass(frozen=True)
class AnchoredWheel:
    """An installed distribution and the wheel of the wheelhouse that the lock vouches for."""

    dist: str  # the distribution's name, as installed
    version: str
    wheel: str  # absolute path of the wheel file
    sha256: str  # "sha256:<hex>": the wheel's hash, one of the lock's for that pin


# Why a distribution's files rest on its RECORD alone with --wheelhouse:
# no_wheel: the lock pins it, the wheelhouse holds no file of that name and version;
# untrusted: it holds some, but no lock hash vouches for any of them;
# sdist: the one the lock vouches for is an sdist (what was built from it is unknown);
# unusable: the vouched wheel cannot be read within the limits;
# not_locked: the lock has no index pin of that version (lock_sync says more);
# ignored: tooling the policy ignores (pip, setuptools, wheel), never pinned.
UnanchoredKind = Literal["no_wheel", "untrusted", "sdist", "unusable", "not_locked", "ignored"]


@dataclass(frozen=True)
class Unanchored:
    dist: str
    version: str
    kind: UnanchoredKind
    detail: str  # one sentence: what the wheelhouse holds, why it does not count


@dataclass(frozen=True)
class AnchorFacts:
    """With --wheelhouse: which distributions are anchored in the lock's hashes, and how
    many installed files rest on what (lock hash → wheel → file, or RECORD alone)."""

    wheelhouse: str  # the folder, absolute
    wheels: tuple[AnchoredWheel, ...]
    unanchored: tuple[Unanchored, ...]
    files_anchored: int  # byte for byte what the vouched wheel ships
    files_derived: int  # written by the installer from the wheel, checked as far as they can be
    files_record_only: int  # rest on the installed RECORD alone
    wheel_bytes_hashed: int  # wheelhouse files hashed to find the vouched ones
    unavailable: str | None = None  # why nothing could be anchored (the lock cannot be read)

    def wheel_of(self, name: str, version: str) -> AnchoredWheel | None:
        """The vouched wheel of an installed distribution, if it has one."""
        for wheel in self.wheels:
            if wheel.dist == name and wheel.version == version:
                return wheel
        return None


@dataclass(frozen=True)
class IntegrityFacts:
    """The result of hashing every installed file against its RECORD (or, with a
    wheelhouse, against the locked wheel the lock's hashes vouch for)."""

    files_checked: int
    bytes_checked: int
    problems: tuple[FileProblem, ...]
    unowned: tuple[UnownedEntry, ...]
    without_record: tuple[str, ...]  # distributions with no RECORD (egg-info, broken installs)
    anchor: AnchorFacts | None = None  # None: no wheelhouse was given
    exposed: tuple[Exposure, ...] = ()  # links and write permissions that expose code
    # why the census did not finish (out of time, too many entries): nothing above is judged
    unfinished: str | None = None


@dataclass(frozen=True)
class SuiteFacts:
    """What the project's own suite did, run by the environment's pytest."""

    folder: str  # the suite folder, absolute
    command: tuple[str, ...]
    returncode: int | None  # None: could not be started
    timed_out: bool
    seconds: float
    summary: str  # pytest's closing line, e.g. "4 passed in 0.52s"
    output_tail: str  # the last lines of its output, for the report
    sealed: bool = False  # it could not read preflight's memory (Completed.sealed)


@dataclass(frozen=True)
class FirstStartFacts:
    """The environment's first start, run on request for an environment just built: what the
    policy's requirements provide imported once, writing their bytecode."""

    seconds: float
    returncode: int | None  # None: could not be started
    timed_out: bool
    problems: str  # what the first start said on stderr (an import that hung, say)


@dataclass(frozen=True)
class FileMode:
    """One protected file: its permission bits and those of the folders that hold its name
    (a symlink can be replaced there) and its target (the file can be replaced there)."""

    path: Path
    present: bool
    mode: int | None = None  # permission bits (``stat.S_IMODE``); None: absent or unexamined
    problem: str | None = None  # why it could not be examined (absent is no problem)
    folders: tuple[tuple[Path, int], ...] = ()  # (folder, its permission bits)


@dataclass(frozen=True)
class ConfigFile:
    """The policy's config file: whether it exists, its text, or why it cannot be read."""

    path: Path
    present: bool
    text: str | None = None
    problem: str | None = None  # the bounded reader's refusal, naming the file
