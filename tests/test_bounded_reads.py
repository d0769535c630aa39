"""Bounded, typed reads: whatever sits where a file should be is refused, named, and fast.

Real files only: FIFOs made with ``os.mkfifo`` (reading one without a writer would block for
ever), ``/dev/zero`` behind a symlink (never ends), a folder, a sparse file one byte over the
limit, a socket, and bytes that are not UTF-8. Every read runs under a deadline (a thread
join, or ``timeout=`` on a subprocess) so that a regression fails here instead of hanging.
"""

from __future__ import annotations

import io
import os
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from conftest import run_preflight

from preflight._alerts.state import load_states
from preflight._checks.environment_config import parse_config
from preflight._cli.alert import read_report
from preflight._errors import ConfigError, LockError, UsageError
from preflight._facts import integrity
from preflight._facts.project import read_config_file
from preflight._lock.requirements import parse_lock
from preflight._policy.policy import load_policy
from preflight._read import (
    CONFIG_FILE_LIMIT,
    LOCK_LIMIT,
    POLICY_LIMIT,
    REPORT_LIMIT,
    STATE_LIMIT,
    ReadError,
    open_regular,
    read_bytes,
    read_text,
)

T = TypeVar("T")
DEADLINE = 10.0
BAD_UTF8 = b"a = 1\nb = 2\nc = '\xff'\n"  # the bad byte is on line 3, at offset 17
CASES = ("fifo", "zero", "folder", "too-large", "not-utf8")
# What each case says, and the kind callers tell apart.
SAYS = {
    "fifo": ("special", "is a FIFO, not a regular file"),
    "zero": ("special", "is a character device, not a regular file"),
    "folder": ("directory", "is a directory, not a regular file"),
    "too-large": ("too_large", "is larger than"),
    "not-utf8": ("not_utf8", "not UTF-8: byte 0xff at offset 17 is invalid"),
}


def within(call: Callable[[], T], seconds: float = DEADLINE) -> T:
    """``call()`` in a thread; fail (instead of hanging the suite) if it is not done in time."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the test below
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still reading after {seconds} s: the read blocks"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def make(path: Path, case: str, limit: int) -> Path:
    """Put the thing ``case`` names at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if case == "fifo":
        os.mkfifo(path)
    elif case == "zero":
        path.symlink_to("/dev/zero")
    elif case == "folder":
        path.mkdir()
    elif case == "too-large":  # sparse: one byte over the limit costs no disk
        with path.open("wb") as handle:
            handle.truncate(limit + 1)
    elif case == "not-utf8":
        path.write_bytes(BAD_UTF8)
    else:
        raise AssertionError(case)
    return path


# --- the reader itself ---------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_read_text_refuses_what_is_not_a_small_utf8_file(tmp_path: Path, case: str) -> None:
    path = make(tmp_path / "thing", case, 1024)
    with pytest.raises(ReadError) as info:
        within(lambda: read_text(path, what="a test file", limit=1024))
    kind, words = SAYS[case]
    assert info.value.kind == kind
    assert words in info.value.problem
    assert str(info.value).startswith(str(path))
    assert info.value.path == path
    if case == "not-utf8":
        assert info.value.line == 3
        assert str(info.value).startswith(f"{path}, line 3: not UTF-8")
    else:
        assert info.value.line is None
    if case == "too-large":
        assert info.value.problem == "is larger than 1 KiB, the limit for a test file"


def test_the_limit_is_inclusive(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 1024)
    assert read_bytes(path, what="a test file", limit=1024) == b"x" * 1024
    with pytest.raises(ReadError, match="larger than 1023 bytes"):
        read_bytes(path, what="a test file", limit=1023)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
def test_the_size_a_file_claims_is_not_trusted() -> None:
    # /proc files say st_size 0 and hold kilobytes: only what was read counts.
    assert os.stat("/proc/self/maps").st_size == 0
    with pytest.raises(ReadError, match="larger than 64 bytes"):
        within(lambda: read_bytes("/proc/self/maps", what="a test file", limit=64))


def test_missing_and_dangling_are_missing(tmp_path: Path) -> None:
    with pytest.raises(ReadError) as info:
        read_text(tmp_path / "nope", what="a test file", limit=10)
    assert (info.value.kind, info.value.problem) == ("missing", "does not exist")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ReadError) as info:
        read_text(tmp_path / "dangling", what="a test file", limit=10)
    assert info.value.kind == "missing"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ReadError) as info:  # a path through a file
        read_text(tmp_path / "file" / "below", what="a test file", limit=10)
    assert info.value.kind == "missing"


@pytest.fixture
def unix_socket() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="pf-", dir="/tmp"))  # AF_UNIX paths are short
    path = folder / "s"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    try:
        yield path
    finally:
        server.close()
        path.unlink()
        folder.rmdir()


def test_a_socket_is_refused(unix_socket: Path) -> None:
    with pytest.raises(ReadError, match="is a socket, not a regular file"):
        within(lambda: read_text(unix_socket, what="a test file", limit=10))


def test_line_numbers_follow_crlf_and_cr(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"a\r\nb\rc\n\xe9")
    with pytest.raises(ReadError) as info:
        read_text(path, what="a test file", limit=100)
    assert info.value.line == 4
    path.write_bytes("\ufeffkeep the BOM\n".encode())
    assert read_text(path, what="a test file", limit=100).startswith("\ufeff")


def _writer_waits(fifo: Path) -> tuple[threading.Thread, threading.Event]:
    """A thread that opens ``fifo`` for writing: that open returns only once a reader opens."""
    opened = threading.Event()

    def write() -> None:
        with open(fifo, "wb"):
            opened.set()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread, opened


def _release(fifo: Path, thread: threading.Thread) -> None:
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    thread.join(DEADLINE)
    os.close(fd)


def test_a_fifo_is_never_opened_for_reading(tmp_path: Path) -> None:
    """Refused from a stat: a writer waiting on the FIFO is still waiting after the refusals
    (had a reader opened it, even briefly and non-blocking, the writer's open would return)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    thread, opened = _writer_waits(fifo)
    try:
        with pytest.raises(ReadError, match="FIFO"):
            within(lambda: open_regular(fifo))
        with pytest.raises(ReadError, match="FIFO"):
            within(lambda: read_text(fifo, what="a test file", limit=10))
        # The integrity scan hashes only regular files: a FIFO named in RECORD is not read.
        assert within(lambda: integrity.hash_file(str(fifo), "sha256")) is None
        assert not opened.wait(0.5), "the FIFO was opened for reading"
    finally:
        _release(fifo, thread)
    assert opened.is_set()  # the check above could fail: a reader does release the writer


# --- each caller turns a refusal into its own error ----------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_policy(tmp_path: Path, case: str) -> None:
    path = make(tmp_path / "pyproject.toml", case, POLICY_LIMIT)
    with pytest.raises(ConfigError) as info:
        within(lambda: load_policy(tmp_path))
    message = str(info.value)
    assert message.startswith(f"{path}: cannot be read: ")
    assert SAYS[case][1] in message
    if case == "not-utf8":
        assert "cannot be read: line 3: not UTF-8" in message
    if case == "too-large":
        assert "larger than 4 MiB, the limit for a pyproject.toml" in message


@pytest.mark.parametrize("case", CASES)
def test_lock(tmp_path: Path, case: str) -> None:
    path = make(tmp_path / "py3.12.txt", case, LOCK_LIMIT)
    with pytest.raises(LockError) as info:
        within(lambda: parse_lock(path))
    assert info.value.path == path
    assert info.value.hint
    if case == "folder":
        assert info.value.message == f"{path}: is a directory, not a lock file"
    else:
        assert SAYS[case][1] in info.value.message
    if case == "not-utf8":
        assert info.value.line == 3
        assert str(info.value).startswith(f"{path}, line 3: not UTF-8")
    if case == "too-large":
        assert "larger than 32 MiB, the limit for a lock file" in info.value.message


@pytest.mark.parametrize("case", CASES)
def test_report(tmp_path: Path, case: str) -> None:
    path = make(tmp_path / "report.json", case, REPORT_LIMIT)
    with pytest.raises(UsageError) as info:
        within(lambda: read_report(path))
    if case == "folder":
        assert info.value.message == f"--report {path}: is a folder, not a report"
    else:
        assert info.value.message.startswith(f"--report {path}: ")
        assert SAYS[case][1] in info.value.message
    if case == "not-utf8":
        assert info.value.message.startswith(f"--report {path}: line 3: not UTF-8")


@pytest.mark.parametrize("case", CASES)
def test_alert_state(tmp_path: Path, case: str) -> None:
    path = make(tmp_path / "alert-state.json", case, STATE_LIMIT)
    log = io.StringIO()
    assert within(lambda: load_states(path, log)) == {}
    assert f"ignoring the unreadable state file {path}: " in log.getvalue()
    assert SAYS[case][1] in log.getvalue()


@pytest.mark.parametrize("case", CASES)
def test_config_file(tmp_path: Path, case: str) -> None:
    path = make(tmp_path / ".smvm_config", case, CONFIG_FILE_LIMIT)
    values, findings = within(lambda: parse_config(read_config_file(path)))
    assert values == {}
    (finding,) = findings
    assert finding.message.startswith(str(path))
    assert SAYS[case][1] in finding.message
    assert finding.message.endswith("(it cannot be read)")
    if case == "not-utf8":
        assert finding.message.startswith(f"{path}, line 3: not UTF-8")


# --- the CLI: exit 3, one error line, no traceback, within seconds ---------------------------

POLICY = '[tool.preflight]\npythons = ["3.12"]\nrequires = []\n'


@pytest.mark.parametrize("case", ["fifo", "zero", "too-large", "not-utf8"])
def test_check_with_a_policy_that_is_not_a_file(tmp_path: Path, case: str) -> None:
    project = tmp_path / "project"
    path = make(project / "pyproject.toml", case, POLICY_LIMIT)
    done = run_preflight("check", "--project", project, cwd=tmp_path, timeout=60)
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith(f"error: {path}: cannot be read: "), done.stderr
    assert SAYS[case][1] in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr) < 2000


@pytest.mark.parametrize("case", ["fifo", "zero", "too-large", "not-utf8"])
def test_alert_with_a_report_that_is_not_a_file(tmp_path: Path, case: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(POLICY + "[tool.preflight.alerts.webhook]\n")
    report = make(tmp_path / "report.json", case, REPORT_LIMIT)
    done = run_preflight(
        "alert", "--report", report, "--project", project, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith(f"error: --report {report}: "), done.stderr
    assert SAYS[case][1] in done.stderr
    assert "Traceback" not in done.stderr
