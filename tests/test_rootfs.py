"""``preflight check --root DIR``: a root filesystem judged from its files, never run.

The root holds a real CPython 3.12.1's files and an interpreter that writes a marker file
whenever anything starts it (``tests/images.py``). Each test that relies on "never run" first
proves the marker appears when the interpreter is run, then that the check never makes it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import images
import pytest
from conftest import CliRun, Wheels, cli_argv, cli_env

from preflight._facts import rootfs
from preflight._facts.model import InterpreterFacts, ProbeFailure

PY = "/usr/local/bin/python3"


@pytest.fixture(scope="module")
def clean_root(tmp_path_factory: pytest.TempPathFactory, wheels: Wheels) -> tuple[Path, Path]:
    """A root with alpha 1.0 and beta-pkg 2.0 installed by pip: ``(root, marker)``.
    Read-only: tests copy it (``root``)."""
    base = tmp_path_factory.mktemp("clean-root")
    marker = base / "ran"
    root = images.make_root(base / "root", marker)
    images.pip_into(root, wheels.folder, ["alpha==1.0", "beta-pkg==2.0"])
    return root, marker


@pytest.fixture
def root(tmp_path: Path, clean_root: tuple[Path, Path]) -> tuple[Path, Path]:
    """This test's copy of the clean root, free to damage: ``(root, marker)``. The copy's
    interpreter writes the same marker (its path is in the script)."""
    copy = tmp_path / "root"
    shutil.copytree(clean_root[0], copy, symlinks=True)
    marker = clean_root[1]
    marker.unlink(missing_ok=True)
    return copy, marker


def _runs_and_tells(root: Path, marker: Path) -> None:
    """The poison works: the image's interpreter, run, writes the marker."""
    subprocess.run([root / "usr/local/bin/python3.12", "-c", "pass"], check=True, timeout=60)
    assert marker.read_text(encoding="utf-8").startswith("ran")
    marker.unlink()


def test_a_clean_root_is_ready_and_its_interpreter_never_runs(
    root: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun]
) -> None:
    folder, marker = root
    _runs_and_tells(folder, marker)
    run = run_check("--root", folder, "--python", PY, "--project", project, "--format", "json")
    assert run.returncode == 0, run.stderr
    assert not marker.exists(), "the image's interpreter was run"
    report = run.report
    assert report["status"] == "READY"
    interpreter = report["interpreter"]
    assert interpreter["version"] == "3.12.1"
    assert interpreter["path"] == f"{folder}:{PY}"  # every output names the root and python
    assert interpreter["prefix"] == "/usr/local"  # as the image names it
    assert interpreter["sources"]["version"] == "/usr/local/include/python3.12/patchlevel.h"
    assert (
        "resolved inside the root to /usr/local/bin/python3.12"
        in (interpreter["sources"]["executable"])
    )
    assert run.check("lock_sync")["status"] == "pass"
    assert run.check("integrity")["status"] == "pass"
    assert run.check("bytecode")["status"] == "pass"  # compiled by this machine's 3.12
    for check_id in ("performance", "suite"):
        assert "needs the image to run" in run.check(check_id)["message"]
    assert str(folder) not in run.check("integrity")["message"]


def test_an_unowned_pth_is_refused_and_never_runs(
    root: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun], tmp_path: Path
) -> None:
    folder, marker = root
    site = folder / images.SITE
    poison = tmp_path / "poisoned"
    (site / "zz_evil.pth").write_text(
        f"import pathlib; pathlib.Path({str(poison)!r}).write_text('x')\n", encoding="utf-8"
    )
    # the poison runs under plain Python when the folder is a site folder
    code = f"import site; site.addsitedir({str(site)!r})"
    subprocess.run([images.real_312() / "bin/python3.12", "-c", code], check=True, timeout=60)
    assert poison.exists()
    poison.unlink()
    run = run_check("--root", folder, "--python", PY, "--project", project)
    assert run.returncode == 1
    assert run.check("startup_hooks")["status"] == "fail"
    assert "/usr/local/lib/python3.12/site-packages/zz_evil.pth" in run.findings("startup_hooks")
    assert not poison.exists()
    assert not marker.exists()


def test_a_changed_file_and_an_extra_package_are_named(
    root: tuple[Path, Path],
    project: Path,
    run_check: Callable[..., CliRun],
    wheels: Wheels,
) -> None:
    folder, marker = root
    (folder / images.SITE / "alpha/__init__.py").write_text("evil = 1\n", encoding="utf-8")
    images.pip_into(folder, wheels.folder, ["extra-thing==1.0"])
    run = run_check("--root", folder, "--python", PY, "--project", project)
    assert run.returncode == 1
    assert "alpha/__init__.py" in run.findings("integrity")
    assert "extra-thing" in run.findings("lock_sync")
    assert not marker.exists()


def test_a_wrong_patch_release_fails_an_exact_pin(
    root: tuple[Path, Path], make_project: Callable[..., Path], run_check: Callable[..., CliRun]
) -> None:
    folder, _ = root
    project = make_project(pythons=("3.12.4",), locks=("3.12",))
    run = run_check("--root", folder, "--python", PY, "--project", project)
    assert run.returncode == 1
    assert run.check("python_version")["status"] == "fail"
    assert "3.12.1" in run.check("python_version")["message"]


def test_a_venv_under_opt_is_read_through_its_link_into_the_root(
    root: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun], wheels: Wheels
) -> None:
    folder, marker = root
    shutil.rmtree(folder / images.SITE)
    (folder / images.SITE).mkdir()
    venv = folder / "opt/venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin/python").symlink_to("/usr/local/bin/python3.12")
    (venv / "pyvenv.cfg").write_text(
        "home = /usr/local/bin\ninclude-system-site-packages = false\nversion = 3.12.1\n",
        encoding="utf-8",
    )
    images.pip_into(folder, wheels.folder, ["alpha==1.0", "beta-pkg==2.0"], prefix="/opt/venv")
    run = run_check("--root", folder, "--python", "/opt/venv/bin/python", "--project", project)
    assert run.returncode == 0, run.stderr
    assert run.report["interpreter"]["prefix"] == "/opt/venv"
    assert run.check("virtual_environment")["status"] == "pass"
    assert not marker.exists()


def test_a_venv_whose_python_is_not_its_home_is_refused(root: tuple[Path, Path]) -> None:
    folder, _ = root
    venv = folder / "opt/venv/bin"
    venv.mkdir(parents=True)
    (folder / "opt/other").mkdir()
    shutil.copy2(folder / "usr/local/bin/python3.12", folder / "opt/other/python3.12")
    (venv / "python").symlink_to("/opt/other/python3.12")
    (folder / "opt/venv/pyvenv.cfg").write_text("home = /usr/local/bin\n", encoding="utf-8")
    found = rootfs.facts_from_root(str(folder), "/opt/venv/bin/python").facts
    assert isinstance(found, ProbeFailure)
    assert found.kind == "foreign"
    assert "/opt/other/python3.12" in found.message


def test_links_resolve_inside_the_root_never_out_of_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/python3").symlink_to("/usr/local/bin/python3.12")
    (root / "usr/bin/up").symlink_to("../../../../../../etc")
    (root / "loop").symlink_to("/loop")
    assert rootfs.resolve_in_root(str(root), "/usr/bin/python3") == "/usr/local/bin/python3.12"
    assert rootfs.resolve_in_root(str(root), "/usr/bin/up/passwd") == "/etc/passwd"
    with pytest.raises(rootfs.RootError, match="links"):
        rootfs.resolve_in_root(str(root), "/loop/x")
    # this machine's /etc/passwd exists; the root's does not: nothing is read through a link
    found = rootfs.facts_from_root(str(root), "/usr/bin/up/passwd").facts
    assert isinstance(found, ProbeFailure)
    assert found.kind == "missing"


def test_sysconfigdata_is_read_as_data_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w')\nbuild_time_vars = {{'ABIFLAGS': ''}}\n".encode()
    assert rootfs.parse_sysconfigdata(code) == {"ABIFLAGS": ""}
    call = f"build_time_vars = dict(ABIFLAGS=open({str(marker)!r}, 'w').name)\n".encode()
    with pytest.raises(rootfs.RootError, match="not a plain literal"):
        rootfs.parse_sysconfigdata(call)
    assert not marker.exists()


def test_the_release_comes_from_debian_status_and_the_binary_bytes() -> None:
    status = (
        b"Package: libpython3.11-minimal\nStatus: install ok installed\n"
        b"Version: 3.11.2-6+deb12u2\n\nPackage: python3.11\nStatus: install ok installed\n"
        b"Version: 3.11.9-1\n"
    )
    assert rootfs.dpkg_version(status, "3.11") == "3.11.2"
    assert rootfs.dpkg_version(status.replace(b"ok installed", b"ok config-files"), "3.11") is None
    assert rootfs.binary_version(b"xx\x003.12.1\x00yy\x003.11.2\x00", "3.12") == "3.12.1"
    assert rootfs.binary_version(b"\x003.12.1\x00\x003.12.2\x00", "3.12") is None  # two: none


def test_files_that_disagree_about_the_release_are_refused(root: tuple[Path, Path]) -> None:
    folder, _ = root
    status = folder / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text(
        "Package: libpython3.12-minimal\nStatus: install ok installed\nVersion: 3.12.7-1\n",
        encoding="utf-8",
    )
    found = rootfs.facts_from_root(str(folder), PY)
    assert isinstance(found.facts, ProbeFailure)
    assert "3.12.1" in found.facts.message
    assert "3.12.7" in found.facts.message
    status.unlink()
    again = rootfs.facts_from_root(str(folder), PY)
    assert isinstance(again.facts, InterpreterFacts)
    assert again.facts.version == "3.12.1"


def test_no_python_lists_the_ones_found(
    root: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun]
) -> None:
    folder, _ = root
    run = run_check("--root", folder, "--project", project)
    assert run.returncode == 3
    assert "/usr/local/bin/python3" in run.stderr
    assert "/usr/local/bin/python3.12" in run.stderr


def test_baseline_vulnerabilities_and_sbom_work_on_a_root(
    root: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun], tmp_path: Path
) -> None:
    """The checks that read files work on a root as on a venv: a manifest of one build
    checked against the next, the OSV data matched with the installed set, an SBOM."""
    folder, marker = root
    manifest = tmp_path / "baseline.json"
    written = subprocess.run(
        [*cli_argv("--root", folder, "--python", PY, "--project", project, command="baseline"),
         "--output", manifest, "--report-dir", tmp_path / "r0"],
        capture_output=True, text=True, env=cli_env(), cwd=tmp_path, timeout=180, check=False,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    osv = tmp_path / "osv"
    osv.mkdir()
    advisory = {
        "schema_version": "1.6.0", "id": "GHSA-alph-0000-0001", "modified": "2026-10-01T00:00:00Z",
        "summary": "alpha does something bad",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "alpha"},
                      "ranges": [{"type": "ECOSYSTEM",
                                  "events": [{"introduced": "0"}, {"fixed": "1.1"}]}]}],
    }  # fmt: skip
    (osv / "GHSA-alph-0000-0001.json").write_text(json.dumps(advisory), encoding="utf-8")
    (folder / images.SITE / "beta_pkg/__init__.py").write_text("changed = 1\n", encoding="utf-8")
    sbom = tmp_path / "sbom.json"
    run = run_check(
        "--root", folder, "--python", PY, "--project", project, "--baseline", manifest,
        "--vulnerability-db", osv, "--sbom", sbom,
    )  # fmt: skip
    assert run.returncode == 1
    assert "beta_pkg/__init__.py" in run.findings("baseline")
    assert "GHSA-alph-0000-0001" in run.findings("vulnerabilities")
    names = {c["name"] for c in json.loads(sbom.read_text(encoding="utf-8"))["components"]}
    assert {"alpha", "beta-pkg"} <= names
    assert not marker.exists()


def _debian_root(folder: Path, marker: Path) -> Path:
    """A Debian-like root: its python3.11 (a script that tells on whoever runs it), the
    files of this machine's Debian 3.11 that the facts read, a module and a start-up .pth in
    /usr/lib/python3/dist-packages that dpkg installed (its .list and .md5sums), and dpkg's
    status naming libpython3.11-minimal 3.11.2."""
    source = Path("/usr/lib/python3.11")
    if not (source / "os.py").is_file():
        pytest.skip("no Debian python3.11 on this machine to copy files from")
    stdlib = folder / "usr/lib/python3.11"
    stdlib.mkdir(parents=True)
    for found in [source / "os.py", *source.glob("_sysconfigdata_*.py")]:
        shutil.copy2(found, stdlib / found.name)
    (folder / "usr/bin").mkdir(parents=True)
    python = folder / "usr/bin/python3.11"
    python.write_text(f"#!/bin/sh\necho ran >> {marker}\n", encoding="utf-8")
    python.chmod(0o755)
    site = folder / "usr/lib/python3/dist-packages"
    site.mkdir(parents=True)
    (site / "six.py").write_text("x = 1\n", encoding="utf-8")
    (site / "zz-distro.pth").write_text("import os\n", encoding="utf-8")
    info = folder / "var/lib/dpkg/info"
    info.mkdir(parents=True)
    (folder / "var/lib/dpkg/status").write_text(
        "Package: libpython3.11-minimal\nStatus: install ok installed\nVersion: 3.11.2-6\n",
        encoding="utf-8",
    )
    for package, name in (("python3-six", "six.py"), ("python3-zz", "zz-distro.pth")):
        (info / f"{package}.list").write_text(
            f"/usr/lib/python3/dist-packages\n/usr/lib/python3/dist-packages/{name}\n",
            encoding="utf-8",
        )
        digest = hashlib.md5((site / name).read_bytes(), usedforsecurity=False).hexdigest()
        (info / f"{package}.md5sums").write_text(
            f"{digest}  usr/lib/python3/dist-packages/{name}\n", encoding="utf-8"
        )
    return folder


def test_debian_dist_packages_are_the_distros_and_a_changed_hook_is_not(
    tmp_path: Path, project: Path, run_check: Callable[..., CliRun]
) -> None:
    marker = tmp_path / "ran"
    folder = _debian_root(tmp_path / "debian", marker)
    args = ("--root", folder, "--python", "/usr/bin/python3.11", "--project", project)
    run = run_check(*args, "--skip", "bytecode")
    interpreter = run.report["interpreter"]
    assert interpreter["version"] == "3.11.2"
    assert "/var/lib/dpkg/status" in interpreter["sources"]["version"]
    assert "six.py" not in run.findings("integrity")  # dpkg's, not unowned
    assert run.check("startup_hooks")["status"] == "pass", run.findings("startup_hooks")
    hooks = run.check("startup_hooks")["details"]["hooks"]
    assert [h["owner"] for h in hooks] == ["dpkg:python3-zz"]
    (folder / "usr/lib/python3/dist-packages/zz-distro.pth").write_text(
        "import os; os.system('evil')\n", encoding="utf-8"
    )
    changed = run_check(*args, "--skip", "bytecode")
    assert changed.check("startup_hooks")["status"] == "fail"
    assert "zz-distro.pth" in changed.findings("startup_hooks")
    assert not marker.exists()


def test_a_link_out_of_the_root_is_refused_and_pth_lines_name_paths_inside_it(
    root: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun], tmp_path: Path
) -> None:
    """--root reads the files where they lie: a link in a site folder that leads out of the
    root is refused, never followed (this machine's file would be read as the image's)."""
    folder, marker = root
    secret = tmp_path / "secret.txt"
    secret.write_text("import os  # HOST_SECRET\n", encoding="utf-8")
    site = folder / images.SITE
    (site / "zz.pth").symlink_to(secret)
    run = run_check("--root", folder, "--python", PY, "--project", project)
    assert run.returncode == 1
    assert "leads out of the root" in run.check("python_version")["message"]
    assert "HOST_SECRET" not in run.stderr + run.report_path.read_text(encoding="utf-8")
    (site / "zz.pth").unlink()
    # an absolute .pth line is a folder of the image, not of this machine
    (folder / "opt/extra").mkdir(parents=True)
    (site / "extra.pth").write_text(f"/opt/extra\n{tmp_path}\n", encoding="utf-8")
    facts = rootfs.facts_from_root(str(folder), PY).facts
    assert isinstance(facts, InterpreterFacts)
    (pth,) = facts.pth_files
    assert pth.paths == (str(folder / "opt/extra"),)
    assert pth.missing == (str(folder) + str(tmp_path),)
    assert not marker.exists()
