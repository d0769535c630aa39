"""The renderings of one report: JSON (and reading it back), terminal lines, GitHub annotations."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from preflight._ops.summarize import read_report
from preflight._render.report import dumps, github_annotations, summary_lines
from preflight._report.interpreter import Interpreter
from preflight._report.model import (
    CheckResult,
    Finding,
    Report,
    ReportFormatError,
    Severity,
    Status,
)
from preflight._text import capped

C, W = Severity.CRITICAL, Severity.WARNING


def report() -> Report:
    checks = (
        CheckResult("python_version", "Python version", Status.PASS, "Python 3.12.1 is primary"),
        CheckResult.from_findings(
            "lock_sync",
            "Installed set vs lock",
            [
                Finding(
                    C, "numpy 2.1.0 is installed but the lock pins 2.2.6", "run `nox -s preflight`"
                )
            ],
            ok="",
        ),
        CheckResult.from_findings(
            "environment_config",
            "Environment configuration",
            [Finding(W, "50% of\nthe variables: unset", None)],
            ok="",
        ),
    )
    return Report(
        timestamp="2026-11-27T07:00:00Z",
        interpreter=Interpreter.of(
            path="/env/bin/python", version="3.12.1", implementation="cpython"
        ),
        python_status="primary",
        checks=checks,
        duration_s=1.25,
        project="/project",
        lock="/project/requirements/py3.12.txt",
        tool_version="0.1.0",
    )


def test_json_report_has_the_seed_shape_and_a_schema_version() -> None:
    data = json.loads(dumps(report()))
    assert data["schema_version"] == 1
    assert (data["status"], data["overall_status"], data["exit_code"]) == ("NOT_READY", "FAILED", 1)
    assert [v["severity"] for v in data["violations"]] == ["critical", "warning"]
    assert data["warnings"] == [
        {"check": "environment_config", "message": "50% of\nthe variables: unset"}
    ]
    assert data["checks"]["lock_sync"]["status"] == "fail"


def test_terminal_summary_ends_with_the_verdict() -> None:
    lines = summary_lines(report())
    assert lines[-1] == "NOT_READY (FAILED) in 1.25 s"
    assert any(line.startswith("✗ lock_sync") for line in lines)


def test_a_long_fix_is_given_once_per_check_and_long_text_is_whole_only_in_the_log() -> None:
    fix = "build a fresh environment from the lock (`python -m venv ENV`, then " + "x" * 300
    other = "reinstall beta"
    findings = [Finding(C, f"pkg{n}: a file is modified", fix) for n in range(3)]
    shared = CheckResult.from_findings("integrity", "Integrity", findings, ok="")
    mixed = CheckResult.from_findings(
        "lock_sync", "L", [*findings[:2], Finding(C, "beta: missing", other)], ok=""
    )
    judged = Report(
        "2026-11-27T07:00:00Z", Interpreter.of(path="/p", version="3.12.1"), "primary",
        (shared, mixed), 0.1, "/p", None, "0",
    )  # fmt: skip
    lines = summary_lines(judged)
    fixes = [line for line in lines if "fix" in line]
    assert len(fixes) == 3, lines  # one for the 3 shared, one each for the 2 of the other
    assert fixes[0].startswith("    fix (each of the 3): build a fresh environment")
    assert all(len(line) < 300 for line in lines), max(lines, key=len)
    log = summary_lines(judged, limit=None, text=1000)
    assert any(fix in line for line in log)  # the whole fix, in the log


def test_github_annotations_one_per_finding_escaped() -> None:
    assert github_annotations(report()) == [
        "::error title=preflight lock_sync (Python 3.12.1)::numpy 2.1.0 is installed but the "
        "lock pins 2.2.6 -- fix: run `nox -s preflight`",
        "::warning title=preflight environment_config (Python 3.12.1)::50%25 of%0Athe "
        "variables: unset",
    ]


def test_a_report_with_every_check_skipped_still_renders() -> None:
    empty = Report(
        "2026-11-27T07:00:00Z", Interpreter.of(path="/p"), "primary", (), 0.1, "/p", None, "0"
    )
    assert summary_lines(empty)[-1] == "READY (PASSED) in 0.10 s"


# --- reading the JSON report back ---------------------------------------------------------------


def _substitute() -> Report:
    """Every optional field set, a skipped check with details, a fallback interpreter."""
    skipped = CheckResult(
        "performance", "Performance", Status.SKIP, "skipped (--skip)", (), {"why": ["--skip"]}, 0
    )
    return Report(
        "2026-11-27T07:00:00Z", Interpreter.of(path="/p"), "fallback", (skipped,), 2, "/p", None,
        "0.1.0", substitute_for="3.11.13",
    )  # fmt: skip


@pytest.mark.parametrize("make", [report, _substitute], ids=["failed", "fallback"])
def test_a_json_report_reads_back_as_the_same_report(make: Callable[[], Report]) -> None:
    original = make()
    data = json.loads(dumps(original))  # what is on disk, not the dict in memory
    again = Report.from_dict(data)
    assert again.to_dict() == original.to_dict() == data
    assert again == original


def test_an_empty_report_reads_back() -> None:
    empty = Report(
        "2026-11-27T07:00:00Z", Interpreter.of(path="/p"), "unknown", (), 0.1, "/p", None, "0"
    )
    assert Report.from_dict(empty.to_dict()) == empty


# The interpreter objects a report holds, as the engine, a root, an image and the monitor write
# them: each reads back to the same keys in the same order, and its fields are typed.
_IMAGE = {
    "source": "/img.tar", "kind": "docker-archive", "digest": "sha256:" + "a" * 64,
    "name": "app:1", "layers": ["sha256:" + "b" * 64], "members": 3, "bytes": 10,
    "stdlib_files_not_read": 2, "skipped": ["dev/null: a device"],
}  # fmt: skip
_SHAPES = {
    "probed": {"path": "/env/bin/python", "executable": "/usr/bin/python3.12",
               "version": "3.12.1", "implementation": "cpython", "prefix": "/env"},
    "failed": {"path": "/env/bin/python", "executable": None, "version": None,
               "implementation": None, "prefix": None, "error": "timeout"},
    "root": {"path": "/r:/usr/bin/python3", "executable": "/usr/bin/python3.12",
             "version": "3.12.1", "implementation": "cpython", "prefix": "/usr", "root": "/r",
             "inside": "/usr/bin/python3", "read_from_files": True,
             "sources": {"version": "/usr/include/python3.12/patchlevel.h"}},
    "image": {"path": "app:1@sha256:x:/usr/bin/python3", "executable": "/usr/bin/python3.12",
              "version": "3.12.1", "implementation": "cpython", "prefix": "/usr",
              "inside": "/usr/bin/python3", "read_from_files": True, "sources": {},
              "image": _IMAGE},
    "monitor": {"path": "/env/bin/python"},
    "summarized": {"path": "/env/bin/python", "version": "3.12.1", "implementation": "cpython"},
    "newer": {"path": "/p", "colour": ["kept", "as", "read"]},
}  # fmt: skip


@pytest.mark.parametrize("shape", _SHAPES, ids=list(_SHAPES))
def test_the_interpreter_is_typed_and_its_json_unchanged(shape: str) -> None:
    data = json.loads(dumps(report()))
    data["interpreter"] = _SHAPES[shape]
    again = Report.from_dict(data)
    assert isinstance(again.interpreter, Interpreter)
    assert again.interpreter.path == _SHAPES[shape]["path"]
    assert json.dumps(again.to_dict()) == json.dumps(data)  # the same keys, in the same order
    if shape == "image":
        assert again.interpreter.image is not None
        assert again.interpreter.image.skipped == ("dev/null: a device",)
        assert again.interpreter.image.label == "app:1@sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("value", "key", "problem"),
    [
        ({"path": 7}, "interpreter.path", "must be a string"),
        ({"path": "/p", "read_from_files": "yes"}, "interpreter.read_from_files", "true or false"),
        ({"path": "/p", "sources": {"version": 1}}, "interpreter.sources.version", "a string"),
        ({"path": "/p", "image": {**_IMAGE, "members": -1}}, "interpreter.image.members", ">= 0"),
        ({"path": "/p", "image": {**_IMAGE, "extra": 1}}, "interpreter.image.extra", "unknown"),
    ],
)
def test_an_interpreter_of_the_wrong_types_is_refused_naming_the_key(
    value: dict[str, Any], key: str, problem: str
) -> None:
    data = json.loads(dumps(report()))
    data["interpreter"] = value
    with pytest.raises(ReportFormatError) as caught:
        Report.from_dict(data)
    assert caught.value.key == key
    assert problem in caught.value.problem


def _edit(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    data = json.loads(dumps(report()))
    change(data)
    return data


# A report whose shape is wrong: the key named, in the words its readers know.
_SHAPE_CASES: list[Any] = [
    (lambda d: d.pop("schema_version"), "schema_version", "is missing: is it a JSON report"),
    (lambda d: d.update(schema_version=2), "schema_version", "is 2; this preflight reads"),
    (lambda d: d.pop("checks"), "checks", "is missing"),
    (lambda d: d.update(colour="red"), "colour", "unknown key"),
    (lambda d: d["tool"].update(name="other"), "tool.name", "must be 'preflight'"),
    (lambda d: d.update(timestamp=7), "timestamp", "must be a string"),
    (lambda d: d.update(lock=7), "lock", "must be a string"),
    (lambda d: d.update(interpreter=[]), "interpreter", "is not a JSON object"),
    (lambda d: d.update(python_status="main"), "python_status", "must be one of 'primary'"),
    (lambda d: d.update(duration_s="1s"), "duration_s", "must be a number"),
    (lambda d: d.update(checks=[]), "checks", "is not a JSON object"),
    (
        lambda d: d["checks"]["lock_sync"].update(status="broken"),
        "checks.lock_sync.status",
        "must be one of 'pass', 'skip', 'warn', 'fail', not 'broken'",
    ),
    (
        lambda d: d["checks"]["lock_sync"].pop("title"),
        "checks.lock_sync.title",
        "is missing",
    ),
    (
        lambda d: d["checks"]["lock_sync"].update(seconds=True),
        "checks.lock_sync.seconds",
        "must be a number",
    ),
    (
        lambda d: d["checks"]["lock_sync"].update(findings={}),
        "checks.lock_sync.findings",
        "must be a list",
    ),
    (
        lambda d: d["checks"]["lock_sync"]["findings"][0].update(remedy=1),
        "checks.lock_sync.findings[0].remedy",
        "must be a string",
    ),
    (
        lambda d: d["checks"]["lock_sync"]["findings"][0].update(severity="error"),
        "checks.lock_sync.findings[0].severity",
        "must be one of 'warning', 'critical', not 'error'",
    ),
    (lambda d: d.update(status="READY"), "status", "does not agree with the checks"),
    (lambda d: d.update(exit_code=0), "exit_code", "does not agree with the checks"),
    (lambda d: d["violations"].pop(), "violations", "does not agree with the checks"),
    (lambda d: d.update(warnings=[]), "warnings", "does not agree with the checks"),
]


@pytest.mark.parametrize("data", [[], "report", None, 1])
def test_a_json_report_must_be_an_object(data: object) -> None:
    with pytest.raises(ValueError, match=r"^is not a JSON object$"):
        Report.from_dict(data)


# --- the traps of untrusted values, read by the strict reader (preflight._strict) ----------


def _lock_sync(data: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = data["checks"]["lock_sync"]
    return entry


# Each was taken before the strict reader (or is refused as before, in its words).
_STRICT_CASES: list[Any] = [
        # Each was taken on main: a 31-digit line, a check that took -1 s, nan or inf seconds,
        # a 400-digit number or nan in details (json.dumps then writes NaN: no JSON), a set.
        (lambda d: _lock_sync(d)["findings"][0].update(line=10**30),
         "checks.lock_sync.findings[0].line", "must be a line number >= 1, not a number of"),
        (lambda d: _lock_sync(d).update(seconds=-1.0), "checks.lock_sync.seconds",
         "must be a number >= 0, at most 1e9, not -1.0"),
        (lambda d: _lock_sync(d).update(seconds=math.nan), "checks.lock_sync.seconds",
         "must be a number >= 0, at most 1e9, not nan"),
        (lambda d: d.update(duration_s=math.inf), "duration_s",
         "must be a number >= 0, at most 1e9, not inf"),
        (lambda d: _lock_sync(d)["details"].update(files=["a", 10**400]),
         "checks.lock_sync.details.files[1]", "must be a whole number of at most 19 digits, "
         "not a number of about 400 digits"),
        (lambda d: _lock_sync(d)["details"].update(files={"a": {"b": math.nan}}),
         "checks.lock_sync.details.files.a.b", "must be a finite number, not nan"),
        (lambda d: d["interpreter"].update(paths={1, 2}), "interpreter.paths",
         "is not a JSON value but {1, 2}"),
        (lambda d: d["interpreter"].update(deep=_nested(70)), "interpreter.deep" + "[0]" * 63,
         "is nested more than 64 lists or tables deep"),
        # A bool is no number, and no line (refused on main too: the same key, the same meaning).
        (lambda d: _lock_sync(d)["findings"][0].update(line=True),
         "checks.lock_sync.findings[0].line", "must be a line number >= 1, not True"),
        (lambda d: d.update(duration_s=False), "duration_s", "must be a number >= 0"),
        (lambda d: d.update(host=["h"]), "host", "must be a string or null, not ['h']"),
        (lambda d: _lock_sync(d)["findings"][0].update(file=3),
         "checks.lock_sync.findings[0].file", "must be a string or null, not 3"),
        # Unknown keys stay refused, the first in the document named.
        (lambda d: _lock_sync(d)["findings"][0].update(zeta=1, alpha=2),
         "checks.lock_sync.findings[0].zeta", "unknown key (not in schema_version 1)"),
        (lambda d: d["tool"].pop("version"), "tool.version", "is missing"),
        (lambda d: _lock_sync(d).update(details=[]), "checks.lock_sync.details",
         "is not a JSON object"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "key", "problem"), [*_SHAPE_CASES, *_STRICT_CASES])
def test_a_report_is_read_strictly_naming_the_key(
    change: Callable[[dict[str, Any]], object], key: str, problem: str
) -> None:
    with pytest.raises(ReportFormatError) as caught:
        Report.from_dict(_edit(change))
    assert caught.value.key == key
    assert str(caught.value).startswith(f"{key}: {problem}"), str(caught.value)
    assert len(str(caught.value)) < 400  # the value is said, shortened
    assert isinstance(caught.value, ValueError)


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def test_long_texts_of_a_report_are_capped_not_refused_and_its_details_read_as_written() -> None:
    """Equivalence: a report written before the caps reads (capped), a deep but legal
    detail reads unchanged, and null where a text may be null is None."""
    data = _edit(lambda d: d.update(project="p" * 100_000))
    _lock_sync(data)["details"] = {"files": [{"a": [1, 2.5, None, True, "x"]}], "n": -(2**63 - 1)}
    _lock_sync(data)["findings"][0].update(file=None, line=None)
    read = Report.from_dict(data)
    assert read.project == capped("p" * 100_000)
    assert len(read.project) <= 4096
    assert read.checks[1].details == _lock_sync(data)["details"]
    assert read.checks[1].findings[0].file is None
    assert read.checks[1].findings[0].line is None
    assert Report.from_dict(_edit(lambda d: d["interpreter"].update(deep=_nested(62))))


def test_a_report_file_with_a_31_digit_line_is_refused_naming_the_file_and_key(
    tmp_path: Path,
) -> None:
    """On main the line was taken (JSON allows 40 digits); now the file and key are named."""
    data = _edit(lambda d: _lock_sync(d)["findings"][0].update(line=10**30))
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="not a preflight report") as caught:
        read_report(path)
    assert str(caught.value).startswith(
        f"{path}: not a preflight report: checks.lock_sync.findings[0].line: must be a line "
        "number >= 1, not a number of about 30 digits"
    )
