"""Root filesystems and container images with a real CPython, built here without a daemon.

A root holds a copy of the files of a real 3.12 install that preflight reads (its standard
library's ``os.py`` and ``site.py``, its ``_sysconfigdata``, ``patchlevel.h``): enough for the
facts, a few hundred KiB rather than the 100 MiB of the whole tree. Its interpreter is a shell
script that writes a marker file whenever anything runs it, and then runs the real 3.12: an
interpreter that works, and that tells on whoever starts it. Packages are installed into it by
the real pip (``--prefix``), from the tiny wheels of ``wheelhouse.py``.

``umoci`` packs a root as an OCI image layout, layer by layer; ``skopeo`` turns that into a
``docker save`` archive. Both are Debian packages that work offline and need no daemon.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
import wheelhouse

PYENV = Path("/root/.pyenv/versions/3.12.1")
VERSION = "3.12.1"
SITE = "usr/local/lib/python3.12/site-packages"


def real_312() -> Path:
    """The real CPython 3.12.1 install whose files the roots copy, else skip."""
    if not (PYENV / "bin" / "python3.12").is_file():
        pytest.skip(f"no CPython {VERSION} at {PYENV} to copy into an image")
    return PYENV


def make_root(root: Path, marker: Path) -> Path:
    """A root with CPython 3.12.1 at ``/usr/local`` whose ``python3.12`` writes ``marker``
    when run (then runs the real one); ``/usr/local/bin/python3`` is an absolute link to it.
    Returns the root."""
    base = real_312()
    stdlib = root / "usr/local/lib/python3.12"
    (stdlib / "lib-dynload").mkdir(parents=True)
    (stdlib / "site-packages").mkdir()
    for name in ("os.py", "site.py", "_sysconfigdata__linux_x86_64-linux-gnu.py"):
        shutil.copy2(base / "lib/python3.12" / name, stdlib / name)
    include = root / "usr/local/include/python3.12"
    include.mkdir(parents=True)
    shutil.copy2(base / "include/python3.12/patchlevel.h", include / "patchlevel.h")
    binary = root / "usr/local/bin"
    binary.mkdir(parents=True)
    script = binary / "python3.12"
    script.write_text(
        f'#!/bin/sh\necho "ran $*" >> {marker}\nexec {base}/bin/python3.12 "$@"\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    (binary / "python3").symlink_to("/usr/local/bin/python3.12")  # absolute, inside the image
    return root


def pip_into(
    root: Path, find_links: Path, pins: Sequence[str], *, prefix: str = "/usr/local"
) -> None:
    """The real pip of 3.12.1 installs ``pins`` (``alpha==1.0``) from ``find_links`` (no
    index) into the root's ``prefix``, as an image's build step would."""
    wheelhouse.run(
        [
            real_312() / "bin/python3.12", "-m", "pip", "install", "--no-index", "--no-deps",
            "--no-cache-dir", "--disable-pip-version-check", "--quiet",
            "--find-links", find_links, "--prefix", root / prefix.lstrip("/"), *pins,
        ]
    )  # fmt: skip


def tool(name: str) -> str:
    """The path of ``umoci`` or ``skopeo``; skip without it (fail under ``CI=true``)."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (apt-get install -y umoci skopeo)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; CI must have it")
        pytest.skip(message)
    return found


def run_tool(*argv: str | Path) -> None:
    wheelhouse.run([str(a) for a in argv])
