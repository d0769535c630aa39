"""Writing what the user asked for at a path: a file replaced atomically, or a stream.

What sits at the path decides how it is written (:func:`output_target`):

* **a regular file, or nothing yet** (a dangling symlink counts as nothing: the link is
  replaced): a temporary file in the same folder, then ``os.replace``. Readers see the old
  file or the new one, never a half-written one; an interruption or a full disk leaves the
  old file as it was.
* **a stream**: a FIFO or a character device at the path (a symlink to one too), or a
  descriptor of this process named through ``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N``
  or ``/proc/self/fd/N``. It is written to, never replaced: the FIFO or the device node stays
  what it was (as root, replacing ``/dev/full`` by a file would break the machine). A
  descriptor is written to as it is (``--junit /dev/stdout`` prints the XML where stdout
  goes, a pipe, a terminal or a file opened by the shell). A FIFO or a device is opened
  non-blocking: a FIFO with no reader is waited for :data:`READER_WAIT` seconds at most (the
  reader may start a moment after us), then refused; a stream that takes no byte for
  :data:`STALL_WAIT` seconds is given up on. Neither hangs for ever.
* **anything else** (a folder, a socket, a block device, a symlink to one of these, a
  symlink loop, a descriptor that is not open): :class:`UnsafeOutput`, which callers check
  for before any work is done (``preflight._cli.outputs.check_output_paths``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import select
import stat
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from preflight._read import describe_mode

__all__ = [
    "READER_WAIT",
    "STALL_WAIT",
    "OutputTarget",
    "UnsafeOutput",
    "output_target",
    "write_atomic",
    "write_output_text",
]

READER_WAIT = 10.0  # seconds a FIFO with no reader is waited for
STALL_WAIT = 60.0  # seconds a stream may take no byte before it is given up on
_POLL = 0.05  # seconds between two attempts to open a FIFO that has no reader yet
_CHUNK = 1 << 16
_LINK_HOPS = 40  # as the kernel's own limit of symlinks followed
_WRITE_FLAGS = os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)

OutputKind = Literal["file", "stream", "descriptor"]


class UnsafeOutput(ValueError):
    """What sits at an output path cannot take it: ``problem`` says why (without the path)."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class OutputTarget:
    """How the output at ``path`` is written: ``file`` (replaced atomically), ``stream`` (a
    FIFO or a character device, opened and written to) or ``descriptor`` (``fd`` of this
    process, written to as it is)."""

    path: Path
    kind: OutputKind
    what: str  # "a regular file", "a new file", "a FIFO", "a character device", "stdout"...
    fd: int | None = None


def _descriptor_number(path: Path) -> int | None:
    """N when ``path`` names descriptor N of this process (``/dev/stdout`` links to
    ``/proc/self/fd/1``; ``/dev/fd`` to ``/proc/self/fd``), following symlinks hop by hop:
    the last hop is a magic link of /proc, which must not be followed."""
    own = {os.path.realpath(f"/proc/{os.getpid()}/fd"), os.path.realpath("/proc/self/fd")}
    current = os.path.abspath(path)
    for _ in range(_LINK_HOPS):
        parent, name = os.path.split(current)
        if re.fullmatch(r"[0-9]{1,9}", name) and os.path.realpath(parent) in own:
            return int(name)
        try:
            target = os.readlink(current)
        except OSError:
            return None
        current = os.path.normpath(os.path.join(parent, target))
    return None


def _descriptor_name(fd: int) -> str:
    return {1: "stdout", 2: "stderr"}.get(fd, f"descriptor {fd}")


def output_target(path: Path) -> OutputTarget:
    """What sits at ``path`` and so how it will be written; :class:`UnsafeOutput` when it is
    nothing an output may be written to. Nothing is opened or written."""
    fd = _descriptor_number(path)
    if fd is not None:
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            raise UnsafeOutput(
                path, f"names {_descriptor_name(fd)}, which is not open in this process"
            ) from None
        if stat.S_ISDIR(mode) or stat.S_ISBLK(mode):
            raise UnsafeOutput(path, f"names {_descriptor_name(fd)}, {describe_mode(mode)}")
        return OutputTarget(path, "descriptor", _descriptor_name(fd), fd)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return OutputTarget(path, "file", "a new file")
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeOutput(path, "is a symlink loop") from None
        if exc.errno == errno.ENOTDIR:
            raise UnsafeOutput(path, "a part of it that should be a folder is a file") from None
        raise UnsafeOutput(path, f"cannot be looked at: {exc.strerror or exc}") from None
    if stat.S_ISREG(mode):
        return OutputTarget(path, "file", "a regular file")
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        return OutputTarget(path, "stream", describe_mode(mode))
    linked = " (through a symlink)" if path.is_symlink() else ""
    what = "a folder" if stat.S_ISDIR(mode) else describe_mode(mode)
    raise UnsafeOutput(
        path,
        f"is {what}{linked}, not a file: an output is written to a regular file (replaced "
        "whole), a FIFO or a character device",
    )


def write_output_text(
    path: Path, text: str, *, mode: int | None = None, reader_wait: float = READER_WAIT
) -> OutputTarget:
    """``text`` to ``path`` as :func:`output_target` says: atomically to a file (``mode``
    applies to a file only), or written to the stream. Raises :class:`UnsafeOutput` (what is
    there cannot take it, a FIFO without a reader) or ``OSError`` (the write failed)."""
    target = output_target(path)
    data = text.encode("utf-8")
    if target.kind == "file":
        write_atomic(path, text, mode=mode)
    elif target.kind == "descriptor":
        assert target.fd is not None
        _write_descriptor(target.fd, data)
    else:
        fd = _open_stream(path, target.what, reader_wait)
        try:
            _write_all(path, fd, data)
        finally:
            os.close(fd)
    return target


def _open_stream(path: Path, what: str, reader_wait: float) -> int:
    deadline = time.monotonic() + reader_wait
    while True:
        try:
            fd = os.open(path, _WRITE_FLAGS)
        except OSError as exc:
            # ENXIO: a FIFO with no reader (or a device with nothing behind it).
            if exc.errno != errno.ENXIO:
                raise
            if time.monotonic() >= deadline:
                raise UnsafeOutput(
                    path,
                    f"is {what} that nobody reads (waited {reader_wait:g} s for a reader): "
                    f"start the reader first (e.g. `cat {path}`)",
                ) from None
            time.sleep(_POLL)
            continue
        try:
            mode = os.fstat(fd).st_mode
            if not (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):  # swapped since it was looked at
                raise UnsafeOutput(path, f"is {describe_mode(mode)} now, no longer {what}")
        except BaseException:
            os.close(fd)
            raise
        return fd


def _write_all(path: Path, fd: int, data: bytes) -> None:
    """Every byte of ``data`` to the non-blocking ``fd``; a stream that takes nothing for
    :data:`STALL_WAIT` seconds is given up on (a reader that stopped reading)."""
    view = memoryview(data)
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    while view:
        try:
            written = os.write(fd, view[:_CHUNK])
        except BlockingIOError:
            if not poller.poll(STALL_WAIT * 1000):
                raise UnsafeOutput(
                    path, f"took no byte for {STALL_WAIT:g} s: is its reader still reading?"
                ) from None
            continue
        view = view[written:]


def _write_descriptor(fd: int, data: bytes) -> None:
    """``data`` to this process's ``fd`` (stdout: after what Python buffered for it)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            if stream.fileno() == fd:
                stream.flush()
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view[:_CHUNK])
        except BlockingIOError:  # a descriptor someone else made non-blocking
            if not select.select([], [fd], [], STALL_WAIT)[1]:
                raise UnsafeOutput(
                    Path(f"/dev/fd/{fd}"), f"took no byte for {STALL_WAIT:g} s"
                ) from None
            continue
        view = view[written:]


def write_atomic(path: Path, text: str, *, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
