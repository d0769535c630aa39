"""``preflight summarize``: the reports of several jobs or hosts as one matrix, from real folders.

The reports are hand-built :class:`Report` values written as ``check`` writes them; the
command runs as a subprocess, as CI runs it. Every broken folder (empty, missing, not JSON,
not a report, a FIFO, an outcome without its report) is an ERROR row naming it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli_env
from junitparser import Error, Failure, JUnitXml

from preflight._checks.result import CheckResult, Finding, Severity, Status
from preflight._ops import matrix
from preflight._ops.matrix import Outcome
from preflight._ops.summarize import collect, exit_code_of
from preflight._render.report import REPORT_NAME, dumps
from preflight._report.interpreter import Interpreter
from preflight._report.model import Report, ReportFormatError

LOCK = "/project/requirements/py3.12.txt"


def report(
    *, failed: bool = False, host: str | None = "ci-runner-1", path: str = "/env/bin/python",
    version: str = "3.12.1", status: str = "primary",
) -> Report:  # fmt: skip
    integrity = (
        CheckResult(
            "integrity", "Installed files", Status.FAIL, "1 file modified",
            (Finding(Severity.CRITICAL, "alpha: alpha/__init__.py is modified",
                     "pip install --force-reinstall --no-deps alpha"),),
        )
        if failed
        else CheckResult("integrity", "Installed files", Status.PASS, "every file matches")
    )  # fmt: skip
    return Report(
        timestamp="2026-11-27T07:00:00Z",
        interpreter=Interpreter.of(path=path, version=version, implementation="cpython"),
        python_status=status,
        checks=(
            CheckResult("python_version", "Python version", Status.PASS, f"{version} ok"),
            integrity,
            CheckResult("performance", "Performance", Status.SKIP, "skipped"),
        ),
        duration_s=1.5,
        project="/project",
        lock=LOCK,
        tool_version="0.1.0",
        host=host,
    )


def write(folder: Path, value: Report | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / REPORT_NAME
    path.write_text(dumps(value) if isinstance(value, Report) else value, encoding="utf-8")
    return path


def summarize(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "preflight", "summarize", *map(str, args)],
        capture_output=True, text=True, encoding="utf-8", env=cli_env(env), cwd=cwd,
        timeout=60, check=False,
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    return done


# --- the host in every report ---------------------------------------------------------------


def test_the_host_is_recorded_and_read_back_and_an_older_report_reads_as_unknown() -> None:
    data = report(host="build-7").to_dict()
    assert data["host"] == "build-7"
    assert Report.from_dict(data).host == "build-7"
    del data["host"]  # a report of a preflight before the host was recorded
    assert Report.from_dict(data).host is None
    with pytest.raises(ReportFormatError, match="host: must be a string"):
        Report.from_dict({**data, "host": 7})


def test_a_real_check_records_this_machines_host(tmp_path: Path) -> None:
    from preflight import check

    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[tool.preflight]\npythons = ["3.12"]\nrequires = []\n', encoding="utf-8"
    )
    judged = check(sys.executable, project=project, skip=("performance", "suite"))
    assert judged.host == os.uname().nodename
    assert judged.to_dict()["host"] == judged.host


def test_an_outcome_without_a_host_reads_and_one_from_a_report_has_its_host() -> None:
    old = {k: v for k, v in Outcome("s", "3.12", "r", "READY").__dict__.items() if k != "host"}
    assert Outcome.from_dict({**old, "failed": [], "warned": []}).host is None
    assert Outcome.from_report(report(), session="s", spec="3.12", run_id="r").host == "ci-runner-1"
    with pytest.raises(ValueError, match="host: must be a string or null"):
        Outcome.from_dict({**old, "failed": [], "warned": [], "host": ["x"]})


@pytest.mark.parametrize(
    ("change", "said"),
    [
        # Each of these was taken as it came before the strict reader read outcomes.
        ({"substitute": "yes"}, "substitute: must be true or false, not 'yes'"),
        ({"timings": {"venv": "fast"}}, "timings.venv: must be a number >= 0, at most 1e9"),
        ({"seconds": -1}, "seconds: must be a number >= 0"),
        ({"colour": "blue"}, "colour: unknown key"),
        ({"failed": ["x" * 201]}, "failed[0]: is 201 characters long, more than 200"),
        ({"verdict": 3}, "verdict: must be a non-empty string, not 3"),
    ],
)
def test_an_outcome_is_read_strictly_naming_the_key(change: dict[str, object], said: str) -> None:
    good = {**Outcome("s", "3.12", "r", "READY").__dict__, "failed": [], "warned": []}
    assert Outcome.from_dict(good) == Outcome("s", "3.12", "r", "READY")
    with pytest.raises(ValueError, match=f"^{re.escape(said)}"):
        Outcome.from_dict({**good, **change})


# --- the command ----------------------------------------------------------------------------


def test_a_good_and_a_bad_folder_exit_1_with_every_output(tmp_path: Path) -> None:
    write(tmp_path / "good", report(host="host-a", path="/a/bin/python"))
    write(tmp_path / "bad", report(failed=True, host="host-b", path="/b/bin/python"))
    step = tmp_path / "step.md"
    step.write_text("earlier\n", encoding="utf-8")
    out = tmp_path / "out"

    done = summarize(
        "good", "bad", "--summary", out / "summary.json", "--junit", out / "junit.xml",
        "--html", out / "page.html", cwd=tmp_path, env={"GITHUB_STEP_SUMMARY": str(step)},
    )  # fmt: skip

    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].split() == [
        "host", "interpreter", "spec", "python", "verdict", "time", "failed", "checks",
    ]  # fmt: skip
    assert lines[1].split()[:5] == ["host-a", "/a/bin/python", "3.12", "3.12.1", "READY"]
    assert lines[2].split()[:5] == ["host-b", "/b/bin/python", "3.12", "3.12.1", "NOT_READY"]
    assert lines[2].endswith("integrity")
    assert "matrix: NOT_READY" in lines

    data = json.loads((out / "summary.json").read_text("utf-8"))
    assert data["matrix"] == "NOT_READY"
    assert [(i["host"], i["verdict"]) for i in data["interpreters"]] == [
        ("host-a", "READY"),
        ("host-b", "NOT_READY"),
    ]
    assert data["interpreters"][1]["failed"] == ["integrity"]

    markdown = step.read_text("utf-8")
    assert markdown.startswith("earlier\n### preflight summary\n")
    assert "| host-b | /b/bin/python | 3.12 | 3.12.1 | NOT_READY | integrity | 1.5 s |" in markdown

    suites = list(JUnitXml.fromfile(str(out / "junit.xml")))
    assert len(suites) == 2
    failed = {
        (suite.name, case.name)
        for suite in suites
        for case in suite
        if any(isinstance(r, Failure) for r in case.result)
    }
    assert failed == {("preflight Python 3.12.1 (/b/bin/python)", "integrity")}

    page = (out / "page.html").read_text("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    for text in ("NOT_READY", "host-a", "host-b"):
        assert text in page, text
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml", "page.html", "summary.json"]


def test_all_ready_exits_0_and_the_summary_goes_where_it_is_told(tmp_path: Path) -> None:
    write(tmp_path / "a", report(host="a"))
    write(tmp_path / "b", report(host="b", version="3.11.7", status="fallback"))
    done = summarize("a", "b", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "matrix: READY" in done.stderr
    data = json.loads((tmp_path / "summary.json").read_text("utf-8"))  # the default
    assert [i["verdict"] for i in data["interpreters"]] == ["READY", "READY_FALLBACK"]


def _hostile_folders(tmp_path: Path) -> list[Path]:
    """One broken folder of each kind, in the order given to summarize."""
    empty = tmp_path / "empty"
    empty.mkdir()
    write(tmp_path / "not-json", "{ not json")
    write(tmp_path / "not-report", json.dumps({"schema_version": 1, "tool": "x"}))
    edited = report(failed=True).to_dict()
    edited["status"] = "READY"  # a report edited into saying what its checks do not
    write(tmp_path / "edited", json.dumps(edited))
    fifo_dir = tmp_path / "fifo"
    fifo_dir.mkdir()
    os.mkfifo(fifo_dir / REPORT_NAME)
    lonely = tmp_path / "outcome-only"
    matrix.write_outcome(lonely, Outcome("preflight-3.12", "3.12", "r", "READY", host="h"))
    return [empty, tmp_path / "missing", tmp_path / "not-json", tmp_path / "not-report",
            tmp_path / "edited", fifo_dir, lonely]  # fmt: skip


def test_every_broken_folder_is_an_error_row_naming_it_never_a_traceback(tmp_path: Path) -> None:
    folders = _hostile_folders(tmp_path)
    entries = collect(folders)
    assert [e.outcome.verdict for e in entries] == ["ERROR"] * len(folders)
    messages = [e.outcome.message for e in entries]
    for folder, message in zip(folders, messages, strict=True):
        assert str(folder) in message, message
    assert "holds no preflight report" in messages[0]
    assert "does not exist" in messages[1]
    assert "not JSON" in messages[2]
    assert "not a preflight report: timestamp: is missing" in messages[3]
    assert "status: does not agree with the checks" in messages[4]
    assert "is a FIFO, not a regular file" in messages[5]
    assert "outcome says READY, but its report is not there" in messages[6]
    assert entries[6].outcome.host == "h"
    assert exit_code_of(entries) == 1

    done = summarize(*folders, "--junit", "junit.xml", "--html", "page.html", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count(" ERROR ") == len(folders)
    (suite_errors,) = {s.errors for s in JUnitXml.fromfile(str(tmp_path / "junit.xml"))}
    assert suite_errors == 1
    cases = [c for s in JUnitXml.fromfile(str(tmp_path / "junit.xml")) for c in s]
    assert all(isinstance(c.result[0], Error) for c in cases)
    assert len(cases) == len(folders)


def test_mistyped_folders_leave_no_summary_in_the_current_folder(tmp_path: Path) -> None:
    """``preflight summarize artifact/*`` with a typo: every row is an error, exit 1, and no
    summary.json of errors is left where the command ran, unless --summary asks for one."""
    done = summarize(tmp_path / "artifcats", tmp_path / "artifacts-2", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count(" ERROR ") == 2
    assert "summary: not written: no DIR exists" in done.stderr
    assert not (tmp_path / matrix.SUMMARY_NAME).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    asked = summarize(tmp_path / "artifcats", "--summary", "errors.json", cwd=tmp_path)
    assert asked.returncode == 1
    assert "summary: errors.json" in asked.stderr
    rows = json.loads((tmp_path / "errors.json").read_text(encoding="utf-8"))
    assert rows


def test_a_downloaded_ci_artifact_and_a_stale_report_behind_an_error(tmp_path: Path) -> None:
    # actions/download-artifact puts each job's reports/ in artifacts/<artifact name>/.
    ok = tmp_path / "artifacts" / "preflight-3.12" / "preflight-3.12"
    path = write(ok, report(host="runner-12"))
    matrix.write_outcome(
        ok,
        Outcome.from_report(
            report(host="runner-12"), session="preflight-3.12", spec="3.12", run_id="r",
            seconds=42.0, report=str(path), substitute=False,
        ),
    )  # fmt: skip
    broken = tmp_path / "artifacts" / "preflight-3.11.13" / "preflight-3.11.13"
    write(broken, report(host="runner-11"))  # an older run's report, left beside
    matrix.write_outcome(
        broken,
        Outcome("preflight-3.11.13", "3.11.13", "r", matrix.ERROR, host="runner-11",
                message="install failed"),
    )  # fmt: skip
    missing = tmp_path / "artifacts" / "preflight-3.13" / "preflight-3.13"
    matrix.write_outcome(
        missing, Outcome("preflight-3.13", "3.13", "r", matrix.NOT_CHECKED, message="no 3.13")
    )
    entries = collect(sorted((tmp_path / "artifacts").iterdir()))
    got = [(e.outcome.spec, e.outcome.verdict, e.outcome.host) for e in entries]
    assert got == [
        ("3.11.13", "ERROR", "runner-11"),
        ("3.12", "READY", "runner-12"),
        ("3.13", "NOT_CHECKED", None),
    ]
    assert entries[1].outcome.seconds == 42.0  # the session's time, from its outcome
    assert entries[0].report is None  # the stale report is not believed
    assert exit_code_of(entries) == 1
    assert exit_code_of(entries[1:]) == 2  # one interpreter not checked: INCOMPLETE
    assert exit_code_of(entries[1:2]) == 0


def test_usage_errors_exit_3(tmp_path: Path) -> None:
    write(tmp_path / "a", report())
    (tmp_path / "folder").mkdir()
    done = summarize("a", "--html", "folder", cwd=tmp_path)
    assert done.returncode == 3
    assert "--html folder: is a folder, not a file" in done.stderr
    assert summarize(cwd=tmp_path).returncode == 3  # no DIR at all
