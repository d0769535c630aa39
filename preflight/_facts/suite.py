"""Run the project's own preflight suite inside the target environment, with its own pytest.

The suite is a folder of tests that the policy names (``suite``); it checks what only the
application knows (its imports, a database round trip, an app that builds). It is run as
``<target python> -m pytest <folder>`` from the project folder, so it sees the environment
under judgement and nothing of preflight's. No cache folder and no bytecode are written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from preflight._facts.model import SuiteFacts
from preflight._process import Completed, Running, clean_env, start

_TAIL_LINES = 30


def start_suite(
    python: str, folder: Path, *, cwd: Path, timeout: float, withhold: Sequence[str] = ()
) -> Running:
    """Start the suite; :func:`suite_facts` turns its end into facts. Other work can go on."""
    argv = [python, "-m", "pytest", str(folder), "-q", "-p", "no:cacheprovider", "--color=no"]
    return start(argv, timeout=timeout, env=clean_env(withhold=withhold), cwd=cwd)


def suite_facts(folder: Path, done: Completed) -> SuiteFacts:
    output = (done.stdout + done.stderr).strip()
    lines = [line for line in output.splitlines() if line.strip()]
    return SuiteFacts(
        folder=str(folder),
        command=done.argv,
        returncode=done.returncode,
        timed_out=done.timed_out,
        seconds=done.seconds,
        summary=_closing_line(done.stdout) or (lines[-1] if lines else ""),
        output_tail="\n".join(lines[-_TAIL_LINES:]),
        sealed=done.sealed,
    )


def _closing_line(stdout: str) -> str:
    """pytest's last summary line ("3 passed, 1 failed in 0.2s"), stripped of '=' padding."""
    for line in reversed(stdout.splitlines()):
        text = line.strip().strip("=").strip()
        if " in " in text and any(w in text for w in ("passed", "failed", "error", "no tests")):
            return text
    return ""
