"""nox sessions for preflight, to import in a noxfile: one call registers them from the policy.

    import nox
    import preflight.nox

    preflight.nox.register()

registers, from ``[tool.preflight] pythons`` of the project beside the noxfile:

* ``preflight-<spec>`` for each interpreter (tagged ``preflight``: ``nox -t preflight``):
  the lock's artifacts downloaded into a wheelhouse (kept between runs), a fresh environment
  installed from it with the index off, hash-checked, started once, then judged with the
  integrity check anchored in the lock's hashes;
* ``preflight``: all of them, then the matrix summary;
* ``preflight_summary``: the matrix table, ``reports/summary.json`` and the GitHub step summary;
* ``relock``: every lock compiled again with pip-tools, replaced only when it changed.

A missing interpreter is nox's own "interpreter not found": skipped, or an error with
``--error-on-missing-interpreters`` (nox's default on CI). For sessions of one's own, the
building blocks are public too: :func:`policy`, :func:`find_python`, :func:`build_env`,
:func:`check_env`.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from types import FrameType

import nox
from nox.virtualenv import InterpreterNotFound

from preflight import CheckRequest, _process, check_request
from preflight._args import Parser, seconds
from preflight._atomic import UnsafeOutput
from preflight._checks.details import first_start_seconds
from preflight._errors import PreflightError, UsageError, format_error
from preflight._facts.context import NOX_REMEDIES
from preflight._facts.request import SKIPPABLE
from preflight._interpreters.discovery import Found, find_interpreters
from preflight._interpreters.resolve import Resolution, install_hint, resolve
from preflight._ops import fetch, matrix
from preflight._ops.installable import installable_lock
from preflight._policy.policy import Policy, load_policy
from preflight._policy.spec import minor_of
from preflight._render.report import (
    github_annotations,
    github_workspace,
    summary_lines,
    write_reports,
)
from preflight._report.model import Report
from preflight._text import shown

__all__ = [
    "MissingInterpreter",
    "Registered",
    "build_env",
    "check_env",
    "create_env",
    "download_lock",
    "find_python",
    "install_lock",
    "policy",
    "register",
]

TAG = "preflight"
REPORT_DIR = "reports"
_RUN_VARIABLE = "PREFLIGHT_NOX_RUN"  # one id per nox run: the summary shows what it checked


class MissingInterpreter(InterpreterNotFound):
    """nox's own "interpreter not found", with preflight's message: what was searched, the
    nearest release found, how to install the exact one. nox decides skip or error."""

    def __init__(self, resolution: Resolution) -> None:
        # One short line: nox prints it twice (the skip, and the list of sessions at the end);
        # the paragraph of what was searched is logged once, before.
        OSError.__init__(
            self,
            f"{resolution.short}: {install_hint(resolution.spec)}, or accept the nearest "
            "with -- --allow-substitute",
        )
        self.interpreter = str(resolution.spec)
        self.resolution = resolution


@dataclass(frozen=True)
class Registered:
    """The names of the sessions :func:`register` added."""

    interpreters: tuple[str, ...]  # preflight-3.12, preflight-3.11.13
    matrix: str  # preflight
    summary: str  # preflight_summary
    relock: str | None  # relock


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------


def policy(project: str | os.PathLike[str] = ".") -> Policy:
    """The policy of ``project`` (the noxfile's folder, where nox runs); a bad one is one clear
    ``error:`` / ``hint:`` message that ends nox, not a traceback."""
    try:
        return load_policy(Path(project).resolve())
    except PreflightError as exc:
        if not (Path(project) / "pyproject.toml").exists():
            # nox has no --project: the policy is the pyproject.toml beside the noxfile.
            exc.hint = (
                "preflight.nox reads [tool.preflight] from the pyproject.toml beside the "
                "noxfile: create it (pythons and requires are enough; see docs/policy.md)"
            )
        raise SystemExit(format_error(exc)) from None


_FOUND: list[Found] = []


def _interpreters() -> Sequence[Found]:
    """Every interpreter on PATH and in pyenv / uv / asdf / mise folders, searched once."""
    if not _FOUND:
        _FOUND.extend(find_interpreters())
    return _FOUND


def find_python(session: nox.Session, spec: str, *, allow_substitute: bool = False) -> Resolution:
    """The interpreter for ``spec``, or :class:`MissingInterpreter` (nox skips or fails)."""
    found = resolve(spec, _interpreters(), allow_substitute=allow_substitute)
    if not found.ok:
        session.log(found.message)
        raise MissingInterpreter(found)
    session.log(found.message)
    return found


def build_env(
    session: nox.Session,
    interpreter: str | os.PathLike[str],
    lock: Path,
    target: Path,
    *,
    backend: matrix.Backend | None = None,
    wheelhouse: Path | None = None,
    withhold: Sequence[str] = (),
) -> Path:
    """A fresh environment at ``target`` holding exactly ``lock``; returns its python.

    ``backend``: uv when it is on PATH, else virtualenv + pip (``PREFLIGHT_BACKEND`` forces
    one). The install requires hashes and resolves nothing. ``wheelhouse``: the lock's
    artifacts are downloaded there first (:func:`download_lock`) and installed from there
    with the index off; pass the same folder to :func:`check_env` to anchor the check.
    A PEP 751 lock is installed as its pins for the new environment, which is probed for
    them with the variables in ``withhold`` (the policy's ``secret_variables()``) removed.
    """
    backend = backend or matrix.choose_backend()
    python = create_env(session, interpreter, target, backend=backend)
    pins = _installable(session, lock, python, target.parent, withhold=withhold)
    if wheelhouse is not None:
        download_lock(session, python, pins, wheelhouse, backend=backend)
    install_lock(session, python, pins, backend=backend, wheelhouse=wheelhouse)
    return python


def _installable(
    session: nox.Session, lock: Path, python: Path, folder: Path, *, withhold: Sequence[str]
) -> Path:
    """What pip or uv installs for ``lock``: a PEP 751 lock as its pins for ``python``."""
    try:
        pins = installable_lock(lock, python, folder, withhold=withhold)
    except PreflightError as exc:
        session.error(format_error(exc))
    if pins != lock:
        session.log(f"{lock.name}: installing its pins for this interpreter ({pins})")
    return pins


def create_env(
    session: nox.Session,
    interpreter: str | os.PathLike[str],
    target: Path,
    *,
    backend: matrix.Backend,
) -> Path:
    """A new, empty environment at ``target`` (whatever was there is removed); its python."""
    session.log(backend.describe())
    shutil.rmtree(target, ignore_errors=True)  # fresh, every time
    session.run(
        *matrix.venv_command(backend, sys.executable, os.fspath(interpreter), target),
        external=True,
    )
    return target / "bin" / "python"


def install_lock(
    session: nox.Session,
    python: Path,
    lock: Path,
    *,
    backend: matrix.Backend,
    wheelhouse: Path | None = None,
) -> None:
    """Install exactly ``lock`` into ``python``'s environment: hashes required, no resolving;
    pip / uv settings that would weaken that are dropped from the install's environment.
    ``wheelhouse``: from that folder only, the index off."""
    session.run(
        *matrix.install_command(backend, python, lock, wheelhouse=wheelhouse),
        env=matrix.install_env(),
        include_outer_env=False,
        external=True,
    )


def download_lock(
    session: nox.Session,
    python: Path,
    lock: Path,
    wheelhouse: Path,
    *,
    backend: matrix.Backend,
    pip_config: Future[dict[str, str]] | None = None,
    target: Future[fetch.Target] | None = None,
) -> None:
    """The lock's files for ``python`` in ``wheelhouse``, by their hashes
    (:mod:`preflight._ops.fetch`): a file already there whose sha256 the lock names is kept
    (a warm run runs no pip and asks no index: only the target's ``-I -S`` tag probe starts,
    and with ``target`` given, not even that); the others are fetched side by side from
    the index pip is configured with, and kept only when their bytes hash as the lock says.
    What the fetcher leaves (an sdist-only pin, an index asking for credentials, a line it
    does not read) is ``pip download --require-hashes --no-deps``'s, as before; a
    :class:`~preflight._ops.fetch.FetchError` says which file and why. ``pip_config``, ``target``:
    pip's configuration and the target's tags being read already (:func:`_read_early`)."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    try:
        text = lock.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        _pip_download(session, python, lock, wheelhouse, backend=backend)  # pip says why
        return
    fetched = fetch.fetch_lock(
        text,
        wheelhouse,
        target=target.result() if target else fetch.probe_target(python),
        sources=lambda options: fetch.sources_from(
            pip_config.result() if pip_config else fetch.pip_config(sys.executable),
            options,
            lock.parent,
        ),
    )
    session.log(f"wheelhouse {wheelhouse}: {fetch.describe(fetched)}")
    if fetched.whole is not None:
        session.log(f"{lock.name}: {shown(fetched.whole)} is pip's to follow: pip downloads it all")
        _pip_download(session, python, lock, wheelhouse, backend=backend)
        return
    if not fetched.left:
        return
    for note in fetched.notes:
        session.log(f"left to pip download: {shown(note)}")
    folder = Path(tempfile.mkdtemp(prefix="preflight-left-"))
    try:
        rest = folder / lock.name
        options = fetch.absolute_options(fetched.options, lock.parent)
        rest.write_text("\n".join([*options, *fetched.left]) + "\n", encoding="utf-8")
        _pip_download(session, python, rest, wheelhouse, backend=backend)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _read_early(
    lock: Path, wheelhouse: Path, interpreter: Path
) -> tuple[Future[dict[str, str]] | None, Future[fetch.Target]]:
    """Read beside the environment's creation: the tags of the interpreter it is made from
    (a ``-I -S`` probe of it: the environment's are its own), and pip's configuration when the
    wheelhouse lacks a file of some pin's name (a cold run will ask the index; a warm run
    starts no child for it)."""
    pool = ThreadPoolExecutor(max_workers=2)
    try:
        target = pool.submit(fetch.probe_target, interpreter)
        try:
            text = lock.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None, target
        if not fetch.needs_index(text, wheelhouse):
            return None, target
        return pool.submit(fetch.pip_config, sys.executable), target
    finally:
        pool.shutdown(wait=False)


def _pip_download(
    session: nox.Session,
    python: Path,
    lock: Path,
    wheelhouse: Path,
    *,
    backend: matrix.Backend,
) -> None:
    """``pip download --require-hashes --no-deps`` of ``lock`` into ``wheelhouse``. A
    wheelhouse that already holds them all is confirmed from the folder alone, the index
    off; only otherwise is the index asked, the lock in parts fetched side by side
    (:func:`_split_lock`: each requirement with its hashes)."""
    env = matrix.install_env()
    offline = matrix.download_command(
        backend, sys.executable, python, lock, wheelhouse, offline=True
    )
    if _process.run(offline, env=env, timeout=600).ok:
        session.log(f"wheelhouse {wheelhouse}: holds every artifact of {lock.name}")
        return
    parts = _split_lock(lock)
    if len(parts) <= 1:
        session.run(
            *matrix.download_command(backend, sys.executable, python, lock, wheelhouse),
            env=env,
            include_outer_env=False,
            external=True,
        )
        return
    _download_parts(session, parts, lock, python, wheelhouse, backend=backend, env=env)


# pip downloads at once. pip's cold download is bound by CPU as much as by the network (it
# parses each project's whole index page): measured on a loaded 2-core machine, 8 at once
# took twice as long as one, 2 about as long. One per two cores, at most 8.
_DOWNLOADERS = max(1, min(8, (os.cpu_count() or 1) // 2))


def _split_lock(lock: Path, *, parts: int = _DOWNLOADERS) -> list[str]:
    """``lock`` (a requirements file) as up to ``parts`` requirements files, each holding the
    file's options and every ``parts``-th requirement with its hashes (one logical line:
    continuations joined, comments dropped). One part when the file holds anything else (a
    ``-r``/``-c`` of another file, an editable): downloaded as it is."""
    try:
        text = lock.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    options: list[str] = []
    requirements: list[str] = []
    logical = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical, line = "", (logical + line).strip()
        if not line:
            continue
        if line.startswith(("-r", "-c", "-e", "--requirement", "--constraint", "--editable")):
            return [text]
        (options if line.startswith("-") else requirements).append(line)
    if logical.strip():
        return [text]  # a continuation at the end: let pip say what is wrong
    count = min(parts, len(requirements))
    return ["\n".join(options + requirements[i::count]) + "\n" for i in range(count)] or [text]


def _download_parts(
    session: nox.Session,
    parts: Sequence[str],
    lock: Path,
    python: Path,
    wheelhouse: Path,
    *,
    backend: matrix.Backend,
    env: Mapping[str, str],
) -> None:
    """``pip download`` of each part at once (hashes required, as for the whole lock): the
    wheelhouse is the same set of files, fetched side by side rather than one at a time."""
    folder = Path(tempfile.mkdtemp(prefix="preflight-parts-"))
    try:
        commands = []
        for number, text in enumerate(parts):
            part = folder / f"{lock.stem}.part{number}.txt"
            part.write_text(text, encoding="utf-8")
            commands.append(
                matrix.download_command(backend, sys.executable, python, part, wheelhouse)
            )
        session.log(f"{shlex.join(commands[0][:-1])} {lock.name} (in {len(parts)} parts at once)")

        def run(argv: list[str]) -> _process.Completed:
            return _process.run(argv, env=env, timeout=600)

        with ThreadPoolExecutor(max_workers=len(commands)) as pool:
            results = list(pool.map(run, commands))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    failed = [r for r in results if not r.ok]
    for result in failed:
        text = result.stdout + result.stderr  # a child that could not start: the OSError
        session.log(text.strip()[-2000:])
    if failed:
        raise nox.command.CommandFailed(f"pip download failed ({len(failed)} of {len(parts)})")


def check_env(  # noqa: PLR0913 -- public keyword form of preflight.nox; builds a CheckRequest
    session: nox.Session,
    python: Path,
    *,
    project: Policy,
    lock: Path | None = None,
    skip: Sequence[str] = (),
    substitute_for: str | None = None,
    timeout: float | None = None,
    report_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    first_start: bool = False,
    wheelhouse: Path | None = None,
) -> Report:
    """Judge ``python``'s environment here, in nox's process (the judge stays outside the env).

    The report and the log go to ``report_dir`` (default ``reports/<session>``); the summary
    to the terminal, and findings as annotations on GitHub Actions. Remedies name the nox
    sessions. ``environ`` is the environment the application would run with (default: nox's).
    ``first_start`` for an environment just built: once it is verified, the pycs of what the
    requirements import are compiled from its verified sources (in the target, ``-I -S -B``)
    and recorded as verified; then its first start runs, before the imports are timed, and
    any pyc it wrote anyway is checked before the verdict.
    ``timeout`` bounds each probe (default: each probe's own, see :func:`preflight.check`).
    ``wheelhouse``: the folder the environment was installed from (:func:`build_env`): the
    integrity check is then anchored in the lock's hashes.
    A problem with the arguments (an unknown check, say) is ``session.error``.
    """
    try:
        request = CheckRequest(
            python=os.fspath(python),
            project=project,
            lock=lock,
            skip=skip,  # type: ignore[arg-type]  # any sequence (a str refused), kept as a tuple
            substitute_for=substitute_for,
            timeout=timeout,
            environ=environ,
            first_start=first_start,
            remedies=NOX_REMEDIES,
            wheelhouse=wheelhouse,
        )
    except PreflightError as exc:
        session.error(format_error(exc))
    return _check_in_session(
        session, request, report_dir or project.project_dir / REPORT_DIR / session.name
    )


def _check_in_session(session: nox.Session, request: CheckRequest, folder: Path) -> Report:
    """:func:`check_env` of a request already built: judged by the public API, the report
    and the log written into ``folder``, the summary said."""
    started = datetime.now().astimezone()
    try:
        with _sigterm_unwinds():
            report = check_request(request)
        json_path, _ = write_reports(report, folder, started=started)
    except PreflightError as exc:
        session.error(format_error(exc))
    except UnsafeOutput as exc:
        session.error(f"cannot write the report: {exc}")
    except OSError as exc:
        session.error(f"cannot write the report into {folder}: {exc.strerror or exc}")
    for line in summary_lines(report):
        print(line, file=sys.stderr)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for line in github_annotations(report, workspace=github_workspace(os.environ)):
            print(line, file=sys.stderr)
    session.log(f"report: {json_path}")
    return report


class _Terminated(BaseException):
    pass


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM during the check unwinds like Ctrl-C (the probe's and the suite's process groups
    are killed on the way out), then nox gets the signal as if it had never been caught."""

    def unwind(signum: int, frame: FrameType | None) -> None:
        raise _Terminated

    try:
        previous = signal.signal(signal.SIGTERM, unwind)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, previous)
        signal.raise_signal(signal.SIGTERM)
        raise  # a handler that returned: end the session all the same
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------------------------------------
# The sessions
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SessionOptions:
    """The sessions' own arguments: whether a substitute interpreter is accepted, and the
    request every session's check starts from (the env's python, lock and wheelhouse are
    added once it is built)."""

    allow_substitute: bool
    request: CheckRequest


def _session_options(posargs: Sequence[str], policy: Policy) -> _SessionOptions:
    """The sessions' own arguments (after ``--``), checked as the CLI checks its own."""
    parser = Parser(prog=f"nox -s {TAG} --", add_help=False)
    parser.add_argument(
        "--allow-substitute",
        action="store_true",
        default=os.environ.get("PREFLIGHT_ALLOW_SUBSTITUTE") == "1",
    )
    parser.add_argument("--skip", action="append", default=[], choices=SKIPPABLE)
    parser.add_argument("--timeout", type=seconds, default=None)
    args = parser.parse_args(list(posargs))
    request = CheckRequest(
        project=policy,
        skip=tuple(args.skip),
        timeout=args.timeout,
        first_start=True,
        remedies=NOX_REMEDIES,
    )
    return _SessionOptions(args.allow_substitute, request)


class _Matrix:
    """The sessions of one policy, and where their outcomes go."""

    def __init__(self, policy: Policy, run_id: str) -> None:
        self.policy = policy
        self.run_id = run_id
        self.reports = policy.project_dir / REPORT_DIR
        self.specs = tuple(str(spec) for spec in policy.pythons)

    def session_name(self, spec: str) -> str:
        return f"{TAG}-{spec}"

    def write(
        self,
        spec: str,
        verdict: str,
        message: str,
        *,
        seconds: float = 0.0,
        timings: dict[str, float] | None = None,
    ) -> None:
        name = self.session_name(spec)
        outcome = matrix.Outcome(
            name, spec, self.run_id, verdict, message=message, seconds=seconds,
            timings=dict(timings or {}), host=socket.gethostname(),
        )  # fmt: skip
        matrix.write_outcome(self.reports / name, outcome)

    def queue(self, session: nox.Session) -> None:
        # Asked for, so counted: until its session says more, each is an ERROR that never ran.
        for spec in self.specs:
            self.write(spec, matrix.ERROR, "queued, but the session did not run")
            session.notify(self.session_name(spec), session.posargs)
        session.notify(f"{TAG}_summary")

    def check_one(self, session: nox.Session, spec: str) -> None:
        # Pessimistic first: whatever fails from here on, the summary says ERROR, not READY.
        self.write(spec, matrix.ERROR, "started, but did not finish")
        session.notify(f"{TAG}_summary")
        steps = _Steps()
        try:
            outcome = self._steps(session, spec, steps)
        except MissingInterpreter as exc:
            self.write(spec, matrix.NOT_CHECKED, exc.resolution.short)
            raise
        except BaseException as exc:
            self.write(
                spec, matrix.ERROR, f"{steps.current} failed" + _why(exc),
                seconds=steps.elapsed(), timings=steps.timings,
            )  # fmt: skip
            if isinstance(exc, PreflightError):
                session.error(format_error(exc))
            raise
        matrix.write_outcome(self.reports / session.name, outcome)
        if outcome.verdict == "NOT_READY":
            session.error(f"{spec}: NOT_READY; failed checks: {', '.join(outcome.failed)}")

    def _steps(self, session: nox.Session, spec: str, steps: _Steps) -> matrix.Outcome:
        """Options, interpreter, backend, venv, install, check: the outcome of the session."""
        # a UsageError: "options failed: ..."
        options = _session_options(session.posargs, self.policy)
        steps.next("interpreter")
        found = find_python(session, spec, allow_substitute=options.allow_substitute)
        assert found.found is not None
        version = str(found.found.version)
        lock = self.policy.lock_path(version)
        steps.next("lock")
        if not lock.exists() and not lock.is_symlink():
            # Nothing to install: say what to do before a venv is built for nothing.
            raise UsageError(
                f"{lock} does not exist: there is no lock for Python {minor_of(version)} yet",
                hint="compile it with `nox -s relock` (then commit it), and run this again",
            )
        steps.next("backend")
        backend = matrix.choose_backend()
        steps.next("venv", timed=True)
        target = self.policy.project_dir / ".nox" / session.name / "env"
        # The lock's artifacts, kept between runs beside the env (which is made afresh):
        # installed from there with the index off, and the check anchored in them.
        # A failed download is an install that failed (a bad hash in the lock, say); its time
        # is reported apart. The tags of the interpreter and pip's configuration (where to
        # download from) are read meanwhile.
        wheelhouse = target.parent / "wheelhouse"
        pip_config, tags = _read_early(lock, wheelhouse, found.found.path)
        python = create_env(session, found.found.path, target, backend=backend)
        steps.next("install", timed=True)
        pins = _installable(  # a PEP 751 lock: its pins for this env
            session, lock, python, target.parent, withhold=self.policy.secret_variables()
        )
        if backend.name == "uv" and importlib.util.find_spec("pip") is None:
            # uv's envs have no pip, and the download is nox's own pip's (`--python ENV`)
            raise UsageError(
                f"{sys.executable} (nox's interpreter) has no pip to download {lock.name}'s "
                "files by their hashes",
                hint="install nox with pip beside it: `uv tool install nox --with "
                "preflight-env --with pip` (pipx's environments have it)",
            )
        try:
            download_lock(
                session, python, pins, wheelhouse,
                backend=backend, pip_config=pip_config, target=tags,
            )  # fmt: skip
        except nox.command.CommandFailed:
            session.warn(_DOWNLOAD_HINT.format(lock=lock.name))
            raise
        steps.lap("download")
        install_lock(session, python, pins, backend=backend, wheelhouse=wheelhouse)
        steps.next("check", timed=True)
        # What the policy's env_vars table expects, the session provides for the env it
        # built (a deployed env checked by gate or monitor needs its own).
        provided = self.policy.session_environ(version)
        if provided:
            session.log(f"environment for the check: {', '.join(sorted(provided))}")
        request = replace(
            options.request, python=str(python), lock=lock, wheelhouse=wheelhouse,
            substitute_for=spec if found.substitute else None, environ={**os.environ, **provided},
        )  # fmt: skip
        report = _check_in_session(session, request, self.reports / session.name)
        steps.next("done")
        return matrix.Outcome.from_report(
            report,
            session=session.name,
            spec=spec,
            run_id=self.run_id,
            interpreter=str(found.found.path),
            substitute=found.substitute,
            seconds=steps.elapsed(),
            backend=backend.name,
            report=str(self.reports / session.name / "runtime_verification_results.json"),
            message=found.message if found.substitute else "",
            timings={**steps.timings, **_first_start_seconds(report)},
        )

    def summary(self, session: nox.Session) -> None:
        sessions = [(self.session_name(spec), spec) for spec in self.specs]
        outcomes = matrix.read_outcomes(self.reports, sessions, self.run_id)
        print(matrix.summary_table(outcomes), file=sys.stderr)
        if matrix.matrix_verdict(outcomes) == "INCOMPLETE":
            missing = [o.spec for o in outcomes if o.verdict == matrix.NOT_CHECKED]
            session.warn(
                f"INCOMPLETE: Python {', '.join(missing)} was not found here and was not "
                "checked (see its line above); on CI (CI set) that session fails. Install it, "
                "or pass -- --allow-substitute to check the nearest patch release instead"
            )
        matrix.write_summary(
            self.reports, outcomes, step_summary=os.environ.get("GITHUB_STEP_SUMMARY")
        )


# What to do when the locked artifacts could not be downloaded (the session's step `install`).
_DOWNLOAD_HINT = (
    "the locked packages of {lock} could not be downloaded: check that the package index is "
    "reachable (PIP_INDEX_URL, pip.conf), or work offline from a pip/uv cache or a folder of "
    "the wheels (PIP_FIND_LINKS); a hash the index does not serve needs `nox -s relock`"
)


class _Steps:
    """Which step a session is in (named when it fails), and how long the timed ones took."""

    def __init__(self) -> None:
        self.current = "options"
        self.timings: dict[str, float] = {}
        self._started = self._begun = time.perf_counter()
        self._timed = False

    def next(self, name: str, *, timed: bool = False) -> None:
        now = time.perf_counter()
        if self._timed:
            self.timings[self.current] = round(now - self._begun, 2)
        self.current, self._begun, self._timed = name, now, timed

    def lap(self, name: str) -> None:
        """Time the part of the current step done so far under ``name``; the step's own
        time counts from here."""
        now = time.perf_counter()
        self.timings[name] = round(now - self._begun, 2)
        self._begun = now

    def elapsed(self) -> float:
        return round(time.perf_counter() - self._started, 2)


def _first_start_seconds(report: Report) -> dict[str, float]:
    """How long the environment's first start took inside the check, when it was measured."""
    for result in report.checks:
        seconds = first_start_seconds(result)
        if seconds is not None:
            return {"first start (in check)": seconds}
    return {}


def _why(exc: BaseException) -> str:
    if isinstance(exc, nox.command.CommandFailed):
        return ""  # nox has said what the command printed
    if isinstance(exc, PreflightError):
        return f": {exc.message}"
    if isinstance(exc, KeyboardInterrupt):
        return ": interrupted"
    text = str(exc).strip().splitlines()
    return f": {text[0]}" if text else f": {type(exc).__name__}"


def register(project: str | os.PathLike[str] | None = None, *, relock: bool = True) -> Registered:
    """Register the sessions of ``project``'s policy with nox (call it once, in the noxfile).

    ``project`` defaults to the folder of the noxfile that calls this, wherever nox (or
    ``python noxfile.py``) was started from.
    """
    if project is None:
        caller = sys._getframe(1).f_globals.get("__file__")
        project = Path(caller).resolve().parent if caller else Path.cwd()
    loaded = policy(project)
    run = _Matrix(loaded, os.environ.setdefault(_RUN_VARIABLE, uuid.uuid4().hex))
    names = []
    for spec in run.specs:
        names.append(_register_one(run, spec))

    def preflight(session: nox.Session) -> None:
        run.queue(session)

    preflight.__doc__ = (
        f"Check every interpreter of the policy ({', '.join(run.specs)}), then the matrix. "
        "Arguments after -- go to each: --allow-substitute, --skip CHECK, --timeout SECONDS."
    )
    nox.session(name=TAG, venv_backend="none")(preflight)

    def preflight_summary(session: nox.Session) -> None:
        run.summary(session)

    preflight_summary.__doc__ = f"The matrix table of this `nox -s {TAG}` (runs after it)."
    nox.session(name=f"{TAG}_summary", venv_backend="none")(preflight_summary)

    if relock:
        project_dir = loaded.project_dir

        def relock_session(session: nox.Session) -> None:
            session.run(
                sys.executable, "-m", "preflight", "relock", "--project", str(project_dir),
                "--update-command", "nox -s relock", *session.posargs, external=True,
            )  # fmt: skip

        relock_session.__doc__ = (
            "Compile every interpreter's lock again with pip-tools, with hashes, never losing "
            "one; `-- --check` fails with a diff when a lock is out of date."
        )
        nox.session(name="relock", venv_backend="none")(relock_session)
    return Registered(tuple(names), TAG, f"{TAG}_summary", "relock" if relock else None)


def _register_one(run: _Matrix, spec: str) -> str:
    name = run.session_name(spec)

    def check_one(session: nox.Session) -> None:
        run.check_one(session, spec)

    check_one.__doc__ = f"Build a fresh Python {spec} env from its lock and judge it."
    nox.session(name=name, venv_backend="none", tags=[TAG])(check_one)
    return name
