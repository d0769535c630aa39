"""Time `preflight check --image` against `tar -x` of the same archive, alternating.

    python benchmarks/bench_image.py [--repeat 3] [--keep DIR]

Builds one image without a daemon: CPython 3.12.1's install (pyenv's, its test suites left
out) at ``/usr/local`` and the project's 3.12 runtime set (``requirements/py3.12.txt``:
pandas, numpy, fastapi, sqlalchemy, pytest and their dependencies) installed into it by pip
with ``--require-hashes``, as two layers (umoci), saved as a ``docker save`` archive
(skopeo). Then, ``--repeat`` times, alternately:

* the floor: ``tar -xf`` of the archive, then ``tar -xf`` of each of its layers into one
  folder (what getting the image's files onto a disk costs);
* ``preflight check --image ARCHIVE --python /usr/local/bin/python3.12`` against this project's
  policy and lock (every layer applied, every file of every distribution hashed against its
  RECORD, the bytecode compiled by this machine's 3.12 and compared), its work folder in
  memory (``/dev/shm``, the default when it has room);
* the same check with its work folder on disk (``PREFLIGHT_IMAGE_MEMORY=0``).

The first check compiles every module (the bytecode cache is cold); it is reported apart and
the medians are of the warm runs. Needs the package index (or a warm pip cache), umoci and
skopeo.
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
PYENV = Path("/root/.pyenv/versions/3.12.1")
SKIP = {"test", "idlelib", "tkinter", "turtledemo", "__pycache__"}
# pyenv's gdb helper: an importable module in the scripts folder that no distribution owns
# (integrity refuses it). A check that fails teaches the bytecode cache nothing, so with it
# every "warm" run would compile everything again.
SKIP_FILES = {"python3.12-gdb.py"}


def run(argv: list[str | Path], *, ok: tuple[int, ...] = (0,), **kw: object) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        check=False,
        **kw,  # type: ignore[call-overload]
    )
    seconds = time.perf_counter() - started
    if done.returncode not in ok:
        sys.exit(f"{' '.join(map(str, argv))} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return seconds


def build(work: Path) -> Path:
    """The image's docker save archive."""
    layout, bundle = work / "layout", work / "bundle"
    run(["umoci", "init", "--layout", layout])
    run(["umoci", "new", "--image", f"{layout}:latest"])
    run(["umoci", "unpack", "--image", f"{layout}:latest", bundle])
    rootfs = bundle / "rootfs"
    ignore = shutil.ignore_patterns(*SKIP, *SKIP_FILES, "site-packages")
    shutil.copytree(PYENV, rootfs / "usr/local", symlinks=True, ignore=ignore, dirs_exist_ok=True)
    (rootfs / "usr/local/lib/python3.12/site-packages").mkdir(exist_ok=True)
    run(["umoci", "repack", "--image", f"{layout}:latest", bundle])  # layer 1: the interpreter
    shutil.rmtree(bundle)  # unpacked again: the next repack is a layer above this one
    run(["umoci", "unpack", "--image", f"{layout}:latest", bundle])
    run(
        [PYENV / "bin/python3.12", "-m", "pip", "install", "--quiet", "--no-deps",
         "--require-hashes", "-r", ROOT / "requirements/py3.12.txt",
         "--prefix", rootfs / "usr/local"],
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""},
    )  # fmt: skip
    run(["umoci", "repack", "--image", f"{layout}:latest", bundle])  # layer 2: the runtime set
    archive = work / "image.tar"
    run(["skopeo", "copy", "-q", f"oci:{layout}:latest", f"docker-archive:{archive}:bench:1"])
    shutil.rmtree(bundle)
    return archive


def untar(archive: Path, dest: Path) -> float:
    """``tar -x`` of the archive, then of its layers, into ``dest``; wall seconds."""
    started = time.perf_counter()
    outer, rootfs = dest / "outer", dest / "rootfs"
    outer.mkdir(parents=True)
    rootfs.mkdir()
    run(["tar", "-xf", archive, "-C", outer])
    manifest = __import__("json").loads((outer / "manifest.json").read_text())
    for layer in manifest[0]["Layers"]:
        run(["tar", "-xf", outer / layer, "-C", rootfs])
    seconds = time.perf_counter() - started
    shutil.rmtree(dest)
    return seconds


def check(archive: Path, reports: Path, *, on_disk: bool = False) -> float:
    """``preflight check --image``; ``on_disk``: its work folder on disk, not in memory."""
    env = {**os.environ, "PREFLIGHT_IMAGE_MEMORY": "0"} if on_disk else None
    return run(
        [sys.executable, "-m", "preflight", "check", "--image", archive,
         "--python", "/usr/local/bin/python3.12", "--project", ROOT, "--report-dir", reports],
        ok=(0, 1, 2), cwd=ROOT, env=env,
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the image here and keep it")
    args = parser.parse_args()
    for name in ("umoci", "skopeo", "tar"):
        if shutil.which(name) is None:
            sys.exit(f"{name} is not installed (apt-get install -y umoci skopeo)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-image-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        archive = work / "image.tar"
        if not archive.exists():
            started = time.perf_counter()
            archive = build(work)
            print(f"built {archive} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        size = archive.stat().st_size
        cache = work / "cache"
        shutil.rmtree(cache, ignore_errors=True)
        os.environ["PREFLIGHT_CACHE_DIR"] = str(cache)  # a cold cache of our own
        cold = check(archive, work / "reports")
        floors, checks, disks = [], [], []
        for _ in range(args.repeat):
            floors.append(untar(archive, work / "untar"))
            checks.append(check(archive, work / "reports"))
            disks.append(check(archive, work / "reports", on_disk=True))
        floor, ours, disk = (statistics.median(x) for x in (floors, checks, disks))
        shown = [[round(t, 2) for t in x] for x in (floors, checks, disks)]
        print(f"archive: {size / 1e6:.0f} MB, 2 layers; load average {os.getloadavg()}")
        print(f"tar -x (archive, then layers): median {floor:.2f} s of {shown[0]}")
        print(f"preflight check --image (warm bytecode cache): median {ours:.2f} s of {shown[1]}")
        print(
            f"  the same, work folder on disk (PREFLIGHT_IMAGE_MEMORY=0): {disk:.2f} s "
            f"of {shown[2]}"
        )
        print(f"preflight check --image, first run (cold bytecode cache): {cold:.2f} s")
        print(
            f"ratio: {ours / floor:.2f}x (goal: at most 1.5x); on disk: {disk / floor:.2f}x; "
            f"cold: {cold / floor:.2f}x"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
