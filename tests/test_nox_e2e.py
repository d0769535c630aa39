"""The adopter's noxfile, run by real nox, on a project of tiny wheels: preflight and relock.

Each test copies the noxfile of README's "Adopting preflight" section, verbatim, into a project
folder of its own (a policy over the tiny wheels of ``conftest.wheels``, and locks of them), and
runs ``python -m nox -f <project>/noxfile.py -s ...`` as a user would. pip and uv read only the
local wheelhouse (``--no-index`` through their environment variables): no network.

Relock needs pip-tools inside a venv of each interpreter; the ``tests`` session downloads its
wheels once into ``PREFLIGHT_TEST_WHEELHOUSE`` (setup, like installing the test tools),
and relock's own ``pip install pip-tools`` reads them from there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import loopback
import pytest
import readme
import wheelhouse
from conftest import PINNED_FALLBACK, Wheels
from processes import not_ignored

import preflight
from preflight._interpreters.discovery import Found, best_match, nearest
from preflight._lock.requirements import parse_lock
from preflight._policy.spec import PythonSpec
from preflight.nox import _split_lock

ROOT = Path(__file__).resolve().parents[1]
PIP_TOOLS_WHEELS = os.environ.get("PREFLIGHT_TEST_WHEELHOUSE", "")

pytestmark = pytest.mark.slow


def nox_env(wheels: Wheels, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Hermetic: pip and uv see only the wheelhouse (and pip-tools' wheels); no CI, no SMVM."""
    links = " ".join(filter(None, [str(wheels.folder), PIP_TOOLS_WHEELS]))
    env = {
        k: v
        for k, v in wheelhouse.hermetic_env().items()
        if not k.startswith(("SMVM_", "PREFLIGHT_", "GITHUB_")) and k != "CI"
    }
    env.update(
        {
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": links,
            "UV_NO_INDEX": "1",
            "UV_FIND_LINKS": str(wheels.folder),
            "UV_NO_CACHE": "1",
            "NO_COLOR": "1",
            # The session-wide tmp cache of verified bytecode (conftest), not ~/.cache.
            "PREFLIGHT_CACHE_DIR": os.environ["PREFLIGHT_CACHE_DIR"],
        }
    )
    env.update(extra or {})
    return env


def run_nox(
    project: Path, wheels: Wheels, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nox", "--no-color", "-f", str(project / "noxfile.py"), *args],
        cwd=project,
        env=nox_env(wheels, env),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def adopter_noxfile() -> str:
    """The ``python`` block of README's "Adopting preflight" section, as it stands."""
    return readme.adopter_noxfile()


def test_the_adopter_noxfile_is_whole_and_names_this_distribution() -> None:
    text = adopter_noxfile()
    compile(text, "noxfile.py", "exec")
    assert '"preflight-env"' in text.split("# ///", 2)[1]  # the PEP 723 block names it
    assert "preflight.nox.register()" in text


def test_the_tag_selects_every_interpreter_session(
    nox_project: Callable[..., Path], wheels: Wheels
) -> None:
    project = nox_project()
    done = run_nox(project, wheels, "-t", "preflight", "-l")
    assert done.returncode == 0, done.stdout + done.stderr
    selected = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("* ")]
    assert selected == ["preflight-3.12", f"preflight-{PINNED_FALLBACK}"]


@pytest.fixture
def nox_project(make_project: Callable[..., Path]) -> Callable[..., Path]:
    """A project with README's adopter noxfile, copied verbatim."""

    def make(**kwargs: object) -> Path:
        folder = make_project(**kwargs)
        (folder / "noxfile.py").write_text(adopter_noxfile(), encoding="utf-8")
        return folder

    return make


def missing_pin(interpreters: list[Found]) -> None:
    if best_match(PythonSpec.parse(PINNED_FALLBACK), interpreters) is not None:
        pytest.skip(f"this machine has Python {PINNED_FALLBACK}: nothing is missing")


def summary(project: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((project / "reports" / "summary.json").read_text())
    return data


# --- nox -s preflight ----------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["virtualenv", "uv"])
def test_clean_matrix_ready_on_312_and_a_clear_skip_for_the_missing_pin(
    nox_project: Callable[..., Path],
    wheels: Wheels,
    python312: Path,
    interpreters: list[Found],
    backend: str,
) -> None:
    missing_pin(interpreters)
    if backend == "uv" and shutil.which("uv") is None:
        pytest.skip("uv is not installed")
    project = nox_project()
    done = run_nox(project, wheels, "-s", "preflight", env={"PREFLIGHT_BACKEND": backend})
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert f"backend: {backend} (PREFLIGHT_BACKEND={backend})" in output
    assert "--require-hashes" in output
    report = json.loads(
        (project / "reports" / "preflight-3.12" / "runtime_verification_results.json").read_text()
    )
    assert report["status"] == "READY"
    assert report["overall_status"] == "PASSED", report["violations"]
    # The judged environment holds only the lock (and, for virtualenv, pip): not preflight.
    assert report["checks"]["lock_sync"]["status"] == "pass"
    near = nearest(PythonSpec.parse(PINNED_FALLBACK), interpreters)
    skip_line = (
        f"Session preflight-{PINNED_FALLBACK} skipped: Python {PINNED_FALLBACK} not installed"
    )
    assert skip_line in output
    # What was searched is said once (a paragraph); the skip reason nox repeats is one line.
    assert output.count(f"Python {PINNED_FALLBACK} was not found (searched") == 1
    (skip,) = [line for line in output.splitlines() if skip_line in line]
    assert len(skip) < 250, skip
    if near is not None:
        assert f"the nearest is Python {near.version}" in output
    assert f"pyenv install {PINNED_FALLBACK}" in output
    data = summary(project)
    assert data["matrix"] == "INCOMPLETE"
    rows = {row["spec"]: row for row in data["interpreters"]}  # type: ignore[attr-defined]
    assert rows["3.12"]["verdict"] == "READY"
    assert rows["3.12"]["backend"] == backend
    assert rows[PINNED_FALLBACK]["verdict"] == "NOT_CHECKED"
    assert "not installed" in rows[PINNED_FALLBACK]["message"]
    assert "matrix: INCOMPLETE" in output  # the table on the terminal
    # ... and a line that says what it means and what to do.
    assert f"INCOMPLETE: Python {PINNED_FALLBACK} was not found here and was not checked" in (
        output
    )
    assert "--allow-substitute" in output.split("matrix: INCOMPLETE", 1)[1]


@pytest.mark.parametrize(
    "case",
    [
        ({"CI": "true"}, [], "failed"),  # nox's default on CI
        ({}, ["--error-on-missing-interpreters"], "failed"),
        ({"CI": "true"}, ["--no-error-on-missing-interpreters"], "skipped"),
        ({}, [], "skipped"),
    ],
    ids=["CI", "flag", "CI-but-no-flag", "local"],
)
def test_a_missing_interpreter_follows_nox_error_on_missing_interpreters(
    nox_project: Callable[..., Path],
    wheels: Wheels,
    interpreters: list[Found],
    case: tuple[dict[str, str], list[str], str],
) -> None:
    env, flags, state = case
    missing_pin(interpreters)
    project = nox_project()
    done = run_nox(project, wheels, *flags, "-s", f"preflight-{PINNED_FALLBACK}", env=env)
    output = done.stdout + done.stderr
    assert done.returncode == (1 if state == "failed" else 0), output
    session = f"Session preflight-{PINNED_FALLBACK}"
    assert f"{session} {state}: Python {PINNED_FALLBACK} not installed" in output
    rows = {row["spec"]: row for row in summary(project)["interpreters"]}  # type: ignore[attr-defined]
    assert rows[PINNED_FALLBACK]["verdict"] == "NOT_CHECKED"
    assert summary(project)["matrix"] == "INCOMPLETE"


def _break_timeout(project: Path) -> tuple[list[str], dict[str, str]]:
    return ["--", "--timeout", "-3"], {}


def _break_backend(project: Path) -> tuple[list[str], dict[str, str]]:
    return [], {"PREFLIGHT_BACKEND": "conda"}


def _break_options(project: Path) -> tuple[list[str], dict[str, str]]:
    return ["--", "--no-such-option"], {}


def _break_env(project: Path) -> tuple[list[str], dict[str, str]]:
    # A file where the session's folder goes: the new environment cannot be created.
    (project / ".nox").mkdir()
    (project / ".nox" / "preflight-3.12").write_text("in the way\n")
    return [], {"PREFLIGHT_BACKEND": "virtualenv"}


def _break_install(project: Path) -> tuple[list[str], dict[str, str]]:
    lock = project / "requirements" / "py3.12.txt"
    lock.write_text(lock.read_text().replace("--hash=sha256:", "--hash=sha256:0", 1))
    return [], {"PREFLIGHT_BACKEND": "virtualenv"}


def _break_report(project: Path) -> tuple[list[str], dict[str, str]]:
    # A folder where the report goes: the check runs, its report cannot be written.
    (project / "reports" / "preflight-3.12" / "runtime_verification_results.json").mkdir(
        parents=True
    )
    return [], {"PREFLIGHT_BACKEND": "virtualenv"}


@pytest.mark.parametrize(
    ("breaker", "message"),
    [
        (_break_options, "options failed: nox -s preflight --: unrecognized arguments"),
        (_break_timeout, "options failed: nox -s preflight --: argument --timeout: '-3'"),
        (_break_backend, "backend failed: PREFLIGHT_BACKEND='conda'"),
        (_break_env, "venv failed"),
        (_break_install, "install failed"),
        (_break_report, "check failed: cannot write the report"),
    ],
    ids=["options", "timeout", "backend", "venv", "install", "report"],
)
def test_a_session_that_fails_at_any_step_is_an_error_in_the_matrix(
    nox_project: Callable[..., Path],
    wheels: Wheels,
    python312: Path,
    breaker: Callable[[Path], tuple[list[str], dict[str, str]]],
    message: str,
) -> None:
    project = nox_project(pythons=["3.12"])
    args, env = breaker(project)
    done = run_nox(project, wheels, "-s", "preflight", *args, env=env)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output, output[output.find("Traceback") - 300 :][:3000]
    data = summary(project)
    row = data["interpreters"][0]  # type: ignore[index]
    assert row["verdict"] == "ERROR", row
    assert row["message"].startswith(message), row
    assert data["matrix"] == "NOT_READY"
    assert "matrix: NOT_READY" in output


def test_a_queued_session_that_never_ran_is_an_error(
    nox_project: Callable[..., Path], wheels: Wheels, python312: Path
) -> None:
    # -x: nox stops at the first failure, so the second interpreter's session never runs.
    project = nox_project(pythons=["3.12", "3.13"])
    _break_install(project)
    env = {"PREFLIGHT_BACKEND": "virtualenv"}
    done = run_nox(project, wheels, "-x", "-s", "preflight", env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    outcome = json.loads((project / "reports" / "preflight-3.13" / "outcome.json").read_text())
    assert outcome["verdict"] == "ERROR"
    assert outcome["message"] == "queued, but the session did not run"


def test_a_tampered_lock_fails_the_install(
    nox_project: Callable[..., Path], wheels: Wheels, python312: Path
) -> None:
    project = nox_project()
    lock = project / "requirements" / "py3.12.txt"
    good = wheelhouse.file_hash(wheels.alpha)
    lock.write_text(lock.read_text().replace(good, "sha256:" + "0" * 64))
    done = run_nox(project, wheels, "-s", "preflight-3.12", env={"PREFLIGHT_BACKEND": "virtualenv"})
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in output
    assert "Session preflight-3.12 failed" in output
    # What to do, after pip's own words: the index, a cache, or a relock for a bad hash.
    assert "the locked packages of py3.12.txt could not be downloaded" in output
    assert "`nox -s relock`" in output
    rows = {row["spec"]: row for row in summary(project)["interpreters"]}  # type: ignore[attr-defined]
    assert rows["3.12"]["verdict"] == "ERROR"
    assert rows["3.12"]["message"] == "install failed"
    assert summary(project)["matrix"] == "NOT_READY"


def test_pip_settings_cannot_weaken_the_hash_check(
    nox_project: Callable[..., Path], wheels: Wheels, python312: Path
) -> None:
    project = nox_project()
    lock = project / "requirements" / "py3.12.txt"
    text = lock.read_text()
    lock.write_text(text.replace(f"--hash={wheelhouse.file_hash(wheels.alpha)}", ""))
    done = run_nox(
        project,
        wheels,
        "-s",
        "preflight-3.12",
        env={"PREFLIGHT_BACKEND": "virtualenv", "PIP_REQUIRE_HASHES": "0"},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Hashes are required in --require-hashes mode" in output  # pip's own refusal


def test_a_substitute_is_accepted_on_request_and_reported(
    nox_project: Callable[..., Path], wheels: Wheels, interpreters: list[Found]
) -> None:
    missing_pin(interpreters)
    near = nearest(PythonSpec.parse(PINNED_FALLBACK), interpreters)
    if near is None:
        pytest.skip("no Python 3.11.x to substitute")
    project = nox_project()
    done = run_nox(
        project,
        wheels,
        "-s",
        f"preflight-{PINNED_FALLBACK}",
        "--",
        "--allow-substitute",
        env={"PREFLIGHT_BACKEND": "virtualenv"},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output  # accepted: a fallback, with a warning
    assert "patch-level substitute" in output
    folder = project / "reports" / f"preflight-{PINNED_FALLBACK}"
    outcome = json.loads((folder / "outcome.json").read_text())
    assert outcome["substitute"] is True
    assert outcome["verdict"] == "READY_FALLBACK"
    assert "python_version" in outcome["warned"]
    report = json.loads((folder / "runtime_verification_results.json").read_text())
    assert report["substitute_for"] == PINNED_FALLBACK
    assert report["interpreter"]["version"] == str(near.version)
    assert report["python_status"] == "fallback"
    assert f"substitute for {PINNED_FALLBACK}" in output  # terminal summary and matrix table
    assert summary(project)["matrix"] == "READY_WITH_SUBSTITUTE"


# --- nox -s relock -------------------------------------------------------------------------

needs_pip_tools_wheels = pytest.mark.skipif(
    not PIP_TOOLS_WHEELS, reason="PREFLIGHT_TEST_WHEELHOUSE is not set (nox -s tests sets it)"
)


@needs_pip_tools_wheels
def test_relock_writes_fresh_locks_leaves_them_alone_then_keeps_them_when_it_fails(
    nox_project: Callable[..., Path], wheels: Wheels, python312: Path
) -> None:
    """One project through relock's life, each step paying only its own relock (a relock
    builds pip-tools' venv: seconds each): fresh locks, then left alone, then `--check` on a
    stale lock, a relock interrupted, and one failing half way, neither touching the lock."""
    project = nox_project(pythons=["3.12"], locks=[])
    lock = project / "requirements" / "py3.12.txt"
    pyproject = project / "pyproject.toml"

    # Fresh locks are written, with hashes and no trace of the local find-links.
    done = run_nox(project, wheels, "-s", "relock")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    parsed = parse_lock(lock)
    assert {e.name: e.version for e in parsed.entries} == {"alpha": "1.0", "beta-pkg": "2.0"}
    assert parsed.header.python is not None
    assert parsed.header.python.startswith("3.12.")
    text = lock.read_text()
    assert "--find-links" not in text
    assert str(wheels.folder) not in text

    # Nothing changed: the lock is not rewritten, and `--check` says it is up to date.
    before = lock.stat()
    again = run_nox(project, wheels, "-s", "relock")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "unchanged (not rewritten)" in again.stdout + again.stderr
    after = lock.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    check = run_nox(project, wheels, "-s", "relock", "--", "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "is up to date" in check.stdout + check.stderr

    # The policy now requires extra-thing too: `--check` fails with a diff, writing nothing.
    pyproject.write_text(
        pyproject.read_text().replace('"beta-pkg>=2"]', '"beta-pkg>=2", "extra-thing"]')
    )
    content = lock.read_bytes()
    stale = run_nox(project, wheels, "-s", "relock", "--", "--check")
    output = stale.stdout + stale.stderr
    assert stale.returncode == 1, output
    assert "is out of date; run `nox -s relock`" in output
    assert "+extra-thing==1.0" in output
    assert lock.read_bytes() == content
    assert sorted(p.name for p in lock.parent.iterdir()) == ["py3.12.txt"]

    # Interrupted: pip-compile is made to hang on an index that never answers, so that Ctrl-C
    # lands while it runs in its work folder, whatever the machine's speed.
    with loopback.silent() as index:
        env = nox_env(wheels, {"PIP_INDEX_URL": f"http://127.0.0.1:{index.port}/simple"})
        env.pop("PIP_NO_INDEX")
        env["PIP_FIND_LINKS"] = ""
        with not_ignored(signal.SIGINT):  # the SIGINT sent below must not be ignored
            process = subprocess.Popen(
                [sys.executable, "-m", "preflight", "relock", "--project", str(project)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        try:
            deadline = time.monotonic() + 60
            while not list(lock.parent.glob(".relock-*")):
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "pip-compile never started"
                time.sleep(0.05)
            index.wait_connected()  # pip-compile is now waiting on the silent index
            process.send_signal(signal.SIGINT)
            _, rest = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 130, rest
    assert "Traceback" not in rest
    assert lock.read_bytes() == content
    assert sorted(p.name for p in lock.parent.iterdir()) == ["py3.12.txt"]

    # Failing half way (a requirement no index has): the old lock stays, whole and alone.
    pyproject.write_text(pyproject.read_text().replace('"extra-thing"]', '"gone>=1"]'))
    failed = run_nox(project, wheels, "-s", "relock")
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output
    assert "pip-compile failed" in output
    assert lock.read_bytes() == content
    assert sorted(p.name for p in lock.parent.iterdir()) == ["py3.12.txt"]


def test_a_missing_lock_builds_nothing_and_says_to_relock(
    nox_project: Callable[..., Path], wheels: Wheels, python312: Path
) -> None:
    project = nox_project(pythons=["3.12"])
    (project / "requirements" / "py3.12.txt").unlink()
    done = run_nox(project, wheels, "-s", "preflight-3.12")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output
    assert "py3.12.txt does not exist: there is no lock for Python 3.12 yet" in output
    assert "hint: compile it with `nox -s relock`" in output
    assert not (project / ".nox" / "preflight-3.12" / "env").exists(), "a venv built for nothing"
    (row,) = summary(project)["interpreters"]  # type: ignore[misc]
    assert row["verdict"] == "ERROR"
    assert row["message"].startswith("lock failed: "), row


def test_without_a_pyproject_nox_l_says_to_create_it_not_a_flag_nox_lacks(
    nox_project: Callable[..., Path], wheels: Wheels
) -> None:
    project = nox_project()
    (project / "pyproject.toml").unlink()
    done = run_nox(project, wheels, "-l")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "pyproject.toml: file not found" in output
    assert "hint: preflight.nox reads [tool.preflight] from the pyproject.toml beside" in output
    assert "--project" not in output
    assert "Traceback" not in output


def test_an_invalid_policy_is_one_clear_error_not_a_traceback(
    nox_project: Callable[..., Path], wheels: Wheels
) -> None:
    project = nox_project()
    (project / "pyproject.toml").write_text('[tool.preflight]\npythons = "3.12"\nrequires = []\n')
    done = run_nox(project, wheels, "-l")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "error: " in output
    assert "key 'pythons': must be a list of strings" in output
    assert "Traceback" not in output


# --- bytecode paid once (issue 17 item 4) -------------------------------------------------


@pytest.mark.parametrize("backend", ["uv"])
def test_the_built_envs_pycs_are_compiled_before_its_first_start_and_recorded(
    nox_project: Callable[..., Path], wheels: Wheels, python312: Path, tmp_path: Path, backend: str
) -> None:
    """verify → compile + record → first start: the session's env has its pycs, written by
    preflight from the verified sources, and known as verified (a second check compiles
    nothing); a pyc tampered with after that is still caught."""
    if shutil.which("uv") is None:
        pytest.skip("uv is not installed")
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    project = nox_project()
    env = {"PREFLIGHT_BACKEND": backend, "PREFLIGHT_CACHE_DIR": str(cache)}
    done = run_nox(project, wheels, "-s", "preflight-3.12", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(
        (project / "reports" / "preflight-3.12" / "runtime_verification_results.json").read_text()
    )
    details = report["checks"]["bytecode"]["details"]
    assert details["written"] == 2, details  # alpha/__init__.py, beta_pkg/__init__.py
    assert details["compiled"] == 0, "the first start found them: it wrote none of its own"
    assert report["checks"]["performance"]["details"]["first_start_seconds"] is not None
    python = project / ".nox" / "preflight-3.12" / "env" / "bin" / "python"
    (site,) = (project / ".nox" / "preflight-3.12" / "env" / "lib").glob("python3.12/site-packages")
    pycs = sorted(str(p.relative_to(site)) for p in site.rglob("*.pyc"))
    assert pycs == ["alpha/__pycache__/__init__.cpython-312.pyc",
                    "beta_pkg/__pycache__/__init__.cpython-312.pyc"]  # fmt: skip
    environ = {**os.environ, "PREFLIGHT_CACHE_DIR": str(cache)}
    again = preflight.check(python, project=project, environ=environ, skip=("performance",))
    bytecode = next(c for c in again.checks if c.id == "bytecode")
    assert bytecode.details["compiled"] == 0, bytecode.details
    assert bytecode.details["verified_before"] == 2, bytecode.details
    # Tampered after: a valid header, other code; Python runs it, the check refuses it.
    source = site / "alpha" / "__init__.py"
    pyc = site / "alpha" / "__pycache__" / "__init__.cpython-312.pyc"
    tamper = (
        "import importlib.util, marshal, os, sys; s, p = sys.argv[1:3]; st = os.stat(s); "
        "le = lambda n: (n & 0xFFFFFFFF).to_bytes(4, 'little'); "
        "open(p, 'wb').write(importlib.util.MAGIC_NUMBER + le(0) + le(int(st.st_mtime)) "
        "+ le(st.st_size) + marshal.dumps(compile(\"__version__ = 'evil'\", s, 'exec')))"
    )
    wheelhouse.run([python, "-c", tamper, source, pyc])
    ran = wheelhouse.run([python, "-c", "import alpha; print(alpha.__version__)"])
    assert ran.stdout.strip() == "evil"
    late = preflight.check(python, project=project, environ=environ, skip=("performance",))
    assert late.status.value == "NOT_READY"
    bytecode = next(c for c in late.checks if c.id == "bytecode")
    assert [m["pyc"] for m in bytecode.details["mismatches"]] == [str(pyc)]


def test_the_lock_is_downloaded_in_parts_each_with_its_hashes_and_the_options(
    tmp_path: Path,
) -> None:
    """The wheelhouse is fetched side by side: every requirement of the lock, with all its
    hashes, in exactly one part; the lock's options in each; anything else (a nested file)
    downloaded whole."""
    lock = tmp_path / "py3.12.txt"
    lock.write_text(
        "# header\n--index-url https://example.invalid/simple\n"
        "alpha==1.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n    # via beta\n"
        "beta-pkg==2.0 --hash=sha256:cc  # inline\n"
        "gamma==3.0 \\\n    --hash=sha256:dd\n",
        encoding="utf-8",
    )
    parts = _split_lock(lock, parts=2)
    assert len(parts) == 2
    lines = [line.split() for part in parts for line in part.splitlines()]
    assert sorted(tuple(words) for words in lines if words[0] != "--index-url") == [
        ("alpha==1.0", "--hash=sha256:aa", "--hash=sha256:bb"),
        ("beta-pkg==2.0", "--hash=sha256:cc"),
        ("gamma==3.0", "--hash=sha256:dd"),
    ]
    assert all(part.startswith("--index-url https://example.invalid/simple\n") for part in parts)
    assert len(_split_lock(lock, parts=8)) == 3
    nested = tmp_path / "nested.txt"
    nested.write_text("-r py3.12.txt\nalpha==1.0 --hash=sha256:aa\n", encoding="utf-8")
    assert _split_lock(nested) == [nested.read_text(encoding="utf-8")]


def test_the_wheelhouse_is_fetched_by_hash_then_kept_by_hash_with_no_index(
    nox_project: Callable[..., Path], wheels: Wheels, python312: Path, tmp_path: Path
) -> None:
    """The first run fetches the locked files by their hashes in nox's process (from the
    find-links folder pip's configuration names), not with pip download; the second finds
    them in the wheelhouse by their hashes with no index and no find-links left at all."""
    if shutil.which("uv") is None:
        pytest.skip("uv is not installed")
    project = nox_project()
    done = run_nox(project, wheels, "-s", "preflight-3.12", env={"PREFLIGHT_BACKEND": "uv"})
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert ": 2 downloaded by hash" in output
    assert " download " not in output  # no pip download ran
    house = project / ".nox" / "preflight-3.12" / "wheelhouse"
    assert sorted(p.name for p in house.iterdir()) == sorted(w.name for w in wheels.locked)
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    offline = {
        "PREFLIGHT_BACKEND": "uv",
        "PIP_FIND_LINKS": str(empty),
        "PIP_NO_INDEX": "0",
        "PIP_INDEX_URL": f"http://127.0.0.1:{port}/simple/",
    }
    done = run_nox(project, wheels, "-s", "preflight-3.12", env=offline)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert ": 2 in place (hash checked)" in output
    assert " download " not in output
