"""Children die with preflight, even when it is killed with SIGKILL (``preflight._reaper``).

Each test runs preflight's code in a process of its own (a test must not SIGKILL pytest),
lets it start a child through the real subprocess boundary, SIGKILLs it, and checks that the
child, and the child's own child in its group, are gone within seconds. The relock test does
it with a real pip-compile that hangs on an index server which never answers.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import loopback
import pytest
from conftest import cli_env
from processes import ends, running

from preflight import _process

needs_procfs = pytest.mark.skipif(
    not Path("/proc/self/task").exists(), reason="finds children through Linux's procfs"
)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _descendants(pid: int) -> list[int]:
    todo, seen = [pid], []
    while todo:
        for child in _children(todo.pop()):
            seen.append(child)
            todo.append(child)
    return seen


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _wait_for(predicate: object, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# A child (python) that starts a grandchild (sleep) in its group, then waits; both outlive the
# script that started them unless something kills them.
_FAMILY = "import subprocess; subprocess.Popen(['sleep', '300']).wait()"


@needs_procfs
@pytest.mark.parametrize("how", ["start", "run"])
def test_a_child_dies_with_a_killed_preflight(tmp_path: Path, how: str) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from preflight import _process
        child = _process.{how}([sys.executable, "-c", {_FAMILY!r}], timeout=600)
        time.sleep(600)  # start() does not wait: the script must not end by itself
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], env=cli_env())
    family: list[int] = []
    try:
        _wait_for(lambda: any("sleep 300" in _command_line(p) for p in _descendants(parent.pid)))
        family = [p for p in _descendants(parent.pid) if "sleep 300" in _command_line(p)]
        family += [p for p in _children(parent.pid) if "subprocess.Popen" in _command_line(p)]
        assert len(family) == 2, family
        parent.send_signal(signal.SIGKILL)  # nothing in preflight runs after this
        parent.wait()
        assert all(ends(pid) for pid in family), "a child outlived preflight's SIGKILL"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in family:
            if running(pid):
                os.kill(pid, signal.SIGKILL)


@needs_procfs
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("piptools") is None, reason="needs pip-tools")
def test_relocks_pip_compile_dies_with_a_killed_preflight(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[tool.preflight]\npythons = ["3.12"]\nrequires = ["alpha"]\n', encoding="utf-8"
    )
    script = textwrap.dedent(
        f"""
        import platform, sys
        from pathlib import Path
        from preflight._ops.relock import RelockRun, relock_one
        from preflight._policy.policy import load_policy
        policy = load_policy(Path({str(project)!r}))
        relock_one("3.12", Path(sys.executable), platform.python_version(), policy,
                   run=RelockRun(cache=Path({str(tmp_path / "cache")!r})),
                   tools_python=Path(sys.executable))
        """
    )
    with loopback.silent() as index:
        url = f"http://{loopback.HOST}:{index.port}/simple"
        env = {k: v for k, v in cli_env().items() if not k.startswith(("PIP_", "UV_"))}
        env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": url, "PIP_TIMEOUT": "600"}
        parent = subprocess.Popen([sys.executable, "-c", script], env=env)
        compile_pids: list[int] = []
        try:

            def compiling() -> bool:
                compile_pids[:] = [
                    p for p in _descendants(parent.pid) if "piptools" in _command_line(p)
                ]
                return bool(compile_pids)

            _wait_for(compiling)
            index.wait_connected()  # pip-compile is now waiting on the silent index
            assert all(running(p) for p in compile_pids)
            parent.send_signal(signal.SIGKILL)
            parent.wait()
            assert all(ends(p) for p in compile_pids), "pip-compile ran on as an orphan"
        finally:
            if parent.poll() is None:
                parent.kill()
                parent.wait()
            for pid in compile_pids:
                if running(pid):
                    os.kill(pid, signal.SIGKILL)


@needs_procfs
def test_the_watcher_holds_none_of_preflights_own_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tether's watcher is a plain process of the user: its /proc/<pid>/environ is
    readable by any other (the gate's COMMAND among them). It gets no PREFLIGHT_* variable
    (on main it got them all: the SMTP password, the webhook URL)."""
    secret = "hunter2-in-the-watcher"
    monkeypatch.setenv("PREFLIGHT_SMTP_PASSWORD", secret)
    ready = tmp_path / "ready"
    program = "import sys; open(sys.argv[1], 'w').close(); sys.stdin.buffer.read()"
    read_end, write_end = os.pipe()
    try:
        started = _process.watcher(
            [sys.executable, "-I", "-S", "-c", program, str(ready)], stdin=read_end
        )
    finally:
        os.close(read_end)
    try:
        # /proc/<pid>/environ is empty until exec has set the new program's up: wait until
        # the program runs (it made its file) before reading it.
        bound = time.monotonic() + 60  # a bound for a program that never starts
        while not ready.exists() and started.poll() is None and time.monotonic() < bound:
            time.sleep(0.01)
        assert ready.exists(), started.returncode
        environ = Path(f"/proc/{started.pid}/environ").read_bytes()
    finally:
        os.close(write_end)  # end-of-file: it ends
        started.wait(timeout=60)
    assert b"PATH=" in environ  # its environment was read
    assert secret.encode() not in environ
