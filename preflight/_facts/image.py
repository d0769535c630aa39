"""A container image, read from its archive into a work folder, bounded, nothing of it run.

Accepted: an OCI image layout (a folder, or a tar of one) and a ``docker save`` archive.
Their JSON (``index.json``, the manifest, the config; ``manifest.json``) is read with the
project's strict reader (``_json``) and every blob is checked against its digest. The layers
are applied in order into a work folder, with their whiteouts (``.wh.NAME`` deletes what a
lower layer put at NAME; ``.wh..wh..opq`` empties a folder of what lower layers put there):

* bounded: a layer or member that would inflate past :class:`Limits` (total bytes, one
  member's bytes, member count) is refused before it is written whole (a tar bomb);
* no member name is absolute or holds ``..``; a hard link names a member of the image;
* every path is resolved *inside* the work folder (``rootfs.resolve_in_root``), so a link a
  lower layer put never carries a later member out of it; a symbolic link is written so that
  it resolves inside the work folder too (an absolute target or a ``..`` past the root is
  rewritten against the root, as the image's own view of it would be): nothing that reads the
  work folder afterwards is led out of it;
* FIFOs and device nodes are never made: they are skipped, and the report says so.

Anything else wrong (a missing blob, a digest that does not match, an unknown layer format)
is an :class:`ImageError` naming the file and what to do.

The work folder (:func:`unpack_in_work`) is in memory (``/dev/shm``) while the files fit in
half its free space (or ``PREFLIGHT_IMAGE_MEMORY`` bytes; 0: on disk), else on disk: making
thousands of files on a disk is most of what applying an image costs.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import hashlib
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Protocol, cast

from preflight import _json
from preflight._facts.rootfs import RootError, on_host, resolve_in_root

__all__ = [
    "MEMORY",
    "MEMORY_ENV",
    "ImageError",
    "ImageFacts",
    "Limits",
    "release",
    "unpack",
    "unpack_in_work",
]

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
JSON_LIMIT = 4 * MIB  # index.json, a manifest, a config: a few KiB
_CHUNK = 1 << 20
# tarfile's stream buffer: its default (10 KiB) reads in small pieces; a large one is copied
# again on every header read (it keeps the rest as a slice). 64 KiB cost least CPU, measured.
_STREAM = 64 * KIB
_OPAQUE = ".wh..wh..opq"
_STDLIB = re.compile(r"python\d\.\d{1,3}t?")
_KEPT = ("sitecustomize", "usercustomize")
_WHITEOUT = ".wh."
MEMORY = "/dev/shm"  # a tmpfs on Linux: the work folder, when it has room
MEMORY_ENV = "PREFLIGHT_IMAGE_MEMORY"  # bytes the work folder may take there; 0: on disk
_PAGE = 4096  # what a file takes at least in a tmpfs


class _Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class ImageError(ValueError):
    """The image cannot be read; the text names the file or member and what is wrong."""


class _OutOfRoom(Exception):
    """The work folder in memory would take more than it may: applied again on disk."""


@dataclass(frozen=True)
class Limits:
    """How far an image may inflate when its layers are applied."""

    total_bytes: int = 16 * GIB  # every member's bytes, all layers
    member_bytes: int = 4 * GIB  # one member
    members: int = 2_000_000  # members of all layers


@dataclass(frozen=True)
class ImageFacts:
    """What the image is: where it was read from, its identity and its runtime config."""

    source: str  # the path given
    kind: str  # "oci-layout" or "docker-archive"
    digest: str  # the manifest's digest (OCI), or the config's (docker save: the image id)
    name: str | None  # the ref name (OCI) or the first RepoTag (docker save)
    layers: tuple[str, ...]  # each layer's digest, bottom first
    env: dict[str, str] = field(default_factory=dict)  # the config's Env
    user: str = ""  # the config's User
    skipped: tuple[str, ...] = ()  # members not made (FIFOs, devices), with why
    members: int = 0
    bytes_written: int = 0
    unread: int = 0  # standard library files no fact reads, not written
    work: str = ""  # where the layers were applied: "memory (/dev/shm)" or "disk (TMPDIR)"
    work_folder: str = ""  # the work folder (removed once judged)

    @property
    def label(self) -> str:
        """``name@digest``, or the source's name and the digest."""
        return f"{self.name or os.path.basename(self.source.rstrip('/'))}@{self.digest}"


# --- the archive: a folder or a tar -----------------------------------------------------------


class _Store:
    """The files of an image archive by their path inside it (a folder, or an outer tar)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tar: tarfile.TarFile | None = None
        self._members: dict[str, tarfile.TarInfo] = {}
        if path.is_dir():
            return
        try:
            self._tar = tarfile.open(path, "r:")  # noqa: SIM115 (closed by close())
        except (tarfile.TarError, OSError) as exc:
            raise ImageError(
                f"{path}: neither a folder nor a tar archive ({exc}); pass an OCI image "
                "layout (folder or tar) or a `docker save` archive"
            ) from None
        for member in self._tar:
            if len(self._members) > 100_000:
                raise ImageError(f"{path}: more than 100000 files in the archive")
            self._members[member.name.removeprefix("./")] = member

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()

    def has(self, name: str) -> bool:
        if self._tar is None:
            return (self.path / name).is_file()
        member = self._members.get(name)
        return member is not None and member.isfile()

    def size(self, name: str) -> int:
        if self._tar is None:
            return (self.path / name).stat().st_size
        return self._members[name].size

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        """The file ``name`` of the archive, for reading; a missing one is an ImageError."""
        if ".." in name.split("/") or name.startswith("/"):
            raise ImageError(f"{self.path}: refers to {name!r}, outside the archive")
        if not self.has(name):
            raise ImageError(f"{self.path}: {name} is missing (an incomplete image?)")
        if self._tar is None:
            handle: IO[bytes] = open(self.path / name, "rb")  # noqa: SIM115
        else:
            extracted = self._tar.extractfile(self._members[name])
            assert extracted is not None  # a regular member (has() said so)
            handle = extracted
        try:
            yield handle
        finally:
            handle.close()

    def json(self, name: str, digest: str | None = None) -> Any:
        """The JSON file ``name`` (checked against ``digest`` when given), strictly read."""
        with self.open(name) as handle:
            data = handle.read(JSON_LIMIT + 1)
        if len(data) > JSON_LIMIT:
            raise ImageError(f"{self.path}: {name} is larger than {JSON_LIMIT // MIB} MiB")
        if digest is not None:
            _check_digest(self.path, name, data, digest)
        try:
            return _json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise ImageError(f"{self.path}: {name} is not valid JSON: {exc}") from None


def _check_digest(where: Path, name: str, data: bytes, digest: str) -> None:
    algorithm, _, expected = digest.partition(":")
    if algorithm != "sha256":
        raise ImageError(f"{where}: {name}: digest {digest!r} is not a sha256 one")
    if hashlib.sha256(data).hexdigest() != expected:
        raise ImageError(f"{where}: {name} does not match its digest {digest}")


def _blob(digest: object) -> str:
    if not isinstance(digest, str) or not digest.startswith("sha256:"):
        raise ImageError(f"digest {digest!r} is not a sha256 one")
    hexdigest = digest[len("sha256:") :]
    if len(hexdigest) != 64 or any(c not in "0123456789abcdef" for c in hexdigest):
        raise ImageError(f"digest {digest!r} is not 64 hex digits")
    return f"blobs/sha256/{hexdigest}"


def _dict(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ImageError(f"{what} is not a JSON object")
    return value


def _list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ImageError(f"{what} is not a JSON list")
    return value


@dataclass(frozen=True)
class _Plan:
    kind: str
    digest: str
    name: str | None
    layers: tuple[tuple[str, str | None], ...]  # (file in the archive, its blob digest)
    diff_ids: tuple[str, ...]
    config: dict[str, Any]


def _oci_plan(store: _Store, ref: str | None) -> _Plan:
    index = _dict(store.json("index.json"), "index.json")
    manifests = [_dict(m, "index.json manifest") for m in _list(index.get("manifests"), "index")]
    name_key = "org.opencontainers.image.ref.name"

    def named(m: dict[str, Any]) -> str | None:
        value = _dict(m.get("annotations", {}), "annotations").get(name_key)
        return value if isinstance(value, str) else None

    if ref is not None:
        manifests = [m for m in manifests if named(m) == ref]
    if len(manifests) != 1:
        names = ", ".join(str(named(m)) for m in manifests) or "none"
        raise ImageError(
            f"{store.path}: index.json holds {len(manifests)} manifests"
            + (f" named {ref!r}" if ref else "")
            + f" ({names}); name one as PATH:REF"
        )
    chosen = manifests[0]
    digest = str(chosen.get("digest"))
    manifest = _dict(store.json(_blob(digest), digest), "the manifest")
    if "manifests" in manifest:
        raise ImageError(
            f"{store.path}: {digest} is an index of several platforms; copy one platform "
            "out (`skopeo copy --override-arch ...`)"
        )
    config_ref = _dict(manifest.get("config"), "the manifest's config")
    config_digest = str(config_ref.get("digest"))
    config = _dict(store.json(_blob(config_digest), config_digest), "the config")
    layers = []
    for item in _list(manifest.get("layers"), "the manifest's layers"):
        layer = _dict(item, "a layer")
        layer_digest = str(layer.get("digest"))
        layers.append((_blob(layer_digest), layer_digest))
    ref_name = named(chosen)
    if ref_name is not None and ":" not in ref_name and "/" not in ref_name:
        ref_name = f"{store.path.name}:{ref_name}"  # a tag alone: the layout's name with it
    return _Plan("oci-layout", digest, ref_name, tuple(layers), _diff_ids(config), config)


def _docker_plan(store: _Store) -> _Plan:
    entries = _list(store.json("manifest.json"), "manifest.json")
    if len(entries) != 1:
        raise ImageError(f"{store.path}: manifest.json lists {len(entries)} images, not one")
    entry = _dict(entries[0], "manifest.json's image")
    config_name = str(entry.get("Config"))
    with store.open(config_name) as handle:
        raw = handle.read(JSON_LIMIT + 1)
    if len(raw) > JSON_LIMIT:
        raise ImageError(f"{store.path}: {config_name} is too large")
    config = _dict(store.json(config_name), config_name)
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    tags = entry.get("RepoTags") or []
    name = tags[0] if isinstance(tags, list) and tags and isinstance(tags[0], str) else None
    layers = tuple((str(n), None) for n in _list(entry.get("Layers"), "Layers"))
    return _Plan("docker-archive", digest, name, layers, _diff_ids(config), config)


def _diff_ids(config: dict[str, Any]) -> tuple[str, ...]:
    rootfs = _dict(config.get("rootfs", {}), "the config's rootfs")
    return tuple(str(d) for d in _list(rootfs.get("diff_ids", []), "diff_ids"))


def _runtime(config: dict[str, Any]) -> tuple[dict[str, str], str]:
    inner = config.get("config") or {}
    if not isinstance(inner, dict):
        return {}, ""
    env: dict[str, str] = {}
    for item in inner.get("Env") or []:
        if isinstance(item, str) and "=" in item:
            key, _, value = item.partition("=")
            env[key] = value
    user = inner.get("User")
    return env, user if isinstance(user, str) else ""


# --- applying layers -------------------------------------------------------------------------


class _Hashing:
    """A reader that hashes (and counts) what passes through it, bounded."""

    def __init__(self, raw: _Reader, limit: int, what: str) -> None:
        self._raw, self._limit, self._what = raw, limit, what
        self.sha = hashlib.sha256()
        self.count = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self._raw.read(size if size is not None and size >= 0 else _CHUNK)
        self.count += len(data)
        if self.count > self._limit:
            raise ImageError(
                f"{self._what} inflates past {self._limit} bytes, the limit (a tar bomb?)"
            )
        self.sha.update(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


@dataclass
class _Applied:
    root: str
    limits: Limits
    members: int = 0
    written: int = 0
    skipped: list[str] = field(default_factory=list)
    # folders already resolved (and made) in the root, by their name in the member: cleared
    # whenever a link, a whiteout or a replaced folder could change what a name resolves to
    folders: dict[str, tuple[str, str]] = field(default_factory=dict)
    unread: int = 0  # standard library files no fact reads, not written
    unread_names: set[str] = field(default_factory=set)
    budget: int | None = None  # bytes the work folder may take (in memory), None: no bound
    stored: int = 0  # bytes it takes so far (files rounded up to a page)


def _clean(name: str, what: str) -> list[str]:
    """The parts of a member name: relative, no ``..``; else ImageError."""
    if name.startswith("/"):
        raise ImageError(f"{what}: member {name!r} has an absolute path; refused")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ImageError(f"{what}: member {name!r} climbs out with '..'; refused")
    return parts


def _remove(host: str) -> None:
    try:
        mode = os.lstat(host).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(host)
    else:
        os.unlink(host)


def _inside(applied: _Applied, host: str) -> str:
    """``host``, asserted under the work folder (every path is resolved inside it)."""
    if not (host + "/").startswith(applied.root.rstrip("/") + "/"):
        raise ImageError(f"a path resolved outside the work folder: {host}")  # never reached
    return host


def _parent(applied: _Applied, parts: list[str]) -> tuple[str, str]:
    """The member's folder resolved inside the root (made when missing) and its host path."""
    name = "/".join(parts[:-1])
    known = applied.folders.get(name)
    if known is not None:
        return known
    inner = resolve_in_root(applied.root, "/" + name)
    host = on_host(applied.root, inner)
    try:
        mode = os.lstat(host).st_mode
    except FileNotFoundError:
        _take_room(applied, 0)
        os.makedirs(_inside(applied, host), exist_ok=True)
    else:
        if not stat.S_ISDIR(mode):
            _remove(host)  # a file a lower layer put where this layer has a folder
            applied.folders.clear()
            _take_room(applied, 0)
            os.makedirs(_inside(applied, host), exist_ok=True)
    applied.folders[name] = (inner, host)
    return inner, host


def _unread(parts: list[str]) -> bool:
    """A file of a standard library (``.../lib/pythonX.Y/...``, not its site-packages or
    dist-packages) that no fact reads: its modules are not what is judged (on a host as in
    an image), so it is not written. Kept: what the facts read (``os.py``, ``site.py``,
    ``_sysconfigdata_*``), start-up hooks (``sitecustomize``, ``usercustomize``, ``.pth``)."""
    for index in range(len(parts) - 2):
        if (
            parts[index] == "lib"
            and _STDLIB.fullmatch(parts[index + 1])
            and parts[index + 2] not in ("site-packages", "dist-packages")
        ):
            name = parts[-1]
            return not (
                len(parts) == index + 3
                and (name in ("os.py", "site.py") or name.startswith("_sysconfigdata_"))
            ) and not name.startswith(_KEPT)
    return False


def _link_target(parent_inner: str, target: str) -> str:
    """A symbolic link's target rewritten to resolve inside the root: the in-root path it
    names, relative to the link's folder (``..`` past the root stops at the root)."""
    start = [] if target.startswith("/") else [p for p in parent_inner.split("/") if p]
    parts = list(start)
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
        else:
            parts.append(part)
    here = [p for p in parent_inner.split("/") if p]
    common = 0
    while common < min(len(here), len(parts)) and here[common] == parts[common]:
        common += 1
    relative = [".."] * (len(here) - common) + parts[common:]
    return "/".join(relative) or "."


def _apply_member(
    applied: _Applied, tar: tarfile.TarFile, member: tarfile.TarInfo, what: str, mine: set[str]
) -> None:
    applied.members += 1
    if applied.members > applied.limits.members:
        raise ImageError(f"{what}: more than {applied.limits.members} members; refused")
    parts = _clean(member.name, what)
    if not parts:
        return  # the root folder itself
    base = parts[-1]
    parent_inner, parent_host = _parent(applied, parts)
    if _whiteout(applied, base, parent_host, mine):
        return
    host = _inside(applied, os.path.join(parent_host, base))
    folder = host
    while len(folder) > len(applied.root) and folder not in mine:
        mine.add(folder)  # it and the folders above it are this layer's: kept by an opaque
        folder = os.path.dirname(folder)
    shown = "/".join(parts)
    if member.isdir():
        if not os.path.isdir(host) or os.path.islink(host):
            applied.folders.clear()
            _remove(host)
            _take_room(applied, 0)
            os.mkdir(host)
        os.chmod(host, member.mode & 0o777)
    elif member.ischr() or member.isblk() or member.isfifo():
        kind = "a FIFO" if member.isfifo() else "a device node"
        applied.skipped.append(f"{shown}: {kind}, never made ({what})")
    elif member.issym():
        applied.folders.clear()
        _remove(host)
        _take_room(applied, len(member.linkname))
        os.symlink(_link_target(parent_inner, member.linkname), host)
        os.utime(host, (member.mtime, member.mtime), follow_symlinks=False)
    elif member.islnk():
        _remove(host)
        _hard_link(applied, member, (host, shown), f"{what}: the hard link {shown}")
    elif member.isreg():  # a lower layer's entry at ``host`` is removed by _write_file
        _write_file(applied, tar, member, (host, shown), f"{what}: member {shown}")
    else:
        applied.skipped.append(f"{shown}: a member of type {member.type!r}, skipped ({what})")


def _whiteout(applied: _Applied, base: str, parent_host: str, mine: set[str]) -> bool:
    """Apply ``base`` if it is a whiteout (True): ``.wh..wh..opq`` empties its folder of what
    lower layers put there, ``.wh.NAME`` deletes NAME."""
    if base.startswith(_WHITEOUT):
        applied.folders.clear()
    if base == _OPAQUE:
        for entry in os.listdir(parent_host):
            host = os.path.join(parent_host, entry)
            if host not in mine:
                _remove(host)
        return True
    if base.startswith(_WHITEOUT):
        _remove(_inside(applied, os.path.join(parent_host, base[len(_WHITEOUT) :])))
        return True
    return False


def _hard_link(
    applied: _Applied, member: tarfile.TarInfo, where: tuple[str, str], what: str
) -> None:
    host, shown = where
    source_parts = _clean(member.linkname, what)
    if "/".join(source_parts) in applied.unread_names:  # a link to a file not written
        applied.unread += 1
        applied.unread_names.add(shown)
        return
    inner = resolve_in_root(applied.root, "/" + "/".join(source_parts), follow_last=False)
    source = on_host(applied.root, inner)
    if not os.path.lexists(source) or os.path.isdir(source):
        raise ImageError(f"{what} names no file of the image ({member.linkname!r})")
    os.link(source, host, follow_symlinks=False)


def _take_room(applied: _Applied, size: int) -> None:
    """Count what one entry made in the work folder takes there (a page at least: a tmpfs
    gives a file, a folder's inode or a long link's target one each); past the budget, the
    image goes on disk. A layer of a million links or folders takes memory as files do."""
    applied.stored += -(-max(size, 1) // _PAGE) * _PAGE
    if applied.budget is not None and applied.stored > applied.budget:
        raise _OutOfRoom(f"the files written take more than {applied.budget} bytes")


def _write_file(
    applied: _Applied,
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    where: tuple[str, str],
    what: str,
) -> None:
    """Write the member's bytes at ``where`` (the host path, the name in the image); a file
    of a standard library no fact reads is counted (and bounded) but not written."""
    host, shown = where
    if member.size > applied.limits.member_bytes:
        raise ImageError(
            f"{what} is {member.size} bytes, past the limit of {applied.limits.member_bytes} "
            "for one file; refused (a tar bomb?)"
        )
    applied.written += member.size
    if applied.written > applied.limits.total_bytes:
        raise ImageError(
            f"{what}: the image inflates past {applied.limits.total_bytes} bytes, the limit; "
            "refused (a tar bomb?)"
        )
    if _unread(shown.split("/")) and not shown.endswith(".pth"):
        applied.unread += 1
        applied.unread_names.add(shown)
        return
    _take_room(applied, member.size)
    source = tar.extractfile(member)
    assert source is not None  # a regular member
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:  # most members are new: no lstat before the open
        fd = os.open(host, flags, 0o600)
    except FileExistsError:  # what a lower layer put there (a file, a link, a folder)
        _remove(host)
        applied.folders.clear()  # it may have been a folder, resolved and cached
        fd = os.open(host, flags, 0o600)
    try:
        left = member.size
        while left:
            chunk = source.read(min(_CHUNK, left))
            if not chunk:
                raise ImageError(f"{what} is cut short")
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
            left -= len(chunk)
        os.fchmod(fd, member.mode & 0o777)
        # the member's mtime: a pyc records its source's, and Python ignores a pyc that differs
        os.utime(fd, (member.mtime, member.mtime))
    finally:
        os.close(fd)


def _decompressed(handle: _Reader) -> _Reader:
    head = handle.read(4)
    rest = _Prefixed(head, handle)
    if head[:2] == b"\x1f\x8b":
        return _Gunzip(rest)
    if head == b"\x28\xb5\x2f\xfd":
        raise ImageError("a zstd layer: not supported yet; save the image with gzip layers")
    return rest


class _Gunzip:
    """gzip (of one member or several) decompressed as it is read, never more than asked for
    at a time: a small chunk that would inflate to gigabytes is never held whole."""

    def __init__(self, raw: _Reader) -> None:
        self._raw = raw
        self._inflate = zlib.decompressobj(31)
        self._pending = b""

    def read(self, size: int = -1, /) -> bytes:
        want = size if size >= 0 else _CHUNK
        out = bytearray()
        while len(out) < want:
            data, self._pending = self._pending, b""
            if not data:
                data = self._raw.read(_CHUNK)
                if not data:
                    break
            out += self._inflate.decompress(data, want - len(out))
            self._pending = self._inflate.unconsumed_tail
            if self._inflate.eof:  # the next gzip member, if any
                self._pending = self._inflate.unused_data + self._pending
                self._inflate = zlib.decompressobj(31)
        return bytes(out)


class _Prefixed:
    """A reader that gives ``head`` again before the rest of ``raw``."""

    def __init__(self, head: bytes, raw: _Reader) -> None:
        self._head, self._raw = head, raw

    def read(self, size: int = -1, /) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._raw.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data + (self._raw.read(size - len(data)) if size > len(data) else b"")
        return self._raw.read(size)


def _apply_layer(
    applied: _Applied, store: _Store, name: str, blob: str | None, diff_id: str | None
) -> None:
    what = f"layer {name}"
    with store.open(name) as raw:
        packed = _Hashing(raw, store.size(name), what)
        try:
            unpacked = _Hashing(_decompressed(packed), applied.limits.total_bytes * 2, what)
            # a stream ("r|"): tarfile only calls read() on it
            with tarfile.open(
                fileobj=cast("IO[bytes]", unpacked), mode="r|", bufsize=_STREAM
            ) as tar:
                mine: set[str] = set()
                for member in tar:
                    _apply_member(applied, tar, member, what, mine)
            unpacked.drain()
            packed.drain()
        except (tarfile.TarError, OSError, EOFError, zlib.error, RootError) as exc:
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise  # the work folder's disk is full: not the image's fault
            raise ImageError(f"{what} cannot be read: {exc}") from None
    if blob is not None and "sha256:" + packed.sha.hexdigest() != blob:
        raise ImageError(f"{what} does not match its digest {blob}")
    if diff_id is not None and "sha256:" + unpacked.sha.hexdigest() != diff_id:
        raise ImageError(f"{what} does not match its diff_id {diff_id} (the config's)")


def unpack(source: str, work: str, limits: Limits | None = None) -> ImageFacts:
    """Apply the image at ``source`` (``PATH`` or ``PATH:REF`` for an OCI layout holding
    several) into the empty folder ``work``; returns what the image is. Raises ImageError."""
    with _opened(source) as (store, plan):
        return _apply(store, plan, work, limits or Limits(), None)


def unpack_in_work(
    source: str, limits: Limits | None = None, environ: Mapping[str, str] | None = None
) -> tuple[ImageFacts, str]:
    """Apply the image at ``source`` into a new work folder; returns what the image is and
    the folder, which the caller removes. The folder is in memory (``/dev/shm``) while the
    files written fit in half its free space (``PREFLIGHT_IMAGE_MEMORY`` bytes, when set; 0
    keeps it on disk): the layers' files are written once and read back at once, and most
    of the time of applying an image on a disk is making its files there. Past that (or
    when memory is full) the image is applied again, on disk (``TMPDIR``). Raises
    ImageError (the image) or OSError (the work folder)."""
    limits = limits or Limits()
    with _opened(source) as (store, plan):
        budget, why = _memory_budget(os.environ if environ is None else environ)
        packed = sum(store.size(name) for name, _ in plan.layers)
        if budget is not None and packed > budget:
            budget, why = None, f"its layers ({packed} bytes) exceed {why}"
        if budget is not None:
            _sweep_stale()
            work = _held_folder()
            try:
                found = _apply(store, plan, work, limits, budget)
                return replace(found, work=f"memory ({MEMORY})", work_folder=work), work
            except _OutOfRoom as exc:
                why = f"{exc}: {why}"
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                    release(work)
                    raise
                why = f"{MEMORY} is full"
            except BaseException:
                release(work)
                raise
            release(work)
        work = tempfile.mkdtemp(prefix="preflight-image-")
        try:
            found = _apply(store, plan, work, limits, None)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        where = f"disk ({os.path.dirname(work)}; not in memory: {why})"
        return replace(found, work=where, work_folder=work), work


# A work folder in memory outlives a run killed by SIGKILL (or the OOM killer): in a tmpfs it
# holds memory until the machine restarts. Each has a lock file beside it (``NAME.lock``),
# locked (flock) by the run that made it while the folder is there; a later run removes the
# folders whose lock no one holds (their run is gone), whatever PID namespace it ran in.
_HELD: dict[str, int] = {}  # work folder -> the descriptor holding its lock


def _held_folder() -> str:
    """A new work folder in memory, its lock file beside it, held by this process."""
    fd, hidden = tempfile.mkstemp(prefix=".preflight-lock-", dir=MEMORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a name no sweep looks at: free
        work = tempfile.mkdtemp(prefix="preflight-image-", dir=MEMORY)
        os.rename(hidden, work + ".lock")  # from here a sweep sees it, held
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(hidden)
        raise
    _HELD[work] = fd
    return work


def release(work: str) -> None:
    """Remove a work folder (in memory or on disk) and, in memory, its lock."""
    shutil.rmtree(work, ignore_errors=True)
    fd = _HELD.pop(work, None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.unlink(work + ".lock")
        os.close(fd)


def _sweep_stale() -> None:
    """Remove the work folders in memory that runs now gone left (their lock is free)."""
    for lock in glob.glob(os.path.join(glob.escape(MEMORY), "preflight-image-*.lock")):
        try:
            fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
                continue  # another user's: not ours to judge
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # held: its run is alive
            folder = lock.removesuffix(".lock")
            with contextlib.suppress(OSError):
                if stat.S_ISDIR(os.lstat(folder).st_mode):
                    shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(OSError):
                os.unlink(lock)
        finally:
            os.close(fd)


def _memory_budget(environ: Mapping[str, str]) -> tuple[int | None, str]:
    """The bytes the work folder may take in memory (None: it goes on disk), and why."""
    asked = environ.get(MEMORY_ENV, "").strip()
    if asked:
        if not asked.isdigit():
            raise ImageError(f"{MEMORY_ENV}={asked!r} is not a number of bytes (0: on disk)")
        if int(asked) == 0:
            return None, f"{MEMORY_ENV}=0"
    try:
        info = os.stat(MEMORY)
        room = os.statvfs(MEMORY)
    except OSError:
        return None, f"no {MEMORY}"
    # a folder every user may write in, as /tmp: sticky, so no one else removes ours
    if not stat.S_ISDIR(info.st_mode) or not info.st_mode & stat.S_ISVTX:
        return None, f"{MEMORY} is not a shared temporary folder"
    half = room.f_bavail * room.f_frsize // 2
    if asked:
        return min(int(asked), half), f"{MEMORY_ENV}={asked} (or half of {MEMORY}'s free space)"
    return half, f"half of {MEMORY}'s free space ({half} bytes)"


@contextmanager
def _opened(source: str) -> Iterator[tuple[_Store, _Plan]]:
    """The image's archive, open, and what it holds (its manifest and config, checked)."""
    path, ref = Path(source), None
    if not path.exists() and ":" in source:
        head, _, tail = source.rpartition(":")
        path, ref = Path(head), tail
    if not path.exists():
        raise ImageError(f"{source}: does not exist")
    store = _Store(path)
    try:
        if store.has("index.json") and store.has("oci-layout"):
            plan = _oci_plan(store, ref)
        elif store.has("manifest.json"):
            plan = _docker_plan(store)
        else:
            raise ImageError(
                f"{path}: neither an OCI image layout (index.json, oci-layout) nor a "
                "`docker save` archive (manifest.json)"
            )
        if plan.diff_ids and len(plan.diff_ids) != len(plan.layers):
            raise ImageError(
                f"{path}: the config lists {len(plan.diff_ids)} diff_ids for "
                f"{len(plan.layers)} layers"
            )
        yield store, plan
    finally:
        store.close()


def _apply(store: _Store, plan: _Plan, work: str, limits: Limits, budget: int | None) -> ImageFacts:
    applied = _Applied(os.path.abspath(work), limits, budget=budget)
    for number, (name, blob) in enumerate(plan.layers):
        diff_id = plan.diff_ids[number] if plan.diff_ids else None
        _apply_layer(applied, store, name, blob, diff_id)
    env, user = _runtime(plan.config)
    return ImageFacts(
        source=str(store.path),
        kind=plan.kind,
        digest=plan.digest,
        name=plan.name,
        layers=tuple(blob or diff or name for (name, blob), diff in _pairs(plan)),
        env=env,
        user=user,
        skipped=tuple(applied.skipped),
        members=applied.members,
        bytes_written=applied.written,
        unread=applied.unread,
    )


def _pairs(plan: _Plan) -> Iterator[tuple[tuple[str, str | None], str | None]]:
    for number, layer in enumerate(plan.layers):
        yield layer, plan.diff_ids[number] if plan.diff_ids else None
