"""Start-up hooks are data, and the interpreter is the environment's: attacked, end to end.

Each poison is first shown to run under plain Python (it appends to a marker file when
``ENV/bin/python -c pass`` starts), then ``preflight check`` must refuse it (exit 1, the check
and the file named) **and the marker must not appear during the check**: no child preflight
starts to learn about the environment runs ``site``.

The performance check (which imports the required packages, so runs the environment's code
by design) is left out with ``--skip performance`` where a marker is watched: when it starts
is the business of "verify, then run" (issue 16, item 5), not of these facts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import factories as f
import pytest
import virtualenv  # type: ignore[import-untyped]
import wheelhouse
from conftest import CliRun, Wheels, real_python

import preflight
from preflight._checks import startup_hooks, virtual_environment
from preflight._checks.result import Severity, Status
from preflight._errors import ConfigError
from preflight._facts.elf import origin_paths
from preflight._facts.model import ProbeFailure, StartupHook, UnownedEntry
from preflight._facts.site import anchor_problem

RunCheck = Callable[..., CliRun]
MakeProject = Callable[..., Path]
NO_PERF = ("--skip", "performance")


def runs_under_plain_python(python: Path, marker: Path, *args: str) -> None:
    """The poison works: a plain start of the environment's Python (``-c pass``, or ``args``)
    writes the marker."""
    assert not marker.exists()
    subprocess.run(
        [str(python), *(args or ("-c", "pass"))],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert marker.exists(), "the poison did not run under plain Python: the test proves nothing"
    marker.unlink()


def write_marker_code(marker: Path) -> str:
    return f"open({str(marker)!r}, 'a').write('ran\\n')\n"


# --- attacks, end to end ----------------------------------------------------------------------


@pytest.mark.slow
def test_a_pth_that_fakes_the_site_path_in_json_is_refused_and_never_runs(
    run_check: RunCheck, venv312_copy: Path, project: Path, tmp_path: Path
) -> None:
    """The issue's zz_helper.pth: its module replaces json.dumps so that the probe's report
    names a pristine copy kept beside site-packages, while the real alpha is poisoned."""
    site = wheelhouse.site_packages(venv312_copy)
    pristine = site.parent / ".cache-sp"
    shutil.copytree(site, pristine, symlinks=True)
    marker = tmp_path / "marker"
    (site / "zz_helper.py").write_text(
        "import json\n" + write_marker_code(marker) + "_real = json.dumps\n"
        "def dumps(obj, *args, **kwargs):\n"
        f"    return _real(obj, *args, **kwargs).replace({str(site)!r}, {str(pristine)!r})\n"
        "json.dumps = dumps\n",
        encoding="utf-8",
    )
    (site / "zz_helper.pth").write_text("import zz_helper\n", encoding="utf-8")
    (site / "alpha" / "__init__.py").write_text("POISONED = True\n", encoding="utf-8")
    runs_under_plain_python(venv312_copy, marker)

    run = run_check("--python", venv312_copy, "--project", project, *NO_PERF)

    assert run.returncode == 1, run.stderr
    assert run.report["status"] == "NOT_READY"
    assert not marker.exists(), "the environment's start-up hook ran during the check"
    hooks = run.check("startup_hooks")
    assert hooks["status"] == "fail"
    assert f"{site / 'zz_helper.pth'} is a start-up .pth file (1 line of code) that no " in (
        run.findings("startup_hooks")
    )
    (listed,) = hooks["details"]["hooks"]
    assert (listed["path"], listed["code"], listed["verdict"]) == (
        str(site / "zz_helper.pth"),
        ["import zz_helper"],
        "unowned",
    )
    # The real folder was read and hashed, not the copy the hook would have named.
    assert "alpha: alpha/__init__.py is modified" in run.findings("integrity")
    assert str(pristine) not in run.report_path.read_text(encoding="utf-8")
    assert "zz_helper.pth" in run.stderr  # on the terminal too


def origin_program(tmp_path: Path) -> tuple[Path, Path]:
    """A base "interpreter" built here whose library search path is ``$ORIGIN/../lib`` (as
    python-build-standalone's), and an environment whose ``bin/python`` is a byte-identical
    copy of it, with a ``lib/libhook.so`` of its own that appends to $HOOK_MARKER when loaded.
    Returns (base program, the environment's copy)."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc: a program with an $ORIGIN search path cannot be built here")
    base, env = tmp_path / "base", tmp_path / "env"
    for folder in (base / "bin", base / "lib", env / "bin", env / "lib"):
        folder.mkdir(parents=True)
    # the base is an installation: getpath's landmark, and its extension modules' folder
    (base / "lib" / "python3.12" / "lib-dynload").mkdir(parents=True)
    (base / "lib" / "python3.12" / "os.py").write_text("", encoding="utf-8")
    benign = "int hook_value(void) { return 0; }\n"
    evil = (
        "#include <stdio.h>\n#include <stdlib.h>\n"
        "__attribute__((constructor)) static void hook(void) {\n"
        '  const char *m = getenv("HOOK_MARKER");\n'
        '  if (m) { FILE *f = fopen(m, "a"); if (f) { fputs("ran\\n", f); fclose(f); } }\n'
        "}\n" + benign
    )
    for lib, source in ((base / "lib", benign), (env / "lib", evil)):
        (lib / "hook.c").write_text(source, encoding="utf-8")
        subprocess.run(
            [gcc, "-shared", "-fPIC", "-o", str(lib / "libhook.so"), str(lib / "hook.c")],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    (tmp_path / "main.c").write_text(
        "int hook_value(void);\nint main(void) { return hook_value(); }\n", encoding="utf-8"
    )
    program = base / "bin" / "python3.12"
    subprocess.run(
        [gcc, "-o", str(program), str(tmp_path / "main.c"), f"-L{base / 'lib'}", "-lhook",
         "-Wl,-rpath,$ORIGIN/../lib", "-Wl,--enable-new-dtags"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    copy = env / "bin" / "python"
    shutil.copyfile(program, copy)
    copy.chmod(0o755)
    (env / "pyvenv.cfg").write_text(
        f"home = {base / 'bin'}\ninclude-system-site-packages = false\nversion = 3.12.1\n",
        encoding="utf-8",
    )
    return program, copy


def test_the_search_path_of_an_elf_program_is_read_as_data(tmp_path: Path) -> None:
    program, copy = origin_program(tmp_path)
    assert origin_paths(str(program)) == ("$ORIGIN/../lib",)
    assert origin_paths(str(real_python("3.12").path)) == ()  # pyenv's: an absolute RUNPATH
    # not ELF, truncated, or no file: nothing to read, never an error
    truncated = tmp_path / "truncated"
    truncated.write_bytes(program.read_bytes()[:200])
    (tmp_path / "script").write_text("#!/bin/sh\n", encoding="utf-8")
    for path in (truncated, tmp_path / "script", tmp_path / "missing"):
        assert origin_paths(str(path)) == ()
    # a link into home is home's program ($ORIGIN is where it resolves); a copy beside it is not
    copy.unlink()
    copy.symlink_to(program)
    assert anchor_problem(str(copy))[1] is None
    sibling = copy.parent / "python3"
    shutil.copyfile(program, sibling)
    problem = anchor_problem(str(copy))[1]
    assert problem is not None
    assert problem.startswith(f"{sibling} is a copy of the interpreter pyvenv.cfg's home names")
    assert problem.endswith(f"whoever runs it runs that; {copy} was not run")


@pytest.mark.slow
def test_a_copy_whose_library_path_is_its_own_folder_is_never_run(
    run_check: RunCheck, project: Path, tmp_path: Path
) -> None:
    """``$ORIGIN/../lib``: the same bytes as home's interpreter, but the loader takes the
    environment's libraries, whose code runs before any line of Python."""
    program, copy = origin_program(tmp_path)
    marker = tmp_path / "marker"
    env = {"HOOK_MARKER": str(marker)}
    subprocess.run([str(program)], env=env, timeout=60, check=True)
    assert not marker.exists(), "home's program loaded the environment's library"
    subprocess.run([str(copy)], env=env, timeout=60, check=True)
    assert marker.exists(), "the copy did not load the environment's library: proves nothing"
    marker.unlink()

    run = run_check("--python", copy, "--project", project, env=env)

    assert run.returncode == 1, run.stderr
    assert not marker.exists(), "the copy ran"
    assert run.check("virtual_environment")["status"] == "fail"
    message = run.findings("virtual_environment")
    assert f"{copy} is a copy of the interpreter pyvenv.cfg's home names" in message
    assert "$ORIGIN/../lib" in message
    assert "it was not run" in message


@pytest.mark.slow
def test_a_script_in_place_of_bin_python_is_never_run(
    run_check: RunCheck, venv312_copy: Path, project: Path, tmp_path: Path
) -> None:
    """bin/python replaced by a two-line script exec'ing another environment's interpreter."""
    other = tmp_path / "other"
    subprocess.run(
        [str(real_python("3.12").path), "-m", "venv", "--without-pip", str(other)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    marker = tmp_path / "marker"
    venv312_copy.unlink()
    venv312_copy.write_text(
        f'#!/bin/sh\necho ran >> {marker}\nexec {other}/bin/python "$@"\n', encoding="utf-8"
    )
    venv312_copy.chmod(0o755)
    runs_under_plain_python(venv312_copy, marker)

    run = run_check("--python", venv312_copy, "--project", project)

    assert run.returncode == 1, run.stderr
    assert run.report["status"] == "NOT_READY"
    assert not marker.exists(), "the script ran"
    venv = run.check("virtual_environment")
    assert venv["status"] == "fail"
    home = Path(real_python("3.12").path).resolve().parent
    message = run.findings("virtual_environment")
    assert f"{venv312_copy} is a script that is not the interpreter pyvenv.cfg's home" in message
    assert str(home) in message
    assert "it was not run" in message
    skipped = run.statuses("skip")
    assert "python_version" in skipped
    assert "integrity" in skipped
    assert run.check("integrity")["details"]["blocked_by"] == "virtual_environment"
    # Through the API, with the first start an environment just built gets: not run either.
    report = preflight.check(venv312_copy, project=project, first_start=True)
    assert report.status.value == "NOT_READY"
    assert not marker.exists(), "the script ran as the environment's first start"


@pytest.mark.slow
def test_an_interpreter_reporting_another_environment_is_refused(
    run_check: RunCheck, venv312_copy: Path, project: Path, tmp_path: Path
) -> None:
    """bin/python links into the folder pyvenv.cfg's home names, so it is run; but there the
    "interpreter" execs another environment's Python, which reports that environment: the
    prefix it reports must be the folder it was given in."""
    other = tmp_path / "other"
    subprocess.run(
        [str(real_python("3.12").path), "-m", "venv", "--without-pip", str(other)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    home = tmp_path / "home"
    home.mkdir()
    (home / "python3.12").write_text(f'#!/bin/sh\nexec {other}/bin/python "$@"\n')
    (home / "python3.12").chmod(0o755)
    env = venv312_copy.parent.parent
    cfg = (env / "pyvenv.cfg").read_text(encoding="utf-8").splitlines()
    cfg = [f"home = {home}" if line.startswith("home") else line for line in cfg]
    (env / "pyvenv.cfg").write_text("\n".join(cfg) + "\n", encoding="utf-8")
    for sibling in venv312_copy.parent.glob("python*"):
        sibling.unlink()  # every python of bin/ must be home's: this one alone is
    venv312_copy.symlink_to(home / "python3.12")

    run = run_check("--python", venv312_copy, "--project", project)

    assert run.returncode == 1, run.stderr
    message = run.findings("virtual_environment")
    assert f"{venv312_copy} was given in {env}, but the interpreter it started reports " in message
    assert f"{other} (executable {other}/bin/python)" in message
    assert run.check("integrity")["status"] == "skip"


@pytest.mark.slow
@pytest.mark.parametrize("form", ["source", "bytecode", "package"])
def test_an_unowned_sitecustomize_is_refused_and_never_runs(
    run_check: RunCheck, venv312_copy: Path, project: Path, tmp_path: Path, form: str
) -> None:
    site = wheelhouse.site_packages(venv312_copy)
    marker = tmp_path / "marker"
    code = write_marker_code(marker)
    if form == "source":
        hook = site / "sitecustomize.py"
        hook.write_text(code, encoding="utf-8")
    elif form == "package":
        hook = site / "sitecustomize"
        hook.mkdir()
        (hook / "__init__.py").write_text(code, encoding="utf-8")
    else:
        hook = site / "sitecustomize.pyc"
        source = tmp_path / "sitecustomize.py"
        source.write_text(code, encoding="utf-8")
        subprocess.run(
            [str(venv312_copy), "-I", "-S", "-c",
             f"import py_compile; py_compile.compile({str(source)!r}, cfile={str(hook)!r})"],
            check=True, timeout=60,
        )  # fmt: skip
    runs_under_plain_python(venv312_copy, marker)

    run = run_check("--python", venv312_copy, "--project", project, *NO_PERF)

    assert run.returncode == 1, run.stderr
    assert not marker.exists(), "sitecustomize ran during the check"
    assert run.statuses("fail") == {"startup_hooks"}  # reported once: not by integrity too
    assert f"{hook} is a sitecustomize ({form}) Python runs at every start that no " in (
        run.findings("startup_hooks")
    )
    (listed,) = run.check("startup_hooks")["details"]["hooks"]
    assert listed["form"] == form
    if form != "bytecode":
        assert listed["code"] == [code.strip()]


@pytest.mark.slow
def test_an_unowned_pth_with_an_import_line_is_refused_and_never_runs(
    run_check: RunCheck, venv312_copy: Path, project: Path, tmp_path: Path
) -> None:
    site = wheelhouse.site_packages(venv312_copy)
    marker = tmp_path / "marker"
    pth = site / "aaa.pth"
    pth.write_text(f"# harmless\nimport os; {write_marker_code(marker)}", encoding="utf-8")
    runs_under_plain_python(venv312_copy, marker)

    run = run_check("--python", venv312_copy, "--project", project, *NO_PERF)

    assert run.returncode == 1, run.stderr
    assert not marker.exists()
    assert run.statuses("fail") == {"startup_hooks"}
    assert f"{pth} is a start-up .pth file (1 line of code) that no installed" in (
        run.findings("startup_hooks")
    )
    assert run.check("integrity")["details"]["unowned"] == []


def latin1_locale(folder: Path) -> dict[str, str]:
    """The variables that give a child a Latin-1 locale, compiled here by ``localedef`` (the
    machine has only C and C.UTF-8); skip where it cannot be compiled."""
    localedef = shutil.which("localedef")
    if localedef is None:
        pytest.skip("no localedef: a Latin-1 locale cannot be made here")
    done = subprocess.run(
        [localedef, "-i", "en_US", "-f", "ISO-8859-1", str(folder / "en_US.ISO-8859-1")],
        capture_output=True,
        timeout=120,
        check=False,
    )
    if not (folder / "en_US.ISO-8859-1").is_dir():
        pytest.skip(f"localedef could not make a Latin-1 locale: {done.stderr!r}")
    return {"LOCPATH": str(folder), "LC_ALL": "en_US.ISO-8859-1"}


@pytest.mark.slow
def test_an_owned_pth_that_reads_as_a_comment_but_runs_under_latin1_is_refused(
    run_check: RunCheck, make_project: MakeProject, tmp_path: Path
) -> None:
    """A locked distribution's .pth is ``# notes\\x85import notes_mod``: a comment to a UTF-8
    reader, so no hook at all, but Python 3.13 falls back to the locale's encoding for bytes
    that are not UTF-8, and under Latin-1 \\x85 ends a line: the import runs at every start."""
    py313 = real_python("3.13")
    folder = tmp_path / "wheels"
    folder.mkdir()
    wheelhouse.build_wheel(
        folder,
        "notes",
        "1.0",
        files={
            "notes.pth": b"# notes\x85import notes_mod\n",
            "notes_mod.py": "import os\n"
            "if os.environ.get('NOTES_MARKER'):\n"
            "    open(os.environ['NOTES_MARKER'], 'a').write('ran\\n')\n",
        },
    )
    python = wheelhouse.make_venv(
        py313.path, tmp_path / "env", find_links=folder, install=["notes"], with_pip=False
    )
    marker = tmp_path / "marker"
    env = {**latin1_locale(tmp_path), "NOTES_MARKER": str(marker)}
    subprocess.run([str(python), "-c", "pass"], env={"PATH": os.environ["PATH"], **env},
                   capture_output=True, timeout=60, check=False)  # fmt: skip
    assert marker.exists(), "the poison did not run under Python 3.13: the test proves nothing"
    marker.unlink()

    run = run_check("--python", python, "--project", make_project(), *NO_PERF, env=env)

    assert run.returncode == 1, run.stderr
    assert not marker.exists()
    assert "startup_hooks" in run.statuses("fail")
    pth = wheelhouse.site_packages(python) / "notes.pth"
    assert f"{pth} is a start-up .pth file (0 lines of code), but it cannot be read (not UTF-8" in (
        run.findings("startup_hooks")
    )


# --- owned hooks and the policy ----------------------------------------------------------------


@pytest.fixture(scope="module")
def hooked_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A distribution that ships a start-up hook of its own (it writes $HOOK_MARKER)."""
    folder = tmp_path_factory.mktemp("hooked")
    wheelhouse.build_wheel(
        folder,
        "hooked",
        "1.0",
        files={
            "hooked.pth": "import hooked_mod\n",
            "hooked_mod.py": "import os\n"
            "if os.environ.get('HOOK_MARKER'):\n"
            "    open(os.environ['HOOK_MARKER'], 'a').write('ran\\n')\n",
        },
    )
    return folder


@pytest.mark.slow
def test_the_policy_refuses_an_owned_hook_it_does_not_list(
    run_check: RunCheck,
    venv312_copy: Path,
    make_project: MakeProject,
    hooked_wheel: Path,
    tmp_path: Path,
) -> None:
    wheelhouse.pip_install(venv312_copy, ["hooked"], find_links=hooked_wheel)
    pth = wheelhouse.site_packages(venv312_copy) / "hooked.pth"
    marker = tmp_path / "marker"
    env = {"HOOK_MARKER": str(marker)}
    subprocess.run(
        [str(venv312_copy), "-c", "pass"],
        env={"PATH": os.environ["PATH"], **env},
        timeout=60,
        check=True,
    )
    assert marker.exists()
    marker.unlink()

    owned = run_check("--python", venv312_copy, "--project", make_project(), *NO_PERF, env=env)
    assert owned.check("startup_hooks")["status"] == "pass"
    assert (
        owned.check("startup_hooks")["message"] == "1 start-up hook: hooked.pth (owned by hooked)"
    )

    strict = make_project(extra='startup_hooks = ["sitecustomize.py"]')
    run = run_check("--python", venv312_copy, "--project", strict, *NO_PERF, env=env)
    assert run.returncode == 1, run.stderr
    assert run.check("startup_hooks")["status"] == "fail"
    assert (
        f"{pth} is a start-up .pth file (1 line of code) (owned by hooked), and the policy's "
        "startup_hooks does not list hooked.pth: import hooked_mod"
    ) in run.findings("startup_hooks")
    assert not marker.exists()

    allowed = make_project(extra='startup_hooks = ["hooked.pth"]')
    listed = run_check("--python", venv312_copy, "--project", allowed, *NO_PERF, env=env)
    assert listed.check("startup_hooks")["status"] == "pass"
    assert not marker.exists()


@pytest.mark.slow
def test_a_venv_with_setuptools_is_ready_even_with_a_strict_policy(
    run_check: RunCheck, venv312_copy: Path, make_project: MakeProject
) -> None:
    """The real setuptools wheel (the one 3.11's ensurepip bundles) and its
    distutils-precedence.pth: owned by setuptools, allowed by default."""
    bundled = Path(real_python("3.11").path).resolve().parent.parent
    (folder,) = bundled.glob("lib/python3.11/ensurepip/_bundled")
    wheelhouse.pip_install(venv312_copy, ["setuptools"], find_links=folder)
    pth = wheelhouse.site_packages(venv312_copy) / "distutils-precedence.pth"
    assert pth.is_file()
    strict = make_project(extra='startup_hooks = ["nothing.pth"]')
    for project in (make_project(), strict):
        run = run_check("--python", venv312_copy, "--project", project)
        assert run.returncode == 0, run.stderr
        assert run.report["status"] == "READY"
        hooks = run.check("startup_hooks")
        assert hooks["message"] == (  # the lock does not pin setuptools: said so
            "1 start-up hook: distutils-precedence.pth (owned by setuptools, tooling the "
            "lock does not pin: its RECORD alone vouches for it)"
        )


@pytest.mark.slow
def test_a_virtualenv_is_ready(
    run_check: RunCheck, project: Path, wheels: Wheels, tmp_path: Path
) -> None:
    root = tmp_path / "venv"
    env = wheelhouse.hermetic_env(
        {
            "VIRTUALENV_OVERRIDE_APP_DATA": str(tmp_path / "app-data"),
            "VIRTUALENV_CONFIG_FILE": os.devnull,
        }
    )
    base = real_python("3.12").path
    wheelhouse.run(
        [sys.executable, "-m", "virtualenv", "--no-seed", "--no-periodic-update", "-p",
         str(base), str(root)],
        env=env,
    )  # fmt: skip
    python = root / "bin" / "python"
    lock = wheelhouse.write_lock(tmp_path / "py3.12.txt", wheels.locked, python="3.12")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index",
         "--quiet", "--find-links", str(wheels.folder), "--require-hashes", "-r", str(lock)],
        env=wheelhouse.hermetic_env(), check=True, timeout=300,
    )  # fmt: skip
    run = run_check("--python", python, "--project", project)
    assert run.returncode == 0, run.stderr
    assert run.report["status"] == "READY"
    assert "links to" in run.check("virtual_environment")["details"]["interpreter_anchor"]
    # virtualenv writes _virtualenv.pth and .py for interpreters before 3.12, as it ships them:
    # the module runs at every start (the .pth imports it), so it is believed by its bytes.
    site = wheelhouse.site_packages(python)
    shipped = Path(virtualenv.__file__).parent / "create" / "via_global_ref" / "_virtualenv.py"
    (site / "_virtualenv.pth").write_text("import _virtualenv", encoding="utf-8")
    module = site / "_virtualenv.py"
    shutil.copyfile(shipped, module)
    run = run_check("--python", python, "--project", project)
    assert run.returncode == 0, run.stderr
    assert "_virtualenv.pth (placed by virtualenv)" in run.check("startup_hooks")["message"]
    marker = tmp_path / "MARKER"
    module.write_text(
        shipped.read_text(encoding="utf-8") + f"\nopen({str(marker)!r}, 'a').write('ran')\n",
        encoding="utf-8",
    )
    subprocess.run([str(python), "-c", "pass"], check=True, timeout=60)
    assert marker.exists(), "the poisoned _virtualenv.py runs at every start"
    marker.unlink()
    run = run_check("--python", python, "--project", project)
    assert run.returncode == 1, run.stderr
    assert f"{module} is an importable module that no installed distribution owns" in (
        run.findings("integrity")
    )
    assert not marker.exists(), "the poisoned _virtualenv.py ran during the check"


# --- the checks, from facts -------------------------------------------------------------------


def hook(name: str, **kw: object) -> StartupHook:
    fields: dict[str, object] = {
        "path": f"{f.SITE}/{name}", "kind": "pth", "form": "pth", "site": f.SITE,
        "code": ("import x",), "owner": None,
    }  # fmt: skip
    fields.update(kw)
    return StartupHook(**fields)  # type: ignore[arg-type]


def test_known_hooks_pass_only_when_their_own_distribution_owns_them() -> None:
    strict = f.policy(startup_hooks=[])
    ctx = f.context(
        policy=strict,
        interpreter=f.interpreter(
            startup_hooks=(
                hook("distutils-precedence.pth", owner="setuptools"),
                hook("a1_coverage.pth", owner="coverage"),
                hook("a1_coverage.pth", path=f"{f.SITE}/x/a1_coverage.pth", owner="evil"),
            )
        ),
    )
    result = startup_hooks.startup_hooks(ctx)
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert f"{f.SITE}/x/a1_coverage.pth" in finding.message
    assert "owned by evil" in finding.message


def test_virtualenvs_hook_is_recognised_and_a_hook_outside_the_env_warns() -> None:
    ctx = f.context(
        interpreter=f.interpreter(
            startup_hooks=(
                hook("_virtualenv.pth"),
                hook("user.pth", site="/root/.local/site", own_site=False, owner="userpkg"),
                hook("broken.pth", code=(), problem="is a FIFO, not a regular file"),
                hook("stray.pth", site="/root/.local/site", own_site=False, owner=None),
            )
        ),
        integrity=f.integrity(
            unowned=(UnownedEntry(f"{f.SITE}/_virtualenv.pth", "pth", known_tool="virtualenv"),)
        ),
    )
    result = startup_hooks.startup_hooks(ctx)
    severities = [(x.severity, x.message.split(" is ")[0]) for x in result.findings]
    assert severities == [
        (Severity.WARNING, f"{f.SITE}/user.pth"),
        (Severity.CRITICAL, f"{f.SITE}/broken.pth"),
        (Severity.CRITICAL, f"{f.SITE}/stray.pth"),  # unowned wherever it lies
    ]
    assert "what it runs is unknown" in result.findings[1].message
    verdicts = [h["verdict"] for h in result.details["hooks"]]
    assert verdicts == ["placed by virtualenv", "outside the environment", "unreadable", "unowned"]
    # an owned hook outside the environment: no RECORD of it is checked, so nothing of the
    # environment runs (verify, then run)
    assert result.details["incomplete"] is True


def test_the_sysconfig_disagreement_is_critical_naming_both() -> None:
    facts = f.interpreter(
        site_rule_dirs=(f.SITE,),
        install_paths={"purelib": f.SITE, "platlib": "/env/lib64/python3.12/site-packages"},
    )
    result = virtual_environment.virtual_environment(f.context(interpreter=facts))
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert "platlib /env/lib64/python3.12/site-packages" in finding.message
    assert f"site.py puts {f.SITE} on sys.path" in finding.message


def test_a_foreign_interpreter_is_virtual_environments_finding() -> None:
    from preflight._checks import run_checks

    failure = ProbeFailure("foreign", "/env/bin/python is a script that is not ...")
    results = {r.id: r for r in run_checks(f.context(interpreter=failure))}
    assert results["virtual_environment"].status is Status.FAIL
    assert results["virtual_environment"].findings[0].severity is Severity.CRITICAL
    assert results["python_version"].status is Status.SKIP
    assert results["startup_hooks"].details == {"blocked_by": "virtual_environment"}


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("x.pth", "must be a list of strings"),
        (["../x.pth"], "'../x.pth' is not a file name"),
        ([""], "'' is not a file name"),
        ([3], "must be a list of strings"),
    ],
)
def test_the_policy_key_is_validated(value: object, detail: str) -> None:
    with pytest.raises(ConfigError) as caught:
        f.policy(startup_hooks=value)
    assert "startup_hooks" in str(caught.value)
    assert detail in str(caught.value)
