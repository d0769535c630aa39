"""``--wheelhouse`` holds each installed file against the locked wheel's own bytes (issue 17/3).

The lock's hash covers the wheel's bytes, not what its RECORD claims: a member is compared by
its content, and what the installer writes from it (a rewritten ``#!python`` shebang, the
launchers of ``entry_points.txt`` with pip's own ``pipX.Y`` names, the bytecode of the sources
and of the Python scripts it installs, virtualenv's seeded files) is accepted as the
installer's and nothing more.

Each attack is first shown to run under plain Python (it appends to a marker file), then
refused (NOT_READY, the check and the file named), and the marker never appears during the
check. Each genuine shape (pip's compiled bytecode, uv's ``--compile-bytecode``, an
application's own ``__pycache__`` at -O levels 0, 1, 2, scripts in a wheel's data, a locked
pip, a virtualenv-seeded pip) stays READY in RECORD mode and under ``--wheelhouse``.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import wheelhouse
from conftest import real_python
from test_startup_hooks import runs_under_plain_python

import preflight
from preflight._facts.anchored import launcher_problem

SKIP = ("performance", "suite")
SHIPPED = "VALUE = 'shipped'\n"
PIP_ENTRY = "pip._internal.cli.main:main"


def marker_code(marker: Path) -> str:
    return f"open({str(marker)!r}, 'a').write('ran\\n')\n"


def write_project(folder: Path, house: Path, requires: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    listed = ", ".join(f'"{r}"' for r in requires)
    (folder / "pyproject.toml").write_text(
        f'[tool.preflight]\npythons = ["3.12"]\nrequires = [{listed}]\n', encoding="utf-8"
    )
    wheelhouse.write_lock(folder / "requirements" / "py3.12.txt", sorted(house.glob("*.whl")))
    return folder


def checked(python: Path, project: Path, **kwargs: Any) -> dict[str, Any]:
    report = preflight.check(python, project=project, skip=SKIP, **kwargs)
    by_id = {c.id: c for c in report.checks}
    return {
        "status": report.status,
        "checks": {
            cid: {
                "status": c.status.label,
                "message": c.message,
                "findings": "\n".join(f.message for f in c.findings),
            }
            for cid, c in by_id.items()
        },
    }


def add_record_row(site: Path, dist_info: str, row: list[str]) -> None:
    record = site / dist_info / "RECORD"
    rows = list(csv.reader(record.read_text(encoding="utf-8").splitlines()))
    rows.append(row)
    with record.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def install(house: Path, project: Path, dest: Path) -> tuple[Path, Path]:
    """A 3.12 venv installed from the wheelhouse by pip, index off, hashes required."""
    lock = project / "requirements/py3.12.txt"
    python = wheelhouse.install_locked(real_python("3.12").path, dest, house, lock)
    return python, wheelhouse.site_packages(python)


# --- 1. a wheel whose RECORD lies -----------------------------------------------------------


@pytest.mark.slow
def test_a_wheel_whose_record_claims_other_bytes_anchors_the_member_not_the_claim(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "marker"
    # The same length, so that RECORD's size vouches for the claim as its hash does (a lie of
    # another size is refused by its size alone, in every mode).
    width = max(len(SHIPPED), len(marker_code(marker)))
    shipped = SHIPPED + "#" * (width - len(SHIPPED))
    claimed = marker_code(marker) + "#" * (width - len(marker_code(marker)))
    house = tmp_path / "house"
    wheelhouse.build_wheel(
        house,
        "tidy",
        "1.0",
        files={"tidy/__init__.py": "", "tidy/mod.py": shipped},
        record_hashes={"tidy/mod.py": wheelhouse.record_hash(claimed.encode())},
    )
    project = write_project(tmp_path / "project", house, ["tidy"])
    python, site = install(house, project, tmp_path / "env")
    assert (site / "tidy/mod.py").read_text(encoding="utf-8") == shipped

    # As installed, the file is the member's bytes: anchored, whatever RECORD claims.
    honest = checked(python, project, wheelhouse=house)
    assert honest["checks"]["integrity"]["status"] == "pass", honest["checks"]["integrity"]

    # The content RECORD claims, which no install of the locked wheel writes.
    (site / "tidy/mod.py").write_text(claimed, encoding="utf-8")
    # Of the same size, and written within the second pip compiled it, the source would look
    # unchanged to the bytecode pip wrote (its stamp is the mtime in whole seconds and the
    # size): an attacker waits a second, so the source is dated two seconds on.
    stamp = (site / "tidy/mod.py").stat().st_mtime_ns + 2_000_000_000
    os.utime(site / "tidy/mod.py", ns=(stamp, stamp))
    runs_under_plain_python(python, marker, "-c", "import tidy.mod")
    plain = checked(python, project)
    assert plain["checks"]["integrity"]["status"] == "pass"  # RECORD vouches for the claim
    anchored = checked(python, project, wheelhouse=house)
    assert anchored["status"] == "NOT_READY"
    integrity = anchored["checks"]["integrity"]
    assert integrity["status"] == "fail"
    assert (
        "tidy: tidy/mod.py is modified (sha256 differs from the locked wheel's tidy/mod.py"
        in integrity["findings"]
    )
    assert not marker.exists(), "the environment's code ran during the check"


# --- 2. tooling the lock does not pin, owning a start-up .pth -------------------------------


def fake_setuptools(site: Path, marker: Path) -> None:
    """A hand-made setuptools 80.0 whose (honestly hashed) RECORD owns ``zz_evil.pth``."""
    dist_info = site / "setuptools-80.0.dist-info"
    dist_info.mkdir()
    files = {
        "zz_evil.pth": "import os; " + marker_code(marker),
        "setuptools-80.0.dist-info/METADATA": (
            "Metadata-Version: 2.1\nName: setuptools\nVersion: 80.0\n"
        ),
        "setuptools-80.0.dist-info/INSTALLER": "pip\n",
    }
    rows = []
    for relative, text in files.items():
        (site / relative).write_text(text, encoding="utf-8")
        data = text.encode()
        rows.append(f"{relative},{wheelhouse.record_hash(data)},{len(data)}")
    rows.append("setuptools-80.0.dist-info/RECORD,,")
    (dist_info / "RECORD").write_text("\n".join(rows) + "\n", encoding="utf-8")


@pytest.mark.slow
def test_ignored_tooling_owning_a_start_up_pth_is_never_passed_silently(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    house = tmp_path / "house"
    wheelhouse.build_wheel(house, "tidy", "1.0")
    project = write_project(tmp_path / "project", house, ["tidy"])
    python, site = install(house, project, tmp_path / "env")
    fake_setuptools(site, marker)
    runs_under_plain_python(python, marker)

    plain = checked(python, project)  # RECORD mode: listed, said to rest on its RECORD
    hooks = plain["checks"]["startup_hooks"]
    assert (
        "zz_evil.pth (owned by setuptools, tooling the lock does not pin: its RECORD alone "
        "vouches for it)" in hooks["message"]
    ), hooks
    anchored = checked(python, project, wheelhouse=house)
    assert anchored["status"] == "NOT_READY"
    integrity = anchored["checks"]["integrity"]
    assert integrity["status"] == "fail"
    assert (
        "setuptools 80.0 is tooling the lock does not pin, but it owns code run at every "
        "start (zz_evil.pth)" in integrity["findings"]
    )
    assert not marker.exists(), "the .pth ran during the check"


# --- 3. a sourceless sitecustomize.pyc with a hashless RECORD row -----------------------------


@pytest.mark.slow
def test_a_hashless_sourceless_sitecustomize_pyc_is_unverifiable_and_refused(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "marker"
    house = tmp_path / "house"
    wheelhouse.build_wheel(house, "tidy", "1.0")
    project = write_project(tmp_path / "project", house, ["tidy"])
    python, site = install(house, project, tmp_path / "env")
    source = tmp_path / "sitecustomize.py"
    source.write_text(marker_code(marker), encoding="utf-8")
    compiled = site / "sitecustomize.pyc"
    wheelhouse.run([python, "-I", "-S", "-m", "py_compile", source])
    (produced,) = (tmp_path / "__pycache__").glob("sitecustomize.*.pyc")
    shutil.move(produced, compiled)
    add_record_row(site, "tidy-1.0.dist-info", ["sitecustomize.pyc", "", ""])
    runs_under_plain_python(python, marker)

    for kwargs in ({}, {"wheelhouse": house}):
        found = checked(python, project, **kwargs)
        assert found["status"] == "NOT_READY", kwargs
        if kwargs:  # the locked wheel ships no such file
            assert (
                "tidy: sitecustomize.pyc is not from the locked wheel"
                in found["checks"]["integrity"]["findings"]
            )
            continue
        integrity = found["checks"]["integrity"]
        assert (
            "tidy: sitecustomize.pyc cannot be verified: RECORD gives no hash"
            in integrity["findings"]
        )
        hooks = found["checks"]["startup_hooks"]
        assert hooks["status"] == "fail"
        assert f"{compiled} is a sitecustomize" in hooks["findings"]
        assert (
            "owned by tidy, but it cannot be verified (RECORD gives no hash)" in (hooks["findings"])
        )
    assert not marker.exists(), "sitecustomize ran during the check"


# --- 4. genuine environments: the installer's own writes ------------------------------------


def genuine_house(folder: Path) -> Path:
    """Wheels of the shapes that were refused: Python scripts in a wheel's data (docutils'
    rst2html.py, jmespath's jp.py), and a pip whose wheel names launchers for another Python."""
    wheelhouse.build_wheel(
        folder,
        "docish",
        "1.0",
        files={
            "docish/__init__.py": "VALUE = 1\n",
            "docish-1.0.data/scripts/rst2html.py": "#!python\nimport docish\nprint(1)\n",
        },
    )
    wheelhouse.build_wheel(
        folder,
        "jmesish",
        "1.0",
        files={
            "jmesish.py": "VALUE = 2\n",
            "jmesish-1.0.data/scripts/jp.py": "#!python\nimport jmesish\nprint(2)\n",
        },
    )
    wheelhouse.build_wheel(
        folder,
        "pip",
        "99.0",
        files={
            "pip/__init__.py": "",
            "pip/_internal/__init__.py": "",
            "pip/_internal/cli/__init__.py": "",
            "pip/_internal/cli/main.py": "def main():\n    return 0\n",
            "pip-99.0.dist-info/entry_points.txt": (
                f"[console_scripts]\npip = {PIP_ENTRY}\npip3 = {PIP_ENTRY}\npip3.9 = {PIP_ENTRY}\n"
            ),
        },
    )
    return folder


def assert_ready_both_ways(python: Path, project: Path, house: Path) -> None:
    for kwargs in ({}, {"wheelhouse": house}):
        found = checked(python, project, **kwargs)
        integrity = found["checks"]["integrity"]
        assert integrity["status"] == "pass", (kwargs, integrity)
        assert found["status"] == "READY", (kwargs, found["checks"])


def app_writes_its_own_bytecode(python: Path, *modules: str) -> None:
    """The application's imports at -O levels 0, 1 and 2, bytecode written (no installer)."""
    for level in ((), ("-O",), ("-OO",)):
        wheelhouse.import_writing_bytecode(python, modules, *level)


@pytest.mark.slow
def test_a_pip_install_with_compiled_bytecode_data_scripts_and_a_locked_pip_is_ready(
    tmp_path: Path,
) -> None:
    house = genuine_house(tmp_path / "house")
    project = write_project(tmp_path / "project", house, ["docish", "jmesish"])
    env = wheelhouse.hermetic_env()
    env.pop("PYTHONDONTWRITEBYTECODE")  # pip compiles every .py it installs, scripts included
    python = wheelhouse.make_venv(real_python("3.12").path, tmp_path / "env", with_pip=False)
    lock = project / "requirements/py3.12.txt"
    wheelhouse.run(
        [
            *(sys.executable, "-m", "pip", "--python", python, "install", "--no-index"),
            *("--no-cache-dir", "--quiet", "--find-links", house),
            *("--require-hashes", "--no-deps", "-r", lock),
        ],
        env=env,
    )
    bin_dir = python.parent
    assert list((bin_dir / "__pycache__").glob("rst2html.cpython-312.pyc"))
    assert list((bin_dir / "__pycache__").glob("jp.cpython-312.pyc"))
    assert (bin_dir / "pip3.12").is_file()  # pip's installer names it for the target
    assert not (bin_dir / "pip3.9").exists()
    app_writes_its_own_bytecode(python, "docish", "jmesish")
    assert_ready_both_ways(python, project, house)

    # The renamed launcher is accepted as pip's, not as anything: one that does more is not.
    launcher = bin_dir / "pip3.12"
    launcher.write_text(
        launcher.read_text(encoding="utf-8").replace("import sys\n", "import sys\nimport os\n"),
        encoding="utf-8",
    )
    found = checked(python, project, wheelhouse=house)
    assert found["status"] == "NOT_READY"
    assert "pip: ../../../bin/pip3.12 is modified" in found["checks"]["integrity"]["findings"]


@pytest.mark.slow
def test_a_uv_install_with_compile_bytecode_is_ready(tmp_path: Path) -> None:
    house = genuine_house(tmp_path / "house")
    project = write_project(tmp_path / "project", house, ["docish", "jmesish"])
    python = wheelhouse.make_venv(real_python("3.12").path, tmp_path / "env", with_pip=False)
    lock = project / "requirements/py3.12.txt"
    wheelhouse.uv_install(python, house, lock, compile_bytecode=True)
    assert list((wheelhouse.site_packages(python) / "docish/__pycache__").glob("*.pyc"))
    app_writes_its_own_bytecode(python, "docish", "jmesish")
    assert_ready_both_ways(python, project, house)


@pytest.mark.slow
def test_a_virtualenv_seeded_pip_the_lock_pins_is_ready(tmp_path: Path) -> None:
    virtualenv = pytest.importorskip("virtualenv")
    from virtualenv.seed.wheels.embed import get_embed_wheel  # type: ignore[import-untyped]

    seeded = get_embed_wheel("pip", "3.12")
    if seeded is None:
        pytest.skip(f"virtualenv {virtualenv.__version__} embeds no pip for 3.12")
    house = tmp_path / "house"
    house.mkdir()
    shutil.copy(seeded.path, house / seeded.path.name)
    project = write_project(tmp_path / "project", house, ["pip"])
    dest = tmp_path / "env"
    wheelhouse.run(
        [
            *(sys.executable, "-m", "virtualenv", "--python", real_python("3.12").path),
            *("--no-setuptools", "--no-wheel", "--pip", "bundle", "--no-periodic-update"),
            *("--app-data", tmp_path / "app-data", dest),
        ]
    )
    python = dest / "bin" / "python"
    record = next(wheelhouse.site_packages(python).glob("pip-*.dist-info")) / "RECORD"
    assert ".cpython-312.pyc,," in record.read_text(encoding="utf-8")  # virtualenv's rows
    assert (dest / "bin" / "pip3.12").is_file()
    assert_ready_both_ways(python, project, house)

    # The rows virtualenv lists without a hash are no cover: bytecode written where one of
    # them points (outside __pycache__, where Python runs it without a source) is code that
    # cannot be verified.
    site = wheelhouse.site_packages(python)
    wheelhouse.run([python, "-I", "-S", "-m", "py_compile", site / "pip/__init__.py"])
    (compiled,) = (site / "pip/__pycache__").glob("__init__.cpython-312.pyc")
    shutil.move(compiled, site / "pip/__init__.cpython-312.pyc")
    found = checked(python, project, wheelhouse=house)
    assert (
        "pip: pip/__init__.cpython-312.pyc cannot be verified: RECORD gives no hash"
        in found["checks"]["integrity"]["findings"]
    )


# --- the launcher distlib >= 0.3.9 writes (pip 25+, virtualenv) ------------------------------

DISTLIB_BLOCK = (
    "# -*- coding: utf-8 -*-\nimport re\nimport sys\nif __name__ == '__main__':\n"
    "    from pip._internal.cli.main import cli\n"
    "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
    "    sys.exit(cli())\n"
)


def test_a_launcher_importing_its_entry_point_inside_the_main_block_is_accepted() -> None:
    assert launcher_problem(DISTLIB_BLOCK.encode(), "pip._internal.cli.main:cli") is None


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (DISTLIB_BLOCK.replace("main import cli", "main import cli, run"), "does more"),
        (DISTLIB_BLOCK.replace("    from pip._internal.cli.main import cli\n", ""), "import"),
        (
            DISTLIB_BLOCK.replace(
                "    from pip", "    from os import system\n    system('id')\n    from pip"
            ),
            "does more",
        ),
        (DISTLIB_BLOCK.replace("sys.exit(cli())", "sys.exit(cli())\n    cli()"), "does more"),
    ],
)
def test_a_main_block_that_imports_or_calls_more_is_refused(body: str, why: str) -> None:
    problem = launcher_problem(body.encode(), "pip._internal.cli.main:cli")
    assert problem is not None
    assert why in problem
