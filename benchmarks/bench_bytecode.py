"""What the bytecode check costs on the runtime set, cold and warm, and inside `preflight check`.

    python benchmarks/bench_bytecode.py [--python 3.12] [--repeat 3] [--env DIR] [--keep]

Builds one environment from the project's lock for that interpreter (pandas, numpy, fastapi,
sqlalchemy, pytest and their dependencies; bytecode compiled at install, as pip does), or
uses ``--env DIR`` (a venv already built that way), then times:

* ``probe, no cache``: every pyc compiled and compared (``PREFLIGHT_CACHE_DIR`` empty): what
  each check would cost without the cache, and what the first check of an environment costs;
* ``probe, content keys``: a copy of the environment (new inodes and ctimes): every pair read
  and hashed, none compiled -- a fresh venv installed from the same wheels;
* ``probe, stat keys``: the same environment again: nothing read but ``stat``;
* ``check`` vs ``check --skip bytecode`` (suite left out, warm cache) and the import floor.

Medians of ``--repeat`` runs; wall-clock times of whole processes or of the probe children.
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
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_check import FLOOR, build  # noqa: E402

from preflight._facts.bytecode import BytecodeFacts, verify_bytecode  # noqa: E402
from preflight._facts.model import InterpreterFacts  # noqa: E402
from preflight._facts.probes import probe_interpreter  # noqa: E402
from preflight._interpreters.discovery import find_interpreters  # noqa: E402
from preflight._interpreters.resolve import resolve  # noqa: E402
from preflight._policy.policy import load_policy  # noqa: E402


def probe(python: Path, cache: str) -> BytecodeFacts:
    facts = probe_interpreter(python)
    if not isinstance(facts, InterpreterFacts):
        sys.exit(f"probe failed: {facts.message}")
    environ = {"PREFLIGHT_CACHE_DIR": cache}
    result = verify_bytecode(python, facts.site_packages, environ=environ, remember=True)
    if not isinstance(result, BytecodeFacts):
        sys.exit(f"bytecode probe failed: {result.message}")
    if result.mismatches:
        sys.exit(f"unexpected mismatches: {result.mismatches[:3]}")
    return result


def median(repeat: int, step: Callable[[], float]) -> float:
    return statistics.median(step() for _ in range(repeat))


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 2):
        sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - started


def main() -> int:  # noqa: PLR0915  (one linear script: build, then each measurement in turn)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="3.12", help="interpreter spec of the policy")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--env", type=Path, help="a venv already built from the lock")
    parser.add_argument("--keep", action="store_true", help="keep the environment")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="preflight-bench-bytecode-"))
    cache = work / "cache"
    try:
        if args.env is not None:
            python = args.env / "bin" / "python"
        else:
            policy = load_policy(ROOT)
            found = resolve(args.python, find_interpreters(), allow_substitute=True)
            if found.found is None:
                sys.exit(found.message)
            lock = policy.lock_path(str(found.found.version))
            python = build(str(found.found.path), lock, work / "env", compiled=True)
        first = probe(python, "")
        print(f"{python}: {first.candidates} pycs of its cache tag, {first.stale} stale")
        cold = median(args.repeat, lambda: probe(python, "").seconds)
        print(f"probe, no cache (all compiled) {cold:8.2f} s")
        probe(python, str(cache))  # fill the cache
        copies = iter(range(1000))

        def fresh_copy() -> float:
            root = work / f"copy{next(copies)}"
            shutil.copytree(python.parent.parent, root, symlinks=True)
            try:
                return probe(root / "bin" / "python", str(cache)).seconds
            finally:
                shutil.rmtree(root)

        content = median(args.repeat, fresh_copy)
        print(f"probe, content keys (a copy)   {content:8.2f} s")
        warm = median(args.repeat, lambda: probe(python, str(cache)).seconds)
        print(f"probe, stat keys (warm)        {warm:8.2f} s")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PREFLIGHT_CACHE_DIR"] = str(cache)
        os.chdir(ROOT)
        base = [sys.executable, "-m", "preflight", "check", "--python", str(python)]
        base += ["--project", str(ROOT), "--report-dir", str(work / "reports"), "--skip", "suite"]
        timed([str(python), "-c", FLOOR], env)  # warm the page cache
        floors, with_bc, without_bc = [], [], []
        for _ in range(args.repeat):
            floors.append(timed([str(python), "-c", FLOOR], env))
            with_bc.append(timed(base, env))
            without_bc.append(timed([*base, "--skip", "bytecode"], env))
        floor, checked, skipped = map(statistics.median, (floors, with_bc, without_bc))
        print(f"floor ({FLOOR})  {floor:8.2f} s")
        print(f"check --skip bytecode          {skipped:8.2f} s  {skipped / floor:5.2f}x")
        print(f"check (warm cache)             {checked:8.2f} s  {checked / floor:5.2f}x")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
