"""Hostile input, round two: every reader of untrusted JSON and archives, bounded.

Each case was a traceback, a hang or gigabytes on the tool as it was (issue 18, "Why"). The
readers run in a child process under ``RLIMIT_AS`` of 1 GiB (set in the child before it
starts), so a blow-up fails the test instead of the machine: a MemoryError is a traceback, and
the child's timeout (generous: the bound is the limit of 30 s the issue sets, the machine is
shared) is the bound of time. No timing is asserted: each test asserts the clear error or
finding that names the file, what is wrong and the limit.

The hostile files are made here, in ``tmp_path``: reports and outcomes of any depth or size,
zips whose directory is forged byte by byte (:func:`raw_zip`), wheels whose members inflate
to gigabytes, a METADATA, a lock pin and an OSV bound of 5,000 digits.
"""

from __future__ import annotations

import json
import resource
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import wheelhouse
from conftest import CliRun, Wheels, cli_argv, cli_env, write_project

from preflight._checks.result import CheckResult, Finding, Severity, Status
from preflight._facts import osv, wheels
from preflight._facts.osv import DataUnavailable
from preflight._ops.matrix import OUTCOME_NAME
from preflight._render.report import REPORT_NAME
from preflight._report.interpreter import Interpreter
from preflight._report.model import Report

RunCheck = Callable[..., CliRun]
GIB = 1 << 30
MIB = 1 << 20
SKIP = ("--skip", "performance", "--skip", "suite")
FOLDED, FOLD_LIMIT = 16, 512 * MIB  # reports summarize folds, under this limit
HUGE = "1" + "0" * 5000  # over the 4,300 digits Python converts to an int


def _limited(limit: int = GIB) -> Callable[[], None]:
    """What the child runs before it starts: at most ``limit`` bytes of address space."""

    def limit_child() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return limit_child


def bounded(
    argv: Sequence[str | Path], *, cwd: Path, timeout: float = 120, limit: int = GIB
) -> subprocess.CompletedProcess[str]:
    """``argv`` run under ``limit`` (1 GiB) of address space, killed after ``timeout`` seconds;
    never a traceback (a MemoryError is one). One malloc arena per thread pool: the bound is on
    what the tool holds, not on glibc's reservations for threads."""
    done = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=cli_env({"MALLOC_ARENA_MAX": "2"}),
        cwd=cwd,
        timeout=timeout,
        check=False,
        preexec_fn=_limited(limit),  # the limit is set in the child, before it runs
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "MemoryError" not in done.stderr, done.stderr[-3000:]
    return done


def preflight(
    *args: str | Path, cwd: Path, timeout: float = 120, limit: int = GIB
) -> subprocess.CompletedProcess[str]:
    command, *rest = args
    return bounded(cli_argv(*rest, command=str(command)), cwd=cwd, timeout=timeout, limit=limit)


# --- summarize and alert --report: reports and outcomes ------------------------------------


def _report(findings: int = 1) -> dict[str, Any]:
    """A valid JSON report with ``findings`` warnings of one check (as ``to_dict`` writes)."""
    one = Report(
        timestamp="2026-12-07T07:00:00Z",
        interpreter=Interpreter.of(
            path="/env/bin/python", version="3.12.1", implementation="cpython"
        ),
        python_status="primary",
        checks=(
            CheckResult("python_version", "Python version", Status.PASS, "3.12.1 ok"),
            CheckResult(
                "security", "Security", Status.WARN, "warned",
                (Finding(Severity.WARNING, "w", None),),
            ),
        ),
        duration_s=1.0, project="/project", lock="/project/requirements/py3.12.txt",
        tool_version="0.1.0", host="h",
    ).to_dict()  # fmt: skip
    # The same finding n times: a list of n references, written out as n objects.
    one["checks"]["security"]["findings"] *= findings
    one["violations"] *= findings
    one["warnings"] *= findings
    return one


def _heavy(report: dict[str, Any], size: int) -> str:
    """``report`` as JSON of about ``size`` bytes, grown by empty objects in a check's details
    (valid: details are any object): the most Python objects per byte JSON can hold."""
    text = json.dumps(report, separators=(",", ":"))
    report["checks"]["security"]["details"] = {"x": [{}] * ((size - len(text)) // 3)}
    return json.dumps(report, separators=(",", ":"))


def _write_report(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / REPORT_NAME
    path.write_text(text, encoding="utf-8")
    return path


def test_summarize_reads_a_report_nested_100000_deep_as_an_error_row(tmp_path: Path) -> None:
    path = _write_report(tmp_path / "jobs" / "deep", "[" * 100_000 + "]" * 100_000)
    done = preflight("summarize", tmp_path / "jobs", "--summary", tmp_path / "s.json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    rows = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))["interpreters"]
    (row,) = rows
    assert row["verdict"] == "ERROR"
    assert str(path) in row["message"]
    assert "nested deeper than 64 levels" in row["message"]


def test_summarize_reads_an_outcome_nested_100000_deep_as_an_error_row(tmp_path: Path) -> None:
    folder = tmp_path / "jobs" / "preflight-3.12"
    _write_report(folder, json.dumps(_report()))
    (folder / OUTCOME_NAME).write_text('{"a": ' * 100_000 + "1" + "}" * 100_000, encoding="utf-8")
    done = preflight("summarize", tmp_path / "jobs", "--summary", tmp_path / "s.json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    (row,) = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))["interpreters"]
    assert row["verdict"] == "ERROR"
    assert str(folder / OUTCOME_NAME) in row["message"]
    assert "nested deeper than 64 levels" in row["message"]


def test_a_valid_report_of_60_mib_is_refused_by_what_it_holds_not_read_into_gigabytes(
    tmp_path: Path,
) -> None:
    """60 MiB of ``{}`` in a check's details: valid, under the byte limit, and 16 million
    dicts once read (3.25 GB)."""
    text = _heavy(_report(), 60 * MIB)
    path = _write_report(tmp_path / "jobs" / "big", text)
    done = preflight("summarize", tmp_path / "jobs", "--summary", tmp_path / "s.json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    (row,) = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))["interpreters"]
    assert row["verdict"] == "ERROR"
    assert str(path) in row["message"]
    assert "holds more than 2,000,000 values, the limit" in row["message"], row["message"]

    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[tool.preflight]\npythons = ["3.12"]\n\n[tool.preflight.alerts]\n'
        'webhook_url = "http://127.0.0.1:9/hook"\n',
        encoding="utf-8",
    )
    done = preflight("alert", "--report", path, "--project", project, cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith(f"error: --report {path}: is not JSON that a report holds")


def test_summarize_folds_each_report_into_its_row_sixteen_of_2_mib(tmp_path: Path) -> None:
    """Each report is read, folded into its row and dropped: 30 reports of 2 MiB, each 650,000
    dicts once read (under the limit of values), were all kept (1.5 GB). Sixteen kept hold
    800 MB, over this run's 512 MiB of address space (the plain-Python test below shows it):
    half the reports to read, the same margin."""
    text = _heavy(_report(findings=1000), 2 * MIB)
    for index in range(FOLDED):
        _write_report(tmp_path / "jobs" / f"host-{index:02}", text)
    html, junit = tmp_path / "page.html", tmp_path / "junit.xml"
    done = preflight(
        "summarize", tmp_path / "jobs", "--summary", tmp_path / "s.json",
        "--html", html, "--junit", junit, cwd=tmp_path, timeout=240, limit=FOLD_LIMIT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))["interpreters"]
    assert [r["verdict"] for r in rows] == ["READY"] * FOLDED
    # Each row keeps a page's worth of findings, and says where the rest are.
    shown = junit.read_text(encoding="utf-8")
    assert shown.count("… and 500 more findings of this check: see ") == FOLDED
    assert html.exists()


def test_keeping_the_sixteen_reports_read_does_not_fit_the_limit(tmp_path: Path) -> None:
    """What the test above guards against, shown under the same limit: a reader that keeps
    every report it parsed (plain ``json.loads``, no preflight) runs out of memory."""
    text = _heavy(_report(findings=1000), 2 * MIB)
    paths = [_write_report(tmp_path / f"host-{i:02}", text) for i in range(FOLDED)]
    keep = "import json, sys; kept = [json.loads(open(p).read()) for p in sys.argv[1:]]"

    def keeping(paths: Sequence[Path]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", keep, *map(str, paths)],
            capture_output=True,
            text=True,
            env=cli_env({"MALLOC_ARENA_MAX": "2"}),
            timeout=240,
            check=False,
            preexec_fn=_limited(FOLD_LIMIT),
        )

    few = keeping(paths[:4])  # a few kept fit: the limit is about keeping, not one report
    assert few.returncode == 0, few.stderr[-3000:]
    done = keeping(paths)
    assert done.returncode != 0, "sixteen kept reports fit: the limit proves nothing"
    assert "MemoryError" in done.stderr, done.stderr[-3000:]


# --- the OSV export: a zip made by someone else ---------------------------------------------


def _entry_headers(
    name: bytes, data: bytes, size: int, crc: int, offset: int
) -> tuple[bytes, bytes]:
    """The local header (with the data) and the central directory entry of one deflated member."""
    local = struct.pack(
        "<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), size, len(name), 0
    )
    central = struct.pack(
        "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(data), size, len(name),
        0, 0, 0, 0, 0, offset,
    )  # fmt: skip
    return local + name + data, central + name


def raw_zip(path: Path, members: Sequence[tuple[bytes, bytes, int, int]], directory: bytes = b"",
            claimed: int | None = None) -> Path:  # fmt: skip
    """A zip written byte by byte: ``members`` (name, deflated data, size, crc) each with its
    local header, then ``directory`` (default: their entries), then an end record claiming
    ``claimed`` entries (default: as many as the members)."""
    body, entries = b"", b""
    for name, data, size, crc in members:
        local, central = _entry_headers(name, data, size, crc, len(body))
        body += local
        entries += central
    directory = directory or entries
    count = len(members) if claimed is None else claimed
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, min(count, 0xFFFF), min(count, 0xFFFF),
        len(directory), len(body), 0,
    )  # fmt: skip
    with path.open("wb") as handle:
        handle.write(body)
        handle.write(directory)
        handle.write(end)
    return path


def _deflated(size: int, byte: bytes = b"0") -> tuple[bytes, int]:
    """``size`` bytes of ``byte`` deflated (raw, as zip stores it), and their CRC-32."""
    squeeze = zlib.compressobj(6, zlib.DEFLATED, -15)
    chunk = byte * min(size, 16 * MIB)
    out, crc, left = [], 0, size
    while left:
        piece = chunk[: min(left, len(chunk))]
        out.append(squeeze.compress(piece))
        crc = zlib.crc32(piece, crc)
        left -= len(piece)
    out.append(squeeze.flush())
    return b"".join(out), crc


def osv_load(path: Path, cwd: Path, timeout: float = 60) -> str:
    """``osv.load`` of ``path`` in a bounded child: what it returned, as one line."""
    code = (
        "import sys; from preflight._facts import osv\n"
        "data = osv.load(sys.argv[1], ['alpha'])\n"
        "print(type(data).__name__, getattr(data, 'reason', ''))\n"
    )
    done = bounded([sys.executable, "-c", code, path], cwd=cwd, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_an_osv_zip_whose_directory_is_128_mib_behind_an_end_record_of_1000_is_refused(
    tmp_path: Path,
) -> None:
    data, crc = _deflated(2, b"{}")
    member = (b"A.json", data, 2, crc)
    _, entry = _entry_headers(b"A.json", data, 2, crc, 0)
    directory = entry * (128 * MIB // len(entry))
    path = raw_zip(tmp_path / "osv.zip", [member], directory=directory, claimed=1000)
    said = osv_load(path, tmp_path)
    assert said.startswith("DataUnavailable "), said
    assert "zip directory of 1000 entries in 134217" in said
    assert "over the limits (200000 entries, 32 MiB)" in said


def test_an_osv_zip_of_2000_entries_of_one_over_limit_member_is_refused_unread(
    tmp_path: Path,
) -> None:
    size = osv.RECORD_LIMIT + 1
    data, crc = _deflated(size)
    _, entry = _entry_headers(b"A.json", data, size, crc, 0)
    path = raw_zip(tmp_path / "osv.zip", [(b"A.json", data, size, crc)], directory=entry * 2000,
                   claimed=2000)  # fmt: skip
    assert path.stat().st_size < 200_000
    said = osv_load(path, tmp_path)
    assert said.startswith("DataUnavailable "), said
    assert "two zip directory entries for the data at offset 0" in said


def test_over_limit_members_count_towards_the_total(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each member over the record limit inflated its limit's worth: that counts."""
    monkeypatch.setattr(osv, "TOTAL_LIMIT", 4 * osv.RECORD_LIMIT)
    size = osv.RECORD_LIMIT + 1
    data, crc = _deflated(size)
    members = [(f"M{i}.json".encode(), data, size, crc) for i in range(6)]
    loaded = osv.load(raw_zip(tmp_path / "osv.zip", members), ["alpha"])
    assert isinstance(loaded, DataUnavailable), loaded
    assert f"holds more than {4 * osv.RECORD_LIMIT // MIB} MiB of records" in loaded.reason


# --- the vouched wheel ------------------------------------------------------------------------


def _hostile_alpha(house: Path, members: Sequence[tuple[bytes, bytes, int, int]]) -> Path:
    """``alpha-1.0`` (the pin the venv holds) as a wheel of ``members`` and no RECORD: every
    member is inflated to learn its digest."""
    metadata = b"Metadata-Version: 2.1\nName: alpha\nVersion: 1.0\n"
    wheel = b"Wheel-Version: 1.0\nGenerator: hostile\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    meta = [
        (name, zlib.compress(text)[2:-4], len(text), zlib.crc32(text))
        for name, text in (
            (b"alpha-1.0.dist-info/METADATA", metadata),
            (b"alpha-1.0.dist-info/WHEEL", wheel),
        )
    ]
    house.mkdir(parents=True, exist_ok=True)
    return raw_zip(house / "alpha-1.0-py3-none-any.whl", [*members, *meta])


def _anchored_project(tmp_path: Path, wheels: Wheels, alpha: Path) -> Path:
    """A project whose lock vouches for ``alpha`` (and the real beta), beside its wheelhouse."""
    project = write_project(tmp_path / "project", wheels, locks=("3.12",))
    shutil.copy(wheels.beta, alpha.parent / wheels.beta.name)
    wheelhouse.write_lock(project / "requirements" / "py3.12.txt", [alpha, wheels.beta])
    return project


def test_a_wheel_of_40_members_of_1_gib_inflates_none_the_environment_does_not_hold(
    tmp_path: Path, venv312_copy: Path, wheels: Wheels
) -> None:
    """A member is inflated only to compare it with an installed file of its declared size:
    40 GiB of members cost nothing when the environment holds no such files (one of them
    here is installed with another size: modified, the member never read)."""
    data, crc = _deflated(GIB)
    members = [(f"alpha/big{i:02}.bin".encode(), data, GIB, crc) for i in range(40)]
    alpha = _hostile_alpha(tmp_path / "house", members)
    assert alpha.stat().st_size < 64 * MIB
    site = wheelhouse.site_packages(venv312_copy)
    (site / "alpha" / "big00.bin").write_bytes(b"x" * 1024)
    project = _anchored_project(tmp_path, wheels, alpha)
    done = preflight(
        "check", "--python", venv312_copy, "--project", project, "--wheelhouse", alpha.parent,
        "--report-dir", tmp_path / "reports", *SKIP, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    report = json.loads((tmp_path / "reports" / REPORT_NAME).read_text(encoding="utf-8"))
    found = "\n".join(f["message"] for f in report["checks"]["integrity"]["findings"])
    found += json.dumps(report["checks"]["integrity"]["details"])
    assert f"(1024 bytes, the member {GIB})" in found
    assert "alpha/big01.bin is missing" in found


def test_a_wheel_of_10000_members_is_opened_once_not_once_a_member(
    tmp_path: Path, venv312: Path, wheels: Wheels
) -> None:
    members = [
        (f"alpha/m{i:05}.py".encode(), zlib.compress(b"x = 1\n")[2:-4], 6, zlib.crc32(b"x = 1\n"))
        for i in range(10_000)
    ]
    alpha = _hostile_alpha(tmp_path / "house", members)
    project = _anchored_project(tmp_path, wheels, alpha)
    done = preflight(
        "check", "--python", venv312, "--project", project, "--wheelhouse", alpha.parent,
        "--report-dir", tmp_path / "reports", *SKIP, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    report = json.loads((tmp_path / "reports" / REPORT_NAME).read_text(encoding="utf-8"))
    assert report["checks"]["integrity"]["status"] == "fail"
    assert "alpha/m09999.py" in json.dumps(report["checks"]["integrity"])


# --- numbers of 5,000 digits -----------------------------------------------------------------


def test_a_metadata_version_of_5000_digits_is_a_finding(
    venv312_copy: Path, project: Path, run_check: RunCheck
) -> None:
    site = wheelhouse.site_packages(venv312_copy)
    metadata = site / "alpha-1.0.dist-info" / "METADATA"
    text = metadata.read_text(encoding="utf-8")
    metadata.write_text(text.replace("Version: 1.0", f"Version: {HUGE}"), encoding="utf-8")
    run = run_check("--python", venv312_copy, "--project", project, *SKIP)
    assert run.returncode == 1, run.stderr
    assert f"alpha {HUGE[:20]}" in run.findings("lock_sync"), run.findings("lock_sync")


def test_a_lock_pin_of_5000_digits_is_a_finding(
    venv312: Path, project: Path, run_check: RunCheck
) -> None:
    lock = project / "requirements" / "py3.12.txt"
    lock.write_text(lock.read_text(encoding="utf-8").replace("alpha==1.0", f"alpha=={HUGE}"),
                    encoding="utf-8")  # fmt: skip
    run = run_check("--python", venv312, "--project", project, *SKIP)
    assert run.returncode == 1, run.stderr
    assert "lock_sync" in run.statuses("fail")
    assert f"{HUGE[:20]}" in run.findings("lock_sync"), run.findings("lock_sync")


def test_an_osv_version_bound_of_5000_digits_is_no_traceback(
    tmp_path: Path, venv312: Path, project: Path, run_check: RunCheck
) -> None:
    record = {
        "schema_version": "1.6.0", "id": "GHSA-huge-0000-0001", "modified": "2026-10-01T00:00:00Z",
        "affected": [{
            "package": {"ecosystem": "PyPI", "name": "alpha"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": HUGE}]}],
        }],
    }  # fmt: skip
    folder = tmp_path / "osv"
    folder.mkdir()
    (folder / "GHSA-huge-0000-0001.json").write_text(json.dumps(record), encoding="utf-8")
    data = osv.load(folder, ["alpha"])  # was: ValueError: Exceeds the limit (4300 digits)
    assert not isinstance(data, DataUnavailable), data
    # A bound that is no version errs towards "affected", as every unreadable bound does.
    assert [a.id for a in data.for_package("alpha", "1.0")] == ["GHSA-huge-0000-0001"]
    run = run_check("--python", venv312, "--project", project, *SKIP, "--vulnerability-db", folder)
    assert run.returncode in (0, 1, 2), run.stderr
    assert "GHSA-huge-0000-0001" in json.dumps(run.check("vulnerabilities"))


def test_a_baseline_manifest_holding_a_5000_digit_integer_is_a_usage_error(
    venv312: Path, project: Path, run_check: RunCheck, tmp_path: Path
) -> None:
    manifest = tmp_path / "baseline.json"
    manifest.write_text('{\n  "schema": "preflight-baseline",\n  "size": ' + HUGE + "\n}\n",
                        encoding="utf-8")  # fmt: skip
    run = run_check("--python", venv312, "--project", project, *SKIP, "--baseline", manifest)
    assert run.returncode == 3, run.stderr
    assert run.stderr.startswith(f"error: baseline {manifest}: "), run.stderr
    assert "line 3" in run.stderr, run.stderr
    assert "more than 40 digits" in run.stderr, run.stderr


def test_a_json_number_is_refused_where_it_is_in_every_reader() -> None:
    """The one reader names the line and column of what it refuses."""
    from preflight import _json

    with pytest.raises(_json.JSONError, match=r"^line 2, column 7: holds a number of more"):
        _json.loads('{"a": 1,\n "b": ' + HUGE + "}")


def test_a_zip_needing_a_newer_zip_version_is_unusable_not_a_traceback(tmp_path: Path) -> None:
    """Found by the fuzzer: zipfile refuses such a directory with NotImplementedError."""
    data, crc = _deflated(2, b"{}")
    _, entry = _entry_headers(b"A.json", data, 2, crc, 0)
    entry = entry[:6] + struct.pack("<H", 84) + entry[8:]  # "version needed to extract": 8.4
    path = raw_zip(tmp_path / "osv.zip", [(b"A.json", data, 2, crc)], directory=entry)
    loaded = osv.load(path, ["alpha"])
    assert isinstance(loaded, DataUnavailable), loaded
    assert "zip file version 8.4" in loaded.reason
    wheel = tmp_path / "alpha-1.0-py3-none-any.whl"
    wheel.write_bytes(path.read_bytes())
    with pytest.raises(wheels.UnusableWheel, match=r"zip file version 8\.4"):
        wheels.read_wheel(wheel)
