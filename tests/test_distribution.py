"""The distribution ``preflight-env``: built, checked and installed as a user gets it.

The wheel and the sdist are built with ``python -m build`` from a clean copy of this checkout,
offline (``distbuild``: why a copy, why ``--no-isolation``, why the wheel comes from the sdist).

Then the wheel is installed, not editable, into a fresh venv and run from there: the probes
are found through ``importlib.resources`` in site-packages, never in this checkout.
``packaging``'s wheel comes from the wheelhouse the ``tests`` session downloads once
(``PREFLIGHT_TEST_WHEELHOUSE``); the tests use no network.
"""

from __future__ import annotations

import email.parser
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from pathlib import Path

import pytest
import wheelhouse
from conftest import cli_env
from distbuild import ARCHIVE_STEM, DIST_NAME, ROOT, Dists, build_dists, source_files
from packaging.version import Version

from preflight._render.report import REPORT_NAME
from preflight._version import __version__

WHEELHOUSE = os.environ.get("PREFLIGHT_TEST_WHEELHOUSE", "")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    return build_dists(tmp_path_factory.mktemp("dist"))


def wheel_metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(f"{ARCHIVE_STEM}.dist-info/METADATA").decode("utf-8")
    return email.parser.Parser().parsestr(text)


def test_twine_accepts_the_wheel_and_the_sdist(dists: Dists) -> None:
    done = wheelhouse.run(
        [sys.executable, "-m", "twine", "check", "--strict", dists.wheel, dists.sdist]
    )
    assert done.stdout.count("PASSED") == 2, done.stdout


def test_the_wheel_is_preflight_env_with_its_version_and_dependency(dists: Dists) -> None:
    metadata = wheel_metadata(dists.wheel)
    assert metadata["Name"] == DIST_NAME
    assert metadata["Version"] == __version__
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["License-Expression"] == "MIT"
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata.get_payload().startswith("# preflight\n"), "the README is the description"
    assert len(metadata.get_payload().encode("utf-8")) <= 10 * 1024, (
        "the front page, not the manual"
    )
    # The test and lint tools are extras: installing preflight pulls in packaging alone.
    required = metadata.get_all("Requires-Dist") or []
    assert [r for r in required if "extra ==" not in r] == ["packaging>=26"]


def test_the_wheel_holds_every_module_the_probes_and_py_typed(dists: Dists) -> None:
    with zipfile.ZipFile(dists.wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read(f"{ARCHIVE_STEM}.dist-info/entry_points.txt").decode()
    # The probes run as files from the installed package; the API is typed.
    for name in (
        "preflight/_probe/interpreter.py",
        "preflight/_probe/performance.py",
        "preflight/py.typed",
        "preflight/_cli/__init__.py",
    ):
        assert name in names
    # Every file of the package in the checkout ships: no subpackage is left out.
    package = {name for name in source_files() if name.startswith("preflight/")}
    assert package <= names, sorted(package - names)
    # ... and nothing else lands in site-packages: no tests, benchmarks or noxfile.
    own = ("preflight/", f"{ARCHIVE_STEM}.dist-info/")
    assert sorted(n for n in names if not n.startswith(own)) == []
    assert "preflight = preflight._cli:main" in entry_points


def test_the_license_ships_in_the_wheel_and_the_sdist(dists: Dists) -> None:
    """The metadata says MIT; the text says so too, in both archives (PEP 639)."""
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License\n")
    with zipfile.ZipFile(dists.wheel) as archive:
        shipped = archive.read(f"{ARCHIVE_STEM}.dist-info/licenses/LICENSE").decode("utf-8")
    assert shipped == license_text
    assert wheel_metadata(dists.wheel).get_all("License-File") == ["LICENSE"]
    with tarfile.open(dists.sdist) as archive:
        member = archive.extractfile(f"{ARCHIVE_STEM}/LICENSE")
        assert member is not None
        assert member.read().decode("utf-8") == license_text


def test_the_sdist_holds_the_package_and_its_readme_but_no_tests(dists: Dists) -> None:
    with tarfile.open(dists.sdist) as archive:
        names = {
            name.removeprefix(f"{ARCHIVE_STEM}/")
            for name in archive.getnames()
            if name.startswith(f"{ARCHIVE_STEM}/")
        }
    for name in (
        "PKG-INFO",
        "pyproject.toml",
        "README.md",
        "preflight/_version.py",
        "preflight/_probe/interpreter.py",
        "preflight/py.typed",
    ):
        assert name in names
    # tests/ needs the whole checkout (noxfile, workflow, locks): none of it ships half.
    assert not [n for n in names if n.startswith("tests/")]


@pytest.mark.skipif(
    not WHEELHOUSE, reason="PREFLIGHT_TEST_WHEELHOUSE is not set (nox -s tests sets it)"
)
def test_the_installed_wheel_runs_and_judges_its_own_environment(
    dists: Dists, tmp_path: Path
) -> None:
    """Installed from a lock of the wheel and packaging, the tool judges that very venv.

    The lock pins both with their hashes and pip installs it with ``--require-hashes
    --no-deps``, as the ``preflight`` sessions do; by name from find-links, so pip records no
    direct URL and ``lock_sync`` sees an install like one from an index.
    """
    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    # The wheelhouse keeps every version it ever downloaded: take the newest.
    packaging_wheel = max(
        Path(WHEELHOUSE).glob("packaging-*.whl"), key=lambda w: Version(w.name.split("-")[1])
    )
    project = tmp_path / "project"
    (project / "requirements").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        "[tool.preflight]\n"
        f'pythons = ["{minor}"]\n'
        'requires = ["packaging>=26"]\n'
        "lock_max_age_days = 90\n"
        "env_vars = []\n",
        encoding="utf-8",
    )
    lock = wheelhouse.write_lock(
        project / "requirements" / f"py{minor}.txt", [dists.wheel, packaging_wheel], python=minor
    )
    python = wheelhouse.make_venv(sys.executable, tmp_path / "venv", with_pip=False)
    wheelhouse.pip_install(
        python,
        ["--find-links", WHEELHOUSE, "--require-hashes", "--no-deps", "-r", lock],
        find_links=dists.wheel.parent,
        own_pip=False,
    )
    elsewhere = tmp_path / "elsewhere"  # not the checkout, not the clean copy
    elsewhere.mkdir()

    def run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in argv],
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=cli_env(),
            cwd=elsewhere,
            timeout=180,
            check=False,
        )

    version = run(python.parent / "preflight", "--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"preflight {__version__}"), version

    where = run(python, "-c", "import preflight; print(preflight.__file__)")
    assert where.returncode == 0, where.stderr
    imported = Path(where.stdout.strip())
    assert imported == wheelhouse.site_packages(python) / "preflight" / "__init__.py"
    assert not imported.is_relative_to(ROOT)
    assert not imported.is_relative_to(dists.source)

    reports = tmp_path / "reports"
    check = run(
        python.parent / "preflight", "check", "--python", python, "--project", project,
        "--skip", "performance", "--report-dir", reports,
    )  # fmt: skip
    assert check.returncode in (0, 1, 2), check.stderr
    assert "Traceback" not in check.stderr, check.stderr
    report = json.loads((reports / REPORT_NAME).read_text(encoding="utf-8"))
    assert report["exit_code"] == check.returncode
    assert report["tool"]["version"] == __version__
    # The interpreter probe ran (found in site-packages) and answered for this venv.
    assert report["interpreter"]["path"] == str(python)
    assert report["interpreter"]["version"].startswith(f"{minor}.")
    statuses = {cid: c["status"] for cid, c in report["checks"].items()}
    assert statuses["python_version"] == "pass", report["checks"]["python_version"]
    assert statuses["virtual_environment"] == "pass", report["checks"]["virtual_environment"]
    # The installed wheel is exactly what the lock pins, and every file matches its RECORD.
    assert statuses["lock_sync"] == "pass", report["checks"]["lock_sync"]
    assert statuses["integrity"] == "pass", report["checks"]["integrity"]
