"""Time `preflight check` against the floor of importing the runtime set, in one run.

    python benchmarks/bench_check.py [--python 3.12] [--repeat 5] [--keep]

Builds one environment from the project's lock for that interpreter (the real runtime set:
pandas, numpy, fastapi, sqlalchemy, pytest and their dependencies) twice over:

* ``compiled``: bytecode compiled at install time, as pip does by default (a deployment);
* ``no-bytecode``: no ``.pyc`` anywhere and ``PYTHONDONTWRITEBYTECODE=1`` (this machine's
  setting), so every import compiles from source, every time.

For each, it alternates the floor, ``python -c "import pandas, numpy, fastapi, sqlalchemy"``,
with the full ``preflight check`` (every file of every distribution hashed against RECORD, the
imports and compute baseline timed in the target; the project's own suite left out),
``--repeat`` times, and prints the medians
and their ratio. Both are wall-clock times of whole processes, started the same way.
Needs the package index (or a warm pip/uv cache) to build the environment.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from preflight._interpreters.discovery import find_interpreters  # noqa: E402
from preflight._interpreters.resolve import resolve  # noqa: E402
from preflight._policy.policy import load_policy  # noqa: E402

FLOOR = "import pandas, numpy, fastapi, sqlalchemy"


def run(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 2):  # 2: warnings (e.g. this project's SMVM_* table), a full run
        sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return seconds


def build(interpreter: str, lock: Path, target: Path, *, compiled: bool) -> Path:
    subprocess.run([interpreter, "-m", "venv", "--without-pip", str(target)], check=True)
    python = target / "bin" / "python"
    uv = shutil.which("uv")
    if uv:
        argv = [uv, "pip", "install", "--quiet", "--python", str(python)]
        argv += ["--compile-bytecode"] if compiled else []
    else:
        argv = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
        argv += [] if compiled else ["--no-compile"]
    subprocess.run([*argv, "--require-hashes", "--no-deps", "-r", str(lock)], check=True)
    if not compiled:
        for cache in target.rglob("__pycache__"):
            shutil.rmtree(cache)
    return python


def measure(
    python: Path, repeat: int, env: dict[str, str], report_dir: Path
) -> tuple[float, float]:
    # The project's own suite is the project's work, not the tool's: left out here.
    check = [
        sys.executable, "-m", "preflight", "check", "--python", str(python),
        "--project", str(ROOT), "--report-dir", str(report_dir), "--skip", "suite",
    ]  # fmt: skip
    floor_times, check_times = [], []
    run([str(python), "-c", FLOOR], env)  # warm the page cache once
    for _ in range(repeat):
        floor_times.append(run([str(python), "-c", FLOOR], env))
        check_times.append(run(check, env))
    return statistics.median(floor_times), statistics.median(check_times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="3.12", help="interpreter spec of the policy")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the environments")
    args = parser.parse_args()
    policy = load_policy(ROOT)
    found = resolve(args.python, find_interpreters(), allow_substitute=True)
    if found.found is None:
        sys.exit(found.message)
    lock = policy.lock_path(str(found.found.version))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    os.chdir(ROOT)  # `python -m preflight` from this checkout
    work = Path(tempfile.mkdtemp(prefix="preflight-bench-"))
    print(f"Python {found.found.version} ({found.found.path}), lock {lock.name}")
    print(f"{'case':<12} {'floor (import)':>15} {'preflight check':>16} {'ratio':>6}")
    try:
        for compiled in (True, False):
            case = "compiled" if compiled else "no-bytecode"
            python = build(str(found.found.path), lock, work / case, compiled=compiled)
            floor, check = measure(python, args.repeat, env, work / f"reports-{case}")
            print(f"{case:<12} {floor:>13.2f} s {check:>14.2f} s {check / floor:>5.2f}x")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"median of {args.repeat} alternating runs each; preflight hashes every installed file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
