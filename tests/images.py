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

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
from collections.abc import Callable, Sequence
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


# --- images -----------------------------------------------------------------------------------


def oci_image(layout: Path, root: Path, *, tag: str = "latest") -> Path:
    """An OCI image layout at ``layout`` whose one layer is the root's files (umoci)."""
    umoci = tool("umoci")
    bundle = layout.parent / f"{layout.name}-bundle"
    run_tool(umoci, "init", "--layout", layout)
    run_tool(umoci, "new", "--image", f"{layout}:{tag}")
    run_tool(umoci, "unpack", "--image", f"{layout}:{tag}", bundle)
    shutil.copytree(root, bundle / "rootfs", symlinks=True, dirs_exist_ok=True)
    run_tool(umoci, "repack", "--image", f"{layout}:{tag}", bundle)
    run_tool(umoci, "config", "--image", f"{layout}:{tag}", "--config.env=APP_MODE=production")
    shutil.rmtree(bundle)
    return layout


def upper_layer(layout: Path, change: Callable[[Path], object], *, tag: str = "latest") -> Path:
    """A new layer on top of the image: ``change(rootfs)`` edits the image's files as a build
    step would; umoci writes what changed as the layer (a deleted file as a whiteout)."""
    umoci = tool("umoci")
    bundle = layout.parent / f"{layout.name}-bundle"
    run_tool(umoci, "unpack", "--image", f"{layout}:{tag}", bundle)
    change(bundle / "rootfs")
    run_tool(umoci, "repack", "--image", f"{layout}:{tag}", bundle)
    shutil.rmtree(bundle)
    return layout


def docker_archive(layout: Path, dest: Path, *, tag: str = "latest") -> Path:
    """The image as a ``docker save`` archive (skopeo)."""
    run_tool(tool("skopeo"), "copy", "-q", f"oci:{layout}:{tag}", f"docker-archive:{dest}:app:1")
    return dest


def oci_archive(layout: Path, dest: Path, *, tag: str = "latest") -> Path:
    """The image as an OCI layout in a tar (skopeo)."""
    run_tool(tool("skopeo"), "copy", "-q", f"oci:{layout}:{tag}", f"oci-archive:{dest}:{tag}")
    return dest


def raw_layer(layout: Path, members: Sequence[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    """A layer written by hand on top of the image (what no honest tool makes: ``../``, a
    device, a header that lies about its size): the blob, the manifest, the config's diff_ids
    and index.json updated, every digest right. ``None`` as data writes the header alone."""
    raw = io.BytesIO()
    for info, data in members:
        raw.write(info.tobuf(format=tarfile.PAX_FORMAT))
        if data is not None:
            raw.write(data)
            raw.write(b"\0" * (-len(data) % 512))
    raw.write(b"\0" * 1024)
    plain = raw.getvalue()
    packed = gzip.compress(plain, mtime=0)
    blobs = layout / "blobs" / "sha256"

    def put(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return f"sha256:{digest}"

    index = json.loads((layout / "index.json").read_text(encoding="utf-8"))
    entry = index["manifests"][0]
    manifest = json.loads((blobs / entry["digest"].split(":")[1]).read_text(encoding="utf-8"))
    config = json.loads(
        (blobs / manifest["config"]["digest"].split(":")[1]).read_text(encoding="utf-8")
    )
    config["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(plain).hexdigest())
    config_bytes = json.dumps(config).encode()
    manifest["config"] = {**manifest["config"], "digest": put(config_bytes),
                          "size": len(config_bytes)}  # fmt: skip
    manifest["layers"].append(
        {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(packed),
         "size": len(packed)}
    )  # fmt: skip
    manifest_bytes = json.dumps(manifest).encode()
    entry["digest"], entry["size"] = put(manifest_bytes), len(manifest_bytes)
    (layout / "index.json").write_text(json.dumps(index), encoding="utf-8")
    return layout


def member(name: str, kind: bytes = tarfile.REGTYPE, *, data: bytes = b"", link: str = "",
           size: int | None = None) -> tuple[tarfile.TarInfo, bytes | None]:  # fmt: skip
    """One member of :func:`raw_layer`; ``size`` makes the header claim another size (the
    data is then left out)."""
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    info.size = len(data) if kind == tarfile.REGTYPE and size is None else (size or 0)
    return info, (data if size is None and kind == tarfile.REGTYPE else None)
