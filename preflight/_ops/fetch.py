"""The lock's files in a wheelhouse, by their hashes, fetched side by side in this process.

``nox -s preflight`` installs a fresh environment from a wheelhouse with the index off; this
module fills it without ``pip download``. For every pin of the lock (``name==version`` with
``--hash`` values, the form pip-compile writes and a PEP 751 lock's pins are given in):

1. a file already in the wheelhouse whose sha256 is one of the pin's hashes, and that the
   *target* interpreter can install, is the pin's (a warm run: no child, no network);
2. else the index pip is configured with (``pip config list``: its configuration files and
   ``PIP_*`` variables; the lock's own ``--index-url`` / ``--extra-index-url`` /
   ``--find-links`` / ``--no-index`` lines as pip applies them) is asked for the project's
   files, PEP 691 JSON first, PEP 503 HTML otherwise, and local find-links folders are
   listed; among the wheels whose advertised sha256 is one of the pin's hashes, the one
   whose tags rank best for the target is downloaded: streamed into a hidden file in the
   wheelhouse while hashed, bounded in size and time, renamed into place only when its
   sha256 is one the lock names (a mismatch is an error naming the package, the URL and
   both hashes, and leaves nothing behind).

The target's tags come from a ``-I -S -B`` probe of its interpreter (no ``site``: nothing of
the environment runs). What the fetcher cannot do is left to ``pip download`` (:attr:`
Fetched.left`): a pin with no wheel whose hash the index shows (an sdist-only pin), an index
that asks for credentials, a URL or ``-e`` requirement, a line or option it does not know.
Whatever fills the wheelhouse, the install requires the lock's hashes.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import math
import os
import re
import secrets
import socket
import ssl
import sys
import sysconfig
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags, platform_tags
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from preflight import _json
from preflight._errors import PreflightError
from preflight._process import clean_env, run, run_python
from preflight._read import ReadError, open_regular
from preflight._version import __version__

__all__ = [
    "FetchError",
    "Fetched",
    "Pin",
    "Sources",
    "Target",
    "fetch_lock",
    "pip_sources",
    "probe_target",
    "read_pins",
]

PYPI = "https://pypi.org/simple/"
WORKERS = 8  # downloads at once: bound by the network, not by this process
TIMEOUT = 60.0  # seconds a connection may stay silent
DEADLINE = 900.0  # seconds one request may take in all
PAGE_LIMIT = 64 << 20  # an index page (numpy's JSON page is a few MB)
FILE_LIMIT = 4 << 30  # one file, when the index declares no size
_CHUNK = 1 << 20
_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
_COMMENT_RE = re.compile(r"(^|\s+)#.*$")
_HEX_RE = re.compile(r"^[0-9a-f]{64}$")


class FetchError(PreflightError):
    """A locked file could not be fetched, or the bytes served are not the lock's."""


@dataclass(frozen=True)
class Pin:
    """One requirement of the lock: ``name==version`` and the sha256 values it allows."""

    name: NormalizedName
    version: Version
    hashes: frozenset[str]  # hex sha256 digests
    line: str  # the logical line, as pip would read it (for a fallback to pip)
    marker: str = ""  # the requirement's environment marker, if any


@dataclass(frozen=True)
class LockPins:
    """What the fetcher read of a lock: its pins, its option lines, and what it left."""

    pins: tuple[Pin, ...]
    options: tuple[str, ...]  # the lock's own option lines (index, find-links)
    left: tuple[str, ...]  # requirement lines only pip can fetch
    whole: str | None = None  # why the whole lock is left to pip, when it is


@dataclass(frozen=True)
class Sources:
    """Where pip would look: index URLs (first the primary) and find-links locations."""

    indexes: tuple[str, ...] = (PYPI,)
    find_links: tuple[str, ...] = ()
    cert: str | None = None  # a CA bundle (pip's ``cert``)
    trusted: tuple[str, ...] = ()  # pip's ``trusted-host``: left to pip when TLS fails there


@dataclass(frozen=True)
class Target:
    """What the target interpreter installs: its tags, best first, and its marker values."""

    tags: tuple[Tag, ...]
    markers: Mapping[str, str]

    def rank(self, filename: str) -> int | None:
        """The rank of a wheel's best tag for this target (0 is best); None: not installable."""
        ranks = self._ranks
        try:
            _, _, _, file_tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            return None
        found = [ranks[tag] for tag in file_tags if tag in ranks]
        return min(found) if found else None

    @property
    def _ranks(self) -> dict[Tag, int]:
        cached: dict[Tag, int] | None = self.__dict__.get("_ranks_cache")
        if cached is None:
            cached = {}
            for number, tag in enumerate(self.tags):
                cached.setdefault(tag, number)
            object.__setattr__(self, "_ranks_cache", cached)
        return cached


@dataclass
class Fetched:
    """What :func:`fetch_lock` did: pins found in place, pins downloaded, lines left to pip."""

    present: list[str] = field(default_factory=list)  # file names already in the wheelhouse
    downloaded: list[str] = field(default_factory=list)  # file names fetched now
    left: list[str] = field(default_factory=list)  # requirement lines for pip download
    options: list[str] = field(default_factory=list)  # the lock's option lines (for pip)
    whole: str | None = None  # why the whole lock is left to pip
    notes: list[str] = field(default_factory=list)  # why each left pin was left


# ---------------------------------------------------------------------------------------------
# The lock
# ---------------------------------------------------------------------------------------------

_INDEX_OPTIONS = {"-i": "index", "--index-url": "index", "--extra-index-url": "extra"}
_LINK_OPTIONS = {"-f": "links", "--find-links": "links"}
_HARMLESS = ("--prefer-binary", "--pre", "--only-binary=:all:", "--only-binary :all:")


def read_pins(text: str) -> LockPins:
    """The pins of a requirements lock, read as pip reads its lines (comments, backslash
    continuations, requirement words before the first option word)."""
    pins: list[Pin] = []
    options: list[str] = []
    left: list[str] = []
    for line in _logical_lines(text):
        if line.startswith("-"):
            if _option_problem(line):
                return LockPins((), (), (), whole=f"the option line {line!r}")
            options.append(line)
            continue
        pin = _pin(line)
        if pin is None:
            left.append(line)
        else:
            pins.append(pin)
    return LockPins(tuple(pins), tuple(options), tuple(left))


def _logical_lines(text: str) -> Iterable[str]:
    logical = ""
    for raw in text.splitlines():
        line = "" if raw.lstrip().startswith("#") else _COMMENT_RE.sub("", raw)
        if line.endswith("\\"):
            logical += line[:-1]
            continue
        line, logical = (logical + line).strip(), ""
        if line:
            yield line
    if logical.strip():
        yield logical.strip()


def _option_problem(line: str) -> bool:
    """Whether an option line is one the fetcher does not follow (then pip does it all)."""
    if line in _HARMLESS or line == "--no-index":
        return False
    name, _, value = line.replace("=", " ", 1).partition(" ")
    return (name not in _INDEX_OPTIONS and name not in _LINK_OPTIONS) or not value.strip()


def _pin(line: str) -> Pin | None:
    """``name==version [; marker] --hash=sha256:...``; None for any other line."""
    words = line.split(" ")
    first = next((i for i, word in enumerate(words) if word.startswith("-")), len(words))
    requirement, rest = " ".join(words[:first]).strip(), [w for w in words[first:] if w]
    hashes: set[str] = set()
    index = 0
    while index < len(rest):
        word = rest[index]
        if word == "--hash" and index + 1 < len(rest):
            value, index = rest[index + 1], index + 2
        elif word.startswith("--hash="):
            value, index = word[len("--hash=") :], index + 1
        else:
            return None
        algorithm, _, digest = value.partition(":")
        if algorithm == "sha256" and _HEX_RE.match(digest.lower()):
            hashes.add(digest.lower())
        elif algorithm not in ("sha384", "sha512"):
            return None
    try:
        parsed = Requirement(requirement)
    except InvalidRequirement:
        return None
    specifiers = list(parsed.specifier)
    if parsed.url or len(specifiers) != 1 or specifiers[0].operator != "==" or not hashes:
        return None
    try:
        version = Version(specifiers[0].version)
    except InvalidVersion:
        return None  # a wildcard ("1.*"): pip picks among versions
    marker = str(parsed.marker) if parsed.marker else ""
    return Pin(canonicalize_name(parsed.name), version, frozenset(hashes), line, marker)


def applies(pin: Pin, target: Target) -> bool:
    """Whether the pin's marker holds for the target (pip skips the line otherwise)."""
    if not pin.marker:
        return True
    try:
        return Marker(pin.marker).evaluate(dict(target.markers))
    except (InvalidMarker, KeyError, ValueError):
        return True  # pip will say; the pin is fetched all the same


# ---------------------------------------------------------------------------------------------
# The target and the sources
# ---------------------------------------------------------------------------------------------

# Run in the target as ``-I -S -B -c``: stdlib only, nothing of the environment.
_TARGET_PROBE = """
import json, os, platform, sys, sysconfig
v = sys.version_info
print(json.dumps({
    "implementation": sys.implementation.name,
    "version": [v[0], v[1]],
    "abiflags": getattr(sys, "abiflags", ""),
    "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "platform": sysconfig.get_platform(),
    "bits": 64 if sys.maxsize > 2 ** 32 else 32,
    "markers": {
        "implementation_name": sys.implementation.name,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_python_implementation": platform.python_implementation(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "python_version": "%d.%d" % (v[0], v[1]),
        "sys_platform": sys.platform,
    },
}))
"""


def probe_target(python: str | os.PathLike[str], *, timeout: float = 60.0) -> Target:
    """The tags ``python`` installs, from a ``-I -S -B`` child of it (no ``site``)."""
    done = run_python(python, ["-S", "-c", _TARGET_PROBE], timeout=timeout)
    try:
        if not done.ok:
            raise ValueError(done.describe())
        facts = _json.loads(done.stdout.strip().splitlines()[-1], max_values=1000)
        markers = {str(k): str(v) for k, v in facts["markers"].items()}
        return Target(target_tags(facts), markers)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise FetchError(f"cannot read the wheel tags of {python}: {exc}") from None


def target_tags(facts: Mapping[str, Any]) -> tuple[Tag, ...]:
    """The tags of the interpreter the probe describes, best first: CPython's; another
    implementation gets the pure ones only (the rest is left to pip). This process's platform
    tags (manylinux by this machine's libc) apply when the target's platform and width are
    this process's own; else only the target's own platform name."""
    major, minor = (int(part) for part in facts["version"])
    version = (major, minor)
    target_platform = str(facts["platform"])
    wide = int(facts["bits"]) == 64
    own = sysconfig.get_platform() == target_platform and (sys.maxsize > 2**32) == wide
    platforms = list(platform_tags()) if own else [_platform_tag(target_platform)]
    interpreter = f"cp{major}{minor}"
    if str(facts["implementation"]) != "cpython":
        return tuple(compatible_tags(version, None, platforms))
    flags = str(facts["abiflags"]).replace("t", "") + ("t" if facts["free_threaded"] else "")
    found = [*cpython_tags(version, [f"{interpreter}{flags}"], platforms)]
    found += compatible_tags(version, interpreter, platforms)
    return tuple(found)


def _platform_tag(name: str) -> str:
    return name.replace("-", "_").replace(".", "_")


def pip_sources(
    tool_python: str | os.PathLike[str],
    options: Sequence[str],
    lock_folder: Path,
    *,
    timeout: float = 120.0,
) -> Sources:
    """Where pip would download from: its configuration (:func:`pip_config`), then the
    lock's own option lines as pip applies them (:func:`sources_from`)."""
    return sources_from(pip_config(tool_python, timeout=timeout), options, lock_folder)


def pip_config(tool_python: str | os.PathLike[str], *, timeout: float = 120.0) -> dict[str, str]:
    """pip's configuration as ``pip config list`` gives it (its files and ``PIP_*``
    variables, merged as pip merges them), run by ``tool_python`` through
    :mod:`preflight._process`; ``FetchError`` when pip cannot say."""
    argv = [os.fspath(tool_python), "-I", "-m", "pip", "config", "list"]
    done = run(argv, timeout=timeout, env=clean_env())
    if not done.ok:
        raise FetchError(
            f"cannot read pip's configuration: {done.describe()}: {done.stderr.strip()[-500:]}"
        )
    return parse_config_list(done.stdout)


def needs_index(lock_text: str, wheelhouse: Path) -> bool:
    """Whether some pin of the lock has no file of its name in ``wheelhouse`` (so the index
    will be asked); a cheap look at names, nothing hashed."""
    read = read_pins(lock_text)
    return read.whole is None and not _all_named(read.pins, wheelhouse)


def parse_config_list(text: str) -> dict[str, str]:
    """``pip config list`` output as ``{section.key: value}`` (values unquoted)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        found[key.strip()] = value
    return found


def _setting(config: Mapping[str, str], key: str) -> str | None:
    for section in (":env:", "download", "global"):
        if f"{section}.{key}" in config:
            return config[f"{section}.{key}"]
    return None


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "y", "yes", "t", "true", "on")  # pip's


def absolute_options(options: Sequence[str], lock_folder: Path) -> list[str]:
    """The lock's option lines with each relative ``--find-links`` folder made absolute (from
    the lock's folder), for a requirements file of the left pins written elsewhere."""
    lines = []
    for line in options:
        name, _, value = line.replace("=", " ", 1).partition(" ")
        value = value.strip()
        relative = name in _LINK_OPTIONS and "://" not in value and not os.path.isabs(value)
        lines.append(f"--find-links {lock_folder / value}" if relative else line)
    return lines


def sources_from(config: Mapping[str, str], options: Sequence[str], lock_folder: Path) -> Sources:
    """The sources of pip's configuration (``download`` over ``global``, the ``PIP_*``
    variables over both), then the lock's option lines as pip applies them: ``--index-url``
    replaces the indexes, ``--extra-index-url`` adds one, ``--find-links`` adds a location
    (a relative folder from the lock's), ``--no-index`` drops the indexes."""
    primary = _setting(config, "index-url") or PYPI
    indexes = [primary, *(_setting(config, "extra-index-url") or "").split()]
    links = (_setting(config, "find-links") or "").split()
    if _true(_setting(config, "no-index")):
        indexes = []
    for line in options:
        name, _, value = line.replace("=", " ", 1).partition(" ")
        value = value.strip()
        kind = _INDEX_OPTIONS.get(name) or _LINK_OPTIONS.get(name)
        if line == "--no-index":
            indexes = []
        elif kind == "index":
            indexes = [value]
        elif kind == "extra":
            indexes.append(value)
        elif kind == "links":
            local = value if "://" in value else os.fspath(lock_folder / value)
            links.append(local)
    trusted = tuple(
        host.partition(":")[0] for host in (_setting(config, "trusted-host") or "").split()
    )
    return Sources(tuple(dict.fromkeys(indexes)), tuple(links), _setting(config, "cert"), trusted)


# ---------------------------------------------------------------------------------------------
# Candidates
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    filename: str
    url: str
    sha256: str | None  # what the index says; None: a local file, hashed when read
    size: int | None
    rank: int  # the target's rank of its best tag


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href and len(self.hrefs) < 200_000:
                self.hrefs.append(href)


class _NeedsPip(Exception):
    """This pin is left to pip (an index asking for credentials, say)."""


class _Stopped(FetchError):
    """A download stopped because another failed: not an error of its own."""


def _safe_filename(name: str) -> bool:
    return (
        bool(name)
        and name == os.path.basename(name)
        and name not in (".", "..")
        and not name.startswith(".")
        and "\0" not in name
        and "\\" not in name
        and len(name) < 256
    )


def _matches(filename: str, pin: Pin) -> bool:
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return False
    return name == pin.name and version == pin.version


# The time by which this thread's request must be read whole, headers included: every read of
# its socket waits at most until then (a status line and headers trickled a byte at a time,
# each within the timeout, are read by http.client before any body: the deadline held only
# for the body).
_REQUEST = threading.local()


def _until_deadline(sock: socket.socket) -> None:
    left = getattr(_REQUEST, "at", math.inf) - time.monotonic()
    if left <= 0:
        raise TimeoutError(f"not read within {getattr(_REQUEST, 'deadline', 0):g} s")
    sock.settimeout(min(getattr(_REQUEST, "each", left), left))


class _DeadlineSocket(socket.socket):
    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        _until_deadline(self)
        return super().recv_into(buffer, nbytes, flags)


class _DeadlineSSLSocket(ssl.SSLSocket):
    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        _until_deadline(self)
        return super().recv_into(buffer, nbytes, flags)


def _connect(address: Any, timeout: Any = None, source_address: Any = None) -> socket.socket:
    plain = socket.create_connection(address, timeout, source_address)
    sock = _DeadlineSocket(plain.family, plain.type, plain.proto, fileno=plain.detach())
    sock.settimeout(plain.gettimeout())
    return sock


_CONNECTIONS: dict[type[Any], type[Any]] = {}


class _DeadlineHandler(urllib.request.HTTPSHandler, urllib.request.HTTPHandler):
    """urllib's HTTP and HTTPS handlers whose connections read by :func:`_until_deadline`."""

    def do_open(self, http_class: Any, req: Any, **http_conn_args: Any) -> Any:
        connection = _CONNECTIONS.get(http_class)
        if connection is None:
            connection = _CONNECTIONS[http_class] = _deadlined(http_class)
        return super().do_open(connection, req, **http_conn_args)  # type: ignore[arg-type]


def _deadlined(http_class: type[Any]) -> type[Any]:
    """``http_class`` whose socket is a :class:`_DeadlineSocket` (its ``__init__`` sets the
    connection's factory on the instance)."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        http_class.__init__(self, *args, **kwargs)
        self._create_connection = _connect

    return type(http_class.__name__, (http_class,), {"__init__": __init__})


class _Client:
    """HTTP(S) and ``file:`` reads, bounded in size and time; redirects only to http(s)."""

    def __init__(self, sources: Sources, *, timeout: float, deadline: float) -> None:
        cert = sources.cert or None
        try:
            if cert is not None and os.path.isdir(cert):
                context = ssl.create_default_context(capath=cert)
            else:
                context = ssl.create_default_context(cafile=cert)
        except (OSError, ssl.SSLError) as exc:
            raise FetchError(f"pip's cert setting {cert!r} cannot be read: {exc}") from None
        context.sslsocket_class = _DeadlineSSLSocket
        self.trusted = frozenset(host.lower() for host in sources.trusted)
        self.opener = urllib.request.build_opener(_Redirects(), _DeadlineHandler(context=context))
        self.timeout, self.deadline = timeout, deadline
        self.stop = threading.Event()  # set when one file failed (or Ctrl-C): the rest stop

    def open(self, url: str, *, accept: str | None = None) -> Any:
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise FetchError(f"{url}: only http, https and local indexes are read")
        if urlsplit(url).username or urlsplit(url).password:
            raise _NeedsPip  # credentials in the URL: pip (and keyring) handle them
        headers = {"User-Agent": f"preflight/{__version__}"}
        if accept:
            headers["Accept"] = accept
        _REQUEST.at, _REQUEST.each = time.monotonic() + self.deadline, self.timeout
        _REQUEST.deadline = self.deadline
        try:
            return self.opener.open(urllib.request.Request(url, headers=headers),
                                    timeout=self.timeout)  # fmt: skip
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in (401, 403):
                raise _NeedsPip from None
            if exc.code == 404:
                return None
            raise FetchError(f"{url}: the index answered {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            host = (urlsplit(url).hostname or "").lower()
            if isinstance(reason, ssl.SSLError) and host in self.trusted:
                raise _NeedsPip from None  # pip's trusted-host: its certificate is not checked
            raise FetchError(f"{url}: {reason}") from None

    def read(self, url: str, *, limit: int, accept: str | None = None) -> tuple[bytes, str] | None:
        """The body of ``url`` and its content type; None: not found (404, no such file)."""
        if urlsplit(url).scheme.lower() == "file":
            return _read_local(url, limit)
        response = self.open(url, accept=accept)
        if response is None:
            return None
        with response:
            sink = _Sink(limit, url)
            self.copy(response, sink.write, url)
            return sink.data(), response.headers.get("Content-Type", "")

    def copy(self, response: BinaryIO, write: Callable[[bytes], None], url: str) -> None:
        """The body of ``response`` to ``write``, as it comes (``read1``: what one read of the
        socket gives, so a body trickled a byte at a time meets the deadline); an error of the
        stream (a silence past the timeout, a cut) is a FetchError naming the URL."""
        started = time.monotonic()
        read = getattr(response, "read1", response.read)
        try:
            while True:
                if self.stop.is_set():
                    raise _Stopped(f"{url}: stopped, another file failed")
                chunk = read(_CHUNK)
                if not chunk:
                    break
                write(chunk)
                if time.monotonic() - started > self.deadline:
                    raise FetchError(f"{url}: not read within {self.deadline:g} s")
        except (OSError, http.client.HTTPException) as exc:
            why = (exc.strerror or str(exc)) if isinstance(exc, OSError) else repr(exc)
            raise FetchError(f"{url}: the transfer failed: {why}") from None
        missing = getattr(response, "length", None)  # what Content-Length promised and is not
        if isinstance(missing, int) and missing > 0:
            raise FetchError(f"{url}: the transfer failed: cut short, {missing:,} bytes missing")


class _Redirects(urllib.request.HTTPRedirectHandler):
    max_redirections = 5

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        old, new = urlsplit(req.full_url).scheme.lower(), urlsplit(newurl).scheme.lower()
        if new not in ("http", "https") or (old == "https" and new != "https"):
            raise FetchError(f"{req.full_url}: redirected to {newurl!r}, which is not followed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Sink:
    def __init__(self, limit: int, url: str) -> None:
        self.parts: list[bytes] = []
        self.size, self.limit, self.url = 0, limit, url

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise FetchError(f"{self.url}: larger than {self.limit:,} bytes")
        self.parts.append(chunk)

    def data(self) -> bytes:
        return b"".join(self.parts)


def _local_path(url: str) -> Path:
    return Path(url2pathname(urlsplit(url).path)) if "://" in url else Path(url)


def _read_local(url: str, limit: int) -> tuple[bytes, str] | None:
    path = _local_path(url)
    if path.is_dir():
        path = path / "index.html"  # pip's rule for a local index folder
    try:
        with open(open_regular(path), "rb") as handle:
            data = handle.read(limit + 1)
    except ReadError as exc:
        if exc.kind == "missing":
            return None
        raise FetchError(f"{url}: {exc.problem}") from None
    except OSError as exc:
        raise FetchError(f"{url}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise FetchError(f"{url}: larger than {limit:,} bytes")
    return data, "text/html"


def _page_files(
    url: str, body: bytes, content_type: str
) -> list[tuple[str, str, str | None, int | None]]:
    """``(filename, url, sha256 or None, size or None)`` of an index page (PEP 691 or 503)."""
    files: list[tuple[str, str, str | None, int | None]] = []
    if "json" in content_type.split(";", maxsplit=1)[0]:
        try:
            data = _json.loads(body, max_values=2_000_000)
            entries = data["files"]
            if not isinstance(entries, list):
                raise TypeError("files is not a list")
            for entry in entries:
                hashes = entry.get("hashes") or {}
                digest = hashes.get("sha256") if isinstance(hashes, dict) else None
                size = entry.get("size")
                files.append((
                    str(entry["filename"]), urljoin(url, str(entry["url"])),
                    str(digest).lower() if isinstance(digest, str) else None,
                    size if isinstance(size, int) and size >= 0 else None,
                ))  # fmt: skip
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise FetchError(f"{url}: not a PEP 691 JSON index page ({exc})") from None
        return files
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise FetchError(f"{url}: the index page is not UTF-8") from None
    parser = _Anchors()
    parser.feed(text)
    for href in parser.hrefs:
        link = urljoin(url, href)
        parts = urlsplit(link)
        fragment = dict(p.partition("=")[::2] for p in parts.fragment.split("&") if p)
        digest = fragment.get("sha256")
        files.append((
            unquote(parts.path.rsplit("/", 1)[-1]), link.split("#", 1)[0],
            digest.lower() if digest else None, None,
        ))  # fmt: skip
    return files


# ---------------------------------------------------------------------------------------------
# Fetching
# ---------------------------------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _in_place(pins: Sequence[Pin], wheelhouse: Path, target: Target,
              pool: ThreadPoolExecutor) -> dict[Pin, str]:  # fmt: skip
    """The pins whose file is already in the wheelhouse (hash in the lock, installable)."""
    try:
        names = [
            entry.name for entry in os.scandir(wheelhouse) if entry.is_file(follow_symlinks=False)
        ]
    except OSError:
        return {}
    wanted: list[tuple[Pin, str]] = []
    for pin in pins:
        for name in names:
            usable = not name.endswith(".whl") or target.rank(name) is not None
            if _safe_filename(name) and _matches(name, pin) and usable:
                wanted.append((pin, name))
    digests = list(pool.map(lambda item: _hash_or_none(wheelhouse / item[1]), wanted))
    found: dict[Pin, tuple[int, str]] = {}
    for (pin, name), digest in zip(wanted, digests, strict=True):
        if digest in pin.hashes:
            rank = target.rank(name) if name.endswith(".whl") else 1 << 30
            assert rank is not None
            if pin not in found or rank < found[pin][0]:
                found[pin] = (rank, name)
    return {pin: name for pin, (_, name) in found.items()}


_PART_RE = re.compile(r"^\..+\.[0-9a-f]{12}\.part$")


def _remove_parts(wheelhouse: Path) -> None:
    """The hidden partial files a killed run left (never renamed into place): removed."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(wheelhouse):
            if _PART_RE.match(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


def _all_named(pins: Sequence[Pin], wheelhouse: Path) -> bool:
    try:
        names = os.listdir(wheelhouse)
    except OSError:
        return False
    return all(any(_matches(name, pin) for name in names) for pin in pins)


def _hash_or_none(path: Path) -> str | None:
    try:
        return _sha256_file(path)
    except OSError:
        return None


def _candidates(pin: Pin, sources: Sources, target: Target, client: _Client) -> list[Candidate]:
    """The pin's installable wheels that the sources show with one of the pin's hashes (or,
    from a local folder, to be hashed), best tag first, in the sources' order."""
    found: list[Candidate] = []
    for index in sources.indexes:
        page = index.rstrip("/") + "/" + pin.name + "/"
        found += _listed(pin, page, target, client, accept=_ACCEPT)
    for location in sources.find_links:
        if "://" in location and urlsplit(location).scheme.lower() != "file":
            found += _listed(pin, location, target, client)
            continue
        folder = _local_path(location)
        if not folder.is_dir():
            continue
        for entry in sorted(os.listdir(folder)):
            rank = target.rank(entry) if _safe_filename(entry) else None
            if rank is not None and _matches(entry, pin):
                found.append(Candidate(entry, (folder / entry).as_uri(), None, None, rank))
    return sorted(found, key=lambda c: c.rank)  # stable: the sources' order breaks ties


def _listed(
    pin: Pin, page: str, target: Target, client: _Client, *, accept: str | None = None
) -> list[Candidate]:
    """The pin's wheels an index or find-links page lists with a sha256 the lock names."""
    read = client.read(page, limit=PAGE_LIMIT, accept=accept)
    found: list[Candidate] = []
    for filename, url, digest, size in _page_files(page, *read) if read else []:
        if digest is None or digest not in pin.hashes or not _safe_filename(filename):
            continue
        rank = target.rank(filename)
        if rank is None or not _matches(filename, pin):
            continue
        if urlsplit(url).scheme.lower() == "file" and urlsplit(page).scheme.lower() != "file":
            raise FetchError(f"{page}: links to the local file {url!r}, which is not followed")
        found.append(Candidate(filename, url, digest, size, rank))
    return found


def _download(pin: Pin, candidate: Candidate, wheelhouse: Path, client: _Client) -> str | None:
    """``candidate`` into the wheelhouse when its bytes are one of the pin's hashes; None
    when a local find-links file turns out not to be (the next candidate is tried)."""
    limit = FILE_LIMIT if candidate.size is None else min(candidate.size, FILE_LIMIT)
    part = wheelhouse / f".{candidate.filename}.{secrets.token_hex(6)}.part"
    digest = hashlib.sha256()
    size = 0
    try:
        with open(part, "xb") as out:

            def write(chunk: bytes) -> None:
                nonlocal size
                size += len(chunk)
                if size > limit:
                    raise FetchError(
                        f"{candidate.url}: more than the {limit:,} bytes "
                        f"{'the index declared' if limit == candidate.size else 'allowed'}"
                        f" for {pin.name} {pin.version}"
                    )
                digest.update(chunk)
                out.write(chunk)

            if urlsplit(candidate.url).scheme.lower() == "file":
                try:
                    source = open(open_regular(_local_path(candidate.url)), "rb")  # noqa: SIM115
                except ReadError as exc:
                    if candidate.sha256 is None:
                        return None  # a local file of that name that is no file to read
                    raise FetchError(f"{candidate.url}: {exc.problem}") from None
                with source:
                    client.copy(source, write, candidate.url)
            else:
                response = client.open(candidate.url)
                if response is None:
                    raise FetchError(f"{candidate.url}: not found (404) for {pin.name}")
                with response:
                    client.copy(response, write, candidate.url)
        got = digest.hexdigest()
        if got not in pin.hashes:
            if candidate.sha256 is None:
                return None  # a local file of that name, not the locked one
            raise FetchError(
                f"{pin.name} {pin.version}: {candidate.url} served bytes of sha256:{got}, "
                f"not the sha256:{candidate.sha256} the index and the lock name",
                hint="the index serves other bytes than it advertises: nothing was kept; "
                "check the index (a proxy or mirror rewriting files?)",
            )
        os.replace(part, wheelhouse / candidate.filename)
        return candidate.filename
    except OSError as exc:  # the wheelhouse: full, read-only, a folder at the file's name...
        raise FetchError(
            f"{pin.name} {pin.version}: cannot write {wheelhouse / candidate.filename}: "
            f"{exc.strerror or exc}",
            hint="make room in the wheelhouse's disk, or remove what is at that name",
        ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()


def fetch_lock(
    lock_text: str,
    wheelhouse: Path,
    *,
    target: Target,
    sources: Callable[[Sequence[str]], Sources],
    workers: int = WORKERS,
    timeout: float = TIMEOUT,
    deadline: float = DEADLINE,
) -> Fetched:
    """Fill ``wheelhouse`` with the lock's files; see the module's docstring. ``sources``
    is called (with the lock's option lines) only when something must be fetched, so a warm
    run starts no child. ``FetchError``: a file could not be fetched, or not with the lock's
    bytes; nothing partial is left in the wheelhouse."""
    read = read_pins(lock_text)
    if read.whole is not None:
        return Fetched(whole=read.whole)
    fetched = Fetched(left=list(read.left), options=list(read.options))
    fetched.notes += [
        f"{line.split()[0]}: not a name==version pin with hashes" for line in read.left
    ]
    pins = [pin for pin in read.pins if applies(pin, target)]
    wheelhouse.mkdir(parents=True, exist_ok=True)
    _remove_parts(wheelhouse)
    with ThreadPoolExecutor(max_workers=max(2, workers)) as pool:
        # A pin with no file of its name in the wheelhouse will be fetched: where from is
        # asked (a child) meanwhile; when every pin has one, nothing is started before the
        # hashes say whether they are the lock's.
        asked = None
        if not _all_named(pins, wheelhouse):
            asked = pool.submit(sources, read.options)
        present = _in_place(pins, wheelhouse, target, pool)
        fetched.present = sorted(present.values())
        missing = [pin for pin in pins if pin not in present]
        if not missing:
            return fetched
        where = asked.result() if asked is not None else sources(read.options)
        client = _Client(where, timeout=timeout, deadline=deadline)

        def one(pin: Pin) -> str | None:
            try:
                if client.stop.is_set():
                    raise _Stopped(f"{pin.name}: not fetched, another file failed")
                for candidate in _candidates(pin, where, target, client):
                    name = _download(pin, candidate, wheelhouse, client)
                    if name is not None:
                        return name
            except FetchError:
                client.stop.set()  # the others stop at their next read
                raise
            except _NeedsPip:
                fetched.notes.append(f"{pin.name}: the index asks for credentials")
                return None
            fetched.notes.append(f"{pin.name}: no wheel for this interpreter with a locked hash")
            return None

        futures = [(pin, pool.submit(one, pin)) for pin in missing]
        _collect(futures, client, fetched)
    return fetched


def _collect(futures: Sequence[tuple[Pin, Future[str | None]]], client: _Client,
             fetched: Fetched) -> None:  # fmt: skip
    """Each pin's outcome into ``fetched``; the first error raised once all have ended (the
    others were stopped by it). Ctrl-C meanwhile: the downloads stop, then it goes on."""
    errors: list[FetchError] = []
    stopped = 0
    for pin, future in futures:
        try:
            name = future.result()
        except _Stopped:
            stopped += 1
            continue
        except FetchError as exc:
            errors.append(exc)
            continue
        except BaseException:
            client.stop.set()
            for _, other in futures:
                other.cancel()
            raise
        if name is None:
            fetched.left.append(pin.line)
        else:
            fetched.downloaded.append(name)
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        more += f" ({stopped} other downloads stopped)" if stopped else ""
        raise FetchError(first.message + more, hint=first.hint or _HINT)


_HINT = (
    "check that the package index is reachable (PIP_INDEX_URL, pip.conf), or work offline "
    "from a folder of the wheels (PIP_FIND_LINKS)"
)


def describe(fetched: Fetched) -> str:
    parts = []
    if fetched.present:
        parts.append(f"{len(fetched.present)} in place (hash checked)")
    if fetched.downloaded:
        parts.append(f"{len(fetched.downloaded)} downloaded by hash")
    if fetched.left:
        parts.append(f"{len(fetched.left)} left to pip download")
    return ", ".join(parts) or "nothing to fetch"
