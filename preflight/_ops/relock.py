"""Regenerate the policy's locks (pip-tools, uv or pip lock) without ever losing one.

pip-compile writes its output in place: on a full disk a valid lock becomes a 0-byte file, and
an empty lock installs nothing with exit 0. So each lock is compiled in a private work folder
beside it, under its own interpreter (locks differ between X.Y), then:

1. the result must parse (``lockfile``), pin every package with ``==`` and carry hashes, and
   carry no index or find-links line;
2. a ``# preflight-lock:`` header line records the interpreter that resolved it, when, and a
   digest of the policy's ``requires`` (so ``preflight check`` can tell, offline, when a lock no
   longer matches the policy);
3. a lock whose content did not change (the compile time aside) is not rewritten; otherwise it
   is replaced atomically (``os.replace``): readers see the old lock or the new one. A lock
   that is a symlink stays one: the file it points to is replaced (``write_target``), and a
   link that leads out of the project is refused.

Two relocks of the same folder cannot interleave: the folder is locked (``flock``) for the whole
run. An interrupted or failing relock leaves every lock as it was.

The existing lock is the starting point of the compile (pip-compile keeps its pins), so a relock
changes only what the policy's change requires; ``upgrade`` asks for the newest versions. The
``check`` mode compiles the same way and reports a diff instead of writing: uv's
``lock --check`` is the model.

``universal`` asks for one lock for every interpreter of the policy: ``uv pip compile
--universal`` (pip-compile cannot) resolves for every Python from the policy's lowest X.Y up
and writes each pin with the markers under which it applies; ``preflight check`` selects the
pins of the interpreter it judges. pip-compile, one lock per X.Y, stays the default.

The lock's name says its format (``_lock/format.py``), and the format says what compiles it
and how its metadata is kept: a PEP 751 lock (``pylock.toml``, ``pylock.NAME.toml``) is
compiled by uv (universal or for one interpreter) or ``pip lock`` (one interpreter,
``relock_pylock``), and carries its metadata in ``[tool.preflight]``; everything else here
(the work folder, validation, the atomic replace, ``check``) is the same for both formats.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TextIO

from packaging.version import Version

from preflight._atomic import write_atomic
from preflight._errors import LockError, PreflightError
from preflight._lock import read
from preflight._lock.format import Resolver
from preflight._lock.meta import inputs_digest, stamp_meta
from preflight._ops import relock_pylock
from preflight._ops.relock_pylock import PIP_LOCK
from preflight._policy.policy import Policy
from preflight._process import Completed, clean_env, run
from preflight._read import LOCK_LIMIT, ReadError, read_text

__all__ = [
    "INPUT_NAME",
    "Compiler",
    "RelockError",
    "RelockResult",
    "choose_compiler",
    "comparable",
    "finalize",
    "folder_lock",
    "relock_one",
]

INPUT_NAME = "tool.preflight.requires.in"  # named in the lock's "# via -r ..." comments
WORK_PREFIX = ".relock-"  # the private work folders beside the locks
COMPILE_COMMAND = "preflight relock"  # what the lock header and messages say to run (default)
PIP_TOOLS = "pip-tools>=7.4"
UV = "uv>=0.4.16"  # --universal (0.2.x); --custom-compile-command, --no-strip-extras
_COMPILE_TIMEOUT = 900.0
_INSTALL_TIMEOUT = 600.0

State = Literal["written", "unchanged", "up-to-date", "stale", "failed"]


class RelockError(PreflightError):
    """A lock could not be compiled, or what pip-compile wrote is not a sound lock.

    ``output``: the whole output of the tool that failed, for a log (the message has one line
    of it, the one that says why)."""

    def __init__(self, message: str, *, hint: str | None = None, output: str = "") -> None:
        super().__init__(message, hint=hint)
        self.output = output


@dataclass(frozen=True)
class RelockResult:
    spec: str
    lock: Path
    state: State
    python: str  # the interpreter version that resolved the lock
    substitute: bool = False
    diff: str = ""  # for "stale": the unified diff committed -> fresh
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.state in ("written", "unchanged", "up-to-date")


# ---------------------------------------------------------------------------------------------
# Pure parts: the input, the header, comparison
# ---------------------------------------------------------------------------------------------


def requirements_in(policy: Policy) -> str:
    """The pip-compile input: the policy's ``requires``, one per line, as written."""
    return "".join(f"{req}\n" for req in policy.requires)


def finalize(
    raw: str,
    *,
    lock_path: Path,
    python: str,
    policy: Policy,
    now: datetime,
    universal: bool = False,
) -> str:
    """Validate the compiler's output and stamp relock's metadata into it, as the lock's
    format keeps it (a ``# preflight-lock:`` header line, a PEP 751 ``[tool.preflight]``
    table: ``LockFormat.stamp``).

    Raises :class:`RelockError` (the old lock stays) when the output is empty, does not parse,
    leaves a package unpinned or unhashed, or carries an index or find-links line.
    """
    lock_format = read.lock_format(lock_path)
    unusable = (
        f"{lock_format.producer} produced an unusable lock, so {lock_path} was left as it was"
    )
    try:
        lock = lock_format.parse(raw, lock_path)
    except LockError as exc:
        raise RelockError(f"{unusable}: {exc}", hint=exc.hint) from None
    unsound = [e.raw_name for e in lock.entries if not e.sound]
    if unsound:
        raise RelockError(
            f"{lock_format.producer} left {', '.join(unsound)} without {lock_format.sound_pin}, "
            f"so {lock_path} was left as it was",
            hint="check that every requirement resolves to a released version on the index",
        )
    meta = stamp_meta(
        python=python,
        compiled=now.astimezone(UTC).replace(microsecond=0),
        inputs=inputs_digest(policy.requires),
        universal=universal,
    )
    try:
        return lock_format.stamp(raw, meta, lock_path)
    except LockError as exc:  # a [tool.preflight] table the resolver wrote itself
        raise RelockError(f"{unusable}: {exc}", hint=exc.hint) from None


def comparable(text: str) -> str:
    """What "unchanged" compares: the lock text, without the compile time and patch release.

    A lock is per X.Y: resolved again by 3.11.14 instead of 3.11.7 with the same pins, it has
    not changed (and is not rewritten; its header keeps naming the interpreter that made it).
    Each format drops what its own stamp records (a text of one format holds nothing another
    format's stamp would match).
    """
    lines = text.splitlines()
    for lock_format in read.FORMATS.values():
        lines = lock_format.comparable_lines(lines)
    return "\n".join(lines) + "\n"


def diff(old: str, new: str, path: Path) -> str:
    return "".join(
        difflib.unified_diff(
            comparable(old).splitlines(keepends=True),
            comparable(new).splitlines(keepends=True),
            fromfile=f"{path} (committed)",
            tofile=f"{path} (relocked)",
        )
    )


# ---------------------------------------------------------------------------------------------
# The folder lock
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def folder_lock(folder: Path, *, log: TextIO = sys.stderr) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder`` itself (no lock file is left behind)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"relock: waiting for another relock of {folder} to finish", file=log)
            fcntl.flock(fd, fcntl.LOCK_EX)
        # Holding the lock, no other relock runs here: a work folder left by one that was
        # killed (SIGKILL, power loss) is stale.
        for stale in folder.glob(f"{WORK_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)
        yield
    finally:
        os.close(fd)  # closing releases the flock


# ---------------------------------------------------------------------------------------------
# The compilers: pip-compile, uv, pip lock
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compiler:
    """What compiles one lock, run how, for which interpreter.

    pip-compile and ``pip lock`` resolve for the interpreter they run in (a venv of it, made
    under the cache); uv resolves for the one it is pointed at (``--python``), or for every
    Python from ``universal_from`` up (``--universal``), from wherever it is installed."""

    tool: Literal["pip-compile", "uv", "pip lock"]
    argv: tuple[str, ...]  # the command that runs the tool
    python: Path  # the interpreter it resolves for
    universal_from: str | None = None  # an X.Y: one lock for every Python from it up (uv)

    @property
    def name(self) -> str:
        """How messages name it: ``uv pip compile --universal``, ``pip-compile``."""
        if self.tool != "uv":
            return self.tool
        return "uv pip compile --universal" if self.universal_from else "uv pip compile"


# What pip, pip-tools and uv print when the package index cannot be reached.
_UNREACHABLE = (
    "NewConnectionError", "Connection refused", "Name or service not known",
    "Temporary failure in name resolution", "Network is unreachable", "connection broken",
    "ConnectTimeout", "ProxyError", "Failed to establish a new connection", "dns error",
    "error sending request", "Could not fetch URL", "No route to host",
)  # fmt: skip
_NOT_FOUND = ("from versions: none", "No matching distribution found", "was not found in the")


def _failed(what: str, completed: Completed) -> RelockError:
    """One line that says why (the tool's own ``ERROR:`` line, else its last line), a hint
    that says what to do, and the whole output for the log: never a traceback on screen."""
    lines = [line.strip() for line in completed.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith(("error:", "error "))]
    why = errors[0] if errors else (lines[-1] if lines else completed.describe())
    why = why.removeprefix("ERROR: ").removeprefix("error: ")
    text = completed.stdout + completed.stderr
    if completed.timed_out or completed.returncode is None:
        why = completed.describe()
        hint = "see the log for what it printed before it stopped"
    elif any(mark in text for mark in _UNREACHABLE):
        hint = (
            "the package index could not be reached: check the network and the index your "
            "pip uses (PIP_INDEX_URL, pip.conf; uv: UV_INDEX_URL), or point PIP_FIND_LINKS at "
            "a folder holding the wheels"
        )
    elif any(mark in text for mark in _NOT_FOUND):
        hint = (
            "nothing on the index satisfies a requirement: check [tool.preflight] requires, "
            "and that your pip's index (PIP_INDEX_URL, pip.conf) is reachable and has it"
        )
    else:
        hint = None  # the whole output says more: the CLI writes it to a log and names it
    output = (
        f"{completed.describe()}\n--- stdout\n{completed.stdout}\n--- stderr\n{completed.stderr}"
    )
    return RelockError(f"{what}: {why}", hint=hint, output=output)


def pip_tools_python(interpreter: Path, version: str, cache: Path) -> Path:
    """A venv of ``interpreter`` holding pip-tools, made once under ``cache`` and reused."""
    return _tools_venv(
        interpreter, version, cache, kind="pip-tools", requirement=PIP_TOOLS, script="pip-compile"
    )


def uv_python(interpreter: Path, version: str, cache: Path) -> Path:
    """A venv of ``interpreter`` holding uv (its binary ships in the wheel), made once."""
    return _tools_venv(interpreter, version, cache, kind="uv", requirement=UV, script="uv")


def pip_lock_python(interpreter: Path, version: str, cache: Path) -> Path:
    """A venv of ``interpreter`` holding a pip with ``pip lock``, made once under ``cache``.

    Every venv has a pip script: a marker file says this one was upgraded."""
    return _tools_venv(
        interpreter, version, cache, kind="pip-lock", requirement=PIP_LOCK, script=None
    )


def uv_command(interpreter: Path, version: str, cache: Path) -> tuple[str, ...]:
    """How to run uv: the ``uv`` package beside preflight, else ``uv`` on PATH, else a venv
    of ``interpreter`` holding it (made once under ``cache``; this one needs an index).

    uv resolves for the interpreter it is pointed at, whichever one it runs from."""
    if importlib.util.find_spec("uv") is not None:
        return (sys.executable, "-m", "uv")
    found = shutil.which("uv")
    if found is not None:
        return (found,)
    return (str(uv_python(interpreter, version, cache)), "-m", "uv")


def _tools_venv(
    interpreter: Path,
    version: str,
    cache: Path,
    *,
    kind: str,
    requirement: str,
    script: str | None,
) -> Path:
    venv = cache / f"{kind}-{version}"
    python = venv / "bin" / "python"
    ready = venv / "bin" / script if script else venv / f".{kind}"
    if ready.is_file() and python.is_file():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    # A cold cache takes minutes (a venv, then pip from the index): say so, once.
    print(
        f"relock: installing {requirement} for Python {version} into {venv} "
        "(once: later relocks reuse it)",
        file=sys.stderr,
    )
    made = run([str(interpreter), "-m", "venv", str(venv)], timeout=120, env=clean_env())
    if not made.ok:
        raise _failed(f"cannot create a venv with {interpreter}", made)
    installed = run(
        [str(python), "-m", "pip", "install", "--quiet", "--upgrade", requirement],
        timeout=_INSTALL_TIMEOUT,
        env=clean_env(),
    )
    if not installed.ok:
        shutil.rmtree(venv, ignore_errors=True)
        raise _failed(f"cannot install {requirement} for Python {version}", installed)
    if script is None:
        ready.write_text("", encoding="utf-8")
    return python


def choose_compiler(
    interpreter: Path,
    version: str,
    lock_path: Path,
    *,
    cache: Path,
    resolver: Resolver | None = None,
    universal_from: str | None = None,
    tools_python: Path | None = None,
) -> Compiler:
    """The compiler of ``lock_path``, as its format says (``LockFormat.tool``):

    * a requirements file: pip-compile, or uv with ``universal_from``;
    * a PEP 751 lock: uv (``resolver`` None or ``"uv"``; universal with ``universal_from``),
      or ``pip lock`` (``resolver="pip"``, one interpreter only).

    ``tools_python``: an interpreter of ``version`` that already has the tool (pip-tools, uv,
    pip >= 25.1); else one is found or made (:func:`uv_command`, the venvs under ``cache``).
    """
    tool = read.lock_format(lock_path).tool(resolver, universal=universal_from is not None)
    if tool == "pip lock":
        if universal_from is not None:
            raise RelockError(
                f"pip lock resolves for one interpreter only, and {lock_path} is for every "
                f"interpreter from Python {universal_from} up; it was left as it was",
                hint="use --resolver uv, or give each X.Y its own lock "
                '(lock = "pylock.py{major}{minor}.toml")',
            )
        python = tools_python or pip_lock_python(interpreter, version, cache)
        return Compiler("pip lock", (str(python), "-m", "pip"), python)
    if tool == "uv":
        python = tools_python or interpreter
        uv = (str(tools_python), "-m", "uv") if tools_python else None
        return Compiler("uv", uv or uv_command(interpreter, version, cache), python, universal_from)
    python = tools_python or pip_tools_python(interpreter, version, cache)
    return Compiler("pip-compile", (str(python), "-m", "piptools"), python)


def compile_raw(
    compiler: Compiler,
    policy: Policy,
    lock_path: Path,
    *,
    upgrade: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    command: str = COMPILE_COMMAND,
) -> str:
    """Run the compiler in a private work folder beside the lock; return what it wrote.

    ``upgrade``: ``["*"]`` upgrades everything, else the named packages. The user's pip (or
    uv) settings (indexes, find-links) are used to resolve, never written into the lock.
    ``command`` is what the lock's header says to run to update it.
    """
    # A name of our own, made and removed inside one try: unlike mkdtemp + TemporaryDirectory,
    # a Ctrl-C landing between "made" and "cleanup registered" cannot leave it behind.
    work = lock_path.parent / f"{WORK_PREFIX}{lock_path.stem}-{os.getpid()}"
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(mode=0o700)
            return _compile_in(
                work, compiler, policy, lock_path,
                upgrade=upgrade, environ=environ, command=command,
            )  # fmt: skip
        finally:
            shutil.rmtree(work, ignore_errors=True)
    except OSError as exc:
        raise RelockError(
            f"cannot compile {lock_path} in a work folder beside it ({exc.strerror or exc}); "
            "the lock was left as it was",
            hint="free some disk space or fix the folder's permissions, then relock again",
        ) from None


def _compile_in(
    folder: Path,
    compiler: Compiler,
    policy: Policy,
    lock_path: Path,
    *,
    upgrade: Sequence[str],
    environ: Mapping[str, str] | None,
    command: str,
) -> str:
    (folder / INPUT_NAME).write_text(requirements_in(policy), encoding="utf-8")
    output = folder / lock_path.name
    _seed_existing(lock_path, output)
    if compiler.tool == "uv":
        argv = _uv_argv(compiler, output.name, command, upgrade)
    elif compiler.tool == "pip lock":
        try:
            argv = relock_pylock.pip_lock_argv(compiler.argv, output.name, INPUT_NAME, upgrade)
        except ValueError as exc:
            raise RelockError(f"cannot compile {lock_path}: {exc}; it was left as it was") from None
    else:
        argv = _pip_compile_argv(compiler.argv, output.name, upgrade)
    # The resolver may build sdists (their code runs): the policy's credentials stay out.
    env = clean_env(
        {"CUSTOM_COMPILE_COMMAND": command, **(environ or {})},
        withhold=policy.secret_variables(),
    )
    completed = run(argv, timeout=_COMPILE_TIMEOUT, env=env, cwd=folder)
    if not completed.ok:
        raise _failed(
            f"{compiler.name} failed for {lock_path}, which was left as it was", completed
        )
    try:
        return read_text(output, what="a lock file", limit=LOCK_LIMIT)
    except ReadError as exc:
        raise RelockError(
            f"cannot read what {compiler.name} wrote for {lock_path}: {exc}"
        ) from None


def _pip_compile_argv(tool: Sequence[str], output: str, upgrade: Sequence[str]) -> list[str]:
    argv = [
        *tool,
        "compile",
        "--quiet",
        "--generate-hashes",
        "--allow-unsafe",
        "--strip-extras",
        "--no-emit-index-url",
        "--no-emit-find-links",
        "--no-emit-trusted-host",
        "--no-emit-options",
        "--output-file",
        output,
    ]
    return [*argv, *_upgrade_args(upgrade), INPUT_NAME]


def _uv_argv(compiler: Compiler, output: str, command: str, upgrade: Sequence[str]) -> list[str]:
    """uv's pip-compile: index and find-links settings are not emitted unless asked for; the
    output's name says the format (``pylock.toml``: PEP 751, else a requirements file)."""
    argv = [*compiler.argv, "pip", "compile", "--quiet", "--generate-hashes"]
    if compiler.universal_from is not None:
        argv += ["--universal", "--python-version", compiler.universal_from]
    argv += ["--python", str(compiler.python), "--custom-compile-command", command]
    return [*argv, "--output-file", output, *_upgrade_args(upgrade), INPUT_NAME]


def _upgrade_args(upgrade: Sequence[str]) -> list[str]:
    if "*" in upgrade:
        return ["--upgrade"]
    return [arg for name in upgrade for arg in ("--upgrade-package", name)]


def _seed_existing(lock_path: Path, output: Path) -> None:
    """Start from the committed lock (the compilers keep its pins) if it is a sound one."""
    try:  # a FIFO or /dev/zero in its place is no starting point (and must not hang)
        text = read_text(lock_path, what="a lock file", limit=LOCK_LIMIT)
        read.lock_format(lock_path).parse(text, lock_path)
    except (ReadError, LockError):
        return
    output.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# One lock
# ---------------------------------------------------------------------------------------------


def write_target(lock_path: Path, project_dir: Path) -> Path:
    """The file a relock replaces: the lock, or the file a symlinked lock points to.

    ``os.replace`` on the link itself would turn it into a regular file and silently cut it
    from what it shared (a lock kept in one place and linked from others). So a link is
    followed, to the end of its chain, and its target is replaced atomically: the link stays a
    link. A target outside the project is refused (a relock writes only the project's files),
    before anything is compiled."""
    if not lock_path.is_symlink():
        return lock_path
    target = Path(os.path.realpath(lock_path))
    root = Path(os.path.realpath(project_dir))
    if not target.is_relative_to(root):
        raise RelockError(
            f"{lock_path} is a symlink to {target}, outside the project {root}; "
            "it was left as it was",
            hint="link to a lock inside the project, or replace the link with the lock itself",
        )
    return target


@dataclass(frozen=True)
class RelockRun:
    """What every lock of one relock run is compiled with: the ``cache`` folder; ``check``
    compares instead of writing; ``upgrade`` names the packages to lift; ``command`` is what a
    stale lock's message says to run; ``resolver`` compiles a PEP 751 lock (uv, the default,
    or pip); ``now`` dates the lock's header (default: the time of writing)."""

    cache: Path
    check: bool = False
    upgrade: Sequence[str] = ()
    command: str = COMPILE_COMMAND
    resolver: Resolver | None = None
    now: datetime | None = None


def relock_one(
    spec: str,
    interpreter: Path,
    version: Version | str,
    policy: Policy,
    *,
    run: RelockRun,
    substitute: bool = False,
    tools_python: Path | None = None,
    universal_from: str | None = None,
) -> RelockResult:
    """Compile the lock of ``spec`` with ``interpreter``; write it, or compare it (``check``
    of the ``run``).

    ``tools_python``: an interpreter of the same version that already has pip-tools (or uv,
    or pip >= 25.1: :func:`choose_compiler`). ``universal_from`` (an X.Y): one lock for every
    Python from that one up, by uv. The caller holds :func:`folder_lock` on the lock's folder.
    """
    cache, check, command = run.cache, run.check, run.command
    version = str(version)
    lock_path = policy.lock_path(version)
    target = lock_path if check else write_target(lock_path, policy.project_dir)
    compiler = choose_compiler(
        interpreter, version, lock_path, cache=cache, resolver=run.resolver,
        universal_from=universal_from, tools_python=tools_python,
    )  # fmt: skip
    raw = compile_raw(compiler, policy, lock_path, upgrade=run.upgrade, command=command)
    fresh = finalize(
        raw,
        lock_path=lock_path,
        python=version,
        policy=policy,
        now=run.now or datetime.now(UTC),
        universal=universal_from is not None,
    )
    try:
        committed: str | None = read_text(lock_path, what="a lock file", limit=LOCK_LIMIT)
    except ReadError:
        committed = None
    same = committed is not None and comparable(committed) == comparable(fresh)
    result = RelockResult(spec, lock_path, "unchanged", version, substitute)
    if check:
        if same:
            return _with(result, "up-to-date", f"{lock_path} is up to date")
        changes = diff(committed or "", fresh, lock_path)
        why = "does not exist" if committed is None else "is out of date"
        return _with(result, "stale", f"{lock_path} {why}; run `{command}`", changes)
    if same:
        return _with(result, "unchanged", f"{lock_path} unchanged (not rewritten)")
    try:
        write_atomic(target, fresh)
    except OSError as exc:
        raise RelockError(
            f"cannot write {lock_path} ({exc.strerror or exc}); it was left as it was",
            hint="free some disk space or fix the folder's permissions, then relock again",
        ) from None
    return _with(result, "written", f"{lock_path} written", diff(committed or "", fresh, lock_path))


def _with(result: RelockResult, state: State, message: str, changes: str = "") -> RelockResult:
    return replace(result, state=state, message=message, diff=changes)
