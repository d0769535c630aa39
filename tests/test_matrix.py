"""The matrix: backend choice, install commands, outcomes and the summary; interpreter specs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.version import Version

from preflight._checks.result import CheckResult, Status
from preflight._errors import UsageError
from preflight._interpreters.discovery import Found
from preflight._interpreters.resolve import resolve
from preflight._ops import matrix
from preflight._ops.matrix import Outcome
from preflight._policy.spec import PythonSpec
from preflight._report.interpreter import Interpreter
from preflight._report.model import Report

FOUND = [
    Found(Path("/py/3.11.7/bin/python3"), Version("3.11.7"), "pyenv"),
    Found(Path("/py/3.12.1/bin/python3"), Version("3.12.1"), "pyenv"),
    Found(Path("/usr/bin/python3"), Version("3.11.2"), "PATH"),
]


# --- resolve -----------------------------------------------------------------------------


def test_a_minor_spec_takes_the_newest_patch() -> None:
    found = [*FOUND, Found(Path("/py/3.12.4/bin/python3"), Version("3.12.4"), "uv")]
    result = resolve("3.12", found)
    assert result.found is not None
    assert result.found.version == Version("3.12.4")
    assert not result.substitute


def test_an_exact_pin_that_is_missing_names_the_nearest_and_how_to_install() -> None:
    result = resolve("3.11.13", FOUND, env={"PATH": "/usr/bin", "HOME": "/home/u"})
    assert not result.ok
    assert result.nearest is not None
    assert result.nearest.version == Version("3.11.7")  # closer than 3.11.2
    assert "Python 3.11.13 was not found" in result.message
    assert "pyenv (/home/u/.pyenv/versions" in result.message
    assert "the nearest is Python 3.11.7" in result.message
    assert "pyenv install 3.11.13" in result.message
    assert "--allow-substitute" in result.message
    assert result.short == "Python 3.11.13 not installed (nearest 3.11.7)"


def test_a_substitute_is_only_taken_on_request_and_says_so() -> None:
    result = resolve("3.11.13", FOUND, allow_substitute=True)
    assert result.found is not None
    assert result.found.version == Version("3.11.7")
    assert result.substitute
    assert "patch-level substitute" in result.message
    assert "not a check of 3.11.13" in result.message


def test_nothing_of_that_minor_at_all() -> None:
    result = resolve("3.9", FOUND, allow_substitute=True)
    assert not result.ok
    assert "no 3.9.x was found" in result.message
    assert "--allow-substitute" not in result.message
    assert result.short == "Python 3.9 not installed (no 3.9.x found)"


def test_a_spec_resolves_the_same_given_as_text_or_parsed() -> None:
    parsed = resolve(PythonSpec.parse("3.11.13"), FOUND, allow_substitute=True)
    assert parsed == resolve("3.11.13", FOUND, allow_substitute=True)
    assert parsed.spec == PythonSpec.parse("3.11.13")


@pytest.mark.parametrize("spec", ["3.13", "3.13.1"])
def test_a_pre_release_is_never_a_substitute(spec: str) -> None:
    found = [*FOUND, Found(Path("/py/3.13.0rc2/bin/python3"), Version("3.13.0rc2"), "uv")]
    result = resolve(spec, found, allow_substitute=True, env={"PATH": "", "HOME": "/home/u"})
    assert not result.ok
    assert not result.substitute
    assert result.nearest is not None
    assert result.nearest.version == Version("3.13.0rc2")
    assert "cannot stand in for it (a substitute must be a final release" in result.message
    assert "--allow-substitute" not in result.message  # it would not help
    assert result.short == f"Python {spec} not installed (nearest 3.13.0rc2)"


# --- backends and commands ---------------------------------------------------------------


def fake_uv(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    uv = folder / "uv"
    uv.write_text("#!/bin/sh\nexit 0\n")
    uv.chmod(0o755)
    return folder


def test_uv_is_chosen_when_on_path_and_virtualenv_otherwise(tmp_path: Path) -> None:
    folder = fake_uv(tmp_path)
    assert matrix.choose_backend({"PATH": str(folder)}).name == "uv"
    assert "found" in matrix.choose_backend({"PATH": str(folder)}).describe()
    plain = matrix.choose_backend({"PATH": str(tmp_path / "empty")})
    assert plain.name == "virtualenv"
    assert "uv not found" in plain.describe()
    forced = {"PATH": str(folder), "PREFLIGHT_BACKEND": "virtualenv"}
    assert matrix.choose_backend(forced).name == "virtualenv"


def test_forcing_a_backend_that_is_missing_or_unknown_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="uv is not on PATH"):
        matrix.choose_backend({"PATH": str(tmp_path), "PREFLIGHT_BACKEND": "uv"})
    with pytest.raises(UsageError, match="expected 'uv' or 'virtualenv'"):
        matrix.choose_backend({"PATH": "", "PREFLIGHT_BACKEND": "conda"})


@pytest.mark.parametrize("name", ["uv", "virtualenv"])
def test_install_requires_hashes_and_no_deps(tmp_path: Path, name: str) -> None:
    env = {"PATH": str(fake_uv(tmp_path))} if name == "uv" else {"PATH": ""}
    backend = matrix.choose_backend({**env, "PREFLIGHT_BACKEND": name})
    argv = matrix.install_command(backend, Path("/env/bin/python"), Path("/p/lock.txt"))
    assert {"--require-hashes", "--no-deps"} <= set(argv)
    assert argv[-2:] == ["-r", "/p/lock.txt"]


def test_install_env_drops_settings_that_weaken_the_install() -> None:
    env = matrix.install_env(
        {
            "PIP_REQUIRE_HASHES": "0",
            "PIP_NO_DEPS": "0",
            "UV_NO_VERIFY_HASHES": "1",
            "PYTHONPATH": "/src",
            "PIP_INDEX_URL": "https://mirror.invalid/simple",
            "HOME": "/root",
        }
    )
    assert env == {"PIP_INDEX_URL": "https://mirror.invalid/simple", "HOME": "/root"}


# --- outcomes and summary ----------------------------------------------------------------


def _result(check_id: str, status: Status) -> CheckResult:
    return CheckResult(check_id, check_id, status, f"{check_id}: {status.label}")


REPORT = Report(
    timestamp="2026-12-01T12:00:00Z",
    interpreter=Interpreter.of(path="/env/bin/python", version="3.12.1"),
    python_status="primary",
    checks=(
        _result("python_version", Status.PASS),
        _result("lock_sync", Status.FAIL),
        _result("integrity", Status.FAIL),
        _result("environment_config", Status.WARN),
    ),
    duration_s=1.0,
    project="/p",
    lock="/p/requirements/py3.12.txt",
    tool_version="0",
)


def test_outcome_from_a_report() -> None:
    outcome = Outcome.from_report(REPORT, session="preflight-3.12", spec="3.12", run_id="r1")
    assert outcome.verdict == "NOT_READY"
    assert outcome.python == "3.12.1"
    assert outcome.failed == ("lock_sync", "integrity")
    assert outcome.warned == ("environment_config",)


def test_outcomes_round_trip_and_stale_ones_are_not_counted(tmp_path: Path) -> None:
    sessions = [("preflight-3.12", "3.12"), ("preflight-3.11.13", "3.11.13")]
    ready = Outcome("preflight-3.12", "3.12", "run-2", "READY", "PASSED", "3.12.1", seconds=9.5)
    old = Outcome("preflight-3.11.13", "3.11.13", "run-1", "READY_FALLBACK", "PASSED", "3.11.13")
    matrix.write_outcome(tmp_path / "preflight-3.12", ready)
    matrix.write_outcome(tmp_path / "preflight-3.11.13", old)
    outcomes = matrix.read_outcomes(tmp_path, sessions, "run-2")
    assert outcomes[0] == ready
    assert outcomes[1].verdict == matrix.NOT_RUN
    # A CI job runs one interpreter: the verdict is over what this run checked, and says so.
    assert matrix.matrix_verdict(outcomes) == "READY"
    assert matrix.not_run(outcomes) == ["3.11.13"]
    table = matrix.summary_table(outcomes)
    assert "3.11.13" not in table.splitlines()[-2]
    assert table.splitlines()[-1] == "matrix: READY (not run by this nox run: 3.11.13)"


@pytest.mark.parametrize(
    ("verdicts", "substitute", "expected"),
    [
        (["READY", "READY_FALLBACK"], False, "READY"),
        (["READY", "READY_FALLBACK"], True, "READY_WITH_SUBSTITUTE"),
        (["READY", "NOT_CHECKED"], False, "INCOMPLETE"),
        (["NOT_READY", "NOT_CHECKED"], False, "NOT_READY"),
        (["NOT_RUN", "NOT_RUN"], False, "NOTHING_RUN"),
        (["READY", "ERROR"], False, "NOT_READY"),  # a failed install is not "not run"
        (["READY_FALLBACK", "NOT_RUN"], False, "READY"),
    ],
)
def test_matrix_verdict(verdicts: list[str], substitute: bool, expected: str) -> None:
    outcomes = [
        Outcome(f"s{i}", "3.12", "r", v, substitute=substitute and i == 1)
        for i, v in enumerate(verdicts)
    ]
    assert matrix.matrix_verdict(outcomes) == expected


def test_a_ready_row_with_warnings_says_so_as_the_session_did() -> None:
    """The session ends with READY (WARNING): its row never reads a bare READY."""
    warned = Outcome("preflight-3.12", "3.12", "r", "READY", overall="WARNING", python="3.12.1")
    clean = Outcome("preflight-3.13", "3.13", "r", "READY", overall="PASSED", python="3.13.0")
    rows = matrix.summary_table([warned, clean]).splitlines()
    assert "READY (WARNING)" in rows[1]
    assert "WARNING" not in rows[2]
    assert "| READY (WARNING) |" in matrix.summary_markdown([warned, clean])


def test_summary_table_json_and_step_summary(tmp_path: Path) -> None:
    outcomes = [
        Outcome.from_report(
            REPORT, session="preflight-3.12", spec="3.12", run_id="r", seconds=12.3
        ),
        Outcome(
            "preflight-3.11.13",
            "3.11.13",
            "r",
            matrix.NOT_CHECKED,
            message="Python 3.11.13 is not installed (nearest 3.11.7)",
        ),
    ]
    table = matrix.summary_table(outcomes)
    lines = table.splitlines()
    assert lines[0].split() == ["spec", "python", "verdict", "time", "failed", "checks"]
    assert "3.12.1" in lines[1]
    assert "NOT_READY" in lines[1]
    assert "lock_sync, integrity" in lines[1]
    assert "12.3 s" in lines[1]
    assert "NOT_CHECKED" in lines[2]
    assert "nearest 3.11.7" in lines[2]
    assert lines[-1] == "matrix: NOT_READY"
    step = tmp_path / "step.md"
    step.write_text("earlier steps\n")
    path = matrix.write_summary(tmp_path / "reports", outcomes, step_summary=str(step))
    data = json.loads(path.read_text())
    assert data["matrix"] == "NOT_READY"
    assert [i["spec"] for i in data["interpreters"]] == ["3.12", "3.11.13"]
    markdown = step.read_text()
    assert markdown.startswith("earlier steps\n### preflight matrix")
    assert "| 3.12 | 3.12.1 | NOT_READY | lock_sync, integrity | 12.3 s |" in markdown
    assert not [p for p in (tmp_path / "reports").iterdir() if p.name.startswith(".")]
