"""Integrity anchored in the lock's hashes (``--wheelhouse``): lock hash → wheel → file.

Real environments from tiny wheels: a wheelhouse folder the lock's hashes vouch for, a venv
installed from it with the index off (``--no-index --find-links``), as ``nox -s preflight``
does. Each test that tampers builds its own venv (a copied venv's launchers would name the
original's python, which the anchored check rightly refuses).
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import factories
import pytest
import wheelhouse
from conftest import cli_argv, cli_env, real_python

import preflight
from preflight._facts.anchored import _pins, launcher_problem
from preflight._lock.pylock import parse_pylock_text

ENTRY = "tidy.core:main"
CORE = "def main():\n    return 0\n"
RUN_SCRIPT = "#!python\nimport tidy\nprint(tidy.core.main())\n"
PLAIN_SCRIPT = "#!/bin/sh\necho plain\n"
SKIP = ("performance", "suite")


def tidy_wheel(folder: Path, core: str = CORE) -> Path:
    return wheelhouse.build_wheel(
        folder,
        "tidy",
        "1.0",
        files={
            "tidy/__init__.py": "from tidy import core\n",
            "tidy/core.py": core,
            "tidy-1.0.data/scripts/tidy-run": RUN_SCRIPT,  # pip rewrites its #!python line
            "tidy-1.0.data/scripts/plain.sh": PLAIN_SCRIPT,  # copied as it is
            "tidy-1.0.dist-info/entry_points.txt": f"[console_scripts]\ntidy-cli = {ENTRY}\n",
        },
    )


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheelhouse: the locked wheels of tidy 1.0 and alpha 1.0."""
    folder = tmp_path_factory.mktemp("house")
    tidy_wheel(folder)
    wheelhouse.build_wheel(folder, "alpha", "1.0")
    return folder


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, house: Path) -> Path:
    folder = tmp_path_factory.mktemp("project")
    (folder / "pyproject.toml").write_text(
        '[tool.preflight]\npythons = ["3.12"]\nrequires = ["tidy>=1", "alpha>=1"]\n',
        encoding="utf-8",
    )
    wheelhouse.write_lock(folder / "requirements" / "py3.12.txt", sorted(house.glob("*.whl")))
    return folder


@pytest.fixture
def make_env(tmp_path: Path, house: Path, project: Path) -> Callable[[], tuple[Path, Path]]:
    """A fresh 3.12 venv installed from the wheelhouse with the index off; (python, site)."""
    base = real_python("3.12").path
    counter = iter(range(100))

    def make() -> tuple[Path, Path]:
        lock = project / "requirements" / "py3.12.txt"
        python = wheelhouse.make_venv(
            base,
            tmp_path / f"env{next(counter)}",
            find_links=house,
            install=["--require-hashes", "--no-deps", "-r", str(lock)],
            with_pip=False,
        )
        return python, wheelhouse.site_packages(python)

    return make


def integrity(python: Path, project: Path, **kwargs: Any) -> dict[str, Any]:
    report = preflight.check(python, project=project, skip=SKIP, **kwargs)
    result = {c.id: c for c in report.checks}["integrity"]
    return {
        "status": result.status.label,
        "message": result.message,
        "findings": "\n".join(f.message for f in result.findings),
        "remedies": "\n".join(f.remedy or "" for f in result.findings),
        "details": result.details,
        "report": report,
    }


def rewrite_with_record(site: Path, relative: str, text: str) -> None:
    """Change an installed file and its RECORD row, as a tool (or an attacker) can."""
    path = (site / relative).resolve()
    path.write_text(text, encoding="utf-8")
    (record,) = site.glob("tidy-1.0.dist-info/RECORD")
    rows = list(csv.reader(record.read_text(encoding="utf-8").splitlines()))
    data = path.read_bytes()
    for row in rows:
        if os.path.normpath(site / row[0]) == os.path.normpath(path):
            row[1], row[2] = wheelhouse.record_hash(data), str(len(data))
            break
    else:
        rows.append([os.path.relpath(path, site), wheelhouse.record_hash(data), str(len(data))])
    with record.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


# --- an honest environment -----------------------------------------------------------------


def test_honest_env_is_ready_and_anchored(
    make_env: Callable[[], tuple[Path, Path]], house: Path, project: Path
) -> None:
    python, _site = make_env()
    found = integrity(python, project, wheelhouse=house)
    assert found["status"] == "pass", found["findings"]
    anchor = found["details"]["anchor"]
    # tidy: __init__, core, plain.sh, METADATA, WHEEL, entry_points.txt; alpha: 3
    assert anchor["files_anchored"] == 9
    # the #!python script rewritten by pip, and the console launcher it wrote
    assert anchor["files_derived"] == 2
    # INSTALLER, RECORD (and REQUESTED) of each: pip wrote them
    assert anchor["files_record_only"] >= 4
    assert anchor["unanchored"] == []
    assert {w["dist"] for w in anchor["wheels"]} == {"tidy", "alpha"}
    assert all(w["sha256"].startswith("sha256:") for w in anchor["wheels"])
    assert "9 files anchored in the lock's hashes, 2 derived by the installer" in found["message"]
    assert found["report"].status == "READY"


def test_launcher_and_rewritten_shebang_hold_what_the_wheel_says(
    make_env: Callable[[], tuple[Path, Path]],
) -> None:
    python, _site = make_env()
    bin_dir = python.parent
    launcher = (bin_dir / "tidy-cli").read_text(encoding="utf-8")
    assert launcher.startswith(f"#!{bin_dir}/python")  # what the test relies on
    assert launcher_problem(launcher.partition("\n")[2].encode(), ENTRY) is None
    run = (bin_dir / "tidy-run").read_text(encoding="utf-8")
    assert run.partition("\n")[2] == RUN_SCRIPT.partition("\n")[2]


# --- what RECORD cannot see -----------------------------------------------------------------


def test_file_rewritten_with_its_record_row_is_refused(
    make_env: Callable[[], tuple[Path, Path]], house: Path, project: Path
) -> None:
    python, site = make_env()
    rewrite_with_record(site, "tidy/core.py", "import os\ndef main():\n    return 1\n")
    plain = integrity(python, project)
    assert plain["status"] == "pass"  # the RECORD beside the file was rewritten too
    anchored = integrity(python, project, wheelhouse=house)
    assert anchored["status"] == "fail"
    assert (
        "tidy: tidy/core.py is modified (sha256 differs from the locked wheel's"
        in (anchored["findings"])
    )
    assert anchored["report"].status == "NOT_READY"


def test_file_added_with_a_record_row_is_not_from_the_wheel(
    make_env: Callable[[], tuple[Path, Path]], house: Path, project: Path
) -> None:
    python, site = make_env()
    rewrite_with_record(site, "tidy/extra.py", "import os\n")
    found = integrity(python, project, wheelhouse=house)
    assert found["status"] == "fail"
    assert "tidy/extra.py is not from the locked wheel" in found["findings"]


def test_tampered_launcher_is_refused(
    make_env: Callable[[], tuple[Path, Path]], house: Path, project: Path
) -> None:
    python, site = make_env()
    launcher = python.parent / "tidy-cli"
    text = launcher.read_text(encoding="utf-8")
    rewrite_with_record(
        site, "../../../bin/tidy-cli", text.replace("import sys", "import sys, os\nos.getcwd()")
    )
    found = integrity(python, project, wheelhouse=house)
    assert found["status"] == "fail"
    assert "tidy-cli is modified" in found["findings"]


def test_rewritten_shebang_script_changed_below_its_first_line_is_refused(
    make_env: Callable[[], tuple[Path, Path]], house: Path, project: Path
) -> None:
    python, site = make_env()
    script = python.parent / "tidy-run"
    first = script.read_text(encoding="utf-8").partition("\n")[0]
    rewrite_with_record(site, "../../../bin/tidy-run", f"{first}\nimport os\n")
    found = integrity(python, project, wheelhouse=house)
    assert found["status"] == "fail"
    assert "below the shebang" in found["findings"]


def test_shebang_naming_another_python_is_refused(
    make_env: Callable[[], tuple[Path, Path]], house: Path, project: Path
) -> None:
    python, site = make_env()
    body = RUN_SCRIPT.partition("\n")[2]
    rewrite_with_record(site, "../../../bin/tidy-run", f"#!{sys.executable}\n{body}")
    found = integrity(python, project, wheelhouse=house)
    assert found["status"] == "fail"
    assert "does not name this environment's python" in found["findings"]


# --- what the wheelhouse holds --------------------------------------------------------------


def test_wheel_the_lock_does_not_vouch_for_is_not_trusted(
    make_env: Callable[[], tuple[Path, Path]], house: Path, project: Path, tmp_path: Path
) -> None:
    python, _site = make_env()
    other = tmp_path / "other-house"
    shutil.copytree(house, other)
    (other / "tidy-1.0-py3-none-any.whl").unlink()
    tidy_wheel(other, core="def main():\n    return 2\n")  # same name, other bytes
    found = integrity(python, project, wheelhouse=other)
    assert found["status"] == "fail"
    assert "tidy 1.0 is not anchored in the lock" in found["findings"]
    assert "no hash the lock lists for tidy==1.0 vouches for it" in found["findings"]
    kinds = {u["dist"]: u["kind"] for u in found["details"]["anchor"]["unanchored"]}
    assert kinds == {"tidy": "untrusted"}


def test_missing_wheel_is_a_finding(
    make_env: Callable[[], tuple[Path, Path]], house: Path, project: Path, tmp_path: Path
) -> None:
    python, _site = make_env()
    other = tmp_path / "partial-house"
    other.mkdir()
    shutil.copy(house / "alpha-1.0-py3-none-any.whl", other)
    os.mkfifo(other / "tidy-1.0-py3-none-any.whl.part")  # a FIFO is passed over, never opened
    found = integrity(python, project, wheelhouse=other)
    assert found["status"] == "fail"
    assert "the wheelhouse holds no wheel of tidy==1.0" in found["findings"]
    assert "pip download --require-hashes --no-deps -r" in found["remedies"]
    # alpha is still anchored; tidy's files rest on RECORD and are counted as such
    anchor = found["details"]["anchor"]
    assert [w["dist"] for w in anchor["wheels"]] == ["alpha"]
    assert anchor["files_record_only"] > 0


def test_fifo_named_as_the_wheel_does_not_hang(
    make_env: Callable[[], tuple[Path, Path]], house: Path, project: Path, tmp_path: Path
) -> None:
    python, _site = make_env()
    other = tmp_path / "fifo-house"
    other.mkdir()
    shutil.copy(house / "alpha-1.0-py3-none-any.whl", other)
    os.mkfifo(other / "tidy-1.0-py3-none-any.whl")
    found = integrity(python, project, wheelhouse=other)
    assert "the wheelhouse holds no wheel of tidy==1.0" in found["findings"]


def test_wheelhouse_that_is_not_a_folder_is_a_usage_error(
    make_env: Callable[[], tuple[Path, Path]], project: Path, tmp_path: Path
) -> None:
    import subprocess

    python, _site = make_env()
    done = subprocess.run(
        cli_argv("--python", python, "--project", project, "--wheelhouse", tmp_path / "nowhere",
                 "--report-dir", tmp_path / "reports"),
        capture_output=True, text=True, env=cli_env(), cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("error: --wheelhouse ")
    assert "does not exist" in done.stderr


def test_cli_check_with_wheelhouse_is_ready(
    make_env: Callable[[], tuple[Path, Path]], house: Path, project: Path, tmp_path: Path
) -> None:
    import json
    import subprocess

    python, _site = make_env()
    reports = tmp_path / "reports"
    done = subprocess.run(
        cli_argv("--python", python, "--project", project, "--wheelhouse", house,
                 "--report-dir", reports, "--skip", "performance", "--skip", "suite"),
        capture_output=True, text=True, env=cli_env(), cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    report = json.loads((reports / "runtime_verification_results.json").read_text())
    integrity_result = report["checks"]["integrity"]
    assert integrity_result["status"] == "pass", integrity_result
    assert integrity_result["details"]["anchor"]["wheelhouse"] == str(house)
    assert done.returncode == report["exit_code"]


# --- launchers, as pure functions -----------------------------------------------------------

PIP_LAUNCHER = """# -*- coding: utf-8 -*-
import re
import sys
from tidy.core import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""
UV_LAUNCHER = """# -*- coding: utf-8 -*-
import sys
from tidy.core import main
if __name__ == "__main__":
    if sys.argv[0].endswith("-script.pyw"):
        sys.argv[0] = sys.argv[0][:-11]
    elif sys.argv[0].endswith(".exe"):
        sys.argv[0] = sys.argv[0][:-4]
    sys.exit(main())
"""


@pytest.mark.parametrize("body", [PIP_LAUNCHER, UV_LAUNCHER])
def test_installers_launchers_are_accepted(body: str) -> None:
    assert launcher_problem(body.encode(), ENTRY) is None


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (PIP_LAUNCHER.replace("import re\n", "import re, os\n"), "line 2"),
        (PIP_LAUNCHER.replace("from tidy.core", "from evil.core"), "is not what a launcher"),
        (PIP_LAUNCHER + "print('x')\n", "is not what a launcher"),
        (
            PIP_LAUNCHER.replace("sys.exit(main())", "__import__('os')\n    sys.exit(main())"),
            "__main__ block",
        ),
        (PIP_LAUNCHER.replace("sys.exit(main())", "sys.exit(other())"), "__main__ block"),
        (PIP_LAUNCHER.replace("re.sub(", "eval("), "__main__ block"),
        ("\x00", "not Python"),
    ],
)
def test_launchers_that_do_more_are_refused(body: str, why: str) -> None:
    problem = launcher_problem(body.encode(), ENTRY)
    assert problem is not None
    assert why in problem


def test_a_pylocks_pins_are_chosen_in_its_own_marker_context() -> None:
    # A package of a non-default dependency group ('dev') is not installed, so it vouches
    # for no wheel: the anchored scan selects pins as the checks do (Lock.applicable), not
    # with plain PEP 508 evaluation, where `dependency_groups` is undefined and so applies.
    text = (
        'lock-version = "1.0"\ncreated-by = "test"\n'
        '[[packages]]\nname = "alpha"\nversion = "1.0"\n'
        'wheels = [{ name = "alpha-1.0-py3-none-any.whl", url = "https://x/a.whl", '
        'hashes = { sha256 = "aa" } }]\n'
        '[[packages]]\nname = "devtool"\nversion = "2.0"\n'
        "marker = \"'dev' in dependency_groups\"\n"
        'wheels = [{ name = "devtool-2.0-py3-none-any.whl", url = "https://x/d.whl", '
        'hashes = { sha256 = "dd" } }]\n'
    )
    lock = parse_pylock_text(text, Path("/p/pylock.toml"))
    assert sorted(_pins(factories.interpreter(), lock)) == ["alpha"]
