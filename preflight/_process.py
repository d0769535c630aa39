"""The subprocess boundary: every child preflight starts goes through this module.

A child that learns something (a probe, the suite, git, pip) is started by :func:`run` or
:func:`start`; the rest of this docstring is about them. Three other forms exist, each for
one kind of child that is not preflight's to bound: :func:`foreground` (a command the user
asked to run as their own, with our stdio and no deadline: the gate's COMMAND), :func:`watcher`
(the tether's watcher, which outlives us by design) and :func:`hand_over` (``exec``: the
bootstrap becomes nox). No other module starts a process (``tests/test_layers.py``).

A child always has a timeout, and is started by a reaper of its own (:mod:`preflight._reaper`)
that ends every process the child started, ``setsid`` or not, when the child ends, on timeout,
on Ctrl-C, and when preflight itself dies, even by SIGKILL. No child can read preflight's
credentials: they are not in its environment (:func:`clean_env`), not in
``/proc/<preflight>/environ`` (:mod:`preflight._secrets`), and, root or not, it holds no
capability to read preflight's memory (:func:`preflight._reaper.seal`). Output is decoded
as UTF-8 with replacement, and a child that cannot even be started comes back as a value, not
an exception.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn, TypeAlias

from preflight._secrets import OWN_PREFIX, conceal

__all__ = [
    "OWN_PREFIX",
    "Completed",
    "Foreground",
    "Running",
    "clean_env",
    "foreground",
    "hand_over",
    "lacks_isolated_mode",
    "run",
    "run_python",
    "start",
    "watcher",
]

# Variables that would make a target interpreter import or run something that is not its own.
_LEAKY_VARIABLES = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONINSPECT",
    "PYTHONEXECUTABLE",
    "__PYVENV_LAUNCHER__",
)
# A defined text encoding for children, and no bytecode written into the environment.
_FORCED_VARIABLES = {
    "PYTHONUTF8": "1",
    "PYTHONIOENCODING": "utf-8",
    "PYTHONDONTWRITEBYTECODE": "1",
}


@dataclass(frozen=True)
class Completed:
    """What a child process did. ``returncode`` is None when it could not be started."""

    argv: tuple[str, ...]
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    # It ran where it could not read preflight's memory: its reaper took from it the
    # capabilities to (ptrace, /proc/<pid>/mem, BPF, ...) and any way of gaining them back on
    # exec (:func:`preflight._reaper.seal`). False off Linux, and where the system refused.
    sealed: bool = False

    @property
    def ok(self) -> bool:
        """The child ran to the end and exited 0."""
        return self.returncode == 0 and not self.timed_out

    def describe(self) -> str:
        """One line for messages: the command and how it ended."""
        command = " ".join(self.argv)
        if self.returncode is None:
            return f"`{command}` could not be started"
        if self.timed_out:
            return f"`{command}` did not finish within its time limit and was killed"
        return f"`{command}` exited with code {self.returncode}"


def clean_env(
    extra: Mapping[str, str] | None = None, *, withhold: Iterable[str] = ()
) -> dict[str, str]:
    """A copy of ``os.environ`` safe to hand to a child Python.

    Drops variables that would inject foreign code or paths (``PYTHONPATH``, ``PYTHONHOME``,
    ``PYTHONSTARTUP``, ...) and the tool's own (``PREFLIGHT_*``: webhook URLs, SMTP passwords;
    code in a judged environment runs at start-up, a ``.pth`` file even under ``-I``), and the
    names in ``withhold`` (the policy's credential variables); forces UTF-8 and no bytecode
    writing, then applies ``extra``.
    """
    withheld = set(withhold)
    conceal(withheld)  # nor from /proc/<our pid>/environ
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _LEAKY_VARIABLES and key not in withheld and not key.startswith(OWN_PREFIX)
    }
    env.update(_FORCED_VARIABLES)
    if extra:
        env.update(extra)
    return env


_REAPER = Path(__file__).with_name("_reaper.py")


def _reaper_argv() -> list[str] | None:
    """How a child is started through the reaper (:mod:`preflight._reaper`): our own
    interpreter, isolated, without ``site``; None where there is no interpreter to run it."""
    if not sys.executable or os.name != "posix":
        return None
    return [sys.executable, "-I", "-S", "-B", str(_REAPER)]


def _close(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def _read(handle: IO[bytes]) -> str:
    handle.seek(0)
    return handle.read().decode("utf-8", errors="replace")


class Running:
    """A child started by :func:`start`; :meth:`wait` for its :class:`Completed`.

    The child is started by a reaper (:mod:`preflight._reaper`) that ends everything it starts,
    in a session of its own or not: when the child ends, when we ask (a timeout, Ctrl-C), and
    when we die, however (the reaper then reads end-of-file on a pipe only we hold).

    Output goes to anonymous temporary files, not pipes: nothing needs draining while it
    runs (so other work can go on meanwhile).
    """

    def __init__(
        self,
        argv: tuple[str, ...],
        *,
        timeout: float,
        env: Mapping[str, str] | None,
        cwd: str | os.PathLike[str] | None,
    ) -> None:
        self.argv = argv
        self._timeout = timeout
        self._started = time.perf_counter()
        # Closed by wait(), which every caller reaches (or the files go with the object).
        self._out = tempfile.TemporaryFile()  # noqa: SIM115
        self._err = tempfile.TemporaryFile()  # noqa: SIM115
        self._failed: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._control: int | None = None  # our end of the reaper's pipe: closed, it ends all
        self._status: int | None = None  # where the reaper writes how the child ended
        conceal()  # before any child: none can read our credentials from /proc
        reaper = _reaper_argv()
        self._reaped = reaper is not None
        command = list(argv) if reaper is None else [*reaper, "--", *argv]
        fds: tuple[int, ...] = ()
        if reaper is not None:
            # Created non-inheritable: no other child (nor this one's program) gets an end.
            control_read, self._control = os.pipe()
            self._status, status_write = os.pipe()
            fds = (control_read, status_write)
            command[len(reaper) : len(reaper)] = [str(control_read), str(status_write)]
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._out,
                stderr=self._err,
                env=None if env is None else dict(env),
                cwd=None if cwd is None else Path(cwd),
                start_new_session=True,  # the terminal's Ctrl-C is ours to pass on
                pass_fds=fds,
            )
        except (OSError, ValueError) as exc:
            self._failed = str(exc)
        finally:
            for fd in fds:
                os.close(fd)

    def wait(self) -> Completed:
        """Wait until the child ends or its time is up (then kill it and all it started); never
        raises OSError. Any exception meanwhile (Ctrl-C) kills them before it propagates."""
        try:
            if self._process is None:
                return Completed(self.argv, None, "", self._failed or "", self._elapsed())
            timed_out = not self._ended_in_time()
            if timed_out:
                self.kill()
            returncode, failure, sealed = self._outcome()
            stderr = _read(self._err)
            return Completed(
                argv=self.argv,
                returncode=returncode,
                stdout=_read(self._out),
                stderr=stderr if failure is None else stderr + failure,
                seconds=self._elapsed(),
                timed_out=timed_out,
                sealed=sealed,
            )
        except BaseException:
            self.kill()
            raise
        finally:
            self.close()

    def _ended_in_time(self) -> bool:
        """Wait until the child has ended (True) or its time is up (False)."""
        assert self._process is not None
        remaining = max(0.0, self._timeout - self._elapsed())
        if self._status is None:  # started without a reaper
            try:
                self._process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                return False
            return True
        # The reaper writes the status, then exits: woken at once (Popen.wait with a timeout
        # polls, up to 50 ms a time). poll, not select: no limit on the descriptor's number.
        waiting = select.poll()
        waiting.register(self._status, select.POLLIN)
        if not waiting.poll(math.ceil(remaining * 1000)):
            return False
        self._process.wait()  # it is exiting
        return True

    def _outcome(self) -> tuple[int | None, str | None, bool]:
        """The child's return code (-N: killed by signal N), or None and why it has none; and
        whether it ran sealed (the reaper's line: ``status N reaper|group sealed|unsealed``)."""
        assert self._process is not None
        if self._status is None:  # started without a reaper
            return self._process.returncode, None, False
        with os.fdopen(self._status, "rb") as handle:
            self._status = None
            line = handle.read(4096).decode("utf-8", errors="replace").strip()
        kind, _, rest = line.partition(" ")
        if kind == "error":
            return None, rest, False
        words = rest.split() if kind == "status" else []
        if words and words[0].isdigit():
            return os.waitstatus_to_exitcode(int(words[0])), None, words[-1] == "sealed"
        failure = (
            f"the child's reaper ended without its status (exit code "
            f"{self._process.returncode}): {line or 'no output'}"
        )
        return None, failure, False

    def finished(self) -> bool:
        """Whether the child has ended (or never started), without waiting; a child past its
        time limit counts as finished (:meth:`wait` then kills it and says so)."""
        if self._process is None or self._process.poll() is not None:
            return True
        return self._elapsed() >= self._timeout

    def close(self) -> None:
        """Drop its output files and end what is left of it (for a child that was killed and
        will not be waited for); :meth:`wait` does this itself. Calling it twice is harmless."""
        self._out.close()
        self._err.close()
        control, self._control = self._control, None
        _close(control)
        status, self._status = self._status, None
        _close(status)

    def kill(self) -> None:
        """Kill the child and all it started now, and reap it."""
        if self._process is None or self._process.returncode is not None:
            return
        if not self._reaped:  # started without a reaper: its process group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, signal.SIGKILL)
        else:
            control, self._control = self._control, None
            _close(control)  # end-of-file: the reaper kills them all, then exits
        self._process.wait()

    def _elapsed(self) -> float:
        return time.perf_counter() - self._started


def start(
    argv: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Running:
    """Start ``argv`` (no shell) in its own session; see :func:`run` for the rest."""
    return Running(tuple(os.fspath(arg) for arg in argv), timeout=timeout, env=env, cwd=cwd)


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Completed:
    """Run ``argv`` (no shell) with a time limit and return what happened; never raises OSError.

    The child gets no stdin, its own session, and ``env`` (``None`` inherits ours; pass
    :func:`clean_env` for a Python child). On timeout its whole process group is killed with
    SIGKILL and the output written so far is kept. A missing or non-executable program gives a
    :class:`Completed` with ``returncode=None`` and the OSError text in ``stderr``.
    """
    return start(argv, timeout=timeout, env=env, cwd=cwd).wait()


# Isolated (no PYTHON* variables, no user site, no script folder on sys.path) and writing no
# bytecode. Python 2 has no -I; -E -s -B is enough for it to reach a probe's version gate.
_ISOLATED = ("-I", "-B")
_PYTHON2_FLAGS = ("-E", "-s", "-B")


def lacks_isolated_mode(completed: Completed) -> bool:
    """Python 2 answers ``-I`` with "Unknown option: -I" and exit code 2."""
    return completed.returncode == 2 and "Unknown option: -I" in completed.stderr


def run_python(
    python: str | os.PathLike[str],
    args: Sequence[str],
    *,
    timeout: float,
    withhold: Iterable[str] = (),
) -> Completed:
    """``python -I -B ARGS`` in :func:`clean_env`; a Python 2 is asked again without ``-I``."""
    env = clean_env(withhold=withhold)
    completed = run([python, *_ISOLATED, *args], timeout=timeout, env=env)
    if lacks_isolated_mode(completed):
        completed = run([python, *_PYTHON2_FLAGS, *args], timeout=timeout, env=env)
    return completed


# A child run in the foreground, as the user's own command (:func:`foreground`).
Foreground: TypeAlias = "subprocess.Popen[bytes]"


def foreground(argv: Sequence[str]) -> Foreground:
    """Start ``argv`` (no shell) as the user's own command: our stdio, no deadline, in a process
    group it leads (its pid names the group), with the signal dispositions Python changed
    (SIGPIPE, SIGXFSZ) back to their defaults. Its lifetime is the user's: the caller passes
    signals on and waits (:mod:`preflight._ops.gate`). Raises OSError as ``Popen`` does (the
    caller says which: not found, not executable)."""
    group = 0 if os.name == "posix" else None
    return subprocess.Popen(list(argv), restore_signals=True, process_group=group)


def watcher(argv: Sequence[str], *, stdin: int) -> Foreground:
    """Start ``argv`` (no shell) in a session of its own, ``stdin`` its standard input and no
    output: the tether's watcher (:mod:`preflight._tether`), which outlives us by design and is
    never waited for. It needs nothing of our environment and gets :func:`clean_env` (no
    ``PREFLIGHT_*``): a plain process, its ``/proc/<pid>/environ`` is readable by any process
    of the user. Raises OSError as ``Popen`` does."""
    return subprocess.Popen(
        list(argv),
        stdin=stdin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=clean_env(),
    )


def hand_over(argv: Sequence[str]) -> NoReturn:
    """Become ``argv`` (``exec``; no child): its signals and exit code are the caller's own
    (the bootstrap handing over to nox). Raises OSError if it cannot be run."""
    os.execv(argv[0], list(argv))
