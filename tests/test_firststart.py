"""The first start: scheduled children that write bytecode, a hang reported, nothing left over.

Real venvs built by real interpreters; the modules are written into site-packages by the test.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import processes
import pytest
import wheelhouse

from preflight._facts.firststart import FirstStart
from preflight._facts.probes import measure_performance

pytestmark = pytest.mark.slow


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    """A venv with three plain modules, one importing another, and none compiled."""
    python = wheelhouse.make_venv(sys.executable, tmp_path / "venv", with_pip=False)
    site = next((tmp_path / "venv" / "lib").glob("python*/site-packages"))
    (site / "leaf.py").write_text("VALUE = 1\n")
    (site / "trunk.py").write_text("import leaf\nVALUE = leaf.VALUE + 1\n")
    (site / "other.py").write_text("VALUE = 3\n")
    (site / "broken.py").write_text("raise RuntimeError('boom')\n")
    return python


def _site(python: Path) -> Path:
    return next((python.parent.parent / "lib").glob("python*/site-packages"))


def _run(first: FirstStart) -> None:
    deadline = time.monotonic() + 60
    while not first.finished:
        assert time.monotonic() < deadline, "the first start never finished"
        first.step()
        time.sleep(0.01)


def test_it_writes_the_bytecode_of_every_module_and_the_probe_then_finds_it(venv: Path) -> None:
    site = _site(venv)
    assert measure_performance(venv, ["trunk", "other"]).bytecode_cached is False  # type: ignore[union-attr]
    first = FirstStart(venv, ["trunk", "other", "trunk", "broken"], workers=2)
    assert first.busy == 2  # started at once, one child per core asked for
    _run(first)
    cached = sorted(p.name.split(".")[0] for p in (site / "__pycache__").glob("*.pyc"))
    # broken compiles, then raises: left for the performance check, not a first-start problem
    assert cached == ["broken", "leaf", "other", "trunk"]
    facts = first.facts()
    assert facts.returncode == 0
    assert not facts.timed_out
    assert facts.problems == ""
    assert facts.seconds > 0
    perf = measure_performance(venv, ["trunk", "other"])
    assert perf.bytecode_cached is True  # type: ignore[union-attr]


def test_a_hanging_import_is_killed_and_named(venv: Path) -> None:
    (_site(venv) / "hangs.py").write_text("import time\ntime.sleep(60)\n")
    first = FirstStart(venv, ["hangs", "other"], workers=1, timeout=1.0)
    started = time.monotonic()
    _run(first)
    assert time.monotonic() - started < 30
    facts = first.facts()
    assert facts.timed_out
    assert "`import hangs` did not finish" in facts.problems
    assert (_site(venv) / "__pycache__").is_dir()  # "other" still ran after it


def test_the_probe_folder_does_not_shadow_the_application(venv: Path) -> None:
    """``warm.py`` and ``performance.py`` sit beside each other: an application module named
    ``performance`` must be the application's, not the probe script."""
    (_site(venv) / "performance.py").write_text("OWN = True\n")
    first = FirstStart(venv, ["performance"], workers=1)
    _run(first)
    assert list((_site(venv) / "__pycache__").glob("performance.*.pyc"))
    perf = measure_performance(venv, ["performance"])
    assert [t.error for t in perf.imports] == [None]  # type: ignore[union-attr]
    assert perf.bytecode_cached is True  # type: ignore[union-attr]


def _hanging_module(venv: Path, name: str, pid_file: Path) -> None:
    (_site(venv) / f"{name}.py").write_text(
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n"
    )


def test_kill_ends_every_child(venv: Path, tmp_path: Path) -> None:
    pids = [tmp_path / "one.pid", tmp_path / "two.pid"]
    _hanging_module(venv, "hangs", pids[0])
    _hanging_module(venv, "hangs_too", pids[1])
    first = FirstStart(venv, ["hangs", "hangs_too", "other"], workers=2)
    deadline = time.monotonic() + 30
    while any(processes.read_pid(p) is None for p in pids):
        assert time.monotonic() < deadline, "the children never started"
        time.sleep(0.02)
    first.kill()
    assert first.finished
    for pid_file in pids:
        pid = processes.read_pid(pid_file)
        assert pid is not None
        assert processes.ends(pid)


def test_ctrl_c_during_the_first_start_ends_the_suite_too(tmp_path: Path) -> None:
    """The suite starts on a core the first start leaves free; Ctrl-C then must end it too.
    Both run only once the environment is verified: its modules come from wheels in its lock."""
    first_pid, suite_pid = tmp_path / "first.pid", tmp_path / "suite.pid"
    folder = tmp_path / "wheels"
    hangs = "import os, time\nopen({!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n"
    slow = wheelhouse.build_wheel(
        folder, "slowstart", "1.0", files={"slowstart/__init__.py": hangs.format(str(first_pid))}
    )
    runner = wheelhouse.build_wheel(  # the suite's runner: it only waits
        folder, "pytest", "99.0",
        files={"pytest/__init__.py": "", "pytest/__main__.py": hangs.format(str(suite_pid))},
    )  # fmt: skip
    venv = wheelhouse.make_venv(
        sys.executable, tmp_path / "venv", find_links=folder, install=["slowstart", "pytest"],
        with_pip=False,
    )  # fmt: skip
    project = tmp_path / "project"
    (project / "suite").mkdir(parents=True)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    (project / "pyproject.toml").write_text(
        f'[tool.preflight]\npythons = ["{version}"]\nrequires = ["slowstart"]\nsuite = "suite"\n'
    )
    wheelhouse.write_lock(
        project / "requirements" / f"py{version}.txt", [slow, runner], python=version
    )
    script = (
        "import sys, preflight\n"
        "preflight.check(sys.argv[1], project=sys.argv[2], first_start=True)\n"
    )
    # Both children must be running before Ctrl-C: both have written their pid files (on a
    # loaded machine the older one may write its own after the suite has).
    done = processes.interrupt(
        [sys.executable, "-c", script, str(venv), str(project)],
        [suite_pid, first_pid],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        sig=signal.SIGINT,
    )
    assert done.returncode != 0
    assert "KeyboardInterrupt" in done.stderr
    for pid_file in (suite_pid, first_pid):
        pid = processes.read_pid(pid_file)
        assert pid is not None, pid_file
        assert processes.ends(pid), f"{pid_file.name}: still running after Ctrl-C"
