"""End to end: the outputs for other systems, from a real and a tampered venv, as users run them.

``preflight check --junit --prometheus --nagios`` and ``preflight monitor`` run as
subprocesses; what they write is read back by the consumers' own parsers (``junitparser``,
``prometheus_client``), and systemd's notify socket is a real datagram socket.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import wheelhouse
from conftest import cli_argv, cli_env
from junitparser import Failure, JUnitXml
from notify import NotifyListener
from prometheus_client.parser import text_string_to_metric_families

from preflight._checks import BY_ID


def _run(
    *args: str | Path, cwd: Path, command: str = "check", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        cli_argv(*args, command=command),
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=cli_env(env),
        cwd=cwd,
        timeout=180,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def _statuses(prom: Path) -> dict[str, float]:
    """``preflight_check_status`` by check, as Prometheus would read the textfile."""
    families = {f.name: f for f in text_string_to_metric_families(prom.read_text("utf-8"))}
    return {s.labels["check"]: s.value for s in families["preflight_check_status"].samples}


@pytest.mark.slow
def test_a_tampered_env_in_junit_nagios_and_prometheus(
    venv312_copy: Path, project: Path, tmp_path: Path
) -> None:
    module = wheelhouse.site_packages(venv312_copy) / "alpha" / "__init__.py"
    module.write_text(module.read_text() + "print('patched')\n")
    junit, prom = tmp_path / "out" / "junit.xml", tmp_path / "metrics" / "preflight.prom"

    done = _run(
        "--python", venv312_copy, "--project", project, "--report-dir", tmp_path / "reports",
        "--junit", junit, "--prometheus", prom, "--nagios", cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 2, done.stderr  # CRITICAL, not preflight's own 1
    status, *long_output = done.stdout.splitlines()
    assert status.startswith("PREFLIGHT CRITICAL - NOT_READY on Python 3.12."), status
    assert "failed: integrity (alpha: alpha/__init__.py is modified" in status
    n = len(BY_ID)
    assert f"checks_failed=1;;1;0;{n} checks_warned=0;1;;0;{n} checks_skipped=" in status
    assert long_output[0].startswith("fail: integrity: alpha: alpha/__init__.py is modified")
    # Each file written is said where it is, as the report's path is.
    assert f"junit: {junit}" in done.stderr.splitlines()
    assert f"prometheus: {prom}" in done.stderr.splitlines()

    (suite,) = JUnitXml.fromfile(str(junit))
    failed = {case.name for case in suite if any(isinstance(r, Failure) for r in case.result)}
    assert failed == {"integrity"}
    assert {case.name for case in suite} == set(BY_ID)
    assert suite.name.startswith("preflight Python 3.12.")

    statuses = _statuses(prom)
    assert statuses["integrity"] == 3
    assert {check for check, value in statuses.items() if value == 3} == {"integrity"}
    assert [p.name for p in prom.parent.iterdir()] == ["preflight.prom"]  # no temp file left


@pytest.mark.slow
def test_check_without_python_says_it_judges_its_own_interpreter(
    project: Path, tmp_path: Path
) -> None:
    """No --python: the interpreter running preflight is judged, and the first line says so
    (a preflight installed as a tool would otherwise judge its own venv in silence)."""
    page = tmp_path / "page.html"
    done = _run(
        "--project", project, "--report-dir", tmp_path / "reports", "--skip", "performance",
        "--html", page, cwd=tmp_path,
    )  # fmt: skip
    lines = done.stderr.splitlines()
    assert lines[0] == (
        f"no --python: judged the interpreter running preflight, {sys.executable} "
        "(pass --python PATH to judge another environment)"
    ), done.stderr
    assert f"html: {page}" in lines
    assert page.is_file()
    given = _run(
        "--python", sys.executable, "--project", project, "--report-dir", tmp_path / "again",
        "--skip", "performance", cwd=tmp_path,
    )  # fmt: skip
    assert "no --python" not in given.stderr


@pytest.mark.slow
def test_a_clean_env_is_ok_and_monitor_once_speaks_nagios_too(
    venv312: Path, project: Path, tmp_path: Path
) -> None:
    done = _run("--python", venv312, "--project", project, "--nagios", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("PREFLIGHT OK - READY on Python 3.12."), done.stdout
    assert len(done.stdout.splitlines()) == 1

    prom = tmp_path / "monitor.prom"
    once = _run(
        "--python", venv312, "--project", project, "--once", "--nagios", "--prometheus", prom,
        command="monitor", cwd=tmp_path,
    )  # fmt: skip
    assert once.returncode == 0, once.stderr
    assert once.stdout.startswith("PREFLIGHT OK - READY on Python 3.12."), once.stdout
    assert set(_statuses(prom).values()) <= {0, 1}  # pass or skip (no suite in the policy)


@pytest.mark.parametrize(
    "args",
    [
        ("--skip", "nonsense"),  # argparse's own error
        ("--project", "missing-folder"),  # a configuration error
        ("--format", "json"),  # two data outputs on stdout
        ("--junit", "."),  # a folder where the file goes
    ],
)
def test_a_usage_or_configuration_error_is_unknown(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = _run("--nagios", *args, cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert done.stdout.startswith("PREFLIGHT UNKNOWN - "), done.stdout
    assert done.stderr.startswith("error: ")


def test_monitor_nagios_needs_once(tmp_path: Path) -> None:
    done = _run("--nagios", command="monitor", cwd=tmp_path)
    assert done.returncode == 3
    assert done.stdout.startswith("PREFLIGHT UNKNOWN - --nagios needs --once")
    no_nagios = _run("--skip", "nonsense", cwd=tmp_path)  # without --nagios: as before
    assert (no_nagios.returncode, no_nagios.stdout) == (3, "")


@pytest.mark.slow
def test_fifteen_lock_findings_give_ten_annotations_on_their_lines_and_a_notice(
    venv312: Path, project: Path, tmp_path: Path
) -> None:
    lock = project / "requirements" / "py3.12.txt"
    good = lock.read_text(encoding="utf-8")
    first = len(good.splitlines()) + 1
    lock.write_text(good + "".join(f"ghost{n}==1.0\n" for n in range(15)), encoding="utf-8")

    done = _run(
        "--python", venv312, "--project", project, "--report-dir", tmp_path / "reports",
        cwd=tmp_path, env={"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(project)},
    )  # fmt: skip

    assert done.returncode == 1, done.stderr
    commands = [line for line in done.stderr.splitlines() if line.startswith("::")]
    errors = [line for line in commands if line.startswith("::error ")]
    assert len(errors) == 10
    assert errors[0].startswith(f"::error file=requirements/py3.12.txt,line={first},title=")
    assert all(line.startswith("::error file=requirements/py3.12.txt,line=") for line in errors)
    (notice,) = [line for line in commands if line.startswith("::notice ")]
    # 15 without a hash (wheel_status), 15 locked but not installed (lock_sync): 30 in all.
    assert notice.endswith("::and 20 more errors: see the report artifact")


@pytest.mark.slow
def test_monitor_as_a_systemd_service(venv312: Path, project: Path, tmp_path: Path) -> None:
    """READY, STATUS and WATCHDOG on a real notify socket; the .prom file after each run."""
    listener = NotifyListener()
    prom = tmp_path / "textfile" / "preflight.prom"
    env = {"NOTIFY_SOCKET": listener.name, "WATCHDOG_USEC": "400000"}
    argv = cli_argv(
        "--python", venv312, "--project", project, "--interval", "1", "--prometheus", prom,
        "--report-dir", tmp_path / "reports", "--log-dir", tmp_path / "logs", command="monitor",
    )  # fmt: skip
    with subprocess.Popen(argv, env=cli_env(env), cwd=tmp_path, stderr=subprocess.PIPE) as proc:
        try:
            ran = listener.wait_for(lambda ms: any(m.startswith("STATUS=health") for m in ms), 120)
            assert ran, (listener.messages, proc.poll())
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    messages = listener.stop()

    assert messages[0] == "READY=1\nSTATUS=started; the first check is running"
    assert "STATUS=health GOOD - READY (PASSED); next run in 1 s" in messages
    assert "WATCHDOG=1" in messages
    assert messages[-1] == "STOPPING=1\nSTATUS=stopped (SIGTERM)"
    assert _statuses(prom)["integrity"] == 0
