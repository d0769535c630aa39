"""One census of the installed files, as Python sees them: links, write permissions, bytecode.

Each tampering is done to a real 3.12 venv (pip or uv installing tiny wheels) and judged
through the CLI: NOT_READY (exit 1) with the ``integrity`` check and the file named. Where the
tampering hides code, plain Python is first shown to run it (a marker file appears).
"""

from __future__ import annotations

import collections
import grp
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
import threading
import warnings
import zipfile
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import factories
import pytest
import wheelhouse
from conftest import Wheels, run_preflight, write_project

import preflight
from preflight._checks import integrity as integrity_check
from preflight._facts import census, integrity
from preflight._facts import wheels as wheels_module
from preflight._facts.census import Read
from preflight._facts.model import (
    Exposure,
    FileProblem,
    IntegrityFacts,
    InterpreterFacts,
    UnownedEntry,
)
from preflight._facts.probes import probe_interpreter
from preflight._report.model import Report

FAST = ("--skip", "performance")  # these tests judge files, not import timings
SIX = "X = 1\n"
INIT = "from tidy.core import answer\n"
CORE = "def answer():\n    return 42\n"


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory) -> Wheels:
    """``six`` (a top-level module, as the real one is) and ``tidy`` (a package)."""
    return six_and_tidy(tmp_path_factory.mktemp("census-wheels"))


def six_and_tidy(
    folder: Path, *, six: dict[str, str] | None = None, tidy: dict[str, str] | None = None
) -> Wheels:
    """The wheels these tests install, in ``folder``: ``six`` (a top-level module) and
    ``tidy`` (a package), with the members ``six`` or ``tidy`` given instead of their own."""
    folder.mkdir(parents=True, exist_ok=True)
    six_wheel = wheelhouse.build_wheel(folder, "six", "1.0", files=six or {"six.py": SIX})
    tidy_wheel = wheelhouse.build_wheel(
        folder, "tidy", "1.0", files=tidy or {"tidy/__init__.py": INIT, "tidy/core.py": CORE}
    )
    return Wheels(folder=folder, alpha=six_wheel, alpha_old=six_wheel, beta=tidy_wheel,
                  extra=six_wheel)  # fmt: skip


@pytest.fixture(scope="module")
def census_project(tmp_path_factory: pytest.TempPathFactory, house: Wheels) -> Path:
    return write_project(
        tmp_path_factory.mktemp("census-project"), house, requires=("six>=1", "tidy>=1")
    )


@pytest.fixture(scope="module")
def pip_env(
    tmp_path_factory: pytest.TempPathFactory, python312: Path, census_project: Path, house: Wheels
) -> Path:
    """A 3.12 venv pip installed from the project's lock (read-only: copy it to change it)."""
    root = tmp_path_factory.mktemp("census-pip")
    lock = census_project / "requirements" / "py3.12.txt"
    return wheelhouse.install_locked(python312, root / "venv", house.folder, lock)


@pytest.fixture
def env(pip_env: Path, tmp_path: Path) -> Path:
    """This test's copy of the pip-installed venv; returns its python."""
    return wheelhouse.copy_venv(pip_env.parent.parent, tmp_path / "venv")


def site_of(python: Path) -> Path:
    return wheelhouse.site_packages(python)


def check(
    python: Path, project: Path, tmp_path: Path, *extra: str | Path, check_id: str = "integrity"
) -> dict[str, Any]:
    """``preflight check`` through the CLI; its exit code and the (integrity) check's result."""
    reports = tmp_path / f"reports-{len(list(tmp_path.glob('reports-*')))}"
    done = run_preflight(
        "check", "--python", python, "--project", project, "--report-dir", reports,
        "--format", "json", *FAST, *extra, cwd=tmp_path,
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    result: dict[str, Any] = report["checks"][check_id]
    result["exit_code"] = done.returncode
    result["text"] = "\n".join(f["message"] for f in result["findings"])
    return result


def refused(result: dict[str, Any], *names: str | Path) -> None:
    assert result["exit_code"] == 1, result
    assert result["status"] == "fail", result
    for name in names:
        assert str(name) in result["text"], result["text"]


def ready(result: dict[str, Any]) -> None:
    assert result["status"] == "pass", result["text"]
    assert result["exit_code"] == 0, result


def run_python(python: Path, *args: str, extra: dict[str, str] | None = None) -> None:
    env = wheelhouse.hermetic_env(extra)
    subprocess.run([str(python), *args], check=True, env=env, timeout=120, capture_output=True)


def poisoned_pyc(python: Path, pyc: Path, marker: Path, body: str) -> None:
    """A pyc that writes ``marker`` and then does what ``body`` does. Unchecked-hash: Python
    loads it without looking at the source beside it, whatever that holds."""
    source = pyc.parent / "poison_src.py"
    source.write_text(f"open({str(marker)!r}, 'w').write('ran')\n{body}", encoding="utf-8")
    pyc.parent.mkdir(parents=True, exist_ok=True)
    run_python(
        python, "-c",
        "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], "
        "doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)",
        str(source), str(pyc),
    )  # fmt: skip
    source.unlink()


def runs_on_import(python: Path, marker: Path) -> None:
    """Plain Python (site on, bytecode read) runs the poison when ``tidy`` is imported."""
    assert not marker.exists()
    run_python(python, "-c", "import tidy.core; assert tidy.core.answer() == 42")
    assert marker.read_text() == "ran"
    marker.unlink()


# --- what stays READY ----------------------------------------------------------------------


def test_a_pip_installed_venv_is_ready(env: Path, census_project: Path, tmp_path: Path) -> None:
    result = check(env, census_project, tmp_path)
    ready(result)
    assert result["details"]["exposed"] == []


@pytest.mark.parametrize("flags", [(), ("-O",), ("-OO",)])
def test_runtime_bytecode_at_every_level_is_not_unowned(
    env: Path, census_project: Path, tmp_path: Path, flags: tuple[str, ...]
) -> None:
    """``python -O -c "import six"`` writes ``__pycache__/six.cpython-312.opt-1.pyc`` at the
    top of site-packages (and tidy's in tidy/__pycache__): no RECORD lists it, and it is
    still not "an importable module that no installed distribution owns"."""
    site = site_of(env)
    for cache in site.rglob("__pycache__"):
        shutil.rmtree(cache)
    wheelhouse.import_writing_bytecode(env, ["six", "tidy.core"], *flags)
    level = {(): "", ("-O",): ".opt-1", ("-OO",): ".opt-2"}[flags]
    written = site / "__pycache__" / f"six.cpython-312{level}.pyc"
    assert written.is_file()
    assert (site / "tidy" / "__pycache__" / f"core.cpython-312{level}.pyc").is_file()
    ready(check(env, census_project, tmp_path))


def test_uv_with_compile_bytecode_is_ready(
    python312: Path, census_project: Path, house: Wheels, tmp_path: Path
) -> None:
    """uv compiles bytecode its RECORD does not list, at the top of site-packages too."""
    python = wheelhouse.make_venv(python312, tmp_path / "uv-venv", with_pip=False)
    lock = census_project / "requirements" / "py3.12.txt"
    wheelhouse.uv_install(python, house.folder, lock, compile_bytecode=True)
    site = site_of(python)
    assert (site / "__pycache__" / "six.cpython-312.pyc").is_file()
    assert "six.cpython-312.pyc" not in (site / "six-1.0.dist-info" / "RECORD").read_text()
    ready(check(python, census_project, tmp_path))


def test_group_write_by_the_owners_private_group_is_not_a_finding(
    env: Path, census_project: Path, tmp_path: Path
) -> None:
    """A umask of 002 with user private groups (Debian's default for users) is not loose."""
    core = site_of(env) / "tidy" / "core.py"
    info = core.stat()
    if not census._private_group(info.st_uid, info.st_gid):
        pytest.skip("the file's group is not its owner's private group on this machine")
    core.chmod(0o664)
    ready(check(env, census_project, tmp_path))


# --- links ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["record", "wheelhouse"])
def test_a_record_file_swapped_for_a_link_to_an_identical_copy_is_refused(
    env: Path, census_project: Path, tmp_path: Path, house: Wheels, mode: str
) -> None:
    """Same bytes today: the RECORD hash (and the locked wheel's) matches through the link.
    The target is outside the environment and can change after the check."""
    core = site_of(env) / "tidy" / "core.py"
    outside = tmp_path / "elsewhere" / "core.py"
    outside.parent.mkdir()
    shutil.copy2(core, outside)
    core.unlink()
    core.symlink_to(outside)
    extra = ("--wheelhouse", house.folder) if mode == "wheelhouse" else ()
    result = check(env, census_project, tmp_path, *extra)
    refused(result, "tidy/core.py is a symlink", outside)
    (problem,) = [p for p in result["details"]["problems"] if p["kind"] == "symlink"]
    assert problem == {
        "dist": "tidy",
        "path": "tidy/core.py",
        "kind": "symlink",
        "detail": f"a symlink to {outside}, not a file",
    }


@pytest.mark.parametrize("case", ["package", "__pycache__", "package --wheelhouse"])
def test_a_linked_folder_with_a_poisoned_pyc_is_entered_and_refused(
    env: Path, census_project: Path, tmp_path: Path, house: Wheels, case: str
) -> None:
    """A package folder (or its ``__pycache__``) moved outside and linked back, a poisoned
    pyc beside the untouched sources: Python's import runs it; the check refuses the link."""
    linked, _, mode = case.partition(" ")
    site = site_of(env)
    wheelhouse.import_writing_bytecode(env, ["tidy.core"])
    outside = tmp_path / "elsewhere"
    marker = tmp_path / "poison-ran"
    if linked == "package":
        folder = site / "tidy"
        copy = outside / "tidy"
    else:
        folder = site / "tidy" / "__pycache__"
        copy = outside / "__pycache__"
    shutil.copytree(folder, copy)
    cache = copy / "__pycache__" if linked == "package" else copy
    poisoned_pyc(env, cache / "core.cpython-312.pyc", marker, CORE)
    shutil.rmtree(folder)
    folder.symlink_to(copy, target_is_directory=True)
    runs_on_import(env, marker)
    extra = (mode, house.folder) if mode else ()
    result = check(env, census_project, tmp_path, *extra)
    refused(result, f"{folder} is a symlinked folder import would enter", copy)
    (exposed,) = result["details"]["exposed"]
    assert exposed["kind"] == "linked_folder"
    assert exposed["path"] == str(folder)
    assert "outside the environment" in exposed["detail"]
    assert not marker.exists()


def test_a_linked_folder_is_entered_by_the_unowned_scan(
    env: Path, census_project: Path, tmp_path: Path
) -> None:
    """A module dropped into a package folder that is a link is found, as import finds it."""
    site = site_of(env)
    copy = tmp_path / "elsewhere" / "tidy"
    shutil.copytree(site / "tidy", copy)
    (copy / "evil.py").write_text("import os\n", encoding="utf-8")
    shutil.rmtree(site / "tidy")
    (site / "tidy").symlink_to(copy, target_is_directory=True)
    result = check(env, census_project, tmp_path)
    refused(result, f"{site / 'tidy' / 'evil.py'} is an importable module")


def test_a_link_leaving_the_environment_is_refused(
    env: Path, census_project: Path, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("data\n", encoding="utf-8")
    link = site_of(env) / "tidy" / "data.txt"
    link.symlink_to(target)
    result = check(env, census_project, tmp_path)
    refused(result, f"{link} is a symlink leaving the environment")
    assert [e["kind"] for e in result["details"]["exposed"]] == ["link_outside"]


# --- write permissions --------------------------------------------------------------------


@pytest.mark.parametrize("what", ["code", "package folder", "__pycache__", "site-packages"])
def test_world_writable_code_or_folder_is_refused(
    env: Path, census_project: Path, tmp_path: Path, what: str
) -> None:
    site = site_of(env)
    wheelhouse.import_writing_bytecode(env, ["tidy.core"])
    path = {
        "code": site / "tidy" / "core.py",
        "package folder": site / "tidy",
        "__pycache__": site / "tidy" / "__pycache__",
        "site-packages": site,
    }[what]
    mode = stat.S_IMODE(path.stat().st_mode) | stat.S_IWOTH
    path.chmod(mode)
    result = check(env, census_project, tmp_path)
    refused(result, f"{path} is writable by others than its owner", f"mode {mode:04o}")
    assert [e["path"] for e in result["details"]["exposed"]] == [str(path)]


def test_group_write_by_a_shared_group_is_refused(
    env: Path, census_project: Path, tmp_path: Path
) -> None:
    core = site_of(env) / "tidy" / "core.py"
    info = core.stat()
    shared = [g for g in grp.getgrall() if not census._private_group(info.st_uid, g.gr_gid)]
    if os.geteuid() != 0 or not shared:
        pytest.skip("needs root and a group that is not the owner's own")
    os.chown(core, -1, shared[0].gr_gid)
    core.chmod(0o664)
    result = check(env, census_project, tmp_path)
    refused(result, f"{core} is writable by others than its owner", repr(shared[0].gr_name))
    assert "not its owner's private group" in result["text"]


def test_a_world_writable_file_that_is_no_code_is_not_a_finding(
    env: Path, census_project: Path, tmp_path: Path
) -> None:
    """Only code and the folders import reads: a data file's mode is the baseline's."""
    record = next(site_of(env).glob("tidy-*.dist-info")) / "METADATA"
    record.chmod(0o666)
    ready(check(env, census_project, tmp_path))


# --- one read per file --------------------------------------------------------------------


def test_with_a_baseline_each_file_is_read_once(
    env: Path, census_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """integrity (RECORD) and baseline compare one census: every file is opened once, and
    the RECORD-hashed ones among them (before, each was hashed twice)."""
    manifest = tmp_path / "kept" / "baseline.json"
    done = run_preflight(
        "baseline", "--python", env, "--project", census_project, "--output", manifest,
        "--report-dir", tmp_path / "r-baseline", *FAST, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    reads: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    real = census.read_file

    def counted(
        path: str, algorithms: Collection[str], stop: threading.Event | None = None, **kw: Any
    ) -> Read | None:
        with lock:
            reads[path] += 1
        return real(path, algorithms, stop, **kw)

    monkeypatch.setattr(census, "read_file", counted)
    report: Report = preflight.check(
        env, project=census_project, skip=("performance",), baseline=manifest
    )
    statuses = {c.id: c.status.label for c in report.checks}
    assert statuses["integrity"] == "pass", statuses
    assert statuses["baseline"] == "pass", statuses
    site = site_of(env)
    records = {str(p) for p in site.glob("*.dist-info/RECORD")}
    files = [p for p in env.parent.parent.rglob("*") if p.is_file() and not p.is_symlink()]
    walked = {str(p) for p in files if p.is_relative_to(site) or p.parent == env.parent}
    assert walked - records <= set(reads), sorted(walked - set(reads))[:5]
    assert str(site / "tidy" / "core.py") in reads  # hashed for RECORD and the baseline
    assert records
    assert not records & set(reads)  # read once, to be parsed; its digest taken then
    assert max(reads.values()) == 1, [p for p, n in reads.items() if n > 1]
    (baseline,) = [c for c in report.checks if c.id == "baseline"]
    (integrity,) = [c for c in report.checks if c.id == "integrity"]
    assert baseline.details["bytes_hashed"] >= integrity.details["bytes_checked"] > 0


def test_a_record_row_in_another_algorithm_is_read_once_with_both(tmp_path: Path) -> None:
    """sha256 for the census and sha512 for the row: one pass, two digests."""
    path = tmp_path / "f"
    path.write_bytes(b"x" * 3_000_000)
    found = census.read_file(str(path), ["sha256", "sha512"])
    assert found is not None
    assert found.digests == {
        "sha256": hashlib.sha256(path.read_bytes()).digest(),
        "sha512": hashlib.sha512(path.read_bytes()).digest(),
    }
    assert found.size == 3_000_000
    assert found.content is None


def test_the_census_is_taken_once_for_integrity_and_baseline(
    env: Path, census_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[int] = []
    real: Callable[..., census.Census] = census.take

    def counting(*args: Any, **kwargs: Any) -> census.Census:
        taken.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(integrity, "take", counting)
    manifest = tmp_path / "kept" / "baseline.json"
    done = run_preflight(
        "baseline", "--python", env, "--project", census_project, "--output", manifest,
        "--report-dir", tmp_path / "r-baseline", *FAST, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    preflight.check(env, project=census_project, skip=("performance",), baseline=manifest)
    assert taken == [1]


# --- in process: the census itself -------------------------------------------------------


def scan(python: Path) -> IntegrityFacts:
    facts = probe_interpreter(str(python))
    assert isinstance(facts, InterpreterFacts), facts
    return integrity.scan(facts)


def test_a_folder_linked_into_a_loop_is_named_not_walked_for_ever(env: Path) -> None:
    """``tidy/again -> ..``: import could go round for ever; the census enters it once."""
    site = site_of(env)
    loop = site / "tidy" / "again"
    loop.symlink_to("..", target_is_directory=True)
    result = scan(env)
    assert [(e.path, e.kind) for e in result.exposed] == [(str(loop), "linked_folder")]
    again = site / "tidy" / "again" / "tidy"
    assert not any(str(u.path).startswith(str(again)) for u in result.unowned)


def test_unowned_start_up_modules_say_so(env: Path) -> None:
    """sitecustomize and usercustomize run at every start: their own kind, not a "module"."""
    site = site_of(env)
    (site / "sitecustomize.py").write_text("import os\n", encoding="utf-8")
    (site / "usercustomize").mkdir()
    (site / "usercustomize" / "__init__.py").write_text("", encoding="utf-8")
    (site / "evil.py").write_text("", encoding="utf-8")
    kinds = {Path(u.path).name: u.kind for u in scan(env).unowned}
    assert kinds == {
        "sitecustomize.py": "startup_module",
        "usercustomize": "startup_module",
        "evil.py": "module",
    }


def test_the_check_names_each_exposure_and_its_remedy() -> None:
    """Pure: facts by hand, the check's findings and details."""
    facts = IntegrityFacts(
        files_checked=1,
        bytes_checked=1,
        problems=(FileProblem("tidy", "tidy/core.py", "symlink", "a symlink to /x, not a file"),),
        unowned=(UnownedEntry("/site/sitecustomize.py", "startup_module"),),
        without_record=(),
        exposed=(
            Exposure("/site/tidy", "linked_folder", "a folder import enters is a symlink to /x"),
            Exposure("/site/tidy/a.py", "writable", "code: mode 0646: any user can write it"),
            Exposure("/site/d.txt", "link_outside", "a symlink to /y"),
        ),
    )
    result = integrity_check.integrity(factories.context(integrity=facts))
    messages = [f.message for f in result.findings]
    assert messages == [
        "tidy: tidy/core.py is a symlink (a symlink to /x, not a file)",
        "/site/tidy is a symlinked folder import would enter: a folder import enters is a "
        "symlink to /x",
        "/site/tidy/a.py is writable by others than its owner: code: mode 0646: any user can "
        "write it",
        "/site/d.txt is a symlink leaving the environment: a symlink to /y",
        "/site/sitecustomize.py is a start-up module (site imports it at every start) that no "
        "installed distribution owns",
    ]
    assert result.details["exposed"][0] == {
        "path": "/site/tidy",
        "kind": "linked_folder",
        "detail": "a folder import enters is a symlink to /x",
    }


# --- ownership: root or the environment's owner, and the folders above ----------------------

NOBODY = 65534
AS_NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


@pytest.fixture
def open_tmp() -> Any:
    """A folder straight under ``/tmp`` (sticky, root's) that ``nobody`` can reach: pytest's
    ``tmp_path`` is below a 0700 folder of root's."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv")
    folder = Path(tempfile.mkdtemp(prefix="preflight-census-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def as_nobody(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AS_NOBODY, *map(str, argv)], capture_output=True, text=True, timeout=300,
        env=wheelhouse.hermetic_env({"HOME": "/nonexistent"}), check=False,
    )  # fmt: skip


def test_code_owned_by_another_user_is_refused_whatever_its_mode(
    pip_env: Path, census_project: Path, open_tmp: Path, tmp_path: Path
) -> None:
    """A module of root's environment given to ``nobody``, mode 0644: nobody can put code in
    it and take it out again (the hashes match by the time of the check), so it is refused."""
    python = wheelhouse.copy_venv(pip_env.parent.parent, open_tmp / "venv")
    core = site_of(python) / "tidy" / "core.py"
    os.chown(core, NOBODY, NOBODY)
    marker = open_tmp / "poison-ran"
    original = core.read_bytes()
    poison = f"open({str(marker)!r}, 'w').write('ran')\n".encode() + original
    write = "import sys; open(sys.argv[1], 'wb').write(bytes.fromhex(sys.argv[2]))"
    done = as_nobody("/usr/bin/python3", "-c", write, core, poison.hex())
    assert done.returncode == 0, done.stderr
    runs_on_import(python, marker)
    done = as_nobody("/usr/bin/python3", "-c", write, core, original.hex())
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(core.stat().st_mode) == 0o644
    result = check(python, census_project, tmp_path)
    refused(result, f"{core} is owned by someone other than root", "uid 65534 (nobody)")
    assert [(e["path"], e["kind"]) for e in result["details"]["exposed"]] == [
        (str(core), "foreign_owner")
    ]


def test_a_package_folder_owned_by_another_user_is_refused(
    env: Path, census_project: Path, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a folder away")
    folder = site_of(env) / "tidy"
    os.chown(folder, NOBODY, NOBODY)
    result = check(env, census_project, tmp_path)
    refused(result, f"{folder} is owned by someone other than root", "uid 65534 (nobody)")
    assert "a folder on the import path" in result["text"]


def test_a_venv_a_normal_user_made_and_owns_is_ready(
    house: Wheels, census_project: Path, open_tmp: Path, tmp_path: Path
) -> None:
    """``nobody`` makes a venv in a folder of its own and installs into it: everything on the
    import path is its, and it owns the environment's root. READY, nothing exposed."""
    home = open_tmp / "home"
    home.mkdir()
    shutil.copytree(house.folder, home / "wheels")
    for path in [home, *home.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    python = home / "venv" / "bin" / "python"
    made = as_nobody("/usr/bin/python3", "-m", "venv", home / "venv")
    assert made.returncode == 0, made.stderr
    lock = census_project / "requirements" / "py3.11.txt"
    shutil.copy(lock, home / "lock.txt")
    os.chown(home / "lock.txt", NOBODY, NOBODY)
    installed = as_nobody(
        python, "-m", "pip", "install", "--no-index", "--find-links", home / "wheels",
        "--require-hashes", "-r", home / "lock.txt",
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    site = next((home / "venv" / "lib").glob("python3.*/site-packages"))
    assert (site / "tidy" / "core.py").stat().st_uid == NOBODY
    result = check(python, census_project, tmp_path)
    assert result["status"] == "pass", result["text"]
    assert result["details"]["exposed"] == []


@pytest.mark.parametrize("where", ["ENV/lib/python3.12", "ENV/lib", "ENV", "above ENV"])
def test_a_folder_above_site_packages_others_can_write_is_refused(
    env: Path, census_project: Path, tmp_path: Path, where: str
) -> None:
    """Whoever can write a folder that holds site-packages (or the environment) can rename
    what it holds aside and put their own in its place: ``nobody`` does it, then undoes it."""
    root = env.parent.parent
    site = site_of(env)
    folder = {
        "ENV/lib/python3.12": site.parent,
        "ENV/lib": site.parent.parent,
        "ENV": root,
        "above ENV": root.parent,
    }[where]
    mode = stat.S_IMODE(folder.stat().st_mode) | 0o777
    folder.chmod(mode)
    if where in ("ENV", "above ENV"):  # on the way to the interpreter: refused before it runs
        result = check(env, census_project, tmp_path, check_id="virtual_environment")
        refused(result, f"{folder}, a folder", "any user can write it")
        return
    result = check(env, census_project, tmp_path)
    refused(result, f"{folder} is writable by others than its owner", "it is not sticky")
    assert [e["path"] for e in result["details"]["exposed"]] == [str(folder)]


def test_nobody_can_swap_site_packages_through_a_world_writable_folder(open_tmp: Path) -> None:
    """The attack the finding above names: with ``lib/python3.12`` world-writable (not
    sticky), ``nobody`` renames root's site-packages aside and puts its own in its place."""
    holder = open_tmp / "lib" / "python3.12"
    site = holder / "site-packages"
    site.mkdir(parents=True)
    (site / "six.py").write_text(SIX, encoding="utf-8")
    holder.chmod(0o777)
    swap = (
        "import os, sys; h = sys.argv[1]; "
        "os.rename(h + '/site-packages', h + '/aside'); os.mkdir(h + '/site-packages'); "
        "open(h + '/site-packages/six.py', 'w').write('X = 666\\n')"
    )
    done = as_nobody("/usr/bin/python3", "-c", swap, holder)
    assert done.returncode == 0, done.stderr
    assert (site / "six.py").read_text(encoding="utf-8") == "X = 666\n"
    assert (site / "six.py").stat().st_uid == NOBODY


def test_a_sticky_world_writable_folder_above_site_packages_is_ready(
    env: Path, census_project: Path, tmp_path: Path
) -> None:
    """As ``/tmp`` is: anyone may add an entry, only its owner (root here) may rename it."""
    lib = site_of(env).parent.parent
    lib.chmod(0o1777)
    result = check(env, census_project, tmp_path)
    ready(result)
    assert result["details"]["exposed"] == []


# --- a bounded census: sizes, a cap, a deadline, an entry limit ----------------------------

GIB20 = 20 << 30


def test_a_module_grown_to_20_gib_is_refused_by_its_size_unread(
    env: Path, census_project: Path, tmp_path: Path
) -> None:
    """``truncate -s 20G`` of an installed module (sparse: no disk): RECORD gives its size,
    so no content of 20 GiB can match it; it is named by its size and never read."""
    core = site_of(env) / "tidy" / "core.py"
    recorded = core.stat().st_size
    os.truncate(core, GIB20)
    facts = probe_interpreter(str(env))
    assert isinstance(facts, InterpreterFacts), facts
    taken = census.take(facts)
    entry = taken.get(str(core))
    assert entry is not None
    assert (entry.state, entry.size) == ("skipped", GIB20)
    assert taken.bytes_read < 1 << 20, taken.bytes_read  # the 20 GiB were never read
    result = check(env, census_project, tmp_path)
    refused(result, "tidy: tidy/core.py is modified", f"size {GIB20}, RECORD says {recorded}")


def test_a_20_gib_file_dropped_in_site_packages_is_not_read_for_a_baseline(
    env: Path, census_project: Path, tmp_path: Path
) -> None:
    """With a baseline every file is read, but one no RECORD sizes only up to the cap: a
    sparse 20 GiB file is named as added, and never read."""
    manifest = tmp_path / "kept" / "baseline.json"
    done = run_preflight(
        "baseline", "--python", env, "--project", census_project, "--output", manifest,
        "--report-dir", tmp_path / "r-baseline", *FAST, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    blob = site_of(env) / "blob.bin"
    blob.touch()
    os.truncate(blob, GIB20)
    report: Report = preflight.check(
        env, project=census_project, skip=("performance",), baseline=manifest
    )
    (baseline,) = [c for c in report.checks if c.id == "baseline"]
    assert baseline.status.label == "fail"
    assert any("blob.bin" in f.message and "added" in f.message for f in baseline.findings)
    assert baseline.details["bytes_hashed"] < 1 << 26, baseline.details  # not 20 GiB
    assert report.exit_code == 1


def test_the_census_reads_no_file_larger_than_its_cap(tmp_path: Path) -> None:
    big = tmp_path / "big.so"
    big.touch()
    os.truncate(big, census.UNSIZED_LIMIT + 1)
    found = census.read_file(str(big), ["sha256"])
    assert found is not None
    assert (found.digests, found.size) == ({}, census.UNSIZED_LIMIT + 1)
    assert found.skipped is not None
    assert "too large to verify" in found.skipped
    small = tmp_path / "small.py"
    small.write_bytes(b"x = 1\n")
    sized = census.read_file(str(small), ["sha256"], sizes={4})
    assert sized is not None
    assert sized.skipped == "size 6, RECORD says 4: not read, no content of that size can match"
    assert census.read_file(str(small), ["sha256"], sizes={6}) == census.Read(
        {"sha256": hashlib.sha256(b"x = 1\n").digest()}, 6, None
    )


def test_a_fifo_named_like_a_module_is_never_opened(
    env: Path, census_project: Path, tmp_path: Path
) -> None:
    """``evil.py``, a FIFO in site-packages: opening it for reading would block until someone
    writes. With a baseline every file is read: the census must not open it, and the check
    ends (the thread it runs in is joined; a hang would leave it alive)."""
    manifest = tmp_path / "kept" / "baseline.json"
    done = run_preflight(
        "baseline", "--python", env, "--project", census_project, "--output", manifest,
        "--report-dir", tmp_path / "r-baseline", *FAST, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    fifo = site_of(env) / "evil.py"
    os.mkfifo(fifo)
    reports: list[Report] = []
    worker = threading.Thread(
        target=lambda: reports.append(
            preflight.check(env, project=census_project, skip=("performance",), baseline=manifest)
        ),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=600)  # a bound for a hang, not a timing: it ends in seconds
    assert not worker.is_alive(), "the census blocked on a FIFO"
    (report,) = reports
    (integrity_result,) = [c for c in report.checks if c.id == "integrity"]
    assert any(str(fifo) in f.message for f in integrity_result.findings)
    assert report.exit_code == 1


def test_a_census_past_its_deadline_fails_the_check_saying_so(
    env: Path, census_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The census's clock jumps past its deadline as soon as the census has started: the
    integrity check fails, naming the timeout, instead of judging half of the files."""
    ticks = iter([0.0])
    monkeypatch.setattr(census, "_clock", lambda: next(ticks, 1e9))
    report: Report = preflight.check(env, project=census_project, skip=("performance",), timeout=45)
    (result,) = [c for c in report.checks if c.id == "integrity"]
    assert result.status.label == "fail"
    assert result.message.startswith(
        "the census of the environment's files did not finish within 45 s"
    )
    assert "--timeout SECONDS" in result.message
    assert report.exit_code == 1


def test_a_census_of_more_entries_than_its_limit_fails_the_check(
    env: Path, census_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder of many tiny files (100,000 as well as 300) is refused at the entry limit,
    not held in memory: the limit made small here, the folder named."""
    monkeypatch.setattr(census, "ENTRY_LIMIT", 200)
    data = site_of(env) / "tidy" / "data"
    data.mkdir()
    for n in range(300):
        (data / f"{n}.txt").write_bytes(b"")
    report: Report = preflight.check(env, project=census_project, skip=("performance",))
    (result,) = [c for c in report.checks if c.id == "integrity"]
    assert result.status.label == "fail"
    assert result.message.startswith("the census stopped at 200 entries below ")
    assert str(data) in result.message
    assert report.exit_code == 1


def test_a_census_blocked_for_good_is_given_up(
    env: Path, census_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read blocked in the kernel (a hung mount) never looks at its clock: the check stops
    waiting for the census past its deadline and the grace, and fails saying so. The census
    here blocks on an event the test holds until the check has answered."""
    from preflight._facts import gather

    held = threading.Event()

    def blocked(*args: Any, **kwargs: Any) -> Any:
        held.wait()

    monkeypatch.setattr(gather, "survey", blocked)
    monkeypatch.setattr(gather, "CENSUS_GRACE", 0.01)
    monkeypatch.setattr(census, "DEFAULT_TIMEOUT", 0.01)
    try:
        report: Report = preflight.check(env, project=census_project, skip=("performance",))
    finally:
        held.set()
    (result,) = [c for c in report.checks if c.id == "integrity"]
    assert result.status.label == "fail"
    assert "did not finish within 0.01 s" in result.message
    assert "a read blocked in the file system" in result.message
    assert report.exit_code == 1


def test_code_too_large_to_verify_is_critical(env: Path) -> None:
    """A RECORD row without a size gives the census no size to hold a file to: it reads up
    to its cap, and a module past it (sparse, no disk) is named too large, as modified."""
    site = site_of(env)
    core = site / "tidy" / "core.py"
    record = next(site.glob("tidy-*.dist-info")) / "RECORD"
    text = record.read_text(encoding="utf-8")
    (row,) = [r for r in text.splitlines() if r.startswith("tidy/core.py,")]
    record.write_text(text.replace(row, row.rsplit(",", 1)[0] + ","), encoding="utf-8")
    os.truncate(core, census.UNSIZED_LIMIT + 1)
    (problem,) = scan(env).problems
    assert (problem.path, problem.kind) == ("tidy/core.py", "modified")
    assert problem.detail.startswith(f"{census.UNSIZED_LIMIT + 1} bytes, over the ")
    assert "too large to verify, not read" in problem.detail


# --- POSIX ACLs: write access the mode bits do not show ------------------------------------


def acl_blob(mode: int, *named: tuple[int, int, int]) -> bytes:
    """A ``system.posix_acl_*`` attribute as the kernel stores it (what ``setfacl`` writes):
    owner, group and others from ``mode``, the ``named`` (tag, perm, id) entries, mask rwx."""
    entries = [
        (census.ACL_USER_OBJ, (mode >> 6) & 7, 0xFFFFFFFF),
        *[e for e in named if e[0] == census.ACL_USER],
        (census.ACL_GROUP_OBJ, (mode >> 3) & 7, 0xFFFFFFFF),
        *[e for e in named if e[0] == census.ACL_GROUP],
        (census.ACL_MASK, 7, 0xFFFFFFFF),
        (census.ACL_OTHER, mode & 7, 0xFFFFFFFF),
    ]
    return (2).to_bytes(4, "little") + b"".join(
        tag.to_bytes(2, "little") + perm.to_bytes(2, "little") + ident.to_bytes(4, "little")
        for tag, perm, ident in entries
    )


def set_acl(path: Path, name: str, *named: tuple[int, int, int]) -> None:
    try:
        os.setxattr(path, name, acl_blob(stat.S_IMODE(path.stat().st_mode), *named))
    except OSError as exc:
        pytest.skip(f"this file system takes no POSIX ACL ({exc.strerror})")


@pytest.mark.parametrize("kind", ["access", "default"])
def test_a_posix_acl_that_lets_nobody_write_a_package_folder_is_refused(
    pip_env: Path, census_project: Path, open_tmp: Path, tmp_path: Path, kind: str
) -> None:
    """``setfacl -m u:nobody:rwx tidy/`` (``ls`` shows ``drwxrwxr-x+ root root``: root's
    private group, nothing loose in the mode bits). With the access ACL, ``nobody`` renames
    its own ``core.py`` in; with a default ACL, the ``__pycache__`` root's Python makes there
    inherits it, and ``nobody`` drops its bytecode in. Root's ``import tidy`` runs either."""
    python = wheelhouse.copy_venv(pip_env.parent.parent, open_tmp / "venv")
    folder = site_of(python) / "tidy"
    core = folder / "core.py"
    original = core.read_bytes()
    attribute = census.ACL_ACCESS if kind == "access" else census.ACL_DEFAULT
    set_acl(folder, attribute, (census.ACL_USER, 7, NOBODY))
    marker = open_tmp / "poison-ran"
    if kind == "access":
        poison = f"open({str(marker)!r}, 'w').write('ran')\n".encode() + original
        swap = (
            "import os, sys; d = sys.argv[1]; open(d + '/.c', 'wb').write(bytes.fromhex("
            "sys.argv[2])); os.replace(d + '/.c', d + '/core.py')"
        )
        done = as_nobody("/usr/bin/python3", "-c", swap, folder, poison.hex())
        assert done.returncode == 0, done.stderr
        assert core.stat().st_uid == NOBODY
        runs_on_import(python, marker)
        core.unlink()
        core.write_bytes(original)  # root's again, as it was: the hashes match
    else:
        cache = folder / "__pycache__"
        shutil.rmtree(cache, ignore_errors=True)  # pip's: made before the ACL
        wheelhouse.import_writing_bytecode(python, ["tidy.core"])
        made = tmp_path / "core.cpython-312.pyc"
        poisoned_pyc(python, made, marker, CORE)
        drop = "import sys; open(sys.argv[1], 'wb').write(bytes.fromhex(sys.argv[2]))"
        target = cache / "core.cpython-312.pyc"
        target.unlink()
        done = as_nobody("/usr/bin/python3", "-c", drop, target, made.read_bytes().hex())
        assert done.returncode == 0, done.stderr
        assert target.stat().st_uid == NOBODY
        runs_on_import(python, marker)
        shutil.rmtree(cache)
    # the access ACL's mask shows as g+w (root's private group: not loose by the mode); a
    # default ACL shows in no mode bit at all
    want = 0o775 if kind == "access" else 0o755
    assert stat.S_IMODE(folder.stat().st_mode) == want
    result = check(python, census_project, tmp_path)
    refused(result, f"{folder} is writable by others than its owner", "uid 65534 (nobody)")
    words = "ACL lets" if kind == "access" else "default ACL lets"
    assert words in result["text"], result["text"]
    assert [(e["path"], e["kind"]) for e in result["details"]["exposed"]] == [
        (str(folder), "writable")
    ]


def test_an_acl_entry_the_mask_takes_write_from_is_not_a_finding(
    env: Path, census_project: Path, tmp_path: Path
) -> None:
    """``user:nobody:rwx`` under ``mask::r-x`` (``chmod g-w`` after ``setfacl``): nobody's
    effective rights are r-x. Root's own and its group's named entries are no one else."""
    folder = site_of(env) / "tidy"
    set_acl(folder, census.ACL_ACCESS, (census.ACL_USER, 7, NOBODY), (census.ACL_USER, 7, 0))
    folder.chmod(0o755)  # the mask becomes r-x
    ready(check(env, census_project, tmp_path))


def test_acl_attributes_parse_as_the_kernel_writes_them() -> None:
    blob = acl_blob(0o755, (census.ACL_USER, 6, NOBODY), (census.ACL_GROUP, 2, 100))
    entries = census.parse_acl(blob)
    assert [(e.tag, e.perm, e.id) for e in entries][1] == (census.ACL_USER, 6, NOBODY)
    assert len(entries) == 6
    for bad in (blob[:-1], (3).to_bytes(4, "little") + blob[4:], b""):
        with pytest.raises(ValueError, match="ACL"):
            census.parse_acl(bad)


# --- the scripts folder: sys.path[0] of every script there ---------------------------------

SCRIPTS_INIT = "from tidy.core import answer\n\ndef main():\n    print(answer())\n"


@pytest.fixture(scope="module")
def scripts_house(tmp_path_factory: pytest.TempPathFactory) -> Wheels:
    """``tidy`` with a console script (``tidycli``) and a data script (``tidyrun.py``)."""
    return six_and_tidy(
        tmp_path_factory.mktemp("census-scripts-wheels"),
        tidy={
            "tidy/__init__.py": SCRIPTS_INIT, "tidy/core.py": CORE,
            "tidy-1.0.dist-info/entry_points.txt": "[console_scripts]\ntidycli = tidy:main\n",
            "tidy-1.0.data/scripts/tidyrun.py": "import tidy\ntidy.main()\n",
        },
    )  # fmt: skip


@pytest.fixture(scope="module")
def scripts_project(tmp_path_factory: pytest.TempPathFactory, scripts_house: Wheels) -> Path:
    return write_project(
        tmp_path_factory.mktemp("census-scripts-project"), scripts_house,
        requires=("six>=1", "tidy>=1"),
    )  # fmt: skip


@pytest.fixture(scope="module")
def scripts_env(
    tmp_path_factory: pytest.TempPathFactory,
    python312: Path,
    scripts_project: Path,
    scripts_house: Wheels,
) -> Path:
    """A 3.12 venv pip installed, with tidy's scripts in bin (read-only: copy it)."""
    root = tmp_path_factory.mktemp("census-scripts-pip")
    lock = scripts_project / "requirements" / "py3.12.txt"
    return wheelhouse.install_locked(python312, root / "venv", scripts_house.folder, lock)


def test_the_scripts_a_wheel_installs_in_bin_are_ready(
    scripts_env: Path, scripts_project: Path, tmp_path: Path
) -> None:
    """A console script, a data script ``.py`` (and the bytecode Python writes for it when
    it is imported from there): RECORD lists them, nothing is unowned."""
    bin_folder = scripts_env.parent
    assert (bin_folder / "tidycli").is_file()
    assert (bin_folder / "tidyrun.py").is_file()
    result = check(scripts_env, scripts_project, tmp_path)
    ready(result)
    assert result["details"]["unowned"] == []


def run_script(python: Path, script: Path) -> str:
    done = subprocess.run(
        [str(python), str(script)], capture_output=True, text=True, timeout=120,
        env=wheelhouse.hermetic_env(), check=False,
    )  # fmt: skip
    return done.stdout + done.stderr


@pytest.mark.parametrize("what", ["tidy.pyc", "tidy.py", "tidy/", "tidy -> a package"])
def test_an_unowned_module_in_the_scripts_folder_is_refused(
    scripts_env: Path, scripts_project: Path, tmp_path: Path, what: str
) -> None:
    """``bin/tidy.pyc`` (sourceless), ``bin/tidy.py``, a ``bin/tidy/`` package or a link to
    one: ``bin/tidycli`` imports it instead of site-packages' tidy."""
    python = wheelhouse.copy_venv(scripts_env.parent.parent, tmp_path / "venv")
    bin_folder = python.parent
    marker = tmp_path / "poison-ran"
    body = f"open({str(marker)!r}, 'w').write('ran')\n" + SCRIPTS_INIT.replace("tidy.core", ".core")
    planted = bin_folder / what.split(" ", maxsplit=1)[0].rstrip("/")
    if what == "tidy.pyc":
        poisoned_pyc(python, planted, marker, "def main():\n    print(42)\n")
    elif what == "tidy.py":
        planted.write_text(body.replace("from .core import answer\n", "answer = int\n"))
    else:
        package = planted if what == "tidy/" else tmp_path / "elsewhere" / "tidy"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(body, encoding="utf-8")
        (package / "core.py").write_text(CORE, encoding="utf-8")
        if package != planted:
            planted.symlink_to(package, target_is_directory=True)
    assert not marker.exists()
    out = run_script(python, bin_folder / "tidycli")
    assert marker.read_text() == "ran", out
    marker.unlink()
    result = check(python, scripts_project, tmp_path)
    refused(result, f"{planted} is an importable", "no installed distribution owns",
            "sys.path[0] for every script there")  # fmt: skip
    assert [u["path"] for u in result["details"]["unowned"]] == [str(planted)]
    assert not marker.exists()


def test_an_unowned_extension_in_the_scripts_folder_is_refused(
    scripts_env: Path, scripts_project: Path, tmp_path: Path
) -> None:
    """An extension module there is imported as the others are (no compiler here to build
    one: the finding is by its name, which is how import finds it)."""
    python = wheelhouse.copy_venv(scripts_env.parent.parent, tmp_path / "venv")
    planted = python.parent / "tidy.cpython-312-x86_64-linux-gnu.so"
    planted.write_bytes(b"\x7fELF")
    result = check(python, scripts_project, tmp_path)
    refused(result, f"{planted} is an importable extension")
    assert [u["path"] for u in result["details"]["unowned"]] == [str(planted)]


# --- folders a .pth puts on sys.path outside the environment -------------------------------


def pth_env(python312: Path, tmp_path: Path, lines: str) -> tuple[Path, Path]:
    """A venv whose locked ``six`` wheel ships ``six_paths.pth`` holding ``lines``; its
    python and project."""
    house = six_and_tidy(tmp_path / "wheels", six={"six.py": SIX, "six_paths.pth": lines})
    project = write_project(tmp_path / "project", house, requires=("six>=1", "tidy>=1"))
    lock = project / "requirements" / "py3.12.txt"
    return wheelhouse.install_locked(python312, tmp_path / "venv", house.folder, lock), project


@pytest.mark.parametrize("case", ["world-writable", "owned by nobody", "missing, sticky above"])
def test_a_folder_a_pth_adds_that_another_user_controls_is_refused(
    python312: Path, open_tmp: Path, tmp_path: Path, case: str
) -> None:
    """A locked wheel's ``.pth`` (an editable install's, in the common case) adds a folder
    outside the environment: one anyone can write, a checkout ``nobody`` owns, or one that
    does not exist below a sticky world-writable folder (anyone may make it there). ``nobody``
    drops a ``sitecustomize.py`` in it and root's Python runs it at start."""
    shared = open_tmp / "shared"
    shared.mkdir()
    added = shared / "src"
    if case == "world-writable":
        added.mkdir()
        added.chmod(0o777)
        judged, kind = added, "writable"
    elif case == "owned by nobody":
        added.mkdir()
        os.chown(added, NOBODY, NOBODY)
        judged, kind = added, "foreign_owner"
    else:
        shared.chmod(0o1777)
        judged, kind = shared, "writable"
    python, project = pth_env(python312, tmp_path, f"{added}\n")
    marker = open_tmp / "poison-ran"
    drop = (
        "import os, sys; os.makedirs(sys.argv[1], exist_ok=True); "
        "open(sys.argv[1] + '/sitecustomize.py', 'w').write(sys.argv[2])"
    )
    done = as_nobody(
        "/usr/bin/python3", "-c", drop, added, f"open({str(marker)!r}, 'w').write('ran')\n"
    )
    assert done.returncode == 0, done.stderr
    run_python(python, "-c", "pass")
    assert marker.read_text() == "ran"
    marker.unlink()
    (added / "sitecustomize.py").unlink()
    if case.startswith("missing"):
        added.rmdir()  # as it was: not there
    result = check(python, project, tmp_path)
    refused(result, str(judged), str(added), "six_paths.pth")
    assert [(e["path"], e["kind"]) for e in result["details"]["exposed"]] == [(str(judged), kind)]
    assert not marker.exists()


def test_a_folder_a_pth_adds_that_only_root_can_write_is_ready(
    python312: Path, open_tmp: Path, tmp_path: Path
) -> None:
    """A root-owned 0755 checkout, and a missing folder below root's 0755 folder: READY."""
    (open_tmp / "src").mkdir()
    (open_tmp / "src" / "pkg").mkdir()
    (open_tmp / "src" / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    lines = f"{open_tmp / 'src'}\n{open_tmp / 'gone' / 'deeper'}\n"
    python, project = pth_env(python312, tmp_path, lines)
    result = check(python, project, tmp_path)
    ready(result)
    assert result["details"]["exposed"] == []


# --- a locked wheel that names a member twice ---------------------------------------------


def test_a_locked_wheel_holding_a_member_twice_is_refused(python312: Path, tmp_path: Path) -> None:
    """zipfile (so pip) reads the last of two ``tidy/core.py``; unzip and a reviewer see
    the first. The lock's hash vouches for the archive, not for one content: refused."""
    house = six_and_tidy(tmp_path / "wheels")
    wheels, tidy = house.folder, house.beta
    marker = tmp_path / "poison-ran"
    with zipfile.ZipFile(tidy, "a") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": what is tested
        archive.writestr("tidy/core.py", f"open({str(marker)!r}, 'w').write('ran')\n{CORE}")
    with zipfile.ZipFile(tidy) as archive:
        names = [i.filename for i in archive.infolist()]
        assert names.count("tidy/core.py") == 2
        assert archive.read("tidy/core.py").startswith(b"open(")  # the last one
    project = write_project(tmp_path / "project", house, requires=("six>=1", "tidy>=1"))
    lock = project / "requirements" / "py3.12.txt"
    python = wheelhouse.install_locked(python312, tmp_path / "venv", wheels, lock)
    runs_on_import(python, marker)
    with pytest.raises(wheels_module.UnusableWheel, match=r"'tidy/core\.py' twice"):
        wheels_module.read_wheel(tidy)
    result = check(python, project, tmp_path, "--wheelhouse", wheels)
    refused(result, tidy.name, "'tidy/core.py' twice")


def test_a_module_another_user_owns_in_a_folder_a_pth_adds_is_refused(
    python312: Path, open_tmp: Path, tmp_path: Path
) -> None:
    """Root's checkout (0755), one module in it ``nobody``'s: ``nobody`` rewrites it and
    root's ``import helper`` runs it; then puts it back (its mode 0644, as before)."""
    added = open_tmp / "src"
    (added / "pkg").mkdir(parents=True)
    helper = added / "pkg" / "helper.py"
    helper.write_text("X = 1\n", encoding="utf-8")
    os.chown(helper, NOBODY, NOBODY)
    python, project = pth_env(python312, tmp_path, f"{added}\n")
    marker = open_tmp / "poison-ran"
    write = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
    poison = f"open({str(marker)!r}, 'w').write('ran')\nX = 1\n"
    assert as_nobody("/usr/bin/python3", "-c", write, helper, poison).returncode == 0
    run_python(python, "-c", "import pkg.helper")
    assert marker.read_text() == "ran"
    marker.unlink()
    assert as_nobody("/usr/bin/python3", "-c", write, helper, "X = 1\n").returncode == 0
    result = check(python, project, tmp_path)
    refused(result, f"{helper} is owned by someone other than root", "six_paths.pth")
    assert [(e["path"], e["kind"]) for e in result["details"]["exposed"]] == [
        (str(helper), "foreign_owner")
    ]
    assert not marker.exists()
