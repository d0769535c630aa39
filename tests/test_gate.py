"""The deploy gate: the rule as a pure function, then ``preflight gate`` as a user runs it.

The end-to-end tests run ``python -m preflight gate ... -- COMMAND`` as a subprocess against a
real venv: a ready environment runs COMMAND and passes its exit code through; a NOT_READY one
does not run it (COMMAND would create a file: it must not exist) and exits 1; a SIGTERM or SIGHUP
sent to the gate while COMMAND runs ends COMMAND, and the gate exits with its 128 + N.

The signal handling is tested on real processes too: COMMAND starts with the default action of
SIGINT, SIGTERM and SIGHUP even when the gate has SIGINT ignored, and a signal that comes
before or while COMMAND starts is not lost.
"""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import cli_env, run_preflight
from processes import ends, kill_if_running, not_ignored, read_pid, running, wait_for

from preflight._cli import build_parser, main
from preflight._errors import UsageError
from preflight._ops import gate
from preflight._ops.gate import command_of, forwarding, gate_decision, run_command
from preflight._report.model import Overall, Verdict

MakeProject = Callable[..., Path]


# --- the rule (pure) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "overall", "strict", "allowed"),
    [
        (Verdict.READY, Overall.PASSED, False, True),
        (Verdict.READY, Overall.WARNING, False, True),
        (Verdict.READY_FALLBACK, Overall.PASSED, False, True),
        (Verdict.READY_FALLBACK, Overall.WARNING, False, True),
        (Verdict.NOT_READY, Overall.FAILED, False, False),
        (Verdict.NOT_READY, Overall.PASSED, False, False),  # an unsupported interpreter
        (Verdict.READY, Overall.PASSED, True, True),
        (Verdict.READY_FALLBACK, Overall.PASSED, True, True),
        (Verdict.READY, Overall.WARNING, True, False),
        (Verdict.NOT_READY, Overall.FAILED, True, False),
    ],
)
def test_gate_decision(status: Verdict, overall: Overall, strict: bool, allowed: bool) -> None:
    decision = gate_decision(status, overall, strict=strict)
    assert decision.allowed is allowed
    assert f"{status.value} ({overall.value})" in decision.reason
    if strict and overall is Overall.WARNING and status is not Verdict.NOT_READY:
        assert "--strict" in decision.reason


def test_the_command_follows_double_dash() -> None:
    args = build_parser().parse_args(
        ["gate", "--strict", "--python", "py", "--", "deploy", "--strict", "--", "x"]
    )
    assert args.strict
    assert args.python == "py"
    assert command_of(args.gate_command) == ["deploy", "--strict", "--", "x"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["gate"], "gate: no command given"),
        (["gate", "--"], "gate: no command after `--`"),
        (["gate", "deploy", "--prod"], "gate: put `--` between the options and the command"),
    ],
)
def test_a_missing_command_is_a_usage_error(argv: list[str], message: str) -> None:
    args = build_parser().parse_args(argv)
    with pytest.raises(UsageError) as caught:
        command_of(args.gate_command)
    assert caught.value.message.startswith(message)


# --- running the command (real processes, no check) ---------------------------------------------


def test_exit_code_passes_through() -> None:
    assert run_command([sys.executable, "-c", "import sys; sys.exit(7)"]) == 7
    assert run_command([sys.executable, "-c", "pass"]) == 0


def test_a_command_killed_by_a_signal_gives_128_plus_n() -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    assert run_command([sys.executable, "-c", code]) == 128 + signal.SIGKILL


def test_a_command_that_cannot_run(tmp_path: Path) -> None:
    not_executable = tmp_path / "deploy.sh"
    not_executable.write_text("#!/bin/sh\n", encoding="utf-8")
    assert run_command([str(tmp_path / "missing")]) == 127
    assert run_command([str(not_executable)]) == 126


def test_handlers_are_restored_after_the_command() -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    run_command([sys.executable, "-c", "pass"])
    assert {s: signal.getsignal(s) for s in before} == before


# What COMMAND finds at its start: Python keeps an ignored SIGINT ignored (it installs its
# KeyboardInterrupt handler only over the default action); SigIgn is the kernel's own record.
_DISPOSITIONS = """
import json, signal, sys
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
ignored = int(status["SigIgn"], 16)
json.dump({
    "sigint_handler": signal.getsignal(signal.SIGINT) is signal.default_int_handler,
    "ignored": [s for s in ("SIGINT", "SIGTERM", "SIGHUP")
                if ignored & (1 << (getattr(signal, s) - 1))],
}, open(sys.argv[1], "w"))
"""


@contextmanager
def _ignoring(signum: int) -> Iterator[None]:
    """This process (the gate, in-process) has ``signum`` ignored, as a background job has."""
    previous = signal.signal(signum, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signum, previous)


def _dispositions(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's procfs")
def test_the_command_gets_the_default_sigint_even_when_the_gate_ignores_it(
    tmp_path: Path,
) -> None:
    out = tmp_path / "dispositions.json"
    with _ignoring(signal.SIGINT):
        assert run_command([sys.executable, "-c", _DISPOSITIONS, str(out)]) == 0
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # the gate's own, put back
    assert _dispositions(out) == {"sigint_handler": True, "ignored": []}


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's procfs")
def test_an_ignored_sighup_stays_ignored_as_nohup_promises(tmp_path: Path) -> None:
    out = tmp_path / "dispositions.json"
    with _ignoring(signal.SIGHUP):
        assert run_command([sys.executable, "-c", _DISPOSITIONS, str(out)]) == 0
    assert _dispositions(out) == {"sigint_handler": True, "ignored": ["SIGHUP"]}


# COMMAND starts a child of its own (``sleep``) and writes both pids, one per line.
_FAMILY = """
import os, subprocess, sys
child = subprocess.Popen(["sleep", "60"])
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(f"{os.getpid()}\\n{child.pid}\\n")
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
{then}
child.wait()
"""


def _family(pids: Path, seconds: float = 30) -> tuple[int, int]:
    deadline = time.monotonic() + seconds
    while not pids.exists():
        assert time.monotonic() < deadline, "COMMAND never wrote its pids"
        time.sleep(0.02)
    command, child = (int(line) for line in pids.read_text().split())
    return command, child


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=["SIGTERM", "SIGHUP", "SIGINT"]
)
def test_a_signal_to_the_gate_reaches_the_commands_whole_group(
    tmp_path: Path, signum: signal.Signals
) -> None:
    # The gate runs in a child of its own (a test must not signal pytest): COMMAND's child,
    # which a signal sent to COMMAND's pid alone would leave running, must end too.
    pids = tmp_path / "pids"
    code = _FAMILY.replace("{then}", "")
    gate_code = (
        "import sys; from preflight._ops.gate import run_command; "
        "sys.exit(run_command(sys.argv[1:]))"
    )
    with not_ignored(signum):
        gate_process = subprocess.Popen(
            [sys.executable, "-c", gate_code, sys.executable, "-c", code, str(pids)],
            stdin=subprocess.DEVNULL,
            env=cli_env(),
        )
    family: tuple[int, ...] = ()  # the pids, once written: what the cleanup ends
    try:
        command, child = family = _family(pids)
        gate_process.send_signal(signum)
        assert gate_process.wait(timeout=30) == 128 + signum
        assert ends(command)
        assert ends(child), "COMMAND's child outlived the forwarded signal"
    finally:
        gate_process.kill()
        gate_process.wait()
        for pid in family:
            if running(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_gate_killed_with_sigkill_still_stops_the_command(tmp_path: Path) -> None:
    # No handler sees SIGKILL: the tether's watcher sends COMMAND's group SIGTERM.
    pids = tmp_path / "pids"
    gate_code = (
        "import sys; from preflight._ops.gate import run_command; "
        "sys.exit(run_command(sys.argv[1:]))"
    )
    code = _FAMILY.replace("{then}", "")
    gate_process = subprocess.Popen(
        [sys.executable, "-c", gate_code, sys.executable, "-c", code, str(pids)],
        stdin=subprocess.DEVNULL,
        env=cli_env(),
    )
    family: tuple[int, ...] = ()  # the pids, once written: what the cleanup ends
    try:
        command, child = family = _family(pids)
        gate_process.kill()
        gate_process.wait()
        assert ends(command)
        assert ends(child), "COMMAND's child outlived the killed gate"
    finally:
        for pid in family:
            if running(pid):
                os.kill(pid, signal.SIGKILL)


# --- at a terminal: the gate is a job's leader on a pseudo-terminal -----------------------------

# The gate as a shell's foreground job: a session of its own whose controlling terminal is the
# pty on its stdin (TIOCSCTTY), its group in the foreground.
_GATE_AT_A_TERMINAL = """
import fcntl, sys, termios
fcntl.ioctl(0, termios.TIOCSCTTY, 0)
from preflight._ops.gate import run_command
sys.exit(run_command(sys.argv[1:]))
"""


@contextmanager
def _gate_on_a_pty(command: list[str]) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The gate running ``command`` on a fresh pty; yields the process and the pty's master."""
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", _GATE_AT_A_TERMINAL, *command],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            env=cli_env(),
        )
    finally:
        os.close(slave)
    try:
        yield process, master
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        os.close(master)


def _output(master: int) -> bytes:
    """What the pty holds now (its other end closed gives EIO on Linux: nothing more)."""
    data = b""
    while select.select([master], [], [], 0.1)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.skipif(not hasattr(os, "tcsetpgrp"), reason="needs POSIX terminals")
def test_ctrl_c_at_a_terminal_reaches_the_command_and_its_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # COMMAND says whether its group has the terminal: a shell's job in the foreground would.
    code = _FAMILY.replace(
        "{then}",
        f"open({str(tmp_path / 'fg')!r}, 'w').write(str(os.tcgetpgrp(0) == os.getpgrp()))",
    )
    with _gate_on_a_pty([sys.executable, "-c", code, str(pids)]) as (gate_process, master):
        command, child = _family(pids)
        deadline = time.monotonic() + 30
        while not (tmp_path / "fg").exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert (tmp_path / "fg").read_text() == "True"
        os.write(master, b"\x03")  # Ctrl-C, as the user types it: the terminal signals
        assert gate_process.wait(timeout=30) == 128 + signal.SIGINT, _output(master)
        assert ends(command)
        assert ends(child)


@pytest.mark.skipif(not hasattr(os, "tcsetpgrp"), reason="needs POSIX terminals")
def test_a_command_reads_the_terminal_with_every_stream_redirected(tmp_path: Path) -> None:
    # `preflight gate -- ./deploy.sh </dev/null >log 2>&1` at a terminal, where the deploy
    # asks for a password on /dev/tty (sudo, ssh): its group must have the foreground, or the
    # read stops it (SIGTTIN) and the gate waits for ever.
    answer = tmp_path / "answer"
    code = (
        "with open('/dev/tty', 'w') as out, open('/dev/tty') as tty:\n"
        "    out.write('password: ')\n"
        "    out.flush()\n"
        f"    open({str(answer)!r}, 'w').write(tty.readline())\n"
    )
    redirected = (
        "import os\n"
        "null = os.open(os.devnull, os.O_RDWR)\n"
        "for fd in (0, 1, 2):\n"
        "    os.dup2(null, fd)\n"
    )
    launcher = _GATE_AT_A_TERMINAL.replace(
        "from preflight._ops.gate", redirected + "from preflight._ops.gate"
    )
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", launcher, sys.executable, "-c", code],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        env=cli_env(),
    )
    os.close(slave)
    try:
        screen = _Screen(master)
        screen.expect(b"password: ")
        os.write(master, b"s3cret\n")
        assert process.wait(timeout=30) == 0
        assert answer.read_text() == "s3cret\n"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        os.close(master)


@pytest.mark.skipif(not hasattr(os, "tcsetpgrp"), reason="needs POSIX terminals")
def test_ctrl_z_at_a_terminal_does_not_leave_the_command_stopped(tmp_path: Path) -> None:
    # Ctrl-Z stops COMMAND's group; the gate then stops itself so that a shell gets its
    # terminal back. Here no shell can continue it (its group is orphaned, so the kernel
    # discards the stop): the gate must go on, give the terminal back, continue COMMAND and
    # pass its exit code through, not wait for ever on a stopped COMMAND.
    # COMMAND marks its SIGCONT: the event that it was stopped and the gate continued it.
    ready = tmp_path / "ready"
    continued = tmp_path / "continued"
    go_on = tmp_path / "go-on"
    code = (
        "import pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGCONT, "
        f"lambda *_: pathlib.Path({str(continued)!r}).touch())\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        f"while not pathlib.Path({str(go_on)!r}).exists(): time.sleep(0.05)\n"
        "sys.exit(7)\n"
    )
    with _gate_on_a_pty([sys.executable, "-c", code]) as (gate_process, master):
        _appears(ready)
        os.write(master, b"\x1a")  # Ctrl-Z
        _appears(continued)  # stopped, then continued by the gate (no shell here can)
        go_on.touch()  # only a running COMMAND sees it and exits 7
        assert gate_process.wait(timeout=30) == 7, _output(master)


def _appears(path: Path, seconds: float = 60) -> None:
    """Until ``path`` exists: the event a child marks (the bound only turns a hang into a
    failure)."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=["SIGTERM", "SIGHUP", "SIGINT"]
)
def test_a_signal_before_the_command_starts_stops_the_gate_without_it(
    tmp_path: Path, signum: signal.Signals, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "deployed"
    code = f"import pathlib; pathlib.Path({str(marker)!r}).touch()"
    with forwarding() as forwarder:
        signal.raise_signal(signum)  # the handlers are in place: it is remembered, not fatal
        assert forwarder.run([sys.executable, "-c", code]) == 128 + signum
    assert not marker.exists()
    assert f"gate: not run: {signum.name} arrived before" in capsys.readouterr().err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_while_the_command_starts_is_passed_on_once_it_runs(
    monkeypatch: pytest.MonkeyPatch, signum: signal.Signals
) -> None:
    real_start = gate.start_foreground

    def start_then_signal(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        """The real start (``_process.foreground``); the signal lands after the fork, before
        the gate has the process."""
        process = real_start(*args, **kwargs)
        signal.raise_signal(signum)
        return process

    monkeypatch.setattr(gate, "start_foreground", start_then_signal)
    started = time.monotonic()
    assert run_command([sys.executable, "-c", "import time; time.sleep(60)"]) == 128 + signum
    assert time.monotonic() - started < 30  # ended by the signal, not by its sleep


# --- ``preflight gate`` as a user runs it -------------------------------------------------------


def _gate(*args: str | Path, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return run_preflight("gate", *args, cwd=cwd, timeout=timeout)


def _creates(marker: Path, exit_code: int = 0) -> list[str]:
    """A deploy command that leaves proof that it ran."""
    code = f"import pathlib, sys; pathlib.Path({str(marker)!r}).touch(); sys.exit({exit_code})"
    return ["--", sys.executable, "-c", code]


def test_missing_double_dash_is_a_usage_error_before_any_check(tmp_path: Path) -> None:
    done = _gate("--project", tmp_path, sys.executable, "-c", "pass", cwd=tmp_path)
    assert done.returncode == 3
    assert done.stderr.startswith("error: gate: put `--` between the options and the command")
    assert "hint: e.g. preflight gate" in done.stderr
    assert not (tmp_path / "reports").exists()  # no check ran


def test_unknown_command_is_a_usage_error_before_any_check(tmp_path: Path) -> None:
    done = _gate("--project", tmp_path, "--", "deploy-that-does-not-exist", cwd=tmp_path)
    assert done.returncode == 3
    assert "deploy-that-does-not-exist: command not found" in done.stderr
    assert not (tmp_path / "reports").exists()


def test_an_interpreter_that_is_no_python_blocks_the_deploy(tmp_path: Path, project: Path) -> None:
    fake = tmp_path / "not-python"
    fake.write_text("#!/bin/sh\necho nope >&2\nexit 1\n", encoding="utf-8")
    fake.chmod(0o755)
    marker = tmp_path / "deployed"
    done = _gate("--python", fake, "--project", project, *_creates(marker), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert not marker.exists()
    assert "gate: deployment blocked: the environment is NOT_READY (FAILED)" in done.stderr
    assert "fail python_version:" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.slow
def test_ready_environment_runs_the_command_and_passes_its_code(
    tmp_path: Path, venv312: Path, project: Path
) -> None:
    marker = tmp_path / "deployed"
    done = _gate(
        "--python", venv312, "--project", project, *_creates(marker, exit_code=7), cwd=tmp_path
    )
    assert done.returncode == 7, done.stderr
    assert marker.exists()
    assert "gate: the environment is READY (PASSED): running" in done.stderr
    assert (tmp_path / "reports" / "runtime_verification_results.json").exists()


@pytest.mark.slow
def test_the_command_owns_stdout(tmp_path: Path, venv312: Path, project: Path) -> None:
    done = _gate(
        "--python", venv312, "--project", project,
        "--", sys.executable, "-c", "print('deployed')",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "deployed\n"


@pytest.mark.slow
def test_not_ready_environment_blocks_the_deploy(
    tmp_path: Path, venv312: Path, project: Path
) -> None:
    lock = project / "requirements" / "py3.12.txt"
    lock.chmod(stat.S_IMODE(lock.stat().st_mode) | stat.S_IWOTH)
    marker = tmp_path / "deployed"
    done = _gate("--python", venv312, "--project", project, *_creates(marker), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert not marker.exists()
    assert "gate: deployment blocked: the environment is NOT_READY (FAILED)" in done.stderr
    assert "fail security:" in done.stderr
    assert f"fix: chmod o-w {lock}" in done.stderr
    assert "gate: not run:" in done.stderr


@pytest.mark.slow
def test_warnings_pass_unless_strict(
    tmp_path: Path, venv312: Path, make_project: MakeProject
) -> None:
    # The policy names the SMVM_* variables; they are unset: WARNING.
    project = make_project(env_vars=["SMVM_PYTHON_VERSION", "SMVM_WHEEL_STATUS"])
    marker = tmp_path / "deployed"
    lenient = _gate("--python", venv312, "--project", project, *_creates(marker), cwd=tmp_path)
    assert lenient.returncode == 0, lenient.stderr
    assert marker.exists()
    assert "READY (WARNING): running" in lenient.stderr

    marker.unlink()
    strict = _gate(
        "--python", venv312, "--project", project, "--strict", *_creates(marker), cwd=tmp_path
    )
    assert strict.returncode == 1, strict.stderr
    assert not marker.exists()
    assert "--strict refuses warnings" in strict.stderr
    assert "warn environment_config:" in strict.stderr


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_to_the_gate_is_passed_on_to_the_command(
    tmp_path: Path, venv312: Path, project: Path, signum: signal.Signals
) -> None:
    pid_file = tmp_path / "command.pid"
    code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    argv = [sys.executable, "-m", "preflight", "gate", "--python", str(venv312)]
    argv += ["--project", str(project), "--", sys.executable, "-c", code]
    with not_ignored(signum):  # nohup would make the gate leave SIGHUP ignored
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
            cwd=tmp_path,
        )
    try:
        wait_for(pid_file, process)  # the check passed and COMMAND runs: the gate waits for it
        command = read_pid(pid_file)
        assert command is not None
        process.send_signal(signum)
        # Far less than COMMAND's sleep: only COMMAND's death by the signal ends the gate so soon.
        _, stderr = process.communicate(timeout=30)
        # 128 + N is COMMAND's death passed through: a gate killed by the signal itself gives -N.
        assert process.returncode == 128 + signum, stderr
        assert not running(command)  # ended and reaped by the gate, not left behind
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        kill_if_running(pid_file)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's procfs")
def test_a_gate_started_with_sigint_ignored_gives_the_command_the_default(
    tmp_path: Path, venv312: Path, project: Path
) -> None:
    out = tmp_path / "dispositions.json"
    command = ["--", sys.executable, "-c", _DISPOSITIONS, str(out)]
    with _ignoring(signal.SIGINT):  # as a CI runner or a shell's background job starts it
        done = _gate("--python", venv312, "--project", project, *command, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _dispositions(out) == {"sigint_handler": True, "ignored": []}


def test_main_translates_gate_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gate", "--"]) == 3
    assert capsys.readouterr().err.startswith("error: gate: no command after `--`")


class _Screen:
    """What a pty's master reads, consumed match by match (one read may hold several)."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.pending = b""

    def expect(self, wanted: bytes, seconds: float = 30) -> bytes:
        """Read until ``wanted`` shows; return everything up to it, keep what follows."""
        deadline = time.monotonic() + seconds
        while wanted not in self.pending:
            assert time.monotonic() < deadline, f"never saw {wanted!r} in {self.pending[-2000:]!r}"
            if select.select([self.master], [], [], 0.1)[0]:
                try:
                    self.pending += os.read(self.master, 4096)
                except OSError:  # EIO: no process holds the terminal open at this moment
                    time.sleep(0.05)
        seen, _, self.pending = self.pending.partition(wanted)
        return seen + wanted


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash for job control")
def test_ctrl_z_and_fg_in_a_job_control_shell(tmp_path: Path) -> None:
    # The real thing: an interactive bash on a pty runs the gate as a job; Ctrl-Z stops it
    # (bash says "Stopped" and prompts), `fg` continues it, COMMAND's exit code reaches $?.
    # COMMAND ticks twice, waits for the file `go` (which a stopped COMMAND cannot see), then
    # ticks on: no race between its ticks and the Ctrl-Z, however slow the machine.
    script = tmp_path / "ticks.py"
    script.write_text(
        "import pathlib, time\n"
        "for i in range(8):\n"
        "    print('tick', i, flush=True)\n"
        "    while i == 1 and not pathlib.Path('go').exists():\n"
        "        time.sleep(0.05)\n"
        "raise SystemExit(4)\n"
    )
    gate_code = tmp_path / "gate.py"
    gate_code.write_text(
        "import sys\nfrom preflight._ops.gate import run_command\n"
        "sys.exit(run_command(sys.argv[1:]))\n"
    )
    master, slave = pty.openpty()
    # The pty becomes the shell's controlling terminal (TIOCSCTTY), as a terminal emulator
    # makes it: the shell must not depend on acquiring one by itself.
    shell = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
            "os.execvp('bash', ['bash', '--norc', '--noprofile', '-i'])",
        ],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        env={**cli_env(), "PS1": "ready> "},
        cwd=tmp_path,
    )
    os.close(slave)
    try:
        screen = _Screen(master)
        screen.expect(b"ready> ")
        os.write(master, f"{sys.executable} gate.py {sys.executable} ticks.py\n".encode())
        screen.expect(b"tick 1")
        os.write(master, b"\x1a")
        screen.expect(b"Stopped")
        screen.expect(b"ready> ")
        (tmp_path / "go").touch()  # stopped: only a continued COMMAND can see it
        os.write(master, b"fg\n")
        after = screen.expect(b"tick 7")
        os.write(master, b"echo exit=$?\n")
        assert b"exit=4" in screen.expect(b"exit=4"), after
    finally:
        os.killpg(shell.pid, signal.SIGKILL)
        shell.wait()
        os.close(master)
