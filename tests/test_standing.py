"""The files that decide which interpreter runs are beyond anyone else's reach, and ``home`` is
an interpreter installation of its own (``preflight/_facts/standing.py``), judged before
anything of the environment runs.

Each attack is shown to work first (the poison runs when Python starts normally), then
preflight refuses it (NOT_READY, exit 1, ``virtual_environment`` naming the path) and the
poison never runs during the check.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import CliRun, real_python

from preflight._facts import site, standing

RunCheck = Callable[..., CliRun]
NOBODY = pwd.getpwnam("nobody").pw_uid


def _plain(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -I -S -B ARGS``: even the strictest start-up preflight's probes use."""
    return subprocess.run(
        [str(python), "-I", "-S", "-B", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ["PATH"]},
        check=False,
    )


def _refused(run: CliRun, *named: str) -> str:
    assert run.returncode == 1, run.stderr
    assert run.report["status"] == "NOT_READY"
    assert run.check("virtual_environment")["status"] == "fail"
    found = run.findings("virtual_environment")
    for text in named:
        assert text in found, found
    return found


def _fake_home(tmp_path: Path, marker: Path) -> Path:
    """A folder laid out like an installation: a byte-identical copy of the real 3.12 and a
    standard library whose ``encodings`` (imported at every start, ``-I -S`` too) is poisoned."""
    real = real_python("3.12").path.resolve()
    stdlib = real.parent.parent / "lib" / "python3.12"
    home = tmp_path / "fakehome"
    (home / "bin").mkdir(parents=True)
    shutil.copy2(real, home / "bin" / "python3.12")
    lib = home / "lib" / "python3.12"
    lib.mkdir(parents=True)
    shutil.copy2(stdlib / "os.py", lib / "os.py")  # getpath's landmark
    shutil.copytree(stdlib / "encodings", lib / "encodings", ignore=shutil.ignore_patterns("*.pyc"))
    for entry in stdlib.iterdir():  # the rest is the real one's: a whole, working stdlib
        if not (lib / entry.name).exists() and entry.name not in ("site-packages", "__pycache__"):
            (lib / entry.name).symlink_to(entry)
    (lib / "site-packages").mkdir()
    with (lib / "encodings" / "__init__.py").open("a", encoding="utf-8") as handle:
        handle.write(f"\nimport _io\n_io.open({str(marker)!r}, 'a').write('ran\\n')\n")
    return home


@pytest.mark.slow
@pytest.mark.parametrize("form", ["copy", "link"])
def test_a_fake_home_with_a_copied_interpreter_is_refused_before_it_runs(
    run_check: RunCheck, venv312_copy: Path, project: Path, tmp_path: Path, form: str
) -> None:
    """pyvenv.cfg's home names a folder holding a byte-identical copy of the interpreter and a
    standard library of the attacker's: getpath loads that library, even under -I -S -B."""
    marker = tmp_path / "MARK"
    home = _fake_home(tmp_path, marker)
    bin_dir = venv312_copy.parent
    for old in bin_dir.glob("python*"):
        old.unlink()
    if form == "copy":
        shutil.copy2(home / "bin" / "python3.12", bin_dir / "python3.12")
    else:
        (bin_dir / "python3.12").symlink_to(home / "bin" / "python3.12")
    (bin_dir / "python").symlink_to("python3.12")
    (bin_dir / "python3").symlink_to("python3.12")
    cfg = bin_dir.parent / "pyvenv.cfg"
    lines = cfg.read_text(encoding="utf-8").splitlines()
    cfg.write_text(
        "".join(f"home = {home / 'bin'}\n" if ln.startswith("home") else ln + "\n" for ln in lines),
        encoding="utf-8",
    )
    python = bin_dir / "python3.12"  # the copy itself: a copy of home's python (r1's case)
    assert _plain(python, "-c", "pass").returncode == 0
    assert marker.read_text() == "ran\n"  # the poison runs under plain Python
    marker.unlink()

    run = run_check("--python", python, "--project", project)

    found = _refused(run, f"pyvenv.cfg's home {home / 'bin'}", "not the interpreter's own")
    assert "/root/.pyenv/versions/3.12.1/lib" in found or "names" in found
    assert not marker.exists()  # nothing of the environment ran during the check


def _venvs(tmp_path: Path, version: str) -> list[Path]:
    base = Path(version) if version.startswith("/") else real_python(version).path
    made = []
    for name, argv in (
        ("links", [str(base), "-m", "venv", "--without-pip"]),
        ("copies", [str(base), "-m", "venv", "--without-pip", "--copies"]),
        ("virtualenv", [sys.executable, "-m", "virtualenv", "--no-seed", "-p", str(base)]),
    ):
        dest = tmp_path / f"{base.name}-{name}"
        subprocess.run(
            [*argv, str(dest)], check=True, capture_output=True, timeout=300,
            env={"PATH": os.environ["PATH"], "VIRTUALENV_OVERRIDE_APP_DATA": str(tmp_path / "vd")},
        )  # fmt: skip
        made.append(dest / "bin" / "python")
    return made


@pytest.mark.slow
@pytest.mark.parametrize("version", ["3.10", "3.11", "3.12", "3.13", "/usr/bin/python3"])
def test_real_venvs_of_real_interpreters_stay_anchored(tmp_path: Path, version: str) -> None:
    """venv with links, with --copies, and virtualenv, of each pyenv interpreter (home is
    the installation the interpreter was built for: its RUNPATH names its lib) and of the
    system's static build (its compiled-in prefix, /usr, is in its bytes)."""
    if version.startswith("/") and not Path(version).exists():
        pytest.skip(f"no {version} on this machine")
    for python in _venvs(tmp_path, version):
        _venv, problem, anchor = site.anchor_problem(str(python))
        assert problem is None, problem
        assert anchor


def test_a_home_whose_standard_library_is_another_installation_is_refused(
    tmp_path: Path,
) -> None:
    """The tie is the program's bytes: a home whose lib/pythonX.Y belongs to no build of
    this program is refused, whoever owns it (root owns this one)."""
    marker = tmp_path / "MARK"
    home = _fake_home(tmp_path, marker)
    real = str(home / "bin" / "python3.12")
    problems = list(standing.home_problems(str(home / "bin"), real, os.getuid()))
    assert any("not the interpreter's own" in p for p in problems), problems
    true_home = real_python("3.12").path.resolve()
    assert list(standing.home_problems(str(true_home.parent), str(true_home), 0)) == []


@pytest.mark.slow
def test_a_scripts_folder_others_can_write_is_refused(
    run_check: RunCheck, venv312_copy: Path, project: Path
) -> None:
    bin_dir = venv312_copy.parent
    bin_dir.chmod(0o777)
    run = run_check("--python", venv312_copy, "--project", project)
    _refused(run, str(bin_dir), "mode 0777")


@pytest.mark.slow
@pytest.mark.parametrize("which", ["script", "pyvenv.cfg"])
def test_a_console_script_or_pyvenv_cfg_owned_by_another_user_is_refused(
    run_check: RunCheck, venv312_copy: Path, project: Path, tmp_path: Path, which: str
) -> None:
    """Console scripts are code though suffix-less; pyvenv.cfg chooses the interpreter."""
    marker = tmp_path / "MARK"
    env = venv312_copy.parent.parent
    if which == "script":
        target = env / "bin" / "tool"
        target.write_text(f"#!/bin/sh\necho ran > {marker}\n", encoding="utf-8")
        target.chmod(0o755)
        subprocess.run([str(target)], check=True, timeout=60)
        assert marker.exists()  # it is code: run, it writes the marker
        marker.unlink()
    else:
        target = env / "pyvenv.cfg"
    os.chown(target, NOBODY, -1)
    run = run_check("--python", venv312_copy, "--project", project)
    _refused(run, str(target), "owned by uid")
    assert not marker.exists()


@pytest.mark.slow
def test_python_reached_through_a_link_another_user_owns_is_refused(
    run_check: RunCheck, venv312_copy: Path, project: Path, tmp_path: Path
) -> None:
    """A link in a sticky folder, owned by nobody: they can point it at a venv of theirs
    between the check and the children. Root's own link is fine, and children run by the
    resolved path."""
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    env = venv312_copy.parent.parent
    link = sticky / "env"
    link.symlink_to(env)
    given = link / "bin" / "python"
    assert standing.resolved_python(str(given)) == str(env / "bin" / "python")
    assert site.anchor_problem(str(given))[1] is None  # root's link: not refused
    os.lchown(link, NOBODY, -1)
    run = run_check("--python", given, "--project", project)
    _refused(run, f"{link}, a symlink on the way to the interpreter", "nobody")


def test_the_loaders_configured_folders_are_read_with_their_includes(tmp_path: Path) -> None:
    """A libpython in /usr/local/lib (official Docker images: ld.so.conf.d names it) is one the
    loader finds: its compiled-in prefix ties the program as a default folder's would."""
    from preflight._facts.standing import _ld_so_conf

    conf_d = tmp_path / "ld.so.conf.d"
    conf_d.mkdir()
    (conf_d / "libc.conf").write_text("# libc default\n/usr/local/lib\n", encoding="utf-8")
    (conf_d / "x86_64.conf").write_text("/lib/x86_64-linux-gnu  # arch\n", encoding="utf-8")
    (conf_d / "self.conf").write_text(f"include {tmp_path}/ld.so.conf\n", encoding="utf-8")
    conf = tmp_path / "ld.so.conf"
    conf.write_text("include ld.so.conf.d/*.conf\n/opt/lib\nnot-absolute\n", encoding="utf-8")
    found = _ld_so_conf(str(conf))
    assert found[0] == "/usr/local/lib"
    assert "/lib/x86_64-linux-gnu" in found
    assert found.count("/opt/lib") >= 1  # a loop of includes ends (depth-bounded)
    assert "not-absolute" not in found
    assert _ld_so_conf(str(tmp_path / "missing")) == []


def test_ld_library_path_comes_first_as_the_loader_searches_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from preflight._facts.standing import _system_libpythons

    (tmp_path / "libpython3.12.so.1.0").write_bytes(b"")
    monkeypatch.setenv("LD_LIBRARY_PATH", f"relative:{tmp_path}")
    found = _system_libpythons()
    assert found[0] == str(tmp_path / "libpython3.12.so.1.0")
