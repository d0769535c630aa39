"""Where the check of a nox session's fresh environment spends its time, step by step.

    python benchmarks/bench_steps.py --spec 3.12 [--repeat 1] [--profile FILE]

Needs a ``nox -s preflight`` run first in this checkout (its ``.nox/preflight-SPEC/wheelhouse``
holds the lock's files). Each round builds the environment afresh as the session does (uv,
from that wheelhouse, index off, no bytecode) and runs the session's check in this process
(``first_start``, the wheelhouse anchoring, the policy's environment variables), printing a
timeline: when each step began and ended, in seconds from the check's start (the census runs
on a worker thread beside the rest). ``--profile`` writes a cProfile of the last round's
check (this thread only: the children's time shows as waiting). The imports of preflight
itself are not in the timeline: they are paid once per nox start (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from preflight import _engine as engine  # noqa: E402
from preflight._engine import judge  # noqa: E402
from preflight._facts import bytecode, gather, osv, probes  # noqa: E402
from preflight._facts.request import CheckRequest  # noqa: E402
from preflight._interpreters.discovery import find_interpreters  # noqa: E402
from preflight._interpreters.resolve import resolve  # noqa: E402
from preflight._ops import matrix  # noqa: E402
from preflight._policy.policy import load_policy  # noqa: E402

_EVENTS: list[tuple[str, str, float, float]] = []
_T0 = [0.0]


def _timed(owner: Any, name: str, label: str | None = None) -> None:
    """Replace ``owner.name`` by a wrapper that records when each call began and ended."""
    inner: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(inner)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            thread = threading.current_thread().name
            _EVENTS.append((label or name, thread, began - _T0[0], time.perf_counter() - _T0[0]))

    setattr(owner, name, wrapper)


def _instrument() -> None:
    _timed(probes, "probe_interpreter")
    _timed(gather, "survey", "census (survey)")
    _timed(bytecode, "verify_bytecode")
    _timed(gather, "git_commit_time")
    _timed(gather, "_parse", "read lock")
    _timed(osv, "load", "vulnerability data")
    if hasattr(bytecode, "CompileAhead"):  # compiled beside the census, written after
        _timed(bytecode.CompileAhead, "__init__", "compile ahead (started)")
        _timed(bytecode.CompileAhead, "wait", "compile ahead (written, after the verdict)")
    else:  # before: compiled and written after the verdict
        _timed(bytecode, "compile_imports")
    _timed(gather, "_finish_first_start", "first start")
    _timed(probes, "measure_performance")
    _timed(gather, "suite_facts", "suite (reported)")
    _timed(gather, "_start_suite", "suite (started)")
    _timed(bytecode.BytecodeRun, "wait", "bytecode probe wait")
    _timed(bytecode, "_learn", "_learn (keys from bytes)")
    _timed(gather.Gathering, "verify", "STAGE verify")
    _timed(gather.Gathering, "run", "STAGE run")
    _timed(engine, "run_checks")
    _timed(engine, "_teach_bytecode_cache", "remember verified")


def _fresh_env(interpreter: str, lock: Path, wheelhouse: Path, target: Path) -> Path:
    backend = matrix.choose_backend()
    shutil.rmtree(target, ignore_errors=True)
    env = matrix.install_env()
    subprocess.run(matrix.venv_command(backend, sys.executable, interpreter, target), check=True,
                   env=env)  # fmt: skip
    python = target / "bin" / "python"
    subprocess.run(matrix.install_command(backend, python, lock, wheelhouse=wheelhouse),
                   check=True, env=env)  # fmt: skip
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="3.12")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args()
    policy = load_policy(ROOT)
    spec = next(s for s in policy.pythons if str(s) == args.spec)
    found = resolve(spec, find_interpreters(), allow_substitute=True)
    assert found.found is not None, f"no interpreter for {args.spec}"
    version = str(found.found.version)
    lock = policy.lock_path(version)
    session = ROOT / ".nox" / f"preflight-{args.spec}"
    wheelhouse = session / "wheelhouse"
    if not wheelhouse.is_dir():
        sys.exit(f"{wheelhouse} does not exist: run `nox -s preflight` here first")
    _instrument()
    for round_ in range(args.repeat):
        python = _fresh_env(str(found.found.path), lock, wheelhouse, session / "bench-env")
        request = CheckRequest(
            python=str(python), project=policy, lock=lock, wheelhouse=wheelhouse,
            first_start=True, substitute_for=str(spec) if found.substitute else None,
            environ={**os.environ, **policy.session_environ(version)},
        )  # fmt: skip
        _EVENTS.clear()
        profile = cProfile.Profile() if args.profile and round_ == args.repeat - 1 else None
        _T0[0] = time.perf_counter()
        if profile is not None:
            profile.enable()
        judged = judge(request)
        if profile is not None:
            profile.disable()
            profile.dump_stats(args.profile)
        total = time.perf_counter() - _T0[0]
        print(f"round {round_ + 1}: {judged.report.status.value} in {total:.2f} s "
              f"(load {os.getloadavg()[0]:.1f})")  # fmt: skip
        for label, thread, began, ended in sorted(_EVENTS, key=lambda e: e[2]):
            where = "" if thread == "MainThread" else f"  [{thread}]"
            print(f"  {began:6.2f} -> {ended:6.2f}  {ended - began:5.2f}  {label}{where}")
        facts = judged.context.bytecode
        if isinstance(facts, bytecode.BytecodeFacts):
            print(f"  bytecode: {facts}"[:600])


if __name__ == "__main__":
    main()
