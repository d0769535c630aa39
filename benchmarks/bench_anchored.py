"""What anchoring integrity in the lock's hashes costs: `check` with and without --wheelhouse.

    python benchmarks/bench_anchored.py [--python 3.12] [--repeat 5] [--keep]

Downloads the project's lock for that interpreter (the real runtime set: pandas, numpy,
fastapi, sqlalchemy, pytest and their dependencies) into a wheelhouse with
``pip download --require-hashes --no-deps``, installs it from there with the index off, as
``nox -s preflight`` does, and then alternates, ``--repeat`` times:

* ``record``: ``preflight check --skip performance --skip suite`` (every installed file
  hashed against its RECORD);
* ``anchored``: the same with ``--wheelhouse`` (the wheels hashed to find the vouched ones,
  their RECORDs read, every installed file hashed against them).

It prints the medians, the difference, and what the anchored check counted (files anchored,
derived, on RECORD alone; wheel bytes hashed). It also times the warm wheelhouse step of the
session (``pip download --no-index --find-links WH``, which confirms a complete wheelhouse).
Needs the package index (or a warm pip cache) once, to fill the wheelhouse.
"""

from __future__ import annotations

import argparse
import json
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

SKIP = ["--skip", "performance", "--skip", "suite"]
DOWNLOAD = ["download", "--quiet", "--require-hashes", "--no-deps"]


def timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 2):  # 2: warnings (e.g. this project's SMVM_* table)
        sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return seconds, done


def build(interpreter: str, lock: Path, root: Path) -> tuple[Path, Path, float]:
    """The env and its wheelhouse; and the seconds a warm wheelhouse step takes."""
    house = root / "wheelhouse"
    subprocess.run([interpreter, "-m", "venv", str(root / "env")], check=True)
    python = root / "env" / "bin" / "python"
    pip = [str(python), "-m", "pip"]
    subprocess.run([*pip, *DOWNLOAD, "-d", str(house), "-r", str(lock)], check=True)
    offline = ["--no-index", "--find-links", str(house)]
    warm, _ = timed([*pip, *DOWNLOAD, *offline, "-d", str(house), "-r", str(lock)])
    install = [*pip, "install", "--quiet", "--require-hashes", "--no-deps", "--no-compile"]
    subprocess.run([*install, *offline, "-r", str(lock)], check=True)
    return python, house, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="3.12")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    policy = load_policy(ROOT)
    found = resolve(args.python, find_interpreters(), allow_substitute=True)
    if found.found is None:
        sys.exit(found.message)
    lock = policy.lock_path(found.found.version)
    root = Path(tempfile.mkdtemp(prefix="bench-anchored-"))
    try:
        python, house, warm = build(str(found.found.path), lock, root)
        base = [sys.executable, "-m", "preflight", "check", "--python", str(python)]
        base += ["--project", str(ROOT), "--format", "json", *SKIP]
        record = [*base, "--report-dir", str(root / "r1")]
        anchored = [*base, "--report-dir", str(root / "r2"), "--wheelhouse", str(house)]
        timed(record)  # the page cache warmed once, for both
        times: dict[str, list[float]] = {"record": [], "anchored": []}
        details: dict[str, object] = {}
        status = ""
        for _ in range(args.repeat):
            times["record"].append(timed(record)[0])
            seconds, done = timed(anchored)
            times["anchored"].append(seconds)
            result = json.loads(done.stdout)["checks"]["integrity"]
            details, status = result["details"], f"{result['status']}: {result['message']}"
        plain, anchor = statistics.median(times["record"]), statistics.median(times["anchored"])
        print(f"lock: {lock.name}, {len(list(house.iterdir()))} artifacts in the wheelhouse")
        print(f"check, integrity against RECORD:      {plain:.2f} s (median of {args.repeat})")
        print(f"check, integrity anchored (--wheelhouse): {anchor:.2f} s")
        print(f"anchoring costs: {anchor - plain:+.2f} s ({anchor / plain:.2f}x)")
        print(f"warm wheelhouse step (offline pip download): {warm:.2f} s")
        summary = details.get("anchor", {})
        assert isinstance(summary, dict)
        print(
            "anchored: {files_anchored} files, derived: {files_derived}, on RECORD alone: "
            "{files_record_only}, wheel bytes hashed: {wheel_bytes_hashed}".format(**summary)
        )
        print(f"integrity {status}")
        print(
            f"files checked: {details.get('files_checked')}, bytes {details.get('bytes_checked')}"
        )
    finally:
        if args.keep:
            print(f"kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
