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
import sys
import tempfile
import threading
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
    folder = tmp_path_factory.mktemp("census-wheels")
    six = wheelhouse.build_wheel(folder, "six", "1.0", files={"six.py": SIX})
    tidy = wheelhouse.build_wheel(
        folder, "tidy", "1.0", files={"tidy/__init__.py": INIT, "tidy/core.py": CORE}
    )
    return Wheels(folder=folder, alpha=six, alpha_old=six, beta=tidy, extra=six)


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
    return wheelhouse.make_venv(
        python312,
        root / "venv",
        find_links=house.folder,
        install=["--require-hashes", "-r", str(lock)],
        with_pip=False,
    )


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
    run_python(env, *flags, "-c", "import six, tidy.core", extra={"PYTHONDONTWRITEBYTECODE": ""})
    level = {(): "", ("-O",): ".opt-1", ("-OO",): ".opt-2"}[flags]
    written = site / "__pycache__" / f"six.cpython-312{level}.pyc"
    assert written.is_file()
    assert (site / "tidy" / "__pycache__" / f"core.cpython-312{level}.pyc").is_file()
    ready(check(env, census_project, tmp_path))


def test_uv_with_compile_bytecode_is_ready(
    python312: Path, census_project: Path, house: Wheels, tmp_path: Path
) -> None:
    """uv compiles bytecode its RECORD does not list, at the top of site-packages too."""
    uv = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    if uv is None:
        pytest.skip("uv is not on PATH (it is in .nox/tests)")
    python = wheelhouse.make_venv(python312, tmp_path / "uv-venv", with_pip=False)
    lock = census_project / "requirements" / "py3.12.txt"
    wheelhouse.run([
        uv, "pip", "install", "--python", python, "--no-index", "--find-links", house.folder,
        "--compile-bytecode", "--require-hashes", "-r", lock,
    ])  # fmt: skip
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
    run_python(env, "-c", "import tidy.core", extra={"PYTHONDONTWRITEBYTECODE": ""})
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
    run_python(env, "-c", "import tidy.core", extra={"PYTHONDONTWRITEBYTECODE": ""})
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
    from preflight import _engine
    from preflight._facts import gather

    held = threading.Event()

    def blocked(*args: Any, **kwargs: Any) -> Any:
        held.wait()

    monkeypatch.setattr(gather, "survey", blocked)
    monkeypatch.setattr(gather, "CENSUS_GRACE", 0.01)
    monkeypatch.setattr(_engine, "CENSUS_TIMEOUT", 0.01)
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
