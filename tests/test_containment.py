"""Whatever a child starts is preflight's to end, ``setsid`` or not (``preflight._reaper``).

The accused: a child that starts a grandchild in a session of its own (``setsid``), which waits
on a FIFO the test holds and, once released, writes a marker, as a grandchild that rewrites the
report to READY after preflight has exited would. Under plain Python it outlives its parent and
writes the marker; started through ``preflight._process`` it is gone when the child is waited
for, killed, or when preflight itself is killed (SIGKILL, SIGTERM), and the marker never appears.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import cli_env
from processes import ends, read_pid, running

from preflight import _process

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/task").exists(), reason="finds processes through Linux's procfs"
)

# Writes its pid (atomically), says so on the inherited descriptor READY, waits until someone
# opens and closes FIFO for writing, then writes MARKER.
_GRANDCHILD = textwrap.dedent(
    """
    import os, sys
    pid_file, fifo, marker, ready = sys.argv[1:5]
    with open(pid_file + ".part", "w") as f:
        f.write(str(os.getpid()))
    os.replace(pid_file + ".part", pid_file)
    os.write(int(ready), b"x")
    os.close(int(ready))
    with open(fifo) as f:
        f.read()
    with open(marker, "w") as f:
        f.write("READY")
    """
)

# Starts the grandchild in a session of its own and waits until it is up; then, with HOLD,
# writes its own pid and blocks for ever; without, exits.
_CHILD = textwrap.dedent(
    """
    import os, signal, subprocess, sys
    grandchild, pid_file, fifo, marker, hold = sys.argv[1:6]
    ready_read, ready_write = os.pipe()
    subprocess.Popen(
        [sys.executable, "-c", grandchild, pid_file, fifo, marker, str(ready_write)],
        start_new_session=True, pass_fds=[ready_write], stdout=subprocess.DEVNULL,
    )
    os.close(ready_write)
    assert os.read(ready_read, 1) == b"x"
    if hold == "hold":
        with open(pid_file + ".child.part", "w") as f:
            f.write(str(os.getpid()))
        os.replace(pid_file + ".child.part", pid_file + ".child")
        while True:
            signal.pause()
    """
)


class Family:
    """The files of one accused family: the grandchild's pid, the FIFO it waits on, its marker."""

    def __init__(self, folder: Path) -> None:
        self.pid_file = folder / "grandchild.pid"
        self.child_pid_file = folder / "grandchild.pid.child"
        self.fifo = folder / "release"
        self.marker = folder / "report-rewritten"
        os.mkfifo(self.fifo)

    def argv(self, *, hold: bool) -> list[str]:
        files = [str(self.pid_file), str(self.fifo), str(self.marker)]
        return [sys.executable, "-c", _CHILD, _GRANDCHILD, *files, "hold" if hold else "exit"]

    def grandchild(self) -> int:
        pid = read_pid(self.pid_file)
        assert pid is not None, "the child never started its grandchild"
        return pid

    def nobody_waits(self) -> bool:
        """No process has the FIFO open for reading: nothing can be released to write."""
        try:
            fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            return exc.errno == errno.ENXIO
        os.close(fd)
        return False

    def release(self) -> None:
        with open(self.fifo, "w"):
            pass

    def cleanup(self) -> None:
        for pid_file in (self.pid_file, self.child_pid_file):
            pid = read_pid(pid_file)
            if pid is not None and running(pid):
                os.kill(pid, signal.SIGKILL)


def _wait_for(path: Path, process: subprocess.Popen[bytes] | None = None) -> None:
    """Until ``path`` exists; a generous deadline for a loaded machine, not a timing claim."""
    deadline = time.monotonic() + 120
    while not path.exists():
        if process is not None:
            assert process.poll() is None, f"the driver ended ({process.returncode})"
        assert time.monotonic() < deadline, f"{path} was never written"
        time.sleep(0.02)


def test_a_setsid_grandchild_outlives_its_parent_under_plain_python(tmp_path: Path) -> None:
    # The attack works without preflight: the grandchild survives and writes when released.
    family = Family(tmp_path)
    try:
        subprocess.run(family.argv(hold=False), check=True, timeout=120)
        pid = family.grandchild()
        assert running(pid)
        family.release()
        _wait_for(family.marker)
        assert family.marker.read_text() == "READY"
    finally:
        family.cleanup()


@pytest.mark.parametrize("how", ["run", "start"])
def test_a_setsid_grandchild_dies_when_the_child_ends(tmp_path: Path, how: str) -> None:
    family = Family(tmp_path)
    try:
        if how == "run":
            done = _process.run(family.argv(hold=False), timeout=120)
        else:
            done = _process.start(family.argv(hold=False), timeout=120).wait()
        assert done.ok, done
        # Killed and reaped before wait() returned: no deadline needed.
        assert not running(family.grandchild()), "the setsid grandchild outlived its parent"
        assert family.nobody_waits()
        assert not family.marker.exists()
    finally:
        family.cleanup()


def test_kill_ends_a_setsid_grandchild(tmp_path: Path) -> None:
    # The path of a timeout and of Ctrl-C: kill() while the child still runs.
    family = Family(tmp_path)
    child = _process.start(family.argv(hold=True), timeout=600)
    try:
        _wait_for(family.child_pid_file)
        child.kill()
        assert not running(family.grandchild()), "the setsid grandchild outlived kill()"
        child_pid = read_pid(family.child_pid_file)
        assert child_pid is not None
        assert not running(child_pid)
        assert family.nobody_waits()
        assert not family.marker.exists()
    finally:
        child.close()
        family.cleanup()


def _parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_every_descendant_dies_with_a_killed_preflight(
    tmp_path: Path, signum: signal.Signals
) -> None:
    family = Family(tmp_path)
    script = textwrap.dedent(
        f"""
        import sys
        from preflight import _process
        child = _process.start({family.argv(hold=True)!r}, timeout=600)
        sys.stdin.read()  # until the test kills us: nothing in here ends the child
        """
    )
    driver = subprocess.Popen([sys.executable, "-c", script], env=cli_env(), stdin=subprocess.PIPE)
    family_pids: list[int] = []
    try:
        _wait_for(family.child_pid_file, driver)
        child = read_pid(family.child_pid_file)
        assert child is not None
        family_pids = [child, family.grandchild()]
        between = _parent_of(child)  # the child's reaper (none on main: then it is the driver)
        if between != driver.pid:
            family_pids.append(between)
        assert all(running(pid) for pid in family_pids)
        driver.send_signal(signum)
        assert driver.wait(timeout=120) == -signum
        gone = [ends(pid, seconds=120) for pid in family_pids]
        assert all(gone), f"outlived preflight's {signum.name}: {family_pids} {gone}"
        assert family.nobody_waits()
        assert not family.marker.exists()
    finally:
        if driver.poll() is None:
            driver.kill()
        driver.wait()
        assert driver.stdin is not None
        driver.stdin.close()
        for pid in family_pids:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        family.cleanup()


def test_a_child_that_cannot_start_is_a_value(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-program"
    done = _process.run([missing], timeout=60)
    assert done.returncode is None
    assert "No such file or directory" in done.stderr
    assert str(missing) in done.stderr


def test_a_signal_death_is_reported_as_such() -> None:
    done = _process.run(
        [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"],
        timeout=60,
    )
    assert done.returncode == -signal.SIGTERM
    assert not done.ok


def test_an_interrupt_right_after_the_child_starts_leaves_nothing(tmp_path: Path) -> None:
    # The cause of the signal tests that failed under load: a Ctrl-C (or SIGTERM) that lands
    # after the child was forked and before preflight held it (on main: while the first child
    # started the tether's watcher, a whole Python start on a loaded machine) left it running.
    # Here the interrupt lands in that window every time: inside Popen, once the family is up.
    family = Family(tmp_path)
    script = textwrap.dedent(
        f"""
        import os, subprocess, sys, time
        from preflight import _process

        class Interrupted(subprocess.Popen):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                deadline = time.monotonic() + 120
                while not os.path.exists({str(family.child_pid_file)!r}):
                    assert time.monotonic() < deadline
                    time.sleep(0.02)
                raise KeyboardInterrupt

        subprocess.Popen = Interrupted
        try:
            _process.start({family.argv(hold=True)!r}, timeout=600)
        except KeyboardInterrupt:
            sys.exit(130)
        """
    )
    try:
        argv = [sys.executable, "-c", script]
        driver = subprocess.run(argv, check=False, env=cli_env(), timeout=300)
        assert driver.returncode == 130
        child = read_pid(family.child_pid_file)
        assert child is not None
        assert ends(child, seconds=120), "the child outlived an interrupted preflight"
        assert ends(family.grandchild(), seconds=120), "its grandchild outlived preflight"
        assert family.nobody_waits()
        assert not family.marker.exists()
    finally:
        family.cleanup()
