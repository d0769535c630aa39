"""An environment's first start, scheduled: one child per module, one per core at most.

For an environment just built, what the policy's requirements provide is imported once,
writing its bytecode, before the performance probe times the imports as a deployed application
sees them. Each module is imported in a child of its own (``_probe/warm.py``), as many at once
as there are cores; the caller steps the schedule while it does other work, and can use a core
the first start no longer needs (the last modules are still compiling, nothing is queued) for
the project's suite.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Sequence
from importlib import resources

from preflight._facts.model import FirstStartFacts
from preflight._process import Completed, Running, clean_env, start

_IMPORT_TIMEOUT = 300.0  # seconds for one module's first import; a hang is reported


class FirstStart:
    """The schedule. :meth:`step` reaps what ended and starts what is queued."""

    def __init__(
        self,
        python: str | os.PathLike[str],
        modules: Sequence[str],
        *,
        workers: int | None = None,
        timeout: float = _IMPORT_TIMEOUT,
        withhold: Sequence[str] = (),
    ) -> None:
        self._python = os.fspath(python)
        self._queue = deque(dict.fromkeys(modules))  # each once, in the policy's order
        self._workers = max(1, workers or os.cpu_count() or 1)
        self._timeout = timeout
        self._env = clean_env(withhold=withhold)
        self._running: list[tuple[str, Running]] = []
        self._ended: list[tuple[str, Completed]] = []
        self._began = time.perf_counter()
        self._seconds = 0.0
        # The package lies on disk (not in a zip), so the path stays valid for the children.
        with resources.as_file(resources.files("preflight._probe").joinpath("warm.py")) as path:
            self._script = str(path)
        self.step()

    @property
    def drained(self) -> bool:
        """Nothing left to start: a core that finishes now is free for other work."""
        return not self._queue

    @property
    def finished(self) -> bool:
        return not self._queue and not self._running

    @property
    def busy(self) -> int:
        return len(self._running)

    @property
    def workers(self) -> int:
        return self._workers

    def step(self) -> None:
        still = []
        for module, child in self._running:
            if child.finished():
                self._ended.append((module, child.wait()))
            else:
                still.append((module, child))
        self._running = still
        while self._queue and len(self._running) < self._workers:
            module = self._queue.popleft()
            argv = [self._python, "-I", self._script, module]
            self._running.append((module, start(argv, timeout=self._timeout, env=self._env)))
        if self.finished and not self._seconds:
            self._seconds = time.perf_counter() - self._began

    def kill(self) -> None:
        """End it now: nothing more starts, every child's process group is killed."""
        self._queue.clear()
        for _, child in self._running:
            child.kill()  # reaped
            child.close()
        self._running = []

    def facts(self) -> FirstStartFacts:
        """What the first start did, once :attr:`finished`."""
        problems = [_problem(module, done) for module, done in self._ended]
        return FirstStartFacts(
            seconds=round(self._seconds, 3),
            returncode=next((d.returncode for _, d in self._ended if d.returncode != 0), 0),
            timed_out=any(done.timed_out for _, done in self._ended),
            problems="; ".join(p for p in problems if p),
        )


def _problem(module: str, done: Completed) -> str:
    if done.timed_out:
        return f"`import {module}` did not finish in {done.seconds:.0f} s"
    if done.returncode != 0:
        return f"`import {module}`: {done.describe()}"
    return ""
