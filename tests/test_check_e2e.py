"""End to end: probe → checks → report → exit code, with real interpreters and venvs.

``preflight check`` runs as a subprocess of the tool's own interpreter (``run_check``), so exit
codes, the split of stdout and stderr, and "never a traceback" are tested as a user sees them.
Configuration errors, which stop before any interpreter is run, call ``main()`` in-process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import wheelhouse
from conftest import PINNED_FALLBACK, REQUIRES, CliRun, Wheels, cli_argv, cli_env, toml_list
from processes import ends, interrupt, kill_if_running, read_pid

from preflight._checks import BY_ID, baseline, vulnerabilities
from preflight._cli import main
from preflight._interpreters.discovery import Found
from preflight._policy.policy import load_policy
from preflight._render.report import REPORT_NAME

ALL_CHECKS = set(BY_ID)
RunCheck = Callable[..., CliRun]
MakeProject = Callable[..., Path]


# --- a clean environment ----------------------------------------------------------------


@pytest.mark.slow
def test_clean_venv_is_ready(run_check: RunCheck, venv312: Path, project: Path) -> None:
    run = run_check("--python", venv312, "--project", project)

    assert run.returncode == 0, run.stderr
    report = run.report
    assert report["status"] == "READY"
    assert report["overall_status"] == "PASSED"
    assert report["python_status"] == "primary"
    assert report["schema_version"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", report["timestamp"])
    interp = report["interpreter"]
    assert interp["path"] == str(venv312)  # as given: a venv's python is a symlink
    assert interp["version"].startswith("3.12.")
    assert interp["implementation"] == "cpython"
    assert set(report["checks"]) == ALL_CHECKS
    assert report["checks"].pop("suite")["message"] == "the policy names no suite"
    # No vulnerability data is configured: skipped, saying how to turn it on.
    audit = report["checks"].pop("vulnerabilities")
    assert (audit["status"], audit["message"]) == ("skip", vulnerabilities.HOW_TO_ENABLE)
    anchored = report["checks"].pop("baseline")  # no --baseline given
    assert (anchored["status"], anchored["message"]) == ("skip", baseline.HOW_TO_ENABLE)
    for check_id, check in report["checks"].items():
        assert check["status"] == "pass", (check_id, check)
        assert check["message"]
        assert isinstance(check["details"], dict)
    assert report["violations"] == []
    assert report["warnings"] == []
    assert isinstance(report["duration_s"], float)
    assert report["lock"] == str(project / "requirements" / "py3.12.txt")
    assert run.check("lock_sync")["details"]["ignored"] == ["pip"]
    assert run.check("integrity")["details"]["files_checked"] > 0

    logs = sorted(p.name for p in run.report_dir.glob("preflight_check_*.log"))
    assert len(logs) == 1
    assert re.fullmatch(r"preflight_check_\d{8}_\d{6}\.log", logs[0])
    assert {p.name for p in run.report_dir.iterdir()} == {REPORT_NAME, logs[0]}, "temp files"
    log = (run.report_dir / logs[0]).read_text(encoding="utf-8")
    assert "Status: READY" in log
    assert "READY (PASSED)" in run.stderr


@pytest.mark.slow
def test_format_json_prints_exactly_the_report_on_stdout(
    run_check: RunCheck, venv312: Path, project: Path
) -> None:
    run = run_check("--python", venv312, "--project", project, "--format", "json")

    assert run.returncode == 0, run.stderr
    assert run.stdout == run.report_path.read_text(encoding="utf-8")
    assert json.loads(run.stdout)["status"] == "READY"
    assert "READY (PASSED)" in run.stderr
    assert '"schema_version"' not in run.stderr
    assert "✓" not in run.stdout


@pytest.mark.slow
def test_an_adopters_policy_of_only_pythons_and_requires_passes_on_a_clean_env(
    run_check: RunCheck, tmp_path: Path, wheels: Wheels, venv312: Path
) -> None:
    # The defaults are an adopter's: no SMVM_* variables, no config file, no protected files
    # of the seed, a 90-day lock; the default performance limits too.
    project = tmp_path / "adopter"
    (project / "requirements").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        f'[tool.preflight]\npythons = ["3.12"]\nrequires = {toml_list(REQUIRES)}\n',
        encoding="utf-8",
    )
    wheelhouse.write_lock(project / "requirements" / "py3.12.txt", wheels.locked, python="3.12")
    (project / ".smvm_config").write_text("python_version = 2.7\n", encoding="utf-8")
    (project / "requirements.txt").write_text("alpha\n", encoding="utf-8")
    (project / "requirements.txt").chmod(0o666)  # not protected unless the policy says so
    run = run_check("--python", venv312, "--project", project)

    assert run.returncode == 0, run.stderr
    assert run.report["status"] == "READY"
    assert run.report["overall_status"] == "PASSED", run.report["violations"]
    config = run.check("environment_config")
    assert config["message"] == "the policy names no environment variables and no config file"
    assert config["details"] == {}
    files = run.check("security")["details"]["files"]
    assert [f["path"] for f in files] == [str(project / "requirements" / "py3.12.txt")]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env", "overall", "code"),
    [
        pytest.param({}, "WARNING", 2, id="missing"),
        pytest.param(
            {"SMVM_PYTHON_VERSION": "3.12", "SMVM_WHEEL_STATUS": "healthy"}, "PASSED", 0, id="set"
        ),
    ],
)
def test_smvm_variables_named_by_the_policy(
    run_check: RunCheck,
    make_project: MakeProject,
    venv312: Path,
    *,
    env: dict[str, str],
    overall: str,
    code: int,
) -> None:
    # The list form (the seed's variables): each must be set, a *_PYTHON_VERSION one agreeing.
    project = make_project(env_vars=["SMVM_PYTHON_VERSION", "SMVM_WHEEL_STATUS"])
    run = run_check("--python", venv312, "--project", project, env=env)

    assert run.returncode == code, run.stderr
    assert run.report["status"] == "READY"  # warnings do not make an environment unready
    assert run.report["overall_status"] == overall
    if code == 2:
        assert run.statuses("warn") == {"environment_config"}
        assert "SMVM_PYTHON_VERSION is not set" in run.findings("environment_config")
        assert {w["check"] for w in run.report["warnings"]} == {"environment_config"}
        assert "READY (WARNING)" in run.stderr


@pytest.mark.slow
def test_env_vars_table_expects_exact_values_and_the_interpreters_version(
    run_check: RunCheck, make_project: MakeProject, venv312: Path
) -> None:
    expected = {"SMVM_PYTHON_VERSION": "{python}", "SMVM_WHEEL_STATUS": "healthy"}
    project = make_project(env_vars=expected)
    version = subprocess.run(
        [venv312, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    environ = load_policy(project).session_environ(version)
    assert environ == {"SMVM_PYTHON_VERSION": version, "SMVM_WHEEL_STATUS": "healthy"}
    ok = run_check("--python", venv312, "--project", project, env=environ)
    assert ok.returncode == 0, ok.stderr
    assert ok.report["overall_status"] == "PASSED"

    # "3.12" agrees with the list form; the table asks for exactly the X.Y.Z.
    loose = run_check(
        "--python", venv312, "--project", project, env={**environ, "SMVM_PYTHON_VERSION": "3.12"}
    )
    assert loose.returncode == 2, loose.stderr
    assert loose.findings("environment_config") == (
        f"SMVM_PYTHON_VERSION=3.12, the policy expects {version}"
    )


# --- a tampered environment -------------------------------------------------------------


@pytest.mark.slow
def test_modified_file_fails_integrity(
    run_check: RunCheck, venv312_copy: Path, project: Path
) -> None:
    module = wheelhouse.site_packages(venv312_copy) / "alpha" / "__init__.py"
    module.write_text(module.read_text() + "print('patched')\n")

    run = run_check("--python", venv312_copy, "--project", project)

    assert run.returncode == 1, run.stderr
    assert run.report["status"] == "NOT_READY"
    assert run.report["overall_status"] == "FAILED"
    assert run.statuses("fail") == {"integrity"}  # one broken thing, reported once
    integrity = run.check("integrity")
    assert "alpha: alpha/__init__.py is modified (size " in integrity["message"]
    (problem,) = integrity["details"]["problems"]
    assert (problem["dist"], problem["path"], problem["kind"]) == (
        "alpha",
        "alpha/__init__.py",
        "modified",
    )
    assert "alpha/__init__.py is modified" in run.stderr
    assert [v["check"] for v in run.report["violations"]] == ["integrity"]


@pytest.mark.slow
def test_unowned_pth_fails_startup_hooks(
    run_check: RunCheck, venv312_copy: Path, project: Path
) -> None:
    pth = wheelhouse.site_packages(venv312_copy) / "zz_injected.pth"
    pth.write_text("import os\n")

    run = run_check("--python", venv312_copy, "--project", project)

    assert run.returncode == 1, run.stderr
    assert run.report["status"] == "NOT_READY"
    assert run.statuses("fail") == {"startup_hooks"}  # once: integrity leaves hooks to it
    assert f"{pth} is a start-up .pth file (1 line of code) that no installed distribution" in (
        run.findings("startup_hooks")
    )
    assert run.check("integrity")["details"]["unowned"] == []


@pytest.mark.slow
@pytest.mark.parametrize("change", ["extra", "missing", "downgraded"])
def test_installed_set_differs_from_lock(
    run_check: RunCheck, venv312_copy: Path, project: Path, wheels: Wheels, change: str
) -> None:
    if change == "extra":
        wheelhouse.pip_install(venv312_copy, ["extra-thing"], find_links=wheels.folder)
    elif change == "missing":
        wheelhouse.pip_uninstall(venv312_copy, ["alpha"])
    else:
        wheelhouse.pip_install(venv312_copy, ["alpha==0.9"], find_links=wheels.folder)

    run = run_check("--python", venv312_copy, "--project", project)

    assert run.returncode == 1, run.stderr
    assert run.report["status"] == "NOT_READY"
    assert run.report["overall_status"] == "FAILED"
    sync = run.check("lock_sync")
    assert sync["status"] == "fail"
    details = sync["details"]
    lock = project / "requirements" / "py3.12.txt"
    if change == "extra":
        assert (details["missing"], details["extra"], details["different"]) == (
            [],
            ["extra-thing"],
            [],
        )
        assert f"extra-thing 1.0 is installed but not in {lock}" in sync["message"]
        assert run.statuses("fail") == {"lock_sync"}
    elif change == "missing":
        assert (details["missing"], details["extra"], details["different"]) == (["alpha"], [], [])
        assert "alpha==1.0 is locked but not installed" in sync["message"]
        # one broken thing, reported once: package_dependencies would say it again
        assert run.statuses("fail") == {"lock_sync"}
        assert run.check("package_dependencies")["details"]["blocked_by"] == "lock_sync"
    else:
        assert (details["missing"], details["extra"]) == ([], [])
        assert details["different"] == [{"name": "alpha", "installed": "0.9", "locked": "1.0"}]
        assert f"alpha 0.9 is installed but {lock} pins 1.0" in sync["message"]
        assert run.statuses("fail") == {"lock_sync"}
        assert run.check("package_dependencies")["status"] == "skip"
    # the installed set is not the lock's: nothing of the environment was run
    assert run.check("performance")["message"] == (
        "not run: the environment failed lock_sync; its code is not executed"
    )


@pytest.mark.slow
@pytest.mark.parametrize("how", ["direct-file", "editable"])
def test_install_not_from_the_index_fails_lock_sync(
    run_check: RunCheck,
    venv312_copy: Path,
    project: Path,
    wheels: Wheels,
    tmp_path: Path,
    *,
    how: str,
) -> None:
    # The version the lock pins, but not from the index: pip records where from (PEP 610).
    if how == "direct-file":
        source, expected = wheels.alpha, "alpha is installed from a direct URL (file://"
    else:
        source = wheelhouse.editable_project(tmp_path / "alpha-src", "alpha", "1.0")
        expected = "alpha is installed from an editable install of file://"
    editable = ["-e"] if how == "editable" else []
    wheelhouse.pip_install(venv312_copy, ["--force-reinstall", "--no-deps", *editable, source])
    direct_url = wheelhouse.site_packages(venv312_copy) / "alpha-1.0.dist-info/direct_url.json"
    assert direct_url.is_file()

    run = run_check("--python", venv312_copy, "--project", project)

    assert run.returncode == 1, run.stderr
    assert run.report["status"] == "NOT_READY"
    assert run.statuses("fail") == {"lock_sync"}
    sync = run.check("lock_sync")
    assert expected in sync["message"]
    assert [f["name"] for f in sync["details"]["foreign_source"]] == ["alpha"]
    assert sync["details"]["different"] == []  # the right version, from the wrong place


# --- the project's files ----------------------------------------------------------------


@pytest.mark.slow
def test_world_writable_lock_fails_security(
    run_check: RunCheck, venv312: Path, project: Path
) -> None:
    lock = project / "requirements" / "py3.12.txt"
    mode = stat.S_IMODE(lock.stat().st_mode) | stat.S_IWOTH
    lock.chmod(mode)  # root may write any file anyway: the check must read the mode bits

    run = run_check("--python", venv312, "--project", project)

    assert run.returncode == 1, run.stderr
    assert run.report["status"] == "NOT_READY"
    assert run.statuses("fail") == {"security"}
    assert f"{lock} is world-writable (mode {mode:04o})" in run.check("security")["message"]
    assert f"chmod o-w {lock}" in run.stderr
    assert "::error" not in run.stderr  # annotations only on GitHub Actions

    on_github = run_check("--python", venv312, "--project", project, env={"GITHUB_ACTIONS": "true"})
    assert on_github.stdout == ""
    assert "::error title=preflight security (Python 3.12." in on_github.stderr
    assert f"::{lock} is world-writable" in on_github.stderr


def _good_lock(project: Path) -> str:
    return (project / "requirements" / "py3.12.txt").read_text(encoding="utf-8")


BAD_LOCKS: dict[str, Callable[[str], bytes]] = {
    "unparsable": lambda good: (good + "this is not ( valid\n").encode(),
    "empty": lambda good: b"",
    "non-utf8": lambda good: (good + "# caf").encode() + b"\xe9\n",
    "extra-index-url": lambda good: (
        "--extra-index-url https://example.invalid/simple\n" + good
    ).encode(),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", [*BAD_LOCKS, "missing"])
def test_bad_lock_fails_wheel_status_and_skips_lock_sync(
    run_check: RunCheck, venv312: Path, project: Path, case: str
) -> None:
    lock = project / "requirements" / "py3.12.txt"
    good = _good_lock(project)
    if case == "missing":
        lock.unlink()
    else:
        lock.write_bytes(BAD_LOCKS[case](good))
    lines = len(good.splitlines())
    expected = {
        "unparsable": f"{lock}, line {lines + 1}: not a valid PEP 508 requirement",
        "empty": f"{lock}: contains no requirements",
        "non-utf8": f"{lock}, line {lines + 1}: not UTF-8",
        "extra-index-url": f"{lock}, line 1: --extra-index-url is a machine-specific setting",
        "missing": f"{lock}: lock file does not exist",
    }[case]

    run = run_check("--python", venv312, "--project", project)

    assert run.returncode == 1, run.stderr
    assert run.report["status"] == "NOT_READY"
    assert run.statuses("fail") == {"wheel_status"}
    assert run.check("wheel_status")["message"].startswith(expected)
    sync = run.check("lock_sync")
    assert sync["status"] == "skip"
    assert "see wheel_status" in sync["message"]
    assert sync["details"] == {"blocked_by": "wheel_status"}
    assert expected in run.stderr


@pytest.mark.slow
@pytest.mark.parametrize("case", ["fifo", "dev-zero"])
def test_a_lock_that_is_not_a_file_fails_wheel_status_within_seconds(
    run_check: RunCheck, venv312: Path, project: Path, case: str
) -> None:
    """A FIFO would block the read for ever, /dev/zero would fill the memory: both are refused
    by what they are, before a byte is read, and the environment is refused (exit 1)."""
    lock = project / "requirements" / "py3.12.txt"
    lock.unlink()
    if case == "fifo":
        os.mkfifo(lock)
        expected = f"{lock}: is a FIFO, not a regular file"
    else:
        lock.symlink_to("/dev/zero")
        expected = f"{lock}: is a character device, not a regular file"

    run = run_check("--python", venv312, "--project", project, timeout=60)

    assert run.returncode == 1, run.stderr
    assert run.check("wheel_status")["message"].startswith(expected)
    assert run.check("lock_sync")["status"] == "skip"
    assert "Traceback" not in run.stderr


# --- which interpreter ------------------------------------------------------------------


@pytest.mark.slow
def test_311_is_rejected_by_an_exact_311_pin(
    run_check: RunCheck, venv311: Path, python311: Found, project: Path
) -> None:
    run = run_check("--python", venv311, "--project", project)

    assert run.returncode == 1, run.stderr
    assert run.report["status"] == "NOT_READY"
    assert run.report["python_status"] == "unsupported"
    assert run.statuses("fail") == {"python_version"}
    assert run.check("python_version")["message"] == (
        f"Python {python311.version} is not supported: the policy pins {PINNED_FALLBACK} exactly"
    )
    # Everything else was still judged, against the 3.11 lock.
    assert run.report["lock"] == str(project / "requirements" / "py3.11.txt")
    assert run.check("lock_sync")["status"] == "pass"


@pytest.mark.slow
def test_matching_fallback_is_ready_fallback(
    run_check: RunCheck, venv311: Path, make_project: MakeProject
) -> None:
    project = make_project(pythons=["3.12", "3.11"])
    run = run_check("--python", venv311, "--project", project)

    assert run.returncode == 0, run.stderr
    assert run.report["status"] == "READY_FALLBACK"
    assert run.report["overall_status"] == "PASSED"
    assert run.report["python_status"] == "fallback"
    assert "is the fallback interpreter (3.11)" in run.check("python_version")["message"]
    assert "READY_FALLBACK (PASSED)" in run.stderr


def test_base_interpreter_outside_a_venv_is_a_warning(
    run_check: RunCheck, python312: Path, project: Path
) -> None:
    run = run_check("--python", python312, "--project", project)

    # The base interpreter lacks the locked packages (so the run fails), but the report is
    # complete and the missing venv itself is a warning, as in the seed.
    report = run.report
    assert set(report["checks"]) == ALL_CHECKS
    assert report["python_status"] == "primary"
    venv = run.check("virtual_environment")
    assert venv["status"] == "warn"
    assert "is not in a virtual environment" in run.findings("virtual_environment")
    assert venv["details"]["in_venv"] is False
    assert run.returncode == report["exit_code"] == 1
    assert report["status"] == "NOT_READY"


# --- interpreters that cannot be judged -------------------------------------------------


def test_hanging_interpreter_is_killed_and_reported_once(
    run_check: RunCheck, hanging_python: tuple[Path, Path], project: Path
) -> None:
    script, pid_file = hanging_python
    # The subprocess limit (30 s) is far below the sleep (1 h): a run that waited would fail.
    run = run_check("--python", script, "--project", project, "--timeout", "1", timeout=30)

    assert run.returncode == 1, run.stderr
    report = run.report
    assert report["status"] == "NOT_READY"
    assert report["python_status"] == "unknown"
    assert report["interpreter"]["error"] == "timeout"
    version = run.check("python_version")
    assert version["status"] == "fail"
    assert f"{script} did not answer within 1 s" in version["message"]
    skipped = run.statuses("skip")
    assert skipped == ALL_CHECKS - {"python_version", "security"}
    for check_id in skipped:
        assert "(see python_version)" in run.check(check_id)["message"]
        assert run.check(check_id)["details"] == {"blocked_by": "python_version"}
    assert "(Python ?, unknown)" in run.stderr
    pid = read_pid(pid_file)
    assert pid is not None, "the hanging interpreter never started its child"
    assert ends(pid), "the interpreter's child outlived the timeout"


def test_ctrl_c_exits_130_and_writes_nothing(
    tmp_path: Path, hanging_python: tuple[Path, Path], project: Path
) -> None:
    script, pid_file = hanging_python
    reports = tmp_path / "reports"
    argv = cli_argv("--python", script, "--project", project, "--report-dir", reports)
    argv += ["--timeout", "600"]

    done = interrupt(argv, pid_file, cwd=tmp_path, env=cli_env())

    assert done.returncode == 130, done.stderr
    assert "interrupted" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert not reports.exists()
    assert ends(int(pid_file.read_text())), "the interpreter's child outlived Ctrl-C"


def test_substitute_for_must_name_an_exact_pin(run_check: RunCheck, project: Path) -> None:
    run = run_check("--python", sys.executable, "--project", project, "--substitute-for", "3.12")
    assert run.returncode == 3
    assert "--substitute-for 3.12: not an exact pin of the policy" in run.stderr
    assert "hint: the policy's exact pins: 3.11.13" in run.stderr


def test_python_version_cannot_be_skipped(
    run_check: RunCheck, venv312: Path, project: Path
) -> None:
    run = run_check("--python", venv312, "--project", project, "--skip", "python_version")
    assert run.returncode == 3
    assert "invalid choice: 'python_version'" in run.stderr


def test_sigterm_exits_143_and_leaves_no_child(
    tmp_path: Path, hanging_python: tuple[Path, Path], project: Path
) -> None:
    # A supervisor's stop (CI cancel, systemd) unwinds like Ctrl-C: the probe's group dies.
    script, pid_file = hanging_python
    reports = tmp_path / "reports"
    argv = cli_argv("--python", script, "--project", project, "--report-dir", reports)
    argv += ["--timeout", "600"]

    done = interrupt(argv, pid_file, cwd=tmp_path, env=cli_env(), sig=signal.SIGTERM)

    assert done.returncode == 143, done.stderr
    assert "terminated" in done.stderr
    assert "Traceback" not in done.stderr
    assert not reports.exists()
    assert ends(int(pid_file.read_text())), "the interpreter's child outlived SIGTERM"


@pytest.mark.slow
def test_ctrl_c_during_the_performance_probe_exits_at_once(
    tmp_path: Path, venv312_copy: Path, make_project: MakeProject, wheels: Wheels
) -> None:
    # The performance probe imports sleepy, which blocks: Ctrl-C must not wait for it. sleepy
    # is installed from the lock with its RECORD, so the environment is verified and run.
    pid_file = tmp_path / "perf.pid"
    sleepy = wheelhouse.build_wheel(
        tmp_path / "wheels", "sleepy", "1.0",
        files={"sleepy/__init__.py": (
            "import os, time\n"
            f"with open({str(pid_file)!r}, 'w') as f:\n"
            "    f.write(str(os.getpid()))\n"
            "time.sleep(3600)\n"
        )},
    )  # fmt: skip
    wheelhouse.pip_install(venv312_copy, ["sleepy"], find_links=sleepy.parent)
    project = make_project(requires=[*REQUIRES, "sleepy"])
    wheelhouse.write_lock(project / "requirements" / "py3.12.txt", [*wheels.locked, sleepy])
    reports = tmp_path / "reports"
    try:
        done = interrupt(
            cli_argv("--python", venv312_copy, "--project", project, "--report-dir", reports),
            pid_file,
            cwd=tmp_path,
            env=cli_env(),
        )
        assert done.returncode == 130, done.stderr
        assert "Traceback" not in done.stderr
        assert not reports.exists()
        assert ends(int(pid_file.read_text())), "the performance probe outlived Ctrl-C"
    finally:
        kill_if_running(pid_file)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "does not exist"),
        ("folder", "is a folder, not an interpreter"),
        ("not-executable", "is not executable"),
    ],
)
def test_python_that_cannot_run_is_a_usage_error(
    run_check: RunCheck, tmp_path: Path, project: Path, kind: str, message: str
) -> None:
    target = tmp_path / "target"
    if kind == "folder":
        target.mkdir()
    elif kind == "not-executable":
        target.write_text("#!/bin/sh\necho hello\n")
        target.chmod(0o644)

    run = run_check("--python", target, "--project", project)

    assert run.returncode == 3
    assert run.stderr.startswith(f"error: --python: {target} {message}")
    assert "\nhint: " in run.stderr
    assert not run.report_dir.exists()


@pytest.mark.parametrize("kind", ["true", "garbage", "broken-symlink", "on-path"])
def test_python_that_is_not_a_python_fails_python_version(
    run_check: RunCheck, tmp_path: Path, project: Path, kind: str
) -> None:
    if kind == "true" and not os.access("/bin/true", os.X_OK):
        pytest.skip("no /bin/true on this machine")
    env = {}
    garbage = tmp_path / "bin" / "not-a-python"
    garbage.parent.mkdir()
    garbage.write_text("#!/bin/sh\necho 'garbage, not JSON'\n")
    garbage.chmod(0o755)
    if kind == "true":
        target, expected = "/bin/true", "ran, but its output is not the probe's report"
    elif kind == "garbage":
        target, expected = str(garbage), "last line was 'garbage, not JSON'"
    elif kind == "on-path":
        # A bare command name is looked up on PATH, as for any command.
        env = {"PATH": f"{garbage.parent}{os.pathsep}{os.environ['PATH']}"}
        target, expected = garbage.name, "last line was 'garbage, not JSON'"
    else:
        # What a venv looks like once its base interpreter was removed.
        link = tmp_path / "venv" / "bin" / "python"
        link.parent.mkdir(parents=True)
        link.symlink_to(tmp_path / "removed-base" / "python3.12")
        target, expected = str(link), "is a broken symlink"

    run = run_check("--python", target, "--project", project, env=env)

    assert run.returncode == 1, run.stderr
    assert run.report["status"] == "NOT_READY"
    assert run.statuses("fail") == {"python_version"}
    version = run.check("python_version")
    assert expected in version["message"]
    remedy = "recreate the environment" if kind == "broken-symlink" else "pass --python the path"
    assert remedy in version["findings"][0]["remedy"]
    assert run.statuses("skip") == ALL_CHECKS - {"python_version", "security"}


# --- usage and configuration errors -----------------------------------------------------


def _previous_report(folder: Path) -> dict[str, bytes]:
    """A report folder holding an earlier run's files; returns their contents."""
    folder.mkdir()
    (folder / REPORT_NAME).write_text('{"status": "READY", "previous": true}\n')
    (folder / "preflight_check_20260101_000000.log").write_text("an earlier run\n")
    return {p.name: p.read_bytes() for p in folder.iterdir()}


POLICY_ERRORS = {
    "unknown-key": ('colour = "blue"', "key 'colour': unknown key"),
    "wrong-type": ('lock_max_age_days = "ninety"', "key 'lock_max_age_days': must be a positive"),
    "bad-specifier": ('requires = ["alpha>>1"]', "key 'requires': 'alpha>>1' is not a PEP 508"),
    "bad-python": ('pythons = ["3"]', "key 'pythons': '3' is not an interpreter spec"),
    "perf-key": ("[tool.preflight.performance]\nfast = true", "key 'performance.fast'"),
    "env-placeholder": (
        'env_vars = {APP_VERSION = "{version}"}',
        "key 'env_vars.APP_VERSION': unknown placeholder {version}",
    ),
    "env-value": (
        "env_vars = {APP_MODE = 1}",
        "key 'env_vars.APP_MODE': must be a non-empty string",
    ),
    "bad-toml": ("requires = [", "is not valid TOML"),
}


@pytest.mark.parametrize("case", [*POLICY_ERRORS, "missing", "folder", "non-utf8", "no-table"])
def test_invalid_policy_is_a_usage_error_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    pyproject = project / "pyproject.toml"
    if case in POLICY_ERRORS:
        line, expected = POLICY_ERRORS[case]
        # The bad line last, so that it overrides (or extends) a valid policy.
        table = {"pythons": '["3.12"]', "requires": '["alpha>=1"]'}
        key = line.split(" =")[0]
        body = "".join(f"{k} = {v}\n" for k, v in table.items() if k != key)
        pyproject.write_text(f"[tool.preflight]\n{body}{line}\n")
    elif case == "folder":
        pyproject.mkdir()
        expected = "cannot be read"
    elif case == "non-utf8":
        pyproject.write_bytes(b'[tool.preflight]\npythons = ["3.12"] # \xe9\n')
        expected = "cannot be read"
    elif case == "no-table":
        pyproject.write_text('[project]\nname = "x"\n')
        expected = "has no [tool.preflight] table"
    else:
        expected = "file not found"
    reports = tmp_path / "reports"
    before = _previous_report(reports)

    code = main(["check", "--project", str(project), "--report-dir", str(reports)])

    out, err = capsys.readouterr()
    assert code == 3
    assert out == ""
    assert err.startswith(f"error: {pyproject}")
    assert expected in err
    assert {p.name: p.read_bytes() for p in reports.iterdir()} == before


def test_config_error_as_a_user_sees_it(run_check: RunCheck, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[tool.preflight]\npythons = ["3.12"]\nrequires = ["alpha"]\nsurprise = 1\n'
    )
    reports = tmp_path / "reports"
    before = _previous_report(reports)

    run = run_check("--project", project, "--format", "json", report_dir=reports)

    assert run.returncode == 3
    assert run.stdout == ""  # --format json: no report, so nothing on stdout
    assert "key 'surprise': unknown key" in run.stderr
    assert {p.name: p.read_bytes() for p in reports.iterdir()} == before


def test_report_dir_that_is_a_file_is_a_usage_error(
    run_check: RunCheck, tmp_path: Path, project: Path
) -> None:
    not_a_folder = tmp_path / "reports.txt"
    not_a_folder.write_text("keep me\n")

    run = run_check("--python", "/bin/true", "--project", project, report_dir=not_a_folder)

    assert run.returncode == 3
    assert f"--report-dir {not_a_folder}: is a file, not a folder" in run.stderr
    assert not_a_folder.read_text() == "keep me\n"


def test_report_that_cannot_be_written_is_a_usage_error(
    run_check: RunCheck, tmp_path: Path, project: Path
) -> None:
    reports = tmp_path / "reports"
    (reports / REPORT_NAME).mkdir(parents=True)  # the report's own path is taken by a folder

    run = run_check("--python", "/bin/true", "--project", project, report_dir=reports)

    assert run.returncode == 3
    # refused before any check ran: the report's path is a folder, never replaced
    assert f"error: --report-dir {reports / REPORT_NAME}: " in run.stderr
    assert "is a folder" in run.stderr
    assert "Traceback" not in run.stderr
    assert [p.name for p in reports.iterdir()] == [REPORT_NAME], "a temp file was left"


def test_json_reader_that_goes_away_is_not_an_error(tmp_path: Path, project: Path) -> None:
    # `preflight check --format json | head -0`: stdout is closed before the report is written.
    argv = cli_argv("--python", "/bin/true", "--project", project, "--format", "json")
    argv += ["--report-dir", str(tmp_path / "reports")]
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env()
    )
    assert process.stdout is not None
    process.stdout.close()
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 1, stderr  # the verdict stands: /bin/true is no Python
    assert "Traceback" not in stderr
    assert "Exception ignored" not in stderr
    assert "NOT_READY (FAILED)" in stderr
    assert (tmp_path / "reports" / REPORT_NAME).is_file()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_json_to_a_full_stdout_is_a_clear_error(
    tmp_path: Path, venv312: Path, project: Path
) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "preflight", "check", "--python", str(venv312),
             "--project", str(project), "--format", "json", "--skip", "performance",
             "--report-dir", str(tmp_path / "reports")],
            stdout=full, stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=tmp_path,
            timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "error: --format json: cannot write the report to stdout: No space left" in done.stderr
    assert "Traceback" not in done.stderr
    assert (tmp_path / "reports" / "runtime_verification_results.json").is_file()


# --- hostile names ------------------------------------------------------------------------


FORGED_FOLDER = "x\n::error title=pwned::injected annotation\nNOT_READY (FAILED)\n\x1b[31mred"
FORGED_NAME = "evil\r::error title=pwned::metadata\x1b[2K\x0bNOT_READY (FAILED)\u2028\u202eq"


@pytest.mark.slow
def test_a_hostile_name_cannot_forge_output(
    run_check: RunCheck, venv312_copy: Path, project: Path
) -> None:
    """Names with newlines, CR, ANSI escapes and separators, from a dist-info folder and from
    a METADATA Name: shown escaped in stderr and the log (no forged workflow command, no
    forged verdict), kept exact in the JSON report."""
    site = wheelhouse.site_packages(venv312_copy)
    (site / f"{FORGED_FOLDER}-1.0.dist-info").mkdir()
    named = site / "meta-2.0.dist-info"
    named.mkdir()
    # Binary: the probe reads METADATA line by line, so a CR, VT or U+2028 stays in the value.
    (named / "METADATA").write_bytes(f"Name: {FORGED_NAME}\nVersion: 2.0\n\n".encode())

    run = run_check("--python", venv312_copy, "--project", project, env={"GITHUB_ACTIONS": "true"})

    assert run.returncode == 1, run.stderr
    log = next(run.report_dir.glob("preflight_check_*.log")).read_text(encoding="utf-8")
    for text in (run.stderr, log):
        assert "\x1b" not in text
        assert "\r" not in text
        assert "\x0b" not in text
        assert "\u2028" not in text
        assert "\u202e" not in text
        lines = text.split("\n")
        commands = [line for line in lines if line.lstrip().startswith("::")]
        for line in commands:  # only the tool's own annotations (the forged one is data in it)
            assert re.match(r"::(error|warning) title=preflight \w+ \(Python 3\.12\.\d+\)::", line)
        verdicts = [line for line in lines if re.match(r"(\S+ \S+ - )?NOT_READY", line)]
        assert len(verdicts) == 1, verdicts
    assert "\\x1b[31mred" in run.stderr
    assert "evil\\r::error title=pwned" in run.stderr
    assert any(line.startswith("::error title=preflight") for line in run.stderr.split("\n"))
    # The JSON report keeps the exact names.
    findings = run.findings("lock_sync")
    assert f"{FORGED_FOLDER} 1.0 is installed but not in" in findings
    assert f"{FORGED_NAME} 2.0 is installed but not in" in findings


@pytest.mark.slow
@pytest.mark.parametrize("where", ["lock-line", "direct-url"])
def test_a_huge_name_is_shown_short_and_the_report_stays_bounded(
    run_check: RunCheck, venv312_copy: Path, project: Path, where: str
) -> None:
    """5 MB in one lock line, or in the URL of a direct_url.json: kilobytes on stderr, in the
    log and in the report. A lock line is shortened with the count of what was left out; a
    direct_url.json over 1 MiB is not even read by the probe (refused, and said so)."""
    huge = "a" * 5_000_000
    if where == "lock-line":
        lock = project / "requirements" / "py3.12.txt"
        lock.write_text(_good_lock(project) + f"x y{huge}\n", encoding="utf-8")
        failing = "wheel_status"
    else:
        dist_info = wheelhouse.site_packages(venv312_copy) / "alpha-1.0.dist-info"
        url = {"url": f"file:///{huge}", "archive_info": {}}
        (dist_info / "direct_url.json").write_text(json.dumps(url), encoding="utf-8")
        failing = "lock_sync"

    run = run_check("--python", venv312_copy, "--project", project, env={"GITHUB_ACTIONS": "true"})

    assert run.returncode == 1, run.stderr[:2000]
    assert run.statuses("fail") == {failing}
    assert len(run.stderr) < 20_000
    log = next(run.report_dir.glob("preflight_check_*.log"))
    assert log.stat().st_size < 20_000
    assert run.report_path.stat().st_size < 100_000
    if where == "lock-line":
        assert " characters)" in run.stderr
        assert run.check(failing)["message"].endswith(" characters)")
    else:
        assert "direct_url.json could not be read" in run.check(failing)["message"]
