"""The wheel and the sdist of ``preflight-env``, built offline from a clean copy of this checkout.

Shared by the tests that need the distribution as a user gets it (``test_distribution``,
``test_adopter``). The copy holds the checkout's tracked and untracked-but-not-ignored files,
as they are on disk: building in place would leave ``build/`` and ``*.egg-info`` behind, and
would let files that git ignores slip into the archives. ``--no-isolation`` uses the setuptools
of the test environment (the ``test`` extra), so the build needs no network; the wheel is built
from the sdist, as ``build`` does by default, so a file missing from the sdist breaks the wheel
too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import wheelhouse

from preflight._version import __version__

ROOT = Path(__file__).resolve().parents[1]
DIST_NAME = "preflight-env"
ARCHIVE_STEM = f"preflight_env-{__version__}"  # the name as wheel and sdist file names spell it


@dataclass(frozen=True)
class Dists:
    source: Path  # the clean copy they were built from
    wheel: Path
    sdist: Path


def source_files() -> list[str]:
    """The checkout's files as git sees them: tracked, plus untracked ones it does not ignore."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip(f"{ROOT} is not a git checkout: the clean copy is made from git's file list")
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # A tracked file deleted in the working tree is listed but gone: the copy is what is on disk.
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def clean_copy(dest: Path) -> Path:
    for name in source_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target, follow_symlinks=False)
    return dest


def build_dists(root: Path) -> Dists:
    """Copy the checkout into ``root/source``, build into ``root/out``: one wheel, one sdist."""
    source = clean_copy(root / "source")
    out = root / "out"
    wheelhouse.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", out, source], cwd=root
    )
    wheels = sorted(out.glob("*.whl"))
    sdists = sorted(out.glob("*.tar.gz"))
    assert [w.name for w in wheels] == [f"{ARCHIVE_STEM}-py3-none-any.whl"], wheels
    assert [s.name for s in sdists] == [f"{ARCHIVE_STEM}.tar.gz"], sdists
    return Dists(source=source, wheel=wheels[0], sdist=sdists[0])
