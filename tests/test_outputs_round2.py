"""Output paths: a file is replaced, a stream is written to, anything else is refused first.

Whatever the user names for ``--junit``, ``--html``, ``--prometheus``, ``--sbom``,
``summarize --summary`` or ``baseline --output``:

* a regular file (or a new path) is replaced atomically, as before;
* a FIFO, a character device or ``/dev/stdout`` is written to as a stream and left what it
  was (on main each was replaced by a regular file: as root, ``baseline --output /dev/full``
  replaced the machine's ``/dev/full``);
* anything else (a folder, a socket, a symlink to a folder) is exit 3 before any check ran.

The FIFOs and device nodes are made in ``tmp_path`` by the test (a device with the null
device's numbers, 1:3, or the full device's, 1:7), never the machine's own; a command told to
write ``/dev/stdout`` runs with a ``/dev`` of its own (a private mount namespace), so that a
preflight that replaces what is at the path (main) cannot replace the machine's. Each FIFO is
read by a thread started before the command runs; nothing here waits on a sleep.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import wheelhouse
from conftest import cli_argv, cli_env
from junitparser import JUnitXml

from preflight._atomic import UnsafeOutput, output_target, write_output_text
from preflight._render.report import REPORT_NAME

NULL = os.makedev(1, 3)  # the null device's numbers: writes vanish
FULL = os.makedev(1, 7)  # the full device's: every write fails with ENOSPC
FAST = ("--skip", "performance")


def device(path: Path, numbers: int = NULL) -> Path:
    os.mknod(path, stat.S_IFCHR | 0o666, numbers)
    return path


def assert_device(path: Path, numbers: int = NULL) -> None:
    info = os.lstat(path)
    assert stat.S_ISCHR(info.st_mode), f"{path} is no longer a character device"
    assert info.st_rdev == numbers


class FifoReader:
    """A FIFO at ``path`` and a thread that opens it (blocking until a writer comes) and reads
    it to the end. Started before the command that writes it."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self.data = b""
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            while chunk := os.read(fd, 1 << 16):
                self.data += chunk
        finally:
            os.close(fd)
            self.done.set()

    def text(self) -> str:
        """What was written, once the writer closed it (the command has ended by now)."""
        self.release()
        assert self.done.wait(60), f"{self.path}: the reader did not finish"
        assert stat.S_ISFIFO(os.lstat(self.path).st_mode), f"{self.path} is no FIFO any more"
        return self.data.decode("utf-8")

    def release(self) -> None:
        """A reader still waiting for a writer (none came) is given one that writes nothing."""
        if not self.done.is_set() and stat.S_ISFIFO(os.lstat(self.path).st_mode):
            # ENXIO: the reader is not in its open (it is reading, or done).
            with contextlib.suppress(OSError):
                os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Callable[[str], FifoReader]]:
    readers: list[FifoReader] = []

    def make(name: str) -> FifoReader:
        reader = FifoReader(tmp_path / name)
        readers.append(reader)
        return reader

    yield make
    for reader in readers:
        reader.release()


# A /dev of its own for a command told to write /dev/stdout: a preflight that replaced what
# sits at an output path (main) would replace the machine's /dev/stdout, as root. In a private
# mount namespace, /dev is a fresh tmpfs holding what a command needs (nodes made here).
_PRIVATE_DEV = """
mount -t tmpfs tmpfs /dev || exit 97
mknod -m 666 /dev/null c 1 3 && mknod -m 666 /dev/urandom c 1 9 || exit 97
ln -s /proc/self/fd /dev/fd && ln -s /proc/self/fd/0 /dev/stdin || exit 97
ln -s /proc/self/fd/1 /dev/stdout && ln -s /proc/self/fd/2 /dev/stderr || exit 97
"$@"
code=$?
test -L /dev/stdout || { echo "/dev/stdout was replaced" >&2; exit 98; }
exit $code
"""


def run(
    *args: str | Path, cwd: Path, command: str = "check", private_dev: bool = False
) -> subprocess.CompletedProcess[str]:
    argv = cli_argv(*args, command=command)
    if private_dev:
        argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", _PRIVATE_DEV, "sh",
                *argv]  # fmt: skip
    done = subprocess.run(
        argv, capture_output=True, text=True, encoding="utf-8", env=cli_env(), cwd=cwd,
        timeout=240, check=False,
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode not in (97, 98), done.stderr
    return done


# --- the rule, in-process ---------------------------------------------------------------------


def test_what_sits_at_a_path_decides_how_it_is_written(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("old")
    assert output_target(tmp_path / "file").kind == "file"
    assert output_target(tmp_path / "new").kind == "file"
    os.mkfifo(tmp_path / "fifo")
    assert output_target(tmp_path / "fifo").kind == "stream"
    assert output_target(device(tmp_path / "null")).kind == "stream"
    (tmp_path / "to-null").symlink_to(tmp_path / "null")
    assert output_target(tmp_path / "to-null").kind == "stream"
    stdout = output_target(Path("/dev/stdout"))
    assert (stdout.kind, stdout.fd, stdout.what) == ("descriptor", 1, "stdout")
    (tmp_path / "folder").mkdir()
    (tmp_path / "to-folder").symlink_to(tmp_path / "folder")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    refused = {
        "folder": "is a folder, not a file",
        "to-folder": "is a folder (through a symlink), not a file",
        "loop": "is a symlink loop",
    }
    for name, said in refused.items():
        with pytest.raises(UnsafeOutput) as info:
            output_target(tmp_path / name)
        assert info.value.problem.startswith(said), info.value.problem


def test_a_socket_at_the_path_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        with pytest.raises(UnsafeOutput, match="is a socket"):
            write_output_text(path, "text")
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_a_fifo_and_a_device_are_written_to_and_left_as_they_were(
    tmp_path: Path, fifo: Callable[[str], FifoReader]
) -> None:
    reader = fifo("out.fifo")
    target = write_output_text(reader.path, "x" * 300_000)  # more than a pipe holds at once
    assert target.kind == "stream"
    assert reader.text() == "x" * 300_000
    write_output_text(device(tmp_path / "null"), "gone")
    assert_device(tmp_path / "null")
    with pytest.raises(OSError, match="No space left on device") as info:
        write_output_text(device(tmp_path / "full", FULL), "no room")
    assert info.value.errno == errno.ENOSPC  # said; and the device is still one
    assert_device(tmp_path / "full", FULL)


def test_a_fifo_nobody_reads_is_refused_after_a_bounded_wait(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "unread")
    with pytest.raises(UnsafeOutput, match=r"is a FIFO that nobody reads \(waited 0\.2 s"):
        write_output_text(tmp_path / "unread", "text", reader_wait=0.2)
    assert stat.S_ISFIFO(os.lstat(tmp_path / "unread").st_mode)


# --- the commands ---------------------------------------------------------------------------


def _reports(tmp_path: Path) -> Path:
    """A folder holding one READY report, as summarize reads it."""
    from test_summarize import report, write

    write(tmp_path / "job", report())
    return tmp_path / "job"


def test_summarize_writes_every_output_to_a_fifo_or_a_device(
    tmp_path: Path, fifo: Callable[[str], FifoReader]
) -> None:
    summary, junit = fifo("summary.fifo"), fifo("junit.fifo")
    html = device(tmp_path / "html.dev")
    done = run(
        _reports(tmp_path), "--summary", summary.path, "--junit", junit.path, "--html", html,
        command="summarize", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(summary.text())["matrix"] == "READY"
    assert "<testsuite" in junit.text()
    assert_device(html)


def test_summarize_junit_to_dev_stdout_prints_the_xml(tmp_path: Path) -> None:
    done = run(
        _reports(tmp_path), "--summary", tmp_path / "summary.json", "--junit", "/dev/stdout",
        command="summarize", cwd=tmp_path, private_dev=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("<?xml"), done.stdout
    assert "<testsuite" in done.stdout


@pytest.mark.parametrize("kind", ["folder", "socket", "symlink to a folder"])
@pytest.mark.parametrize("flag", ["--junit", "--html", "--prometheus", "--sbom"])
def test_check_refuses_what_cannot_take_an_output_before_any_check_runs(
    tmp_path: Path, python312: Path, project: Path, flag: str, kind: str
) -> None:
    path = tmp_path / "o"
    keep: socket.socket | None = None
    if kind == "folder":
        path.mkdir()
    elif kind == "socket":
        keep = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        keep.bind(str(path))
    else:
        (tmp_path / "folder").mkdir()
        path.symlink_to(tmp_path / "folder")
    try:
        done = run(
            "--python", python312, "--project", project, "--report-dir", tmp_path / "reports",
            flag, path, cwd=tmp_path,
        )  # fmt: skip
    finally:
        if keep is not None:
            keep.close()
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith(f"error: {flag} {path}: is a "), done.stderr
    assert not (tmp_path / "reports").exists()  # no check ran, no report was written


def test_summarize_and_baseline_refuse_a_folder_before_reading_or_checking(
    tmp_path: Path, python312: Path, project: Path
) -> None:
    (tmp_path / "folder").mkdir()
    done = run(_reports(tmp_path), "--summary", tmp_path / "folder", command="summarize",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 3
    assert done.stderr.startswith(f"error: --summary {tmp_path / 'folder'}: is a folder, not a")
    done = run(
        "--python", python312, "--project", project, "--report-dir", tmp_path / "reports",
        "--output", tmp_path / "folder", command="baseline", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 3
    assert done.stderr.startswith(f"error: --output {tmp_path / 'folder'}: is a folder")
    assert not (tmp_path / "reports").exists()


@pytest.mark.slow
def test_check_writes_each_output_to_a_fifo_and_the_report_too(
    tmp_path: Path, venv312: Path, project: Path, fifo: Callable[[str], FifoReader]
) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    outputs = {flag: fifo(flag.strip("-")) for flag in ("--junit", "--html", "--prometheus")}
    sbom = fifo("sbom")
    report = FifoReader(reports / REPORT_NAME)
    try:
        done = run(
            "--python", venv312, "--project", project, "--report-dir", reports, *FAST,
            *(arg for flag, reader in outputs.items() for arg in (flag, reader.path)),
            "--sbom", sbom.path, cwd=tmp_path,
        )  # fmt: skip
    finally:
        report.release()
    assert done.returncode == 0, done.stderr
    assert json.loads(report.text())["status"] == "READY"
    assert "<testsuite" in outputs["--junit"].text()
    assert outputs["--html"].text().startswith("<!DOCTYPE html>")
    assert "preflight_check_status" in outputs["--prometheus"].text()
    assert json.loads(sbom.text())["bomFormat"] == "CycloneDX"


@pytest.mark.slow
def test_check_writes_to_devices_and_junit_to_dev_stdout(
    tmp_path: Path, venv312: Path, project: Path
) -> None:
    nodes = {flag: device(tmp_path / flag.strip("-")) for flag in ("--html", "--prometheus")}
    sbom = device(tmp_path / "sbom")
    done = run(
        "--python", venv312, "--project", project, "--report-dir", tmp_path / "reports", *FAST,
        "--junit", "/dev/stdout", "--sbom", sbom,
        *(arg for flag, path in nodes.items() for arg in (flag, path)), cwd=tmp_path,
        private_dev=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (suite,) = JUnitXml.fromstring(done.stdout)
    assert suite.name.startswith("preflight Python 3.12.")
    for path in (*nodes.values(), sbom):
        assert_device(path)


@pytest.mark.slow
def test_baseline_to_a_full_device_says_so_and_leaves_it_a_device(
    tmp_path: Path, venv312: Path, project: Path, fifo: Callable[[str], FifoReader]
) -> None:
    """On main, as root: the node was replaced by a regular file (the manifest)."""
    full = device(tmp_path / "full", FULL)
    done = run(
        "--python", venv312, "--project", project, "--report-dir", tmp_path / "reports", *FAST,
        "--output", full, command="baseline", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert f"error: --output {full}: cannot write the baseline: No space left on device" in (
        done.stderr
    )
    assert_device(full, FULL)
    manifest = fifo("manifest")
    done = run(
        "--python", venv312, "--project", project, "--report-dir", tmp_path / "reports", *FAST,
        "--output", manifest.path, command="baseline", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(manifest.text())["entries"]


# --- the SBOM never stops the other outputs -------------------------------------------------


def _hostile_dist_infos(site: Path) -> None:
    """Three distributions no installer would make, each one a tamperer can."""
    nameless = site / "-1.0.dist-info"  # no name in the folder either
    nameless.mkdir()
    (nameless / "METADATA").write_text("Metadata-Version: 2.1\nName: \nVersion: 1.0\n")
    latin = Path(os.fsdecode(os.fsencode(site) + b"/caf\xe9-1.0.dist-info"))
    latin.mkdir()
    (latin / "METADATA").write_bytes(b"Metadata-Version: 2.1\nName: caf\xe9\nVersion: 1.0\n")
    big = site / "big-1.dist-info"
    big.mkdir()
    (big / "METADATA").write_text(f"Metadata-Version: 2.1\nName: big\nVersion: {'9' * 5000}\n")


@pytest.mark.slow
def test_hostile_names_do_not_stop_the_sbom_nor_any_other_output(
    tmp_path: Path, venv312_copy: Path, project: Path
) -> None:
    _hostile_dist_infos(wheelhouse.site_packages(venv312_copy))
    out = tmp_path / "out"
    done = run(
        "--python", venv312_copy, "--project", project, "--report-dir", tmp_path / "reports",
        *FAST, "--sbom", out / "sbom.json", "--junit", out / "junit.xml", "--html",
        out / "page.html", "--prometheus", out / "metrics.prom", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode in (1, 2), done.stderr  # the strays are findings; no crash
    assert "NOT_READY" in done.stderr or "WARNING" in done.stderr  # the terminal summary
    assert sorted(p.name for p in out.iterdir()) == [
        "junit.xml", "metrics.prom", "page.html", "sbom.json",
    ]  # fmt: skip
    document = json.loads((out / "sbom.json").read_text(encoding="utf-8"))
    components = {c["bom-ref"]: c for c in document["components"]}
    left_out = [
        p["value"] for p in document["metadata"]["component"]["properties"]
        if p["name"] == "preflight:left_out"
    ]  # fmt: skip
    assert len(left_out) == 1, left_out
    assert "an empty name" in left_out[0]
    assert "/-1.0.dist-info" in left_out[0]
    assert "sbom: left out" in done.stderr
    big = next(c for c in components.values() if c["name"] == "big")
    assert "version" not in big
    assert any("5000 characters" in p["value"] for p in big["properties"])
    latin = next(c for c in components.values() if "dist-info" in json.dumps(c) and
                 "caf" in c["name"])  # fmt: skip
    assert "\udce9" not in json.dumps(latin, ensure_ascii=False)


@pytest.mark.parametrize(
    ("name", "version", "written"),
    [
        ("", "1.0", False),  # no name at all: left out, said
        ("   ", "1.0", False),
        (os.fsdecode(b"caf\xe9"), "1.0", True),  # a name not UTF-8 (surrogates): \xe9
        ("not a name!", "1.0", True),  # no purl, a problem said
        ("big", "9" * 5000, True),  # its dist-info path is too long for any file system call
        ("pkg", os.fsdecode(b"1.\xff"), True),
    ],
)
def test_the_sbom_renders_whatever_the_facts_name(name: str, version: str, written: bool) -> None:
    """The facts as the probe could give them (built by hand: the probe names an empty
    METADATA Name after its folder); on main each of these raised out of the SBOM writer."""
    import factories

    from preflight._facts.sboms import sbom_facts
    from preflight._render.sbom import render_sbom

    hostile = factories.dist(name, version)
    dists = (factories.dist("numpy", "2.2.6"), hostile)
    ctx = factories.context(interpreter=factories.interpreter(dists=dists))
    sbom = render_sbom(factories.report(), sbom_facts(ctx))
    document = json.loads(sbom.text)
    names = [c["name"] for c in document["components"]]
    assert "numpy" in names
    assert sbom.components == len(names) == (2 if written else 1)
    assert len(sbom.left_out) == (0 if written else 1)
    sbom.text.encode("utf-8")  # no lone surrogate anywhere
    assert "\\udc" not in sbom.text
