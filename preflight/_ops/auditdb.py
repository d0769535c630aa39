"""``preflight audit-db update``: fetch OSV's PyPI export, check it, replace the old copy.

The export is one zip that OSV publishes per ecosystem. It is streamed into a temporary file
beside the output (never more than :data:`DOWNLOAD_LIMIT` bytes), read back with the same
reader the check uses, and only if it holds PyPI advisories does it replace the old copy
(``os.replace``): an interrupted or refused download leaves the old data as it was. One
deadline (``--timeout``) covers the whole command: the download and the reading back; the
reader runs on a thread of its own, told to stop at the deadline and not waited for after it.
A ``file://`` URL must name a regular file: it is opened non-blocking and ``fstat``-ed
(:func:`preflight._read.open_regular`), so a FIFO (which would block the open for ever), a
device or a folder is refused before a byte is read. Where the network does not reach OSV,
this says so, and what to do instead: the check only needs the file, however it got here.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from preflight._alerts.bounded import Budget, ReplyTooLong, http_handlers
from preflight._errors import PreflightError, UsageError
from preflight._facts.osv import DataUnavailable, VulnerabilityData, load
from preflight._read import MIB, ReadError, describe_mode, open_regular
from preflight._version import __version__

__all__ = ["DEFAULT_URL", "URL_ENV", "FetchError", "Updated", "update"]

DEFAULT_URL = "https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip"
URL_ENV = "PREFLIGHT_AUDIT_DB_URL"  # another mirror of the same export (or a test server)
DOWNLOAD_LIMIT = 2048 * MIB
_CHUNK = 1 << 20


class FetchError(PreflightError):
    """The export could not be fetched or is not OSV data: the old copy is untouched."""


@dataclass(frozen=True)
class Updated:
    path: Path
    size: int  # bytes written
    data: VulnerabilityData  # what it holds, as the check will read it
    seconds: float


def update(output: Path, *, url: str = DEFAULT_URL, timeout: float = 600.0) -> Updated:
    """Download ``url`` to ``output`` atomically, within ``timeout`` seconds in all."""
    check_url(url)
    start = time.monotonic()
    deadline = start + timeout
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(
            f"--output {output}: cannot write there ({exc.strerror or exc})",
            hint="give a path in a folder you can write",
        ) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            size = _download(url, handle, deadline)
            handle.flush()
            os.fsync(handle.fileno())
        data = _read_back(tmp, url, deadline, timeout)
        if isinstance(data, DataUnavailable):
            raise FetchError(
                f"{url} did not give OSV's PyPI data: {data.reason.replace(tmp, 'the download')}",
                hint=f"check the URL (default {DEFAULT_URL}); {output} was left as it was",
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, output)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return Updated(output, size, data, round(time.monotonic() - start, 2))


def _read_back(
    tmp: str, url: str, deadline: float, timeout: float
) -> VulnerabilityData | DataUnavailable:
    """:func:`load` of the download, within what is left of the command's deadline."""
    stop = threading.Event()
    result: list[VulnerabilityData | DataUnavailable | BaseException] = []

    def read() -> None:
        try:
            result.append(load(tmp, stop=stop))
        except BaseException as exc:  # handed to the caller's thread, which raises it
            result.append(exc)

    reader = threading.Thread(target=read, name="audit-db read back", daemon=True)
    reader.start()
    reader.join(max(0.0, deadline - time.monotonic()))
    if not result:
        stop.set()  # the reader ends at its next record; nobody waits for it
        raise FetchError(
            f"{url}: downloaded, but reading it back did not finish within the {timeout:g} s "
            "of --timeout (the whole command: download and reading back)",
            hint="raise --timeout; the old copy was left as it was",
        )
    outcome = result[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def check_url(url: str) -> None:
    """A URL urllib can fetch (http, https or file), or a usage error naming it."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018  (a port that is not a number raises here)
    except ValueError as exc:
        raise UsageError(f"--url {url!r} is not a URL: {exc}", hint=f"e.g. {DEFAULT_URL}") from None
    if parts.scheme not in ("http", "https", "file") or (
        parts.scheme != "file" and not parts.hostname
    ):
        raise UsageError(
            f"--url {url!r} is not an http, https or file URL",
            hint=f"e.g. {DEFAULT_URL}, or file:///path/to/all.zip",
        )
    path = _file_path(url)
    if path is not None:  # looked at, not opened: a FIFO would block the open
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            raise UsageError(
                f"--url {url!r}: {path} cannot be read: {exc.strerror or exc}",
                hint="give the URL of the export itself (file:///path/to/all.zip)",
            ) from None
        if not stat.S_ISREG(mode):
            raise UsageError(
                f"--url {url!r}: {path} is {describe_mode(mode)}, not a regular file",
                hint="give the URL of the export itself (file:///path/to/all.zip)",
            )


def _file_path(url: str) -> str | None:
    """The local path of a ``file://`` URL, else None."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "file":
        return None
    return urllib.request.url2pathname(parts.path)


def _copy_file(url: str, path: str, handle: IO[bytes], deadline: float) -> int:
    """The regular file at ``path`` into ``handle``: opened non-blocking and ``fstat``-ed, so
    that a FIFO, a device or a folder is refused before anything is read from it."""
    try:
        fd = open_regular(path)
    except ReadError as exc:
        raise UsageError(
            f"--url {url!r}: {exc.path} {exc.problem}",
            hint="give the URL of the export itself (file:///path/to/all.zip)",
        ) from None
    total = 0
    with os.fdopen(fd, "rb") as source:
        while chunk := source.read(_CHUNK):
            total += len(chunk)
            if total > DOWNLOAD_LIMIT:
                raise FetchError(
                    f"{url}: the file is larger than {DOWNLOAD_LIMIT // MIB} MiB, the limit: "
                    "this is not OSV's PyPI export"
                )
            if time.monotonic() > deadline:
                raise FetchError(
                    f"{url}: the copy did not finish within --timeout ({total} bytes so far)",
                    hint="raise --timeout",
                )
            handle.write(chunk)
    return total


def _download(url: str, handle: IO[bytes], deadline: float) -> int:
    path = _file_path(url)
    if path is not None:
        return _copy_file(url, path, handle, deadline)
    request = urllib.request.Request(url, headers={"User-Agent": f"preflight/{__version__}"})
    # One deadline for the whole download: lookup, connect, TLS, the answer's headers and
    # every read (a server trickling bytes gets no more time than one that sends none).
    budget = Budget(max(0.1, deadline - time.monotonic()), limit=DOWNLOAD_LIMIT + MIB)
    opener = urllib.request.build_opener(*http_handlers(budget))
    total = 0
    try:
        with opener.open(request) as response:
            while True:
                chunk = response.read1(_CHUNK)  # one read of the socket, not a loop of them
                if not chunk:
                    return total
                total += len(chunk)
                if total > DOWNLOAD_LIMIT:
                    raise FetchError(
                        f"{url}: the download is larger than {DOWNLOAD_LIMIT // MIB} MiB, "
                        "the limit: this is not OSV's PyPI export"
                    )
                handle.write(chunk)
    except TimeoutError:
        raise FetchError(
            f"{url}: the download did not finish within {budget.seconds:g} s "
            f"({total} bytes so far)",
            hint="raise --timeout, or download the file another way",
        ) from None
    except ReplyTooLong:
        raise FetchError(
            f"{url}: the download is larger than {DOWNLOAD_LIMIT // MIB} MiB, the limit: "
            "this is not OSV's PyPI export"
        ) from None
    except urllib.error.HTTPError as exc:
        raise FetchError(
            f"cannot download {url}: the server answered HTTP {exc.code} {exc.reason}",
            hint=f"check the URL (default {DEFAULT_URL})",
        ) from None
    except OSError as exc:  # URLError, refused, unreachable, timed out, reset
        reason = getattr(exc, "reason", exc)
        raise FetchError(
            f"cannot download {url}: {reason}. The network here does not reach it (offline, "
            "a firewall, or a proxy that is not set)",
            hint="download it where the network allows (e.g. `curl -o all.zip URL`), copy it "
            "here, and pass --vulnerability-db PATH or set [tool.preflight.audit] database",
        ) from None
