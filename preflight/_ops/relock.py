"""Regenerate the policy's locks with pip-tools, one per interpreter, without ever losing one.

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
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import json
import os
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TextIO

from packaging.version import Version

from preflight._atomic import write_atomic
from preflight._errors import LockError, PreflightError
from preflight._lock.meta import PREFIX, header_line, inputs_digest
from preflight._lock.pylock import is_pylock_path
from preflight._lock.requirements import PREFLIGHT_META_PREFIX, parse_lock_text
from preflight._ops import relock_pylock
from preflight._ops.relock_pylock import Resolver
from preflight._policy.policy import Policy
from preflight._policy.spec import minor_of
from preflight._process import Completed, clean_env, run
from preflight._read import LOCK_LIMIT, ReadError, read_text

__all__ = [
    "INPUT_NAME",
    "RelockError",
    "RelockResult",
    "comparable",
    "finalize",
    "folder_lock",
    "relock_one",
]

INPUT_NAME = "tool.preflight.requires.in"  # named in the lock's "# via -r ..." comments
WORK_PREFIX = ".relock-"  # the private work folders beside the locks
COMPILE_COMMAND = "preflight relock"  # what the lock header and messages say to run (default)
PIP_TOOLS = "pip-tools>=7.4"
_COMPILE_TIMEOUT = 900.0
_INSTALL_TIMEOUT = 600.0

State = Literal["written", "unchanged", "up-to-date", "stale", "failed"]


class RelockError(PreflightError):
    """A lock could not be compiled, or what pip-compile wrote is not a sound lock."""


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


def finalize(raw: str, *, lock_path: Path, python: str, policy: Policy, now: datetime) -> str:
    """Validate pip-compile's output and add the ``# preflight-lock:`` header line.

    Raises :class:`RelockError` (the old lock stays) when the output is empty, does not parse,
    leaves a package unpinned or unhashed, or carries an index or find-links line. A PEP 751
    lock gets a ``[tool.preflight]`` table instead of the header line.
    """
    if is_pylock_path(lock_path):
        return _finalize_pylock(raw, lock_path=lock_path, python=python, policy=policy, now=now)
    try:
        lock = parse_lock_text(raw, lock_path)
    except LockError as exc:
        raise RelockError(
            f"pip-compile produced an unusable lock, so {lock_path} was left as it was: {exc}",
            hint=exc.hint,
        ) from None
    unsound = [e.raw_name for e in lock.entries if not e.sound]
    if unsound:
        raise RelockError(
            f"pip-compile left {', '.join(unsound)} without an == pin and hashes, so "
            f"{lock_path} was left as it was",
            hint="check that every requirement resolves to a released version on the index",
        )
    header = header_line(
        python=python,
        compiled=now.astimezone(UTC).replace(microsecond=0),
        inputs=inputs_digest(policy.requires),
    )
    lines = [line for line in raw.splitlines() if not _is_meta(line)]
    body = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    lines.insert(body, header)
    return "\n".join(lines) + "\n"


def _finalize_pylock(
    raw: str, *, lock_path: Path, python: str, policy: Policy, now: datetime
) -> str:
    try:
        return relock_pylock.finalize_pylock(
            raw, lock_path=lock_path, python=python, policy=policy, now=now
        )
    except LockError as exc:
        raise RelockError(
            f"the resolver produced an unusable lock, so {lock_path} was left as it was: {exc}",
            hint=exc.hint,
        ) from None
    except ValueError as exc:
        raise RelockError(
            f"the resolver left {exc} without a pinned version and hashes, so {lock_path} was "
            "left as it was",
            hint="check that every requirement resolves to a released version on the index",
        ) from None


def _is_meta(line: str) -> bool:
    return line.startswith("#") and line[1:].strip().startswith(PREFLIGHT_META_PREFIX)


def comparable(text: str) -> str:
    """What "unchanged" compares: the lock text, without the compile time and patch release.

    A lock is per X.Y: resolved again by 3.11.14 instead of 3.11.7 with the same pins, it has
    not changed (and is not rewritten; its header keeps naming the interpreter that made it).
    """
    out = []
    for line in relock_pylock.comparable_lines(text.splitlines()):
        kept = line
        if line.startswith(PREFIX):
            with contextlib.suppress(ValueError, AttributeError, TypeError):
                meta = json.loads(line[len(PREFIX) :])
                meta.pop("compiled", None)
                with contextlib.suppress(ValueError):  # a garbled value compares as it is
                    meta["python"] = minor_of(str(meta.get("python", "")))
                kept = PREFIX + json.dumps(meta, sort_keys=True)
        out.append(kept)
    return "\n".join(out) + "\n"


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
# Running pip-tools
# ---------------------------------------------------------------------------------------------


def _failed(what: str, completed: Completed) -> RelockError:
    tail = "\n".join(completed.stderr.strip().splitlines()[-15:]) or "(no output)"
    return RelockError(f"{what}: {completed.describe()}\n{tail}")


def pip_tools_python(interpreter: Path, version: str, cache: Path) -> Path:
    """A venv of ``interpreter`` holding pip-tools, made once under ``cache`` and reused."""
    venv = cache / f"pip-tools-{version}"
    python = venv / "bin" / "python"
    if (venv / "bin" / "pip-compile").is_file() and python.is_file():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    made = run([str(interpreter), "-m", "venv", str(venv)], timeout=120, env=clean_env())
    if not made.ok:
        raise _failed(f"cannot create a venv with {interpreter}", made)
    installed = run(
        [str(python), "-m", "pip", "install", "--quiet", PIP_TOOLS],
        timeout=_INSTALL_TIMEOUT,
        env=clean_env(),
    )
    if not installed.ok:
        shutil.rmtree(venv, ignore_errors=True)
        raise _failed(f"cannot install {PIP_TOOLS} for Python {version}", installed)
    return python


def pip_lock_python(interpreter: Path, version: str, cache: Path) -> Path:
    """A venv of ``interpreter`` holding a pip with ``pip lock``, made once under ``cache``."""
    venv = cache / f"pip-lock-{version}"
    python = venv / "bin" / "python"
    if (venv / ".pip-lock").is_file() and python.is_file():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    made = run([str(interpreter), "-m", "venv", str(venv)], timeout=120, env=clean_env())
    if not made.ok:
        raise _failed(f"cannot create a venv with {interpreter}", made)
    installed = run(
        [str(python), "-m", "pip", "install", "--quiet", "--upgrade", relock_pylock.PIP_LOCK],
        timeout=_INSTALL_TIMEOUT,
        env=clean_env(),
    )
    if not installed.ok:
        shutil.rmtree(venv, ignore_errors=True)
        raise _failed(f"cannot install {relock_pylock.PIP_LOCK} for Python {version}", installed)
    (venv / ".pip-lock").write_text("", encoding="utf-8")
    return python


def compile_raw(
    tools_python: Path,
    policy: Policy,
    lock_path: Path,
    *,
    upgrade: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    command: str = COMPILE_COMMAND,
    resolver: Resolver = "uv",
    universal_from: str | None = None,
) -> str:
    """Run pip-compile in a private work folder beside the lock; return what it wrote.

    A PEP 751 lock is compiled by ``resolver`` instead (``relock_pylock``); ``tools_python``
    is then the interpreter it resolves for (with pip >= 25.1, for pip).

    ``upgrade``: ``["*"]`` upgrades everything, else the named packages. The user's pip
    settings (indexes, find-links) are used to resolve, never written into the lock.
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
            if is_pylock_path(lock_path):
                return _compile_pylock_in(
                    work, tools_python, policy, lock_path, upgrade=upgrade, environ=environ,
                    command=command, resolver=resolver, universal_from=universal_from,
                )  # fmt: skip
            return _compile_in(
                work, tools_python, policy, lock_path,
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
    tools_python: Path,
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
    argv = [
        str(tools_python),
        "-m",
        "piptools",
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
        output.name,
        INPUT_NAME,
    ]
    if "*" in upgrade:
        argv.insert(4, "--upgrade")
    else:
        for name in upgrade:
            argv[4:4] = ["--upgrade-package", name]
    env = clean_env({"CUSTOM_COMPILE_COMMAND": command, **(environ or {})})
    completed = run(argv, timeout=_COMPILE_TIMEOUT, env=env, cwd=folder)
    if not completed.ok:
        raise _failed(f"pip-compile failed for {lock_path}, which was left as it was", completed)
    try:
        return read_text(output, what="a lock file", limit=LOCK_LIMIT)
    except ReadError as exc:
        raise RelockError(f"cannot read what pip-compile wrote for {lock_path}: {exc}") from None


def _compile_pylock_in(
    folder: Path,
    interpreter: Path,
    policy: Policy,
    lock_path: Path,
    *,
    upgrade: Sequence[str],
    environ: Mapping[str, str] | None,
    command: str,
    resolver: Resolver,
    universal_from: str | None,
) -> str:
    (folder / INPUT_NAME).write_text(requirements_in(policy), encoding="utf-8")
    output = folder / lock_path.name
    with contextlib.suppress(ReadError, OSError):  # uv keeps the pins of the existing lock
        output.write_text(
            read_text(lock_path, what="a lock file", limit=LOCK_LIMIT), encoding="utf-8"
        )
    try:
        completed = relock_pylock.compile_pylock(
            folder, INPUT_NAME, output, resolver=resolver, interpreter=interpreter,
            universal_from=universal_from, upgrade=upgrade, command=command, environ=environ,
        )  # fmt: skip
    except relock_pylock.CompileError as exc:
        raise RelockError(f"cannot compile {lock_path}: {exc}; it was left as it was") from None
    if not completed.ok:
        raise _failed(f"{resolver} failed for {lock_path}, which was left as it was", completed)
    try:
        return read_text(output, what="a lock file", limit=LOCK_LIMIT)
    except ReadError as exc:
        raise RelockError(f"cannot read what {resolver} wrote for {lock_path}: {exc}") from None


def _seed_existing(lock_path: Path, output: Path) -> None:
    """Start from the committed lock (pip-compile keeps its pins) if it is a sound one."""
    try:  # a FIFO or /dev/zero in its place is no starting point (and must not hang)
        text = read_text(lock_path, what="a lock file", limit=LOCK_LIMIT)
        parse_lock_text(text, lock_path)
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


def relock_one(
    spec: str,
    interpreter: Path,
    version: Version | str,
    policy: Policy,
    *,
    cache: Path,
    check: bool = False,
    upgrade: Sequence[str] = (),
    substitute: bool = False,
    now: datetime | None = None,
    tools_python: Path | None = None,
    command: str = COMPILE_COMMAND,
    resolver: Resolver = "uv",
    universal_from: str | None = None,
) -> RelockResult:
    """Compile the lock of ``spec`` with ``interpreter``; write it, or compare it (``check``).

    ``tools_python``: an interpreter of the same version that already has pip-tools (else a
    venv of ``interpreter`` with pip-tools is made under ``cache``). The caller holds
    :func:`folder_lock` on the lock's folder.
    """
    version = str(version)
    lock_path = policy.lock_path(version)
    target = lock_path if check else write_target(lock_path, policy.project_dir)
    if not is_pylock_path(lock_path):
        tools = tools_python or pip_tools_python(interpreter, version, cache)
    elif resolver == "pip":
        tools = tools_python or pip_lock_python(interpreter, version, cache)
    else:
        tools = interpreter  # uv resolves for it from outside
    raw = compile_raw(
        tools, policy, lock_path, upgrade=upgrade, command=command, resolver=resolver,
        universal_from=universal_from,
    )  # fmt: skip
    fresh = finalize(
        raw, lock_path=lock_path, python=version, policy=policy, now=now or datetime.now(UTC)
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
    return RelockResult(
        result.spec, result.lock, state, result.python, result.substitute, changes, message
    )
