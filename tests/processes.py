"""Processes in tests: is a pid still alive, wait for a child's pid file, Ctrl-C a CLI run."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    if not Path("/proc/self/stat").exists():  # no procfs: a zombie counts as running
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] != "Z"


def ends(pid: int, seconds: float = 60) -> bool:
    """Whether ``pid`` ends soon: a SIGKILLed process dies when next scheduled, not at once
    (on a loaded machine, seconds later: the bound is for a process that never ends)."""
    deadline = time.monotonic() + seconds
    while running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def read_pid(pid_file: Path) -> int | None:
    """The pid a child wrote, or None if it has not (or was killed before it could)."""
    try:
        return int(pid_file.read_text())
    except (OSError, ValueError):
        return None


def wait_for(pid_file: Path, process: subprocess.Popen[str], seconds: float = 60) -> None:
    """Until a grandchild has written its pid: the CLI is then blocked waiting for it."""
    deadline = time.monotonic() + seconds
    while read_pid(pid_file) is None:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{pid_file} was never written"
        time.sleep(0.05)


def kill_if_running(pid_file: Path) -> None:
    pid = read_pid(pid_file)
    if pid is not None and running(pid):
        os.kill(pid, signal.SIGKILL)


def _still_ignored(signum: int, frame: FrameType | None) -> None:
    """While children start: the signal is ignored here, but handled, so not in the children."""


@contextmanager
def not_ignored(*signums: int) -> Iterator[None]:
    """Children started inside get these signals' default action, as from an interactive shell.

    Under a shell's background job SIGINT is ignored (under ``nohup``, SIGHUP), and an ignored
    signal stays ignored across exec: a CLI started from here would then ignore the signal a
    test sends it (Python installs no handler for an ignored SIGINT). A handled signal is reset
    to default by exec, so an ignored one gets a handler that does nothing for the moment.
    """
    ignored = [s for s in signums if signal.getsignal(s) is signal.SIG_IGN]
    for signum in ignored:
        signal.signal(signum, _still_ignored)
    try:
        yield
    finally:
        for signum in ignored:
            signal.signal(signum, signal.SIG_IGN)


def interrupt(
    argv: list[str],
    ready: Path | Sequence[Path],
    *,
    cwd: Path,
    env: Mapping[str, str],
    sig: signal.Signals = signal.SIGINT,
) -> subprocess.CompletedProcess[str]:
    """Start the CLI, wait until it blocks (``ready`` is written: every one of them, when
    several children must all be running), send ``sig``, collect."""
    with not_ignored(signal.SIGINT, sig):
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd
        )
    try:
        for pid_file in [ready] if isinstance(ready, Path) else ready:
            wait_for(pid_file, process)
        process.send_signal(sig)
        # Far less than the probe's own time limit: a prompt exit, not a timeout, ends the run.
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def hanging_interpreter(folder: Path) -> tuple[Path, Path]:
    """An "interpreter" that never answers, and the file its sleeping child's pid goes to.

    The sleep is a grandchild of whoever runs the script: only killing the whole process group
    ends it. Clean up with :func:`kill_if_running` on the pid file.
    """
    pid_file = folder / "sleep.pid"
    script = folder / "hanging-python"
    script.write_text(f"#!/bin/sh\nsleep 3600 &\necho $! > '{pid_file}'\nwait\n")
    script.chmod(0o755)
    return script, pid_file
