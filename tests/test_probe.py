"""The probes run in real interpreters, through the real subprocess boundary.

Every way a probe can fail must come back as a ``ProbeFailure`` value that says what happened:
interpreters too old to probe, programs that hang, crash, print garbage or are no programs at
all. Real interpreters are found by preflight's own discovery; a missing one skips its test.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import wheelhouse
from conftest import real_python

from preflight._facts.model import InterpreterFacts, PerformanceFacts, ProbeFailure, ProbeReport
from preflight._facts.probes import (
    PERFORMANCE_PROBE_VERSION,
    PROBE_VERSION,
    measure_performance,
    parse_performance_output,
    parse_probe_output,
    probe_interpreter,
)
from preflight._interpreters.discovery import Found
from preflight._process import clean_env, run

PROBE = resources.files("preflight._probe").joinpath("interpreter.py")


def real(spec: str) -> Found:
    return real_python(spec)


def script(path: Path, text: str, mode: int = 0o755) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def facts_of(result: InterpreterFacts | ProbeFailure) -> InterpreterFacts:
    assert isinstance(result, InterpreterFacts), result
    return result


def failure_of(result: object) -> ProbeFailure:
    assert isinstance(result, ProbeFailure), result
    assert "Traceback" not in result.message
    return result


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# --- a real venv with tiny packages ----------------------------------------------------------


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3.12 venv with four tiny packages, installed without bytecode. Read-only.

    Installed by the pip running these tests (``pip --python``): the probe does not care whose
    pip it was, and ensurepip would cost seconds.
    """
    wheels = tmp_path_factory.mktemp("wheels")
    wheelhouse.build_wheel(wheels, "tinypkg", "1.0")
    wheelhouse.build_wheel(
        wheels,
        "noisy",
        "0.1",
        files={
            # Output at import time, from Python and straight to file descriptor 1.
            "noisy.py": "import os\nprint('hello from noisy')\nos.write(1, b'{\"ok\": false}\\n')\n"
        },
    )
    wheelhouse.build_wheel(wheels, "quitter", "0.1", files={"quitter.py": "raise SystemExit(3)\n"})
    wheelhouse.build_wheel(
        wheels, "broken", "0.1", files={"broken.py": "raise RuntimeError('boom')\n"}
    )
    root = tmp_path_factory.mktemp("venv") / "env"
    wheelhouse.make_venv(
        real("3.12").path,
        root,
        find_links=wheels,
        install=["--no-compile", "tinypkg", "noisy", "quitter", "broken"],
        with_pip=False,
    )
    return root


@pytest.mark.slow
def test_probe_of_a_venv(venv: Path) -> None:
    base = real("3.12")
    facts = facts_of(probe_interpreter(venv / "bin" / "python"))
    assert facts.in_venv
    assert facts.version == str(base.version)
    assert facts.release_level == "final"
    assert facts.implementation == "cpython"
    assert Path(facts.prefix) == venv
    assert Path(facts.base_prefix) == base.path.resolve().parent.parent
    site = venv / "lib" / f"python{base.version.major}.{base.version.minor}" / "site-packages"
    assert facts.site_packages == (str(site),)
    assert facts.system_site_packages == ()
    assert not facts.user_site_enabled
    assert facts.pyvenv_cfg["include-system-site-packages"] == "false"
    assert "home" in facts.pyvenv_cfg
    assert facts.marker_env["python_version"] == f"{base.version.major}.{base.version.minor}"
    assert facts.marker_env["python_full_version"] == str(base.version)
    assert str(site) in facts.path
    dists = {d.name: d for d in facts.distributions}
    assert set(dists) == {"tinypkg", "noisy", "quitter", "broken"}
    tiny = dists["tinypkg"]
    assert tiny.version == "1.0"
    assert tiny.kind == "dist-info"
    assert tiny.path == str(site / "tinypkg-1.0.dist-info")
    assert tiny.site == str(site)
    assert tiny.installer == "pip"
    assert tiny.requested
    assert tiny.direct_url is None


@pytest.mark.slow
def test_measure_performance_reports_each_import(venv: Path) -> None:
    imports = ["tinypkg", "no_such_module", "noisy", "quitter", "broken"]
    perf = measure_performance(venv / "bin" / "python", imports)
    assert isinstance(perf, PerformanceFacts), perf
    errors = {timing.module: timing.error for timing in perf.imports}
    assert list(errors) == imports
    assert errors == {
        "tinypkg": None,
        "no_such_module": "ModuleNotFoundError: No module named 'no_such_module'",
        # What noisy prints (even on fd 1) does not get in the way of the report.
        "noisy": None,
        "quitter": "SystemExit: 3",
        "broken": "RuntimeError: boom",
    }
    assert all(timing.seconds >= 0 for timing in perf.imports)
    assert perf.compute_kind == "python"
    assert perf.compute_error is None
    assert perf.total_seconds > 0
    # Installed with --no-compile and probed with -B: nothing is cached, nothing was written.
    assert perf.bytecode_cached is False


@pytest.mark.slow
def test_probes_write_nothing_into_the_target(venv: Path) -> None:
    before = tree(venv)
    assert not any("__pycache__" in p for p in before if "tinypkg" in p)
    facts_of(probe_interpreter(venv / "bin" / "python"))
    perf = measure_performance(venv / "bin" / "python", ["tinypkg", "noisy"])
    assert isinstance(perf, PerformanceFacts), perf
    assert tree(venv) == before


@pytest.mark.slow
def test_our_pythonpath_does_not_reach_the_target(
    venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    injected = tmp_path / "injected"
    injected.mkdir()
    (injected / "sneaky.py").write_text("x = 1\n", encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(injected))
    facts = facts_of(probe_interpreter(venv / "bin" / "python"))
    assert not any(str(injected) in entry for entry in facts.path)
    perf = measure_performance(venv / "bin" / "python", ["sneaky"])
    assert isinstance(perf, PerformanceFacts), perf
    assert perf.imports[0].error == "ModuleNotFoundError: No module named 'sneaky'"


@pytest.mark.slow
def test_chatty_pth_file_does_not_break_the_probes(tmp_path: Path) -> None:
    base = real("3.12")
    root = tmp_path / "env"
    subprocess.run(
        [str(base.path), "-m", "venv", "--without-pip", str(root)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    site = root / "lib" / f"python{base.version.major}.{base.version.minor}" / "site-packages"
    (site / "chatty.pth").write_text("import sys; print('hello from a .pth')\n", encoding="utf-8")
    facts = facts_of(probe_interpreter(root / "bin" / "python"))
    assert facts.site_packages == (str(site),)
    perf = measure_performance(root / "bin" / "python", ["json"])
    assert isinstance(perf, PerformanceFacts), perf
    assert perf.imports[0].error is None


# --- base interpreters, old and new ----------------------------------------------------------


@pytest.mark.parametrize("spec", ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"])
def test_probe_of_a_base_interpreter(spec: str) -> None:
    found = real(spec)
    facts = facts_of(probe_interpreter(found.path))
    assert facts.version == str(found.version)
    assert not facts.in_venv
    assert facts.prefix == facts.base_prefix
    assert facts.site_packages
    perf = measure_performance(found.path, ["json", "no_such_module"])
    assert isinstance(perf, PerformanceFacts), perf
    assert [t.error for t in perf.imports] == [
        None,
        "ModuleNotFoundError: No module named 'no_such_module'",
    ]


@pytest.mark.parametrize("spec", ["2.7", "3.6", "3.7"])
def test_old_interpreter_is_too_old(spec: str) -> None:
    found = real(spec)
    failure = failure_of(probe_interpreter(found.path))
    assert failure.kind == "too_old"
    assert failure.version == str(found.version)
    assert f"Python {found.version} is too old to probe" in failure.message
    assert "3.8 or newer" in failure.message
    assert str(found.path) in failure.message
    assert "Traceback" not in failure.stderr
    assert failure.command[0] == str(found.path)


# --- programs that are not (working) Pythons -------------------------------------------------


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a parent that does not reap it is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_until_dead(pids: list[int], limit: float = 10.0) -> list[int]:
    """The pids still alive once they died or ``limit`` seconds passed (SIGKILL is async)."""
    deadline = time.monotonic() + limit
    while (living := [pid for pid in pids if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return living


@pytest.fixture
def reap() -> Iterator[list[int]]:
    """Pids of the sleeps a test started; killed at teardown if the code under test did not."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if alive(pid) and command.startswith(b"sleep\0"):
            os.kill(pid, signal.SIGKILL)


def test_hanging_interpreter_times_out_and_its_process_group_is_killed(
    tmp_path: Path, reap: list[int]
) -> None:
    pids = tmp_path / "pids"
    hang = script(
        tmp_path / "python",
        "#!/bin/sh\n"
        f"echo $$ > {pids}.leader\n"
        f"sleep 1000 &\necho $! > {pids}.child\n"  # a grandchild in the same group
        "exec sleep 1000\n",
    )
    started = time.monotonic()
    failure = failure_of(probe_interpreter(hang, timeout=1))
    elapsed = time.monotonic() - started
    leader = int(Path(f"{pids}.leader").read_text())
    reap.append(leader)
    if Path(f"{pids}.child").exists():  # on a very loaded machine the kill may come first
        reap.append(int(Path(f"{pids}.child").read_text()))
    assert failure.kind == "timeout"
    assert "did not answer within 1 s; it was killed" in failure.message
    assert failure.command[0] == str(hang)
    # Not a timing assertion: only that it did not wait for the 1000 s sleep.
    assert elapsed < 60
    assert wait_until_dead(reap) == []
    # The child led its own session and group; nothing of that group runs any more.
    assert not any(alive(pid) for pid in _group_members(leader))


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rpartition(")")[2].split()
            if int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def test_crashing_interpreter(tmp_path: Path) -> None:
    crash = script(
        tmp_path / "python",
        "#!/bin/sh\necho 'first line' >&2\necho 'Fatal: cannot find encodings' >&2\nexit 3\n",
    )
    failure = failure_of(probe_interpreter(crash))
    assert failure.kind == "crashed"
    assert failure.returncode == 3
    assert "exited with code 3" in failure.message
    assert "Fatal: cannot find encodings" in failure.message
    assert "first line" not in failure.message
    assert failure.stderr == "first line\nFatal: cannot find encodings\n"


@pytest.mark.parametrize(
    ("output", "detail"),
    [
        ("hello, I am not Python\n", "no JSON object; last line was 'hello, I am not Python'"),
        ("", "it printed nothing"),
        ("[1, 2, 3]\n", "no JSON object"),
    ],
)
def test_program_printing_something_else_is_not_python(
    tmp_path: Path, output: str, detail: str
) -> None:
    liar = script(tmp_path / "python", f"#!/bin/sh\nprintf '%s' '{output}'\n")
    failure = failure_of(probe_interpreter(liar))
    assert failure.kind == "not_python"
    assert detail in failure.message
    assert "is it a Python interpreter?" in failure.message
    assert failure.stdout == output
    assert failure.returncode == 0
    perf = failure_of(measure_performance(liar, ["json"]))
    assert perf.kind == "not_python"


def test_non_executable_file(tmp_path: Path) -> None:
    path = script(tmp_path / "python", "#!/bin/sh\nexit 0\n", mode=0o644)
    failure = failure_of(probe_interpreter(path))
    assert failure.kind == "not_executable"
    assert f"chmod +x {path}" in failure.message


def test_file_that_cannot_be_executed(tmp_path: Path) -> None:
    path = script(tmp_path / "python", "no shebang, not a binary\n")
    failure = failure_of(probe_interpreter(path))
    assert failure.kind == "not_executable"
    assert "could not be started" in failure.message
    assert failure.returncode is None


def test_folder(tmp_path: Path) -> None:
    failure = failure_of(probe_interpreter(tmp_path))
    assert failure.kind == "not_executable"
    assert "is a folder, not an interpreter" in failure.message
    assert str(tmp_path / "bin" / "python") in failure.message


def test_broken_symlink(tmp_path: Path) -> None:
    link = tmp_path / "python"
    link.symlink_to(tmp_path / "removed" / "python3.12")
    failure = failure_of(probe_interpreter(link))
    assert failure.kind == "missing"
    assert "broken symlink" in failure.message
    assert str(tmp_path / "removed" / "python3.12") in failure.message


def test_missing_path(tmp_path: Path) -> None:
    failure = failure_of(measure_performance(tmp_path / "nope" / "python", ["json"]))
    assert failure.kind == "missing"
    assert "does not exist" in failure.message


# --- parse_probe_output, pure ----------------------------------------------------------------


@pytest.fixture(scope="module")
def real_output() -> str:
    """What the real probe prints in the interpreter running these tests."""
    with resources.as_file(PROBE) as probe:
        completed = run([sys.executable, "-I", "-S", "-B", str(probe)], timeout=60, env=clean_env())
    assert completed.ok, completed
    return completed.stdout


def payload(real_output: str) -> dict[str, Any]:
    value = json.loads(real_output)
    assert isinstance(value, dict)
    return value


def report_of(result: ProbeReport | ProbeFailure) -> ProbeReport:
    assert isinstance(result, ProbeReport), result
    return result


def test_real_output_parses(real_output: str) -> None:
    report = report_of(parse_probe_output(real_output))
    assert report.version == "{}.{}.{}".format(*sys.version_info[:3])
    assert (report.venv_prefix is not None) == (sys.prefix != sys.base_prefix)
    assert report.base_prefix == sys.base_prefix
    # Something printed before the report is tolerated.
    assert report_of(parse_probe_output("hello\n" + real_output)) == report


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (lambda p: p.pop("version"), "'version' is missing"),
        # Each was a traceback once it reached the policy's version parsing.
        (lambda p: p.update(version="banana"), "'version' is 'banana', not a release"),
        (lambda p: p.update(version="3.12"), "'version' is '3.12', not a release"),
        (lambda p: p.update(version="3." + "9" * 5000 + ".1"), "not a release like 3.12.1"),
        (lambda p: p.update(version="3.١٢.1"), "not a release"),
        (lambda p: p.pop("stdlib_path"), "'stdlib_path' is missing"),
        (lambda p: p.update(user_site_allowed="yes"), "'user_site_allowed' must be true or"),
        (lambda p: p.update(vendor_site="/x"), "'vendor_site' must be a list of strings"),
        (
            lambda p: p.update(venv_paths={"purelib": 1}),
            "'venv_paths.purelib' must be a string, not 1",
        ),
        (lambda p: p.update(venv_prefix=["/x"]), "'venv_prefix' must be a string or null"),
        (lambda p: p.update(marker_env={"a": 1}), "'marker_env.a' must be a string, not 1"),
        (lambda p: p.update(user_site=3), "'user_site' must be a string or null, not 3"),
        (lambda p: p.update(probe_version=PROBE_VERSION - 1), "expected 2"),
        (lambda p: p.pop("probe_version"), "probe_version None"),
        (lambda p: p.update(ok=False), "'ok' is False"),
    ],
)
def test_malformed_payload_is_not_python(real_output: str, change: Any, detail: str) -> None:
    data = payload(real_output)
    change(data)
    failure = failure_of(parse_probe_output(json.dumps(data), source="/opt/py/bin/python"))
    assert failure.kind == "not_python"
    assert detail in failure.message
    assert failure.message.startswith("/opt/py/bin/python ran, but its output")


def test_too_old_payload() -> None:
    failure = failure_of(
        parse_probe_output('\n{"ok": false, "reason": "too_old", "version": "3.7.16"}\n')
    )
    assert failure.kind == "too_old"
    assert failure.version == "3.7.16"
    assert "Python 3.7.16 is too old to probe" in failure.message


def test_performance_payload() -> None:
    good = json.loads(_performance_payload(total_seconds=None))
    perf = parse_performance_output(json.dumps(good), total_seconds=0.5)
    assert isinstance(perf, PerformanceFacts), perf
    assert perf.total_seconds == 0.5
    assert perf.imports[0].module == "json"
    bad = dict(good, imports=[{"module": "json", "seconds": True, "error": None}])
    failure = failure_of(parse_performance_output(json.dumps(bad), total_seconds=0.5))
    assert failure.kind == "not_python"
    assert "'imports[0].seconds' must be a number >= 0, at most 1e9, not True" in failure.message


def _performance_payload(**change: Any) -> str:
    good: dict[str, Any] = {
        "ok": True,
        "probe_version": PERFORMANCE_PROBE_VERSION,
        "imports": [{"module": "json", "seconds": 0.001, "error": None}],
        "import_seconds": 0.001,
        "compute_kind": "python",
        "compute_seconds": 0.01,
        "compute_error": None,
        "bytecode_cached": None,
    }
    return json.dumps({**good, **change})


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        # Taken on main: a probe_version of true (True == 1), a 39-digit time, a negative one.
        ({"probe_version": True}, "probe_version True, expected 1"),
        ({"import_seconds": 10**39}, "'import_seconds' must be a number >= 0, at most 1e9, "
         "not a number of about 39 digits"),
        ({"compute_seconds": -1}, "'compute_seconds' must be a number >= 0, at most 1e9, not -1"),
        ({"compute_error": "x" * 70_000}, "'compute_error' is 70000 characters long"),
        # Refused on main too, now naming the nested key.
        ({"imports": [{"module": "json", "seconds": 0.1, "error": None}, "numpy"]},
         "'imports[1]' must be a table, not 'numpy'"),
        ({"bytecode_cached": 1}, "'bytecode_cached' must be true or false, not 1"),
    ],
)  # fmt: skip
def test_a_performance_payload_is_read_strictly_naming_the_key(
    change: dict[str, Any], detail: str
) -> None:
    failure = failure_of(parse_performance_output(_performance_payload(**change), total_seconds=1))
    assert failure.kind == "not_python"
    assert f"its output is not the probe's report ({detail}" in failure.message
    assert len(failure.message) < 400


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        # Taken on main: an executable of 70,000 characters, 100,001 stdlib folders.
        (lambda p: p.update(executable="/" + "x" * 70_000), "'executable' is 70001 characters"),
        (lambda p: p.update(stdlib_path=["/l"] * 100_001),
         "'stdlib_path' holds 100001 elements, more than 100000"),
        (lambda p: p.update(marker_env={**p["marker_env"], "os_name": {"posix": 1}}),
         "'marker_env.os_name' must be a string, not {'posix': 1}"),
        (lambda p: p.update(user_site_allowed=1), "'user_site_allowed' must be true or false"),
        (lambda p: p.update(probe_version=float(PROBE_VERSION)), None),  # 2.0 == 2, as before
    ],
)  # fmt: skip
def test_an_interpreter_payload_is_read_strictly_naming_the_key(
    real_output: str, change: Any, detail: str | None
) -> None:
    data = payload(real_output)
    change(data)
    data["a_key_of_a_later_probe"] = {"tolerated": True}  # unknown keys are, as they were
    result = parse_probe_output(json.dumps(data), source="/opt/py/bin/python")
    if detail is None:
        assert report_of(result) == report_of(parse_probe_output(real_output))
        return
    failure = failure_of(result)
    assert failure.kind == "not_python"
    assert f"its output is not the probe's report ({detail}" in failure.message
    assert len(failure.message) < 400


# --- runner ----------------------------------------------------------------------------------


def test_clean_env_drops_what_would_inject_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    monkeypatch.setenv("PYTHONSTARTUP", "/somewhere/start.py")
    monkeypatch.setenv("PYTHONHOME", "/somewhere")
    monkeypatch.setenv("APP_KEEP", "kept")
    monkeypatch.setenv("PREFLIGHT_WEBHOOK_URL", "https://hooks.invalid/secret")
    monkeypatch.setenv("SLACK_URL", "https://hooks.invalid/secret")
    env = clean_env({"EXTRA": "1"}, withhold=["SLACK_URL"])
    assert not {"PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME"} & set(env)
    # The tool's own variables and the policy's credentials are never handed to a child.
    assert not {"PREFLIGHT_WEBHOOK_URL", "SLACK_URL"} & set(env)
    assert env["APP_KEEP"] == "kept"
    assert env["EXTRA"] == "1"
    assert env["PYTHONUTF8"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_run_never_raises_for_a_missing_program(tmp_path: Path) -> None:
    completed = run([str(tmp_path / "no-such-program")], timeout=5)
    assert completed.returncode is None
    assert not completed.ok
    assert "No such file" in completed.stderr
    assert "could not be started" in completed.describe()


def test_run_decodes_invalid_utf8_with_replacement(tmp_path: Path) -> None:
    completed = run(["/bin/sh", "-c", "printf 'a\\377b'; printf 'x\\376' >&2; exit 4"], timeout=10)
    assert completed.stdout == "a\ufffdb"
    assert completed.stderr == "x\ufffd"
    assert completed.returncode == 4
    assert "exited with code 4" in completed.describe()


# --- the probe's own helpers -----------------------------------------------------------------


@pytest.fixture(scope="module")
def probe_module() -> ModuleType:
    """``_probe.py`` loaded as a module (it only reports when run as a script)."""
    with resources.as_file(PROBE) as path:
        spec = importlib.util.spec_from_file_location("preflight_probe_under_test", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module
