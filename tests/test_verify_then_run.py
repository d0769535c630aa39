"""Verify, then run: nothing of the judged environment runs before its files are verified.

The checks that exist to run the environment's code (its first start, ``performance``, the
``suite``) start only after the verifying checks passed; a check whose prerequisite failed is
skipped, pointing at it. Each hostile case first proves that its poison runs under plain Python
(a marker file appears), then that preflight refuses the environment from every front end and
that the marker never appears during the check.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import factories as f
import pytest
import wheelhouse
from conftest import CliRun, Wheels, cli_env, run_preflight

import preflight
from preflight._checks import (
    ALL,
    BY_ID,
    VERIFYING,
    VERIFYING_WHEN_RUN,
    held_back,
    judging_order,
    run_checks,
    verifying_stage,
)
from preflight._checks.result import CheckResult, Status
from preflight._facts import bytecode as bytecode_facts
from preflight._facts.bytecode import BytecodeRun, PycProblem, verify_bytecode
from preflight._facts.integrity import FileProblem
from preflight._facts.model import ImportTiming, ProbeFailure
from preflight._facts.probes import probe_interpreter
from preflight._process import Running

RunCheck = Callable[..., CliRun]
MakeProject = Callable[..., Path]
HELD = "not run: the environment failed {}; its code is not executed"


# --- the engine, on facts built by hand -----------------------------------------------------


def _results(ctx: object, checks: tuple[object, ...] = ALL) -> dict[str, CheckResult]:
    return {r.id: r for r in run_checks(ctx, checks)}  # type: ignore[arg-type]


def test_each_check_is_judged_after_what_it_depends_on() -> None:
    order = [c.id for c in judging_order(ALL)]
    assert sorted(order) == sorted(BY_ID)
    for check in ALL:
        for prerequisite in check.requires:
            assert prerequisite in BY_ID, (check.id, prerequisite)
            assert order.index(prerequisite) < order.index(check.id)
        if check.runs_environment is not False:
            for verifier in VERIFYING + VERIFYING_WHEN_RUN:
                if verifier in BY_ID:
                    assert order.index(verifier) < order.index(check.id)
    # the checks that run the environment's code are the last of the report, and known
    runners = [c.id for c in ALL if c.runs_environment is not False]
    assert runners == ["performance", "suite"]
    # the stage judged before any code runs holds no check that runs code
    first = {c.id for c in verifying_stage(ALL)}
    assert {i for i in VERIFYING if i in BY_ID} <= first
    assert not first & set(runners)


def test_a_clean_context_judges_the_checks_that_run_code() -> None:
    results = _results(f.context())
    assert results["performance"].status is Status.PASS
    assert held_back(results, ALL) is None


_EXTRA = (f.dist("numpy", "2.2.6"), f.dist("pandas", "2.3.3"), f.dist("requests", "2.32.0"))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            {"integrity": f.integrity(problems=(FileProblem("six", "six.py", "modified", "x"),))},
            "integrity",
        ),
        ({"interpreter": f.interpreter(dists=_EXTRA)}, "lock_sync"),
        (
            {"bytecode": f.bytecode(mismatches=(PycProblem("/x.pyc", "/x.py", 0, "differs"),))},
            "bytecode",
        ),
    ],
)
def test_a_failed_verifier_holds_the_code_back(change: dict[str, object], named: str) -> None:
    ctx = replace(f.context(), **change)
    results = _results(ctx)
    assert results[named].status is Status.FAIL
    perf = results["performance"]
    assert perf.status is Status.SKIP
    assert perf.message == HELD.format(named)
    assert perf.details["blocked_by"] == named
    assert perf.details["not_verified"] == [named]


def test_several_failures_are_all_named() -> None:
    ctx = f.context(
        integrity=f.integrity(problems=(FileProblem("six", "six.py", "modified", "x"),)),
        interpreter=f.interpreter(pyvenv_cfg={"version": "3.12.0"}),  # base changed under it
    )
    perf = _results(ctx)["performance"]
    assert perf.message == HELD.format("virtual_environment and integrity")


def test_a_bytecode_probe_that_did_not_finish_holds_the_code_back() -> None:
    timed_out = ProbeFailure("timeout", "the bytecode probe did not finish within 5 s")
    results = _results(f.context(bytecode=timed_out))
    assert results["bytecode"].status is Status.WARN  # a warning, but not a verification
    assert results["performance"].status is Status.SKIP
    assert results["performance"].message == (
        "not run: bytecode did not finish verifying it; its code is not executed"
    )


def test_a_verifier_left_out_holds_the_code_back() -> None:
    chosen = tuple(c for c in ALL if c.id not in ("integrity", "bytecode"))
    results = _results(f.context(), chosen)
    assert "integrity" not in results
    assert results["performance"].status is Status.SKIP
    assert results["performance"].message == (
        "not run: integrity was not checked (left out), bytecode was not checked (left out); "
        "its code is not executed"
    )


def test_a_verifier_skipped_for_its_own_cause_holds_the_code_back() -> None:
    lock_missing = f.context(lock=None)  # no lock: lock_sync cannot judge the installed set
    results = _results(lock_missing)
    assert results["lock_sync"].status is Status.SKIP
    assert results["performance"].status is Status.SKIP
    assert "lock_sync was not checked" in results["performance"].message


def test_a_baseline_is_waited_for_only_when_given() -> None:
    results = _results(f.context())
    assert results["baseline"].status is Status.SKIP  # none given: not a verifier today
    assert results["performance"].status is Status.PASS
    failed = {**results, "baseline": replace(results["baseline"], status=Status.FAIL)}
    held = held_back(failed, ALL)
    assert held is not None
    assert held.failed == ("baseline",)


def test_a_verifier_this_version_lacks_is_not_waited_for() -> None:
    """``startup_hooks`` is in VERIFYING before the check exists; a result for it counts
    once it does."""
    assert "startup_hooks" in VERIFYING
    results = _results(f.context())
    assert held_back(results, ALL) is None
    if "startup_hooks" in BY_ID:
        failed = {**results, "startup_hooks": replace(results["startup_hooks"], status=Status.FAIL)}
        held = held_back(failed, ALL)
        assert held is not None
        assert held.failed == ("startup_hooks",)


def test_a_suite_the_policy_does_not_name_is_not_held() -> None:
    """Nothing to run, nothing held: it says why it is skipped, whatever else failed."""
    ctx = f.context(
        integrity=f.integrity(problems=(FileProblem("a", "a.py", "modified", "x"),)),
        interpreter=f.interpreter(dists=_EXTRA),  # lock_sync fails, package_dependencies skips
    )
    results = _results(ctx)
    assert results["package_dependencies"].status is Status.SKIP
    assert results["suite"].message == "the policy names no suite"


def test_a_missing_package_is_reported_once() -> None:
    """One package missing from the environment: lock_sync says so; package_dependencies
    would say it again and is skipped; performance is not judged (nor its wrong advice)."""
    pandas_gone = f.interpreter(dists=(f.dist("numpy", "2.2.6"), f.dist("pip", "25.3")))
    perf = f.performance(
        imports=(ImportTiming("pandas", 0.0, "ModuleNotFoundError: No module named 'pandas'"),)
    )
    results = _results(f.context(interpreter=pandas_gone, performance=perf))
    assert results["lock_sync"].status is Status.FAIL
    assert "pandas==2.3.3 is locked but not installed" in results["lock_sync"].message
    assert results["package_dependencies"].status is Status.SKIP
    assert results["package_dependencies"].message == (
        "skipped: it depends on lock_sync, which failed (see lock_sync)"
    )
    assert results["package_dependencies"].details["blocked_by"] == "lock_sync"
    assert results["performance"].status is Status.SKIP
    assert [r.id for r in results.values() if r.status is Status.FAIL] == ["lock_sync"]


def test_a_requirement_the_lock_lacks_skips_the_imports() -> None:
    """The environment is its lock, but the lock lacks a requirement: package_dependencies
    fails; performance depends on it and is skipped rather than guessing at import names."""
    pol = f.policy(requires=["numpy>=1.24.0", "pandas>=2.0.0", "scipy>=1"])
    perf = f.performance(
        imports=(ImportTiming("scipy", 0.0, "ModuleNotFoundError: No module named 'scipy'"),)
    )
    results = _results(f.context(policy=pol, performance=perf))
    assert results["lock_sync"].status is Status.PASS
    assert results["package_dependencies"].status is Status.FAIL
    assert results["performance"].status is Status.SKIP
    assert results["performance"].message == (
        "skipped: it depends on package_dependencies, which failed (see package_dependencies)"
    )


# --- real environments ------------------------------------------------------------------------


def _marker_module(site: Path, module: str, marker: Path) -> None:
    """Make ``import MODULE`` write ``marker`` (the source, as an attacker would edit it)."""
    init = site / module / "__init__.py"
    init.write_text(init.read_text() + f"open({str(marker)!r}, 'w').close()\n")


def _plain_import(python: Path, module: str) -> None:
    """Import ``module`` under plain Python (site on), as the application would."""
    wheelhouse.run([python, "-c", f"import {module}"])


@pytest.fixture
def tampered(tmp_path: Path, venv312_copy: Path) -> tuple[Path, Path]:
    """A copy of the clean venv whose required ``alpha`` writes a marker at import; proven."""
    marker = tmp_path / "alpha-ran"
    _marker_module(wheelhouse.site_packages(venv312_copy), "alpha", marker)
    _plain_import(venv312_copy, "alpha")
    assert marker.exists(), "the poison must run under plain Python"
    marker.unlink()
    return venv312_copy, marker


@pytest.mark.slow
def test_a_clean_environment_still_runs_its_code(run_check: RunCheck, venv312: Path,
                                                project: Path) -> None:  # fmt: skip
    run = run_check("--python", venv312, "--project", project)
    assert run.returncode == 0, run.stderr
    assert run.check("performance")["status"] == "pass"
    assert set(run.check("performance")["details"]["imports"]) == {"alpha", "beta_pkg"}


@pytest.mark.slow
def test_a_tampered_required_module_never_runs_through_the_cli(
    run_check: RunCheck, tampered: tuple[Path, Path], make_project: MakeProject
) -> None:
    python, marker = tampered
    project = make_project(extra='suite = "suite"')
    (project / "suite").mkdir()
    (project / "suite" / "test_app.py").write_text("import alpha\n\ndef test_it():\n    pass\n")
    run = run_check("--python", python, "--project", project)
    assert run.returncode == 1, run.stderr
    assert run.report["status"] == "NOT_READY"
    assert run.check("integrity")["status"] == "fail"
    held = HELD.format("integrity")
    for check_id in ("performance", "suite"):
        assert run.check(check_id)["status"] == "skip"
        assert run.check(check_id)["message"] == held
    assert not marker.exists(), "the environment's code ran during the check"


@pytest.mark.slow
def test_a_poisoned_pyc_never_runs(
    run_check: RunCheck, venv312_copy: Path, project: Path, tmp_path: Path
) -> None:
    """The source is intact (integrity passes), the pyc Python loads instead writes a marker:
    bytecode fails, and nothing imports alpha."""
    marker = tmp_path / "pyc-ran"
    source = wheelhouse.site_packages(venv312_copy) / "alpha" / "__init__.py"
    forge = (
        "import importlib.util, os, sys\n"
        "from importlib._bootstrap_external import _code_to_timestamp_pyc\n"
        "src, marker = sys.argv[1], sys.argv[2]\n"
        "st = os.stat(src)\n"
        'body = f\'open({marker!r}, "w").close()\\n__version__ = "1.0"\\n\'\n'
        "code = compile(body, src, 'exec')\n"
        "pyc = importlib.util.cache_from_source(src)\n"
        "os.makedirs(os.path.dirname(pyc), exist_ok=True)\n"
        "open(pyc, 'wb').write(_code_to_timestamp_pyc(code, int(st.st_mtime), st.st_size))\n"
    )
    wheelhouse.run([venv312_copy, "-I", "-c", forge, source, marker])
    _plain_import(venv312_copy, "alpha")
    assert marker.exists(), "the poisoned pyc must run under plain Python"
    marker.unlink()
    run = run_check("--python", venv312_copy, "--project", project)
    assert run.returncode == 1, run.stderr
    assert run.check("integrity")["status"] == "pass"
    assert run.check("bytecode")["status"] == "fail"
    assert run.check("performance")["message"] == HELD.format("bytecode")
    assert not marker.exists()


@pytest.mark.slow
def test_an_unlocked_package_the_policy_requires_never_runs(
    run_check: RunCheck,
    venv312_copy: Path,
    make_project: MakeProject,
    wheels: Wheels,
    tmp_path: Path,
) -> None:
    """Installed with its RECORD (integrity passes) but in no lock: lock_sync fails, and the
    performance probe, which would import it, never starts."""
    marker = tmp_path / "extra-ran"
    folder = tmp_path / "wheels"
    wheel = wheelhouse.build_wheel(
        folder, "extra-thing", "1.0",
        files={"extra_thing/__init__.py": f"open({str(marker)!r}, 'w').close()\n"},
    )  # fmt: skip
    wheelhouse.pip_install(venv312_copy, [wheel], find_links=folder)
    _plain_import(venv312_copy, "extra_thing")
    assert marker.exists()
    marker.unlink()
    project = make_project(requires=["alpha>=1", "beta-pkg>=2", "extra-thing>=1"])
    run = run_check("--python", venv312_copy, "--project", project)
    assert run.returncode == 1, run.stderr
    assert run.check("integrity")["status"] == "pass"
    assert run.check("lock_sync")["status"] == "fail"
    assert run.check("performance")["message"] == HELD.format("lock_sync")
    assert not marker.exists()


@pytest.mark.slow
def test_a_verifier_left_out_by_the_user_runs_nothing(
    run_check: RunCheck, tampered: tuple[Path, Path], project: Path
) -> None:
    python, marker = tampered
    run = run_check("--python", python, "--project", project, "--skip", "integrity")
    assert "integrity" not in run.report["checks"]
    assert run.check("performance")["status"] == "skip"
    assert run.check("performance")["message"] == (
        "not run: integrity was not checked (left out); its code is not executed"
    )
    assert not marker.exists()


@pytest.mark.slow
def test_a_tampered_required_module_never_runs_through_the_api(
    tampered: tuple[Path, Path], project: Path
) -> None:
    python, marker = tampered
    report = preflight.check(python, project=project, first_start=True)
    assert report.status == "NOT_READY"
    checks = {c.id: c for c in report.checks}
    assert checks["performance"].status.label == "skip"
    assert checks["performance"].message == HELD.format("integrity")
    assert not marker.exists()  # first_start=True: it would have imported alpha first


@pytest.mark.slow
def test_a_tampered_required_module_never_runs_through_the_gate(
    tmp_path: Path, tampered: tuple[Path, Path], project: Path
) -> None:
    python, marker = tampered
    deployed = tmp_path / "deployed"
    command = f"import pathlib; pathlib.Path({str(deployed)!r}).touch()"
    done = run_preflight(
        "gate", "--python", python, "--project", project, "--", sys.executable, "-c", command,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "deployment blocked" in done.stderr
    assert not deployed.exists()
    assert not marker.exists()
    report = json.loads((tmp_path / "reports" / "runtime_verification_results.json").read_text())
    assert report["checks"]["performance"]["message"] == HELD.format("integrity")


@pytest.mark.slow
def test_a_missing_package_fails_one_check(
    run_check: RunCheck, venv312_copy: Path, project: Path
) -> None:
    wheelhouse.pip_uninstall(venv312_copy, ["beta-pkg"])
    run = run_check("--python", venv312_copy, "--project", project)
    assert run.returncode == 1, run.stderr
    assert run.statuses("fail") == {"lock_sync"}
    assert run.check("package_dependencies")["status"] == "skip"
    assert run.check("package_dependencies")["details"]["blocked_by"] == "lock_sync"
    assert run.check("performance")["status"] == "skip"
    assert "import names" not in run.stderr  # the wrong fix is gone


# --- the bytecode probe: no site, and the check's timeout --------------------------------------


@pytest.mark.slow
def test_a_sleeping_pth_does_not_run_in_the_bytecode_probe(
    tmp_path: Path, venv312_copy: Path
) -> None:
    """A ``.pth`` that writes a marker and sleeps runs at every plain start; the bytecode probe
    (``-I -S -B``) never runs it, so it ends and reports."""
    marker = tmp_path / "pth-ran"
    site = wheelhouse.site_packages(venv312_copy)
    (site / "zz_sleep.pth").write_text(
        f"import os, time; open({str(marker)!r}, 'w').close(); "
        "time.sleep(0 if os.environ.get('POISON_AWAKE') else 60)\n"
    )
    wheelhouse.run([venv312_copy, "-c", "pass"], env=cli_env({"POISON_AWAKE": "1"}))
    assert marker.exists(), "the .pth must run under plain Python"
    marker.unlink()
    found = verify_bytecode(venv312_copy, [str(site)], environ={}, timeout=20)
    assert not isinstance(found, ProbeFailure), found
    assert not marker.exists()


def _slow_python(tmp_path: Path, real: Path) -> Path:
    """An interpreter that answers every start but the bytecode probe's, which it holds."""
    script = tmp_path / "slowpython"
    script.write_text(
        f'#!/bin/sh\ncase "$*" in *_probe/bytecode.py*) exec sleep 120 ;; esac\nexec {real} "$@"\n'
    )
    script.chmod(0o755)
    return script


@pytest.mark.slow
def test_the_checks_timeout_bounds_the_bytecode_probe(tmp_path: Path, venv312: Path) -> None:
    slow = _slow_python(tmp_path, venv312)
    facts = probe_interpreter(venv312)
    assert not isinstance(facts, ProbeFailure)
    run = BytecodeRun(slow, facts.site_packages, environ={}, timeout=2, workers=1)
    found = run.wait()
    assert isinstance(found, ProbeFailure)
    assert found.kind == "timeout"
    assert "did not finish within 2 s (the check's timeout)" in found.message
    assert "--timeout SECONDS" in found.message


@pytest.mark.slow
def test_timeout_reaches_the_bytecode_probe_from_the_cli(
    run_check: RunCheck, venv312_copy: Path, project: Path
) -> None:
    """``--timeout`` is the bytecode probe's limit too (it had its own 600 s before): the
    report says what limit the probe ran under. That the probe is killed at its limit, and
    what the finding then says, is the test above (a stalling interpreter cannot be passed to
    the CLI any more: it is not the environment's, and is never run)."""
    given = run_check("--python", venv312_copy, "--project", project, "--timeout", "7")
    assert given.check("bytecode")["details"]["probe_timeout_seconds"] == 7
    default = run_check("--python", venv312_copy, "--project", project, "--skip", "performance")
    assert default.check("bytecode")["details"]["probe_timeout_seconds"] == 600


def test_the_bytecode_probe_runs_without_site(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe's argv as started (the flags are the claim; the .pth test above shows it)."""
    started: list[list[str]] = []
    original = bytecode_facts.start

    def record(argv: list[str], **kw: Any) -> Running:
        started.append(list(argv))
        return original(argv, **kw)

    monkeypatch.setattr(bytecode_facts, "start", record)
    BytecodeRun(sys.executable, [], environ={}, workers=1).wait()
    assert started
    assert all(argv[1:4] == ["-I", "-S", "-B"] for argv in started)


class _SessionShim:
    """What :func:`preflight.nox.check_env` uses of a nox session (its name, log and error):
    the check itself is real, and runs in this process as it does in nox's."""

    name = "preflight-3.12"

    def __init__(self) -> None:
        self.logged: list[str] = []

    def log(self, message: str) -> None:
        self.logged.append(message)

    def error(self, message: str) -> None:
        raise AssertionError(f"session.error: {message}")


@pytest.mark.slow
def test_a_tampered_required_module_never_runs_in_a_nox_session(
    tmp_path: Path, tampered: tuple[Path, Path], project: Path
) -> None:
    """The sessions judge the environment they built with its first start on: neither the
    first start nor the import timing starts when the environment fails integrity."""
    import preflight.nox as sessions

    python, marker = tampered
    report = sessions.check_env(
        _SessionShim(),  # type: ignore[arg-type]
        python,
        project=sessions.policy(project),
        first_start=True,
        report_dir=tmp_path / "reports",
    )
    assert report.status == "NOT_READY"
    checks = {c.id: c for c in report.checks}
    assert checks["performance"].message == HELD.format("integrity")
    assert checks["performance"].details["blocked_by"] == "integrity"
    assert not marker.exists()


@pytest.mark.slow
def test_a_tampered_required_module_never_runs_under_the_monitor(
    tmp_path: Path, tampered: tuple[Path, Path], project: Path
) -> None:
    python, marker = tampered
    logs = tmp_path / "logs"
    done = run_preflight(
        "monitor", "--python", python, "--project", project, "--once", "--log-dir", logs,
        "--report-dir", tmp_path / "reports", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    report = json.loads((tmp_path / "reports" / "runtime_verification_results.json").read_text())
    assert report["checks"]["performance"]["message"] == HELD.format("integrity")
    assert not marker.exists()
