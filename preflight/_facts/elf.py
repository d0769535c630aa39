"""The library search path an ELF program names for itself (``DT_RPATH``/``DT_RUNPATH``).

A venv's interpreter may be a *copy* of its base's (``python -m venv --copies``). Byte for byte
the same program is not the same interpreter when its search path is relative to where it lies:
``$ORIGIN/../lib`` (python-build-standalone, so uv's managed Pythons, conda's) makes the dynamic
loader take ``libpython`` from the environment's own ``lib`` folder, and that library runs
before any line of Python. :func:`origin_paths` finds such entries, reading the file as data:
its ELF header, program headers and dynamic section, each read bounded with ``pread``.

Nothing here runs the program, and a file that is not ELF, or not a well-formed one, has no
search path to read: the caller then judges it by what it is (a script is no copy of an
interpreter anyway).
"""

from __future__ import annotations

import os
import struct
from typing import NamedTuple

from preflight._read import ReadError, open_regular

__all__ = ["origin_paths", "search_paths"]

_PT_LOAD, _PT_DYNAMIC = 1, 2
_DT_NULL, _DT_STRTAB, _DT_RPATH, _DT_RUNPATH = 0, 5, 15, 29
_MAX_PHDRS = 256  # real programs have about a dozen
_MAX_DYNAMIC = 64 * 1024  # bytes of dynamic section read
_MAX_PATH = 64 * 1024  # bytes of one search-path string read


def _relative(entry: str) -> bool:
    """A search-path entry the loader resolves against the program's folder (``$ORIGIN``)
    or the working folder (not absolute, empty included: glibc reads it as ``.``)."""
    return "$ORIGIN" in entry or "${ORIGIN}" in entry or not entry.startswith("/")


def origin_paths(path: str) -> tuple[str, ...]:
    """The entries of ``path``'s ``DT_RPATH``/``DT_RUNPATH`` that are relative to where the
    program lies or is started (``$ORIGIN/../lib``, ``lib``): empty for a file that is not
    ELF, has no such entry, or cannot be read as one."""
    try:
        fd = open_regular(path)
    except ReadError:
        return ()
    try:
        return tuple(e for e in _search_paths(fd) for e in e.split(":") if _relative(e))
    except (OSError, struct.error, ValueError):
        return ()
    finally:
        os.close(fd)


def search_paths(path: str) -> tuple[str, ...]:
    """Every entry of ``path``'s ``DT_RPATH``/``DT_RUNPATH``, in order: empty for a file
    that is not ELF, has none, or cannot be read as one."""
    try:
        fd = open_regular(path)
    except ReadError:
        return ()
    try:
        return tuple(e for e in _search_paths(fd) for e in e.split(":") if e)
    except (OSError, struct.error, ValueError):
        return ()
    finally:
        os.close(fd)


class _Header(NamedTuple):
    wide: bool  # ELF64
    end: str  # struct's byte order: "<" or ">"
    phoff: int
    phentsize: int
    phnum: int


def _header(fd: int) -> _Header | None:
    ident = os.pread(fd, 64, 0)
    if len(ident) < 52 or ident[:4] != b"\x7fELF" or ident[4] not in (1, 2):
        return None
    if ident[5] not in (1, 2):
        return None
    wide, end = ident[4] == 2, "<" if ident[5] == 1 else ">"
    (phoff,) = struct.unpack_from(f"{end}{'Q' if wide else 'I'}", ident, 0x20 if wide else 0x1C)
    phentsize, phnum = struct.unpack_from(f"{end}HH", ident, 0x36 if wide else 0x2A)
    if phnum > _MAX_PHDRS or phentsize < (56 if wide else 32):
        return None
    return _Header(wide, end, phoff, phentsize, phnum)


def _segments(fd: int, h: _Header) -> tuple[list[tuple[int, int, int]], tuple[int, int] | None]:
    """The loadable segments ``(vaddr, offset, filesz)``; the dynamic one ``(offset, filesz)``."""
    loads: list[tuple[int, int, int]] = []
    dynamic: tuple[int, int] | None = None
    table = os.pread(fd, h.phentsize * h.phnum, h.phoff)
    layout = f"{h.end}IIQQQQ" if h.wide else f"{h.end}IIIII"
    for at in range(0, h.phentsize * h.phnum, h.phentsize):
        fields = struct.unpack_from(layout, table, at)
        if h.wide:
            kind, _flags, offset, vaddr, _paddr, filesz = fields
        else:
            kind, offset, vaddr, _paddr, filesz = fields
        if kind == _PT_LOAD:
            loads.append((vaddr, offset, filesz))
        elif kind == _PT_DYNAMIC:
            dynamic = (offset, filesz)
    return loads, dynamic


def _search_paths(fd: int) -> list[str]:
    h = _header(fd)
    if h is None:
        return []
    loads, dynamic = _segments(fd, h)
    if dynamic is None:
        return []
    data = os.pread(fd, min(dynamic[1], _MAX_DYNAMIC), dynamic[0])
    entry = struct.Struct(f"{h.end}{'qQ' if h.wide else 'iI'}")
    strtab: int | None = None
    wanted: list[int] = []
    for at in range(0, len(data) - entry.size + 1, entry.size):
        tag, value = entry.unpack_from(data, at)
        if tag == _DT_NULL:
            break
        if tag == _DT_STRTAB:
            strtab = value
        elif tag in (_DT_RPATH, _DT_RUNPATH):
            wanted.append(value)
    base = None if strtab is None else _file_offset(strtab, loads)
    if base is None:
        return []
    return [
        os.pread(fd, _MAX_PATH, base + offset).split(b"\0", 1)[0].decode("utf-8", "replace")
        for offset in wanted
    ]


def _file_offset(vaddr: int, loads: list[tuple[int, int, int]]) -> int | None:
    """Where the loadable segment holding ``vaddr`` keeps it in the file."""
    for start, offset, size in loads:
        if start <= vaddr < start + size:
            return vaddr - start + offset
    return None
