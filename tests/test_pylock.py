"""PEP 751 locks: read into the same entries as a requirements file, judged for the target.

The end-to-end tests use a ``pylock.toml`` written by the real uv (offline, from a find-links
folder of tiny wheels), a venv installed from it by uv, and the real 3.11 / 3.12 interpreters.

Boundary: the PEP 751 reader (``_lock/pylock.py``) and what only a PEP 751 lock does end to
end; how its format is chosen, and what it shares with a requirements file, is
test_lock_format.py.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import wheelhouse as wh
from conftest import CliRun, Wheels, cli_env, real_python

import preflight
from preflight._errors import LockError
from preflight._lock.pylock import Pylock, parse_pylock, parse_pylock_text
from preflight._lock.select import Ambiguity
from preflight._ops.installable import installable_lock
from preflight._policy.policy import load_policy

PATH = Path("/p/pylock.toml")
UV = [sys.executable, "-m", "uv"]

HEAD = 'lock-version = "1.0"\ncreated-by = "test"\n'
ALPHA = textwrap.dedent(
    """\
    [[packages]]
    name = "alpha"
    version = "1.0"
    wheels = [{ name = "alpha-1.0-py3-none-any.whl", url = "https://x/alpha-1.0-py3-none-any.whl", hashes = { sha256 = "aa" } }]
    sdist = { name = "alpha-1.0.tar.gz", url = "https://x/alpha-1.0.tar.gz", hashes = { sha256 = "bb" } }
    """  # noqa: E501
)


def parse(text: str) -> Pylock:
    return parse_pylock_text(text, PATH)


def refused(text: str) -> LockError:
    with pytest.raises(LockError) as caught:
        parse(text)
    return caught.value


# --- reading ------------------------------------------------------------------------------


def test_a_package_is_an_entry_with_its_version_marker_and_file_hashes() -> None:
    marked = ALPHA.replace(
        'version = "1.0"', 'version = "1.0"\nmarker = "python_version < \'3.12\'"'
    )
    lock = parse(
        HEAD
        + 'requires-python = ">=3.11"\nenvironments = ["sys_platform == \'linux\'"]\n\n'
        + marked
    )
    (entry,) = lock.entries
    assert (entry.name, entry.version, entry.specifier) == ("alpha", "1.0", "==1.0")
    assert entry.hashes == ("sha256:aa", "sha256:bb")
    assert entry.markers == 'python_version < "3.12"'
    assert entry.line == 6  # its [[packages]] header
    assert entry.sound
    assert lock.requires_python == ">=3.11"
    assert lock.environments == ('sys_platform == "linux"',)
    assert lock.lock_version == "1.0"


def test_vcs_directory_and_archive_packages_are_not_index_pins() -> None:
    lock = parse(
        HEAD
        + textwrap.dedent(
            """\
            [[packages]]
            name = "a"
            vcs = { type = "git", url = "https://g/a", commit-id = "abc" }
            [[packages]]
            name = "b"
            directory = { path = "./b", editable = true }
            [[packages]]
            name = "c"
            version = "1"
            archive = { url = "https://x/c.zip", hashes = { sha256 = "cc" } }
            """
        )
    )
    a, b, c = lock.entries
    assert (a.url, a.pinned) == ("git+https://g/a@abc", False)
    assert (b.url, b.editable, b.pinned) == ("./b", True, False)
    assert (c.url, c.hashes, c.pinned) == ("https://x/c.zip", ("sha256:cc",), False)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            'lock-version = "2.0"\ncreated-by = "x"\npackages = []\n',
            "line 1: lock-version: 2.0 is not",
        ),
        ('created-by = "x"\npackages = []\n', "lock-version: missing"),
        ('lock-version = 1\ncreated-by = "x"\n', "lock-version: must be a string"),
        ("lock-version = [\n", "is not valid TOML"),
        (HEAD, "packages: Missing required value"),
        (HEAD + "packages = []\n", "packages: the lock lists no packages"),
        (
            HEAD + '[[packages]]\nname = "Alpha"\nversion = "1"\n',
            "line 3: packages[0].name: Name 'Alpha' is not normalized",
        ),
        (
            HEAD + ALPHA + '[[packages]]\nname = "b"\nversion = "x y"\n',
            "line 8: packages[1].version",
        ),
        (HEAD + ALPHA.replace('{ sha256 = "aa" }', "{}"), "packages[0].wheels[0].hashes"),
        (HEAD + ALPHA + "[tool]\npreflight = 3\n", "tool.preflight: must be a table"),
    ],
)
def test_a_malformed_lock_is_a_lock_error_naming_the_file_and_the_key(
    text: str, words: str
) -> None:
    error = refused(text)
    assert str(error).startswith(f"{PATH}"), error
    assert words in str(error)
    assert error.hint


def test_toml_that_tomllib_cannot_convert_is_a_lock_error() -> None:
    # A 5000-digit integer: tomllib raises a plain ValueError (int()'s digit limit).
    error = refused(HEAD + f"x = {'9' * 5000}\n" + ALPHA)
    assert "is not valid TOML: Exceeds the limit" in str(error)


def test_a_newer_minor_lock_version_is_read_and_kept(caplog: pytest.LogCaptureFixture) -> None:
    lock = parse(HEAD.replace("1.0", "1.3") + ALPHA)
    assert lock.lock_version == "1.3"
    assert not caplog.records, "nothing printed behind the report's back"


def test_markers_are_evaluated_for_the_given_environment_in_the_lock_file_context() -> None:
    text = HEAD + textwrap.dedent(
        """\
        default-groups = ["dev"]
        [[packages]]
        name = "a"
        version = "1"
        marker = "python_version < '3.12'"
        archive = { url = "https://x/a.zip", hashes = { sha256 = "a1" } }
        [[packages]]
        name = "a"
        version = "2"
        marker = "python_version >= '3.12'"
        archive = { url = "https://x/a.zip", hashes = { sha256 = "a2" } }
        [[packages]]
        name = "t"
        version = "1"
        marker = "'dev' in dependency_groups"
        archive = { url = "https://x/t.zip", hashes = { sha256 = "t1" } }
        """
    )
    lock = parse(text)
    for python, version in (("3.11", "1"), ("3.12", "2")):
        chosen = lock.applicable({"python_version": python})
        assert not isinstance(chosen, Ambiguity)
        assert [(e.name, e.version) for e in chosen] == [("a", version), ("t", "1")]
    no_groups = dataclasses.replace(lock, default_groups=())
    assert [e.name for e in no_groups.select({"python_version": "3.12"}).entries] == ["a"]


def test_a_pylock_is_selected_and_judged_ambiguous_as_a_requirements_file_is(
    tmp_path: Path,
) -> None:
    """One selection path (``select.py``): the same Ambiguity, the same LockError wording."""
    text = HEAD + textwrap.dedent(
        """        [[packages]]
        name = "a"
        version = "1"
        marker = "python_version >= '3.11'"
        archive = { url = "https://x/a.zip", hashes = { sha256 = "a1" } }
        [[packages]]
        name = "a"
        version = "2"
        marker = "python_version >= '3.12'"
        archive = { url = "https://x/a.zip", hashes = { sha256 = "a2" } }
        """
    )
    (tmp_path / "pylock.toml").write_text(text, encoding="utf-8")
    selected = preflight.read_lock(tmp_path / "pylock.toml", environment={"python_version": "3.11"})
    assert isinstance(selected, Pylock), "selection keeps what the lock says of itself"
    assert [(e.name, e.version) for e in selected.entries] == [("a", "1")]
    ambiguous = parse(text).applicable({"python_version": "3.12"})
    assert isinstance(ambiguous, Ambiguity)
    assert ambiguous.describe().startswith("a is pinned by lines 3 and 8 (")
    with pytest.raises(LockError, match="the lock is ambiguous for this interpreter: a is pinned"):
        preflight.read_lock(tmp_path / "pylock.toml", environment={"python_version": "3.12"})


def test_the_read_is_bounded_and_a_missing_lock_says_so(tmp_path: Path) -> None:
    with pytest.raises(LockError, match="lock file does not exist"):
        parse_pylock(tmp_path / "pylock.toml")
    fifo = tmp_path / "pylock.fifo.toml"
    os.mkfifo(fifo)
    with pytest.raises(LockError, match="FIFO"):
        parse_pylock(fifo)


def test_the_policy_may_name_one_pylock_for_every_interpreter(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.preflight]\npythons = ["3.12", "3.11"]\nrequires = ["alpha"]\n'
        'lock = "pylock.toml"\n',
        encoding="utf-8",
    )
    policy = load_policy(tmp_path)
    assert policy.lock_path("3.11") == policy.lock_path("3.12") == tmp_path / "pylock.toml"


# --- end to end: a lock written by uv -----------------------------------------------------


def uv_env(wheels: Wheels, tmp_path: Path) -> dict[str, str]:
    return cli_env(
        {
            "UV_NO_INDEX": "1",
            "UV_OFFLINE": "1",
            "UV_FIND_LINKS": str(wheels.folder),
            "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
            "UV_NO_CONFIG": "1",
        }
    )


def uv_pylock(wheels: Wheels, tmp_path: Path, python: Path, *requires: str) -> Path:
    """``uv pip compile -o pylock.toml`` of ``requires`` for ``python``, offline."""
    folder = tmp_path / "lockdir"
    folder.mkdir()
    (folder / "requirements.in").write_text("\n".join(requires) + "\n", encoding="utf-8")
    wh.run(
        [*UV, "pip", "compile", "--quiet", "--python", python, "-o", "pylock.toml",
         "requirements.in"],
        cwd=folder, env=uv_env(wheels, tmp_path),
    )  # fmt: skip
    return folder / "pylock.toml"


def uv_venv(wheels: Wheels, tmp_path: Path, python: Path, lock: Path, name: str) -> Path:
    """A venv of ``python`` installed from ``lock`` by uv (as `uv pip install -r` does)."""
    venv_python = wh.make_venv(python, tmp_path / name, with_pip=False)
    wh.run(
        [*UV, "pip", "install", "--quiet", "--python", venv_python, "-r", lock],
        env=uv_env(wheels, tmp_path),
    )
    return venv_python


@pytest.fixture
def pylock_project(make_project: Callable[..., Path]) -> Path:
    """A project whose policy allows 3.12 and 3.11, so that only the lock can refuse one."""
    return make_project(pythons=("3.12", "3.11"), locks=())


def check(run_check: Callable[..., CliRun], python: Path, project: Path, lock: Path) -> CliRun:
    return run_check(
        "--python", python, "--project", project, "--lock", lock, "--skip", "performance"
    )


@pytest.mark.slow
def test_an_env_built_from_a_uv_pylock_is_ready_and_refused_when_it_differs(
    tmp_path: Path,
    wheels: Wheels,
    pylock_project: Path,
    run_check: Callable[..., CliRun],
) -> None:
    py312 = real_python("3.12").path
    lock = uv_pylock(wheels, tmp_path, py312, "alpha>=1", "beta-pkg>=2")
    assert 'created-by = "uv"' in lock.read_text(encoding="utf-8")
    venv = uv_venv(wheels, tmp_path, py312, lock, "venv")

    ready = check(run_check, venv, pylock_project, lock)
    assert ready.returncode == 0, ready.stderr
    assert ready.report["status"] == "READY"
    assert ready.check("wheel_status")["details"]["requires_python"].startswith(">=3.12")
    assert ready.check("lock_sync")["details"]["locked"] == 2

    # An extra package, then another version of a locked one.
    wh.pip_install(venv, ["extra-thing==1.0"], find_links=wheels.folder, own_pip=False)
    extra = check(run_check, venv, pylock_project, lock)
    assert extra.returncode == 1
    assert "extra-thing 1.0 is installed but not in" in extra.findings("lock_sync")
    wh.pip_uninstall(venv, ["extra-thing"], own_pip=False)
    wh.pip_install(
        venv, ["--force-reinstall", "--no-deps", "alpha==0.9"], find_links=wheels.folder,
        own_pip=False,
    )  # fmt: skip
    other = check(run_check, venv, pylock_project, lock)
    assert other.returncode == 1
    assert f"alpha 0.9 is installed but {lock} pins 1.0" in other.findings("lock_sync")


@pytest.mark.slow
def test_an_interpreter_outside_requires_python_is_refused_naming_both(
    tmp_path: Path,
    wheels: Wheels,
    pylock_project: Path,
    run_check: Callable[..., CliRun],
) -> None:
    py312, py311 = real_python("3.12").path, real_python("3.11").path
    lock = uv_pylock(wheels, tmp_path, py312, "alpha>=1", "beta-pkg>=2")
    requires_python = parse_pylock(lock).requires_python
    assert requires_python is not None
    # The same packages, installed under 3.11: everything matches but the interpreter.
    venv = wh.make_venv(py311, tmp_path / "venv311", with_pip=False)
    wh.pip_install(venv, ["alpha==1.0", "beta-pkg==2.0"], find_links=wheels.folder, own_pip=False)
    run = check(run_check, venv, pylock_project, lock)
    assert run.returncode == 1
    assert run.check("lock_sync")["status"] == "pass"
    message = run.findings("wheel_status")
    assert f"requires-python {requires_python}, but the interpreter is Python 3.11." in message


@pytest.mark.slow
def test_relock_writes_a_pylock_for_every_interpreter_that_check_reads(
    tmp_path: Path, wheels: Wheels, make_project: Callable[..., Path]
) -> None:
    real_python("3.12")
    real_python("3.11")
    project = make_project(pythons=("3.12", "3.11"), locks=(), extra='lock = "pylock.toml"')
    argv = [sys.executable, "-m", "preflight", "relock", "--project", project, "--format", "pylock"]
    env = uv_env(wheels, tmp_path)
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    lock = parse_pylock(project / "pylock.toml")
    assert lock.requires_python == ">=3.11"  # universal: from the lowest X.Y of the policy
    assert {e.name: e.version for e in lock.entries} == {"alpha": "1.0", "beta-pkg": "2.0"}
    assert lock.header.preflight["inputs"].startswith("sha256:")
    again = subprocess.run([*argv, "--check"], capture_output=True, text=True, env=env, check=False)
    assert again.returncode == 0, again.stderr
    assert "is up to date" in again.stderr
    # --format names what the policy's lock already is: the other one is refused.
    wrong = subprocess.run(
        [*argv[:-1], "requirements"], capture_output=True, text=True, env=env, check=False
    )
    assert wrong.returncode == 3
    assert "is a PEP 751 lock" in wrong.stderr


@pytest.mark.slow
def test_the_nox_sessions_install_a_pylock_as_its_pins_for_the_target(
    tmp_path: Path,
    wheels: Wheels,
    pylock_project: Path,
    run_check: Callable[..., CliRun],
) -> None:
    # pip cannot install from a pylock.toml: the sessions hand it the pins selected for the
    # target (installable_lock), hashes required, and judge the env against the pylock.
    py312 = real_python("3.12").path
    lock = uv_pylock(wheels, tmp_path, py312, "alpha>=1", "beta-pkg>=2")
    venv = wh.make_venv(py312, tmp_path / "venv")
    pins = installable_lock(lock, venv, tmp_path / "pins")
    lines = [line for line in pins.read_text(encoding="utf-8").splitlines() if line[:1] != "#"]
    assert [line.split()[0] for line in lines] == ["alpha==1.0", "beta-pkg==2.0"]
    assert all("--hash=sha256:" in line for line in lines)
    wh.pip_install(venv, ["--require-hashes", "--no-deps", "-r", pins], find_links=wheels.folder)
    ready = check(run_check, venv, pylock_project, lock)
    assert ready.returncode == 0, ready.stderr
    assert ready.report["status"] == "READY"
    # A requirements lock is installed as it is.
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("alpha==1.0\n", encoding="utf-8")
    assert installable_lock(requirements, venv, tmp_path / "pins") == requirements


def test_a_pylock_source_that_is_no_index_pin_cannot_be_installed_with_hashes(
    tmp_path: Path,
) -> None:
    lock = tmp_path / "pylock.toml"
    lock.write_text(
        'lock-version = "1.0"\ncreated-by = "test"\n'
        '[[packages]]\nname = "tool"\nversion = "1.0"\n'
        '[packages.vcs]\ntype = "git"\nurl = "https://example.com/tool.git"\n'
        'commit-id = "0123456789abcdef0123456789abcdef01234567"\n',
        encoding="utf-8",
    )
    with pytest.raises(LockError, match="tool is not an index pin with hashes"):
        installable_lock(lock, Path(sys.executable), tmp_path / "pins")
