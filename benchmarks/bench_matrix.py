"""Time a warm `nox -s preflight` against doing the same work by hand, in one run.

    python benchmarks/bench_matrix.py [--repeat 3]

For every interpreter of the policy that this machine has (a missing one is skipped by the
session, and left out of the floors too), three ways of getting "a fresh env from the lock,
imported and listed" are timed, alternating, ``--repeat`` times:

* ``nox``: ``nox -s preflight``: fresh env, hash-checked install with bytecode compiled, the
  whole preflight check (every installed file hashed, imports timed, ...), the summary;
* ``uv floor``: ``uv venv`` + ``uv pip sync --require-hashes`` + ``import pandas, numpy,
  fastapi, sqlalchemy`` + ``uv pip freeze``;
* ``pip floor``: ``python -m venv`` + ``pip install --require-hashes -r lock`` + the same
  import + ``pip freeze``.

"Warm" means the caches of pip and uv already hold the wheels (a first round, not timed, fills
them). ``--cold`` times the first run on a fresh CI runner instead: every ``nox`` run in a fresh
``git clone`` of this checkout (no ``.nox``: no wheelhouse, no env) with every cache empty
(``UV_CACHE_DIR``, ``PIP_CACHE_DIR``, ``XDG_CACHE_HOME``, hence preflight's cache of verified
bytecode, point at new empty folders; the machine's own caches are left alone), against the
cold ``uv floor`` (an empty ``UV_CACHE_DIR`` too); the pip floor is left out. Commit what you
want timed: the clone holds the committed tree.

The floors compile no bytecode unless asked (as uv's default; pip compiles by
default): the imports then run from source, as this machine's PYTHONDONTWRITEBYTECODE=1 makes
them. Needs nox and uv on PATH, and the index (or warm caches).
"""

from __future__ import annotations

import argparse
import json
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

IMPORT = "import pandas, numpy, fastapi, sqlalchemy"


def timed(argv: list[str], env: dict[str, str], cwd: Path = ROOT) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - started


def uv_floor(uv: str, interpreter: str, lock: Path, work: Path, env: dict[str, str]) -> float:
    target = work / "uv-env"
    shutil.rmtree(target, ignore_errors=True)
    python = str(target / "bin" / "python")
    total = timed([uv, "venv", "--quiet", "--python", interpreter, str(target)], env)
    total += timed(
        [uv, "pip", "sync", "--quiet", "--python", python, "--require-hashes", str(lock)], env
    )
    total += timed([python, "-c", IMPORT], env)
    return total + timed([uv, "pip", "freeze", "--python", python], env)


def pip_floor(interpreter: str, lock: Path, work: Path, env: dict[str, str]) -> float:
    target = work / "pip-env"
    shutil.rmtree(target, ignore_errors=True)
    python = str(target / "bin" / "python")
    total = timed([interpreter, "-m", "venv", str(target)], env)
    total += timed(
        [python, "-m", "pip", "install", "--quiet", "--require-hashes", "-r", str(lock)], env
    )
    total += timed([python, "-c", IMPORT], env)
    return total + timed([python, "-m", "pip", "freeze"], env)


def find_targets(substitute: bool) -> list[tuple[str, Path, str]]:
    """``(interpreter, lock, version)`` of each interpreter of the policy this machine has."""
    policy = load_policy(ROOT)
    found = find_interpreters()
    targets = []
    for spec in policy.pythons:
        # With PREFLIGHT_ALLOW_SUBSTITUTE=1 the session checks the nearest patch release (3.11.7
        # for 3.11.13): the floors then build that interpreter's env too.
        resolution = resolve(str(spec), found, allow_substitute=substitute)
        if resolution.found is not None:
            version = str(resolution.found.version)
            targets.append((str(resolution.found.path), policy.lock_path(version), version))
    return targets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--no-pip-floor", action="store_true", help="time only nox and the uv floor (faster)"
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="a fresh clone and empty caches for every run (a fresh CI runner); no warm-up",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="CHECKOUT",
        help="also time `nox -s preflight` in another checkout (e.g. an older commit), "
        "alternating with this one",
    )
    args = parser.parse_args()
    substitute = os.environ.get("PREFLIGHT_ALLOW_SUBSTITUTE") == "1"
    uv, nox = shutil.which("uv"), shutil.which("nox")
    if uv is None or nox is None:
        sys.exit("needs uv and nox on PATH (e.g. the test environment: pip install -e .[test])")
    targets = find_targets(substitute)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CI")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    work = Path(tempfile.mkdtemp(prefix="preflight-bench-matrix-"))
    nox_argv = [nox, "-s", "preflight"]  # reports go to ./reports, as always

    def floors(kind: str) -> float:
        if kind == "uv":
            return sum(uv_floor(uv, i, lock, work, env) for i, lock, _ in targets)
        return sum(pip_floor(i, lock, work, env) for i, lock, _ in targets)

    print(f"interpreters: {', '.join(v for _, _, v in targets)} (uv {uv})")
    if args.cold:
        try:
            return cold(
                repeat=args.repeat, nox_argv=nox_argv, uv=uv, targets=targets, env=env, work=work,
                compare=args.compare,
            )  # fmt: skip
        finally:
            shutil.rmtree(work, ignore_errors=True)
    try:
        kinds = ["uv"] if args.no_pip_floor else ["uv", "pip"]
        timed(nox_argv, env), *(floors(k) for k in kinds)  # warm the caches, not timed
        if args.compare:
            timed(nox_argv, env, cwd=args.compare)
        times: dict[str, list[float]] = {"nox": [], **{f"{k} floor": [] for k in kinds}}
        if args.compare:
            times["compared"] = []
        for _ in range(args.repeat):
            times["nox"].append(timed(nox_argv, env))
            if args.compare:
                times["compared"].append(timed(nox_argv, env, cwd=args.compare))
            for kind in kinds:
                times[f"{kind} floor"].append(floors(kind))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    median = {k: statistics.median(v) for k, v in times.items()}
    for name, seconds in median.items():
        print(f"{name:<10} {seconds:7.2f} s   (runs: {', '.join(f'{s:.2f}' for s in times[name])})")
    print(f"nox / uv floor:  {median['nox'] / median['uv floor']:.2f}x (target <= 1.25x)")
    if "compared" in median:
        print(
            f"compared / uv floor: {median['compared'] / median['uv floor']:.2f}x ({args.compare})"
        )
    if "pip floor" in median:
        print(f"nox / pip floor: {median['nox'] / median['pip floor']:.2f}x (target < 1x)")
    return 0


def empty_caches(env: dict[str, str], folder: Path) -> dict[str, str]:
    """``env`` with every cache of preflight, pip and uv in new empty folders under ``folder``."""
    caches = {name: folder / name.lower() for name in ("UV_CACHE_DIR", "PIP_CACHE_DIR")}
    caches["XDG_CACHE_HOME"] = folder / "xdg"  # preflight's bytecode cache lies below
    for path in caches.values():
        path.mkdir(parents=True)
    fresh = {k: v for k, v in env.items() if k not in ("PREFLIGHT_CACHE_DIR", "UV_NO_CACHE")}
    return {**fresh, **{k: str(v) for k, v in caches.items()}}


def cold(
    *,
    repeat: int,
    nox_argv: list[str],
    uv: str,
    targets: list[tuple[str, Path, str]],
    env: dict[str, str],
    work: Path,
    compare: Path | None = None,
) -> int:
    """``--cold``: nox in a fresh clone with empty caches, alternating with the cold uv floor
    (and with a fresh clone of ``compare``, when given)."""
    times: dict[str, list[float]] = {"nox": [], "uv floor": []}
    checkouts = {"nox": ROOT, **({"compared": compare} if compare else {})}
    for round_ in range(repeat):
        for name, checkout in checkouts.items():
            clone = work / f"{name}-clone-{round_}"
            subprocess.run(
                ["git", "clone", "--quiet", "--local", "--no-hardlinks", str(checkout), str(clone)],
                check=True,
            )  # a fresh checkout: no .nox (no wheelhouse, no env), no reports
            fresh = empty_caches(env, work / f"{name}-caches-{round_}")
            times.setdefault(name, []).append(timed(nox_argv, fresh, clone))
            report_phases(clone, f"round {round_ + 1} {name}")
        fresh = empty_caches(env, work / f"uv-{round_}")
        times["uv floor"].append(sum(uv_floor(uv, i, lock, work, fresh) for i, lock, _ in targets))
    median = {k: statistics.median(v) for k, v in times.items()}
    for name, seconds in median.items():
        print(f"{name:<10} {seconds:7.2f} s   (runs: {', '.join(f'{s:.2f}' for s in times[name])})")
    print(f"cold: nox / uv floor: {median['nox'] / median['uv floor']:.2f}x (target <= 2x)")
    if "compared" in median:
        print(f"cold: compared / uv floor: {median['compared'] / median['uv floor']:.2f}x")
    return 0


def report_phases(clone: Path, label: str) -> None:
    """Where the time of one ``nox -s preflight`` went, session by session."""
    phases = clone / "reports" / "summary.json"
    if phases.is_file():
        for row in json.loads(phases.read_text(encoding="utf-8"))["interpreters"]:
            print(f"{label}: {row['session']}: {row['seconds']} s {row['timings']}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
