"""Bounded, typed reading of files nobody vouched for: the one place the tool reads them.

A policy, a lock, a report, an alert state file, the policy's config file and every RECORD of
the judged environment are untrusted input. Whatever sits where such a file should be is read
here, under three rules:

* **regular files only.** The file is opened with ``O_NONBLOCK`` (opening a FIFO with no
  writer would otherwise block for ever) and the *open descriptor* is ``fstat``-ed: a FIFO, a
  device (``/dev/zero``, a terminal), a socket or a folder is refused before any byte is read.
  A ``stat`` before the open keeps devices from being opened at all; the ``fstat`` after it
  closes the race of a file swapped in between.
* **bounded.** At most ``limit + 1`` bytes are ever read, whatever ``st_size`` says (a file in
  ``/proc`` says 0 and a growing file says less than it holds): more than ``limit`` is refused.
* **typed errors.** Every refusal is a :class:`ReadError` that names the file, says what it
  is (``a FIFO``, ``over 4 MiB``, the line of a byte that is not UTF-8) and carries a
  :attr:`ReadError.kind`, so each caller turns it into its own domain error (``ConfigError``,
  ``LockError``, ``UsageError``, a finding) with its own wording and exit code.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
import tomllib
from pathlib import Path
from typing import IO, Any, Literal

from preflight._errors import PreflightError

__all__ = [
    "CONFIG_FILE_LIMIT",
    "LOCK_LIMIT",
    "POLICY_LIMIT",
    "RECORD_LIMIT",
    "REPORT_LIMIT",
    "STATE_LIMIT",
    "ReadError",
    "ReadProblem",
    "check_zip_directory",
    "decode_utf8",
    "describe_mode",
    "line_of",
    "open_regular",
    "read_bytes",
    "read_text",
]

MIB = 1 << 20
# Per kind of file, generous for the real thing and far below what would hurt: the largest
# real locks are a few MB (thousands of hashes), a report of a big environment a few MB.
POLICY_LIMIT = 4 * MIB  # pyproject.toml
LOCK_LIMIT = 32 * MIB
REPORT_LIMIT = 64 * MIB  # the JSON report handed to `preflight alert --report`
STATE_LIMIT = 4 * MIB  # the alert state file
CONFIG_FILE_LIMIT = 1 * MIB  # the policy's config_file
RECORD_LIMIT = 32 * MIB  # one distribution's RECORD (tensorflow's is about 1 MB)

_CHUNK = 1 << 20
_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)

ReadProblem = Literal["missing", "directory", "special", "too_large", "not_utf8", "unreadable"]


class ReadError(PreflightError, ValueError):
    """A file could not be read as the kind of file it should be.

    ``problem`` is the sentence without the path (callers that name the file their own way
    use it); ``line`` is set for a decoding error; ``kind`` tells the callers apart the cases
    they word differently (a missing lock asks for a relock, a folder for the file in it).
    """

    def __init__(
        self, path: Path, kind: ReadProblem, problem: str, *, line: int | None = None
    ) -> None:
        where = f"{path}" + (f", line {line}" if line is not None else "")
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.kind: ReadProblem = kind
        self.problem = problem
        self.line = line


def describe_mode(mode: int) -> str:
    """What a non-regular file is, as a noun phrase: ``a FIFO``, ``a character device``."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _size_text(limit: int) -> str:
    if limit >= MIB and limit % MIB == 0:
        return f"{limit // MIB} MiB"
    if limit >= 1024 and limit % 1024 == 0:
        return f"{limit // 1024} KiB"
    return f"{limit} bytes"


def _refuse_mode(path: Path, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kind: ReadProblem = "directory" if stat.S_ISDIR(mode) else "special"
    raise ReadError(path, kind, f"is {describe_mode(mode)}, not a regular file")


def _os_error(path: Path, exc: OSError) -> ReadError:
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return ReadError(path, "missing", "does not exist")
    if isinstance(exc, IsADirectoryError):
        return ReadError(path, "directory", "is a directory, not a regular file")
    if exc.errno == errno.ELOOP:
        return ReadError(path, "unreadable", "is a symlink loop")
    return ReadError(path, "unreadable", f"cannot be read: {exc.strerror or exc}")


def open_regular(path: str | os.PathLike[str]) -> int:
    """An open, read-only descriptor of the regular file at ``path`` (the caller closes it).

    Never blocks on the open and never opens a device: the path is ``stat``-ed first and the
    descriptor ``fstat``-ed after. Raises :class:`ReadError`."""
    path = Path(path)
    try:
        _refuse_mode(path, os.stat(path).st_mode)
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        raise _os_error(path, exc) from None
    try:
        _refuse_mode(path, os.fstat(fd).st_mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes(path: str | os.PathLike[str], *, what: str, limit: int) -> bytes:
    """The content of the regular file at ``path``, at most ``limit`` bytes, or ReadError.

    ``what`` names the kind of file in messages (``"a lock file"``)."""
    path = Path(path)
    fd = open_regular(path)
    chunks: list[bytes] = []
    total = 0
    try:
        while total <= limit:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:  # EAGAIN included: a regular file never gives it, but never wait
        raise _os_error(path, exc) from None
    finally:
        os.close(fd)
    if total > limit:
        raise ReadError(
            path, "too_large", f"is larger than {_size_text(limit)}, the limit for {what}"
        )
    return b"".join(chunks)


def line_of(data: bytes, offset: int) -> int:
    """The 1-based line of ``offset``, lines ended by ``\\r\\n``, ``\\r`` or ``\\n``."""
    return (
        1
        + data.count(b"\n", 0, offset)
        + data.count(b"\r", 0, offset)
        - data.count(b"\r\n", 0, offset)
    )


def decode_utf8(path: Path, data: bytes) -> str:
    """``data`` as UTF-8, or a ReadError naming the line and offset of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReadError(
            path,
            "not_utf8",
            f"not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} is invalid",
            line=line_of(data, exc.start),
        ) from None


def read_text(path: str | os.PathLike[str], *, what: str, limit: int) -> str:
    """:func:`read_bytes` decoded as strict UTF-8 (a BOM is kept: callers decide)."""
    path = Path(path)
    return decode_utf8(path, read_bytes(path, what=what, limit=limit))


# --- zip files: the size of the central directory, before zipfile reads it ------------------

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")


def _end_record(handle: IO[bytes]) -> tuple[int, int, int] | None:
    """``(entries, size, start)`` of the central directory, found as ``zipfile`` finds it:
    the end record, the zip64 one right before it if its locator is there, and the directory
    right before those (``zipfile`` trusts that place over the offset the record gives)."""
    size = handle.seek(0, os.SEEK_END)
    tail_at = max(0, size - (_EOCD.size + 0xFFFF))
    handle.seek(tail_at)
    tail = handle.read()
    handle.seek(0)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        return None
    fields = _EOCD.unpack_from(tail, at)
    entries, cd_size = fields[4], fields[5]
    end = tail_at + at  # where the directory (and any zip64 records) ends
    if at >= _ZIP64_LOCATOR.size and tail[at - _ZIP64_LOCATOR.size : at].startswith(b"PK\x06\x07"):
        record_at = end - _ZIP64_LOCATOR.size - _ZIP64_EOCD.size
        if record_at >= 0:
            handle.seek(record_at)
            record = handle.read(_ZIP64_EOCD.size)
            handle.seek(0)
            if len(record) == _ZIP64_EOCD.size and record[:4] == b"PK\x06\x06":
                values = _ZIP64_EOCD.unpack(record)
                entries, cd_size = values[6], values[7]
                end = record_at
    return entries, cd_size, max(0, end - cd_size)


_CENTRAL_ENTRY = struct.Struct("<4s4B4HL2L5H2L")  # one entry of the central directory
_ZIP64_EXTRA = 0x0001


def check_zip_directory(handle: IO[bytes], *, max_entries: int, max_bytes: int) -> str | None:
    """Why the zip in ``handle`` must not be given to ``zipfile``, or None.

    ``zipfile`` reads the whole central directory and makes an object of every entry in it
    before any check of ours, whatever the end record claims (a 128 MiB directory of tiny
    entries behind an end record claiming 1,000 was 1.2 GB). So the directory is walked here
    first, in bounded memory: at most ``max_bytes`` of it (read once), its entries counted
    as ``zipfile`` will find them (at most ``max_entries``), and two entries pointing at one
    member's data refused (the overlapping-entries trick of a zip bomb: 2,000 entries of one
    member inflate it 2,000 times). None also when there is no end record (``zipfile``
    refuses the file itself). Leaves the handle at its start."""
    found = _end_record(handle)
    if found is None:
        return None
    claimed, cd_size, cd_start = found
    if cd_size > max_bytes or claimed > max_entries:
        return (
            f"has a zip directory of {claimed} entries in {cd_size} bytes, over the limits "
            f"({max_entries} entries, {_size_text(max_bytes)})"
        )
    handle.seek(cd_start)
    directory = handle.read(cd_size)
    handle.seek(0)
    starts: set[int] = set()
    at = count = 0
    while at + _CENTRAL_ENTRY.size <= len(directory):
        fields = _CENTRAL_ENTRY.unpack_from(directory, at)
        if fields[0] != b"PK\x01\x02":
            break  # zipfile stops (or refuses the file) here too
        count += 1
        if count > max_entries:
            return f"holds more than {max_entries} entries in its zip directory, the limit"
        name_length, extra_length, comment_length = fields[12], fields[13], fields[14]
        extra_at = at + _CENTRAL_ENTRY.size + name_length
        start = _local_offset(fields[18], directory[extra_at : extra_at + extra_length], fields)
        if start in starts:
            return (
                f"has two zip directory entries for the data at offset {start} (one member "
                "read many times over: the trick of a zip bomb)"
            )
        starts.add(start)
        at = extra_at + extra_length + comment_length
    return None


def _local_offset(offset: int, extra: bytes, fields: tuple[Any, ...]) -> int:
    """The offset of an entry's local header, from its zip64 extra field when it has one."""
    if offset != 0xFFFFFFFF:
        return offset
    at = 0
    while at + 4 <= len(extra):
        kind, length = struct.unpack_from("<2H", extra, at)
        if kind == _ZIP64_EXTRA:
            # The 8-byte values present are those whose 32-bit field is all ones, in order.
            skip = 8 * ((fields[11] == 0xFFFFFFFF) + (fields[10] == 0xFFFFFFFF))
            if at + 4 + skip + 8 <= len(extra):
                return int(struct.unpack_from("<Q", extra, at + 4 + skip)[0])
        at += 4 + length
    return offset


def parse_toml(text: str) -> dict[str, Any]:
    """``tomllib.loads``, failing in one way only, ValueError: a TOMLDecodeError (which is
    one), an integer of more digits than Python converts (a plain ValueError from int()),
    or arrays nested too deep to read (a RecursionError)."""
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise ValueError("nested too deep to read") from None
