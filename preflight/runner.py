"""The subprocess boundary: every child preflight starts goes through :func:`run`.

A child always has a timeout and runs in its own session, so that on expiry the whole process
group (grandchildren included) is killed. Output is decoded as UTF-8 with replacement, and a
child that cannot even be started comes back as a value, not an exception.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Completed", "clean_env", "run"]

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
# After a kill, how long to wait for the pipes to close (a process that left our group may
# still hold them open) before giving up on the rest of its output.
_DRAIN_SECONDS = 5.0


@dataclass(frozen=True)
class Completed:
    """What a child process did. ``returncode`` is None when it could not be started."""

    argv: tuple[str, ...]
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False

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


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``os.environ`` safe to hand to a child Python.

    Drops variables that would inject foreign code or paths (``PYTHONPATH``, ``PYTHONHOME``,
    ``PYTHONSTARTUP``, ...), forces UTF-8 and no bytecode writing, then applies ``extra``.
    """
    env = {key: value for key, value in os.environ.items() if key not in _LEAKY_VARIABLES}
    env.update(_FORCED_VARIABLES)
    if extra:
        env.update(extra)
    return env


def _decode(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", errors="replace")


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's whole process group (it leads its own session)."""
    # The group may already be gone (or never had another member we may signal).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


def _drain(process: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    """Collect what a killed child wrote, without waiting forever for stray pipe holders."""
    try:
        return process.communicate(timeout=_DRAIN_SECONDS)
    except subprocess.TimeoutExpired as exc:
        # Something outside our process group still holds the pipes: keep what we have.
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        process.wait()
        return _as_bytes(exc.output), _as_bytes(exc.stderr)


def _as_bytes(data: bytes | str | None) -> bytes:
    if data is None:
        return b""
    return data.encode("utf-8") if isinstance(data, str) else data


def run(
    argv: Sequence[str],
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
    args = tuple(os.fspath(arg) for arg in argv)
    started = time.perf_counter()
    try:
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=None if env is None else dict(env),
            cwd=None if cwd is None else Path(cwd),
            start_new_session=True,
        )
    except (OSError, ValueError) as exc:
        return Completed(args, None, "", str(exc), time.perf_counter() - started)

    timed_out = False
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(process)
        stdout, stderr = _drain(process)
    except BaseException:
        # Ctrl-C or anything else: never leave the child running behind us.
        _kill_group(process)
        process.wait()
        raise
    return Completed(
        argv=args,
        returncode=process.returncode,
        stdout=_decode(stdout),
        stderr=_decode(stderr),
        seconds=time.perf_counter() - started,
        timed_out=timed_out,
    )
