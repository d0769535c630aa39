"""``--wheelhouse``: a launcher's first lines are byte for byte what an installer writes for
this environment's python, and its body is read as Python reads it.

Four launchers the review made (each READY before, each running a payload whenever the
launcher runs, the launcher still doing its job): a UTF-7 coding cookie that turns a comment
into code; the ``/bin/sh`` prelude whose quoted path holds a command substitution that
normalises back to ``bin``; a shebang naming ``bin/pythonw`` (or ``python2``, ``python4``),
an unrecorded script of the attacker; a shebang through a symlink out of the
environment (``bin/lnk/../python``). Each is first shown to run its payload under a plain run
of the launcher, then refused (NOT_READY, integrity, the launcher named), and the payload
never runs during the check. The forms installers really write stay READY: pip's ``#!EXE``,
distlib's long-path and spaced-path ``/bin/sh`` forms (pip with a venv at such a path) and
uv's (when uv is installed).
"""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import wheelhouse
from conftest import real_python

import preflight
from preflight._facts.anchored import launcher_problem

ENTRY = "tidy.core:main"
CORE = "def main():\n    print('tidy ran')\n    return 0\n"
SKIP = ("performance", "suite")
LAUNCHER = "bin/tidy-cli"


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("house")
    wheelhouse.build_wheel(
        folder,
        "tidy",
        "1.0",
        files={
            "tidy/__init__.py": "",
            "tidy/core.py": CORE,
            "tidy-1.0.dist-info/entry_points.txt": f"[console_scripts]\ntidy-cli = {ENTRY}\n",
        },
    )
    return folder


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, house: Path) -> Path:
    folder = tmp_path_factory.mktemp("project")
    (folder / "pyproject.toml").write_text(
        '[tool.preflight]\npythons = ["3.12"]\nrequires = ["tidy>=1"]\n', encoding="utf-8"
    )
    wheelhouse.write_lock(folder / "requirements" / "py3.12.txt", sorted(house.glob("*.whl")))
    return folder


def pip_env(dest: Path, house: Path, project: Path) -> Path:
    """A 3.12 venv at ``dest``, tidy installed by pip from the wheelhouse (index off)."""
    lock = project / "requirements" / "py3.12.txt"
    return wheelhouse.make_venv(
        real_python("3.12").path,
        dest,
        find_links=house,
        install=["--require-hashes", "--no-deps", "-r", str(lock)],
        with_pip=False,
    )


def checked(python: Path, project: Path, house: Path) -> dict[str, Any]:
    report = preflight.check(python, project=project, skip=SKIP, wheelhouse=house)
    integrity = {c.id: c for c in report.checks}["integrity"]
    return {
        "status": report.status,
        "integrity": integrity.status.label,
        "findings": "\n".join(f.message for f in integrity.findings),
    }


def launch(launcher: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(launcher)],
        cwd=cwd,
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def rewrite_with_record(python: Path, data: bytes) -> None:
    """The launcher rewritten and its RECORD row with it, as an attacker with write access can
    (RECORD alone then vouches for it: only the wheel can tell)."""
    site = wheelhouse.site_packages(python)
    launcher = python.parent / "tidy-cli"
    launcher.write_bytes(data)
    (record,) = site.glob("tidy-1.0.dist-info/RECORD")
    rows = list(csv.reader(record.read_text(encoding="utf-8").splitlines()))
    (row,) = [r for r in rows if r[0].endswith(LAUNCHER)]
    row[1], row[2] = wheelhouse.record_hash(data), str(len(data))
    with record.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def payload_script(marker: Path, python: Path) -> str:
    """A stand-in interpreter: writes the marker, then runs the real python."""
    return f'#!/bin/sh\necho ran >> "{marker}"\nexec "{python}" "$@"\n'


def assert_runs_then_refused(
    python: Path, project: Path, house: Path, marker: Path, *, again: bool = True
) -> None:
    launcher = python.parent / "tidy-cli"
    # Before: the poisoned launcher still works, and its payload runs with it.
    assert not marker.exists()
    done = launch(launcher, marker.parent)
    assert (done.returncode, done.stdout) == (0, "tidy ran\n"), done
    assert marker.exists(), "the payload did not run: the test proves nothing"
    marker.unlink()
    # RECORD vouches for it; the locked wheel does not.
    found = checked(python, project, house)
    assert found["status"] == "NOT_READY", found
    assert found["integrity"] == "fail", found
    assert "tidy: ../../../bin/tidy-cli is modified" in found["findings"], found
    assert not marker.exists(), "the check ran the launcher's payload"
    if again:
        assert launch(launcher, marker.parent).returncode == 0
        assert marker.exists()
        marker.unlink()


# --- (a) a coding cookie ----------------------------------------------------------------------


@pytest.mark.slow
def test_a_utf7_coding_cookie_hiding_code_in_a_comment_is_refused(
    tmp_path: Path, house: Path, project: Path
) -> None:
    python = pip_env(tmp_path / "env", house, project)
    marker = tmp_path / "marker"
    original = (python.parent / "tidy-cli").read_bytes()
    first, _, rest = original.partition(b"\n")
    # `+AAo-` is UTF-7 for a newline: to a UTF-8 reader the payload is a comment.
    hidden = f"# +AAo-open({str(marker)!r}, 'a').write('ran')\n".encode()
    body = rest.replace(b"import sys\n", b"import sys\n" + hidden, 1)
    assert body != rest
    rewrite_with_record(python, first + b"\n# -*- coding: utf-7 -*-\n" + body)
    assert_runs_then_refused(python, project, house, marker)


DISTLIB = (
    b"# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom tidy.core import main\n"
    b"if __name__ == '__main__':\n"
    b"    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
    b"    sys.exit(main())\n"
)
SIMPLE = b"#!/env/bin/python\n"
SH = b"#!/bin/sh\n'''exec' '/env/bin/python' \"$0\" \"$@\"\n' '''\n"


@pytest.mark.parametrize("prelude", [SIMPLE, SH], ids=["shebang", "sh-prelude"])
def test_the_template_installers_write_is_accepted_below_either_prelude(prelude: bytes) -> None:
    # Under the /bin/sh form, line 2 is code (the '''exec' string): Python reads UTF-8
    # whatever line 4 says, and the body is the template's, so UTF-8 is what it is.
    assert launcher_problem(DISTLIB, ENTRY, prelude) is None


@pytest.mark.parametrize(
    "cookie",
    [
        b"# -*- coding: utf-7 -*-\n",
        b"# -*- coding: latin-1 -*-\n",
        b"# coding: no-such-codec\n",
        b"# vim: set fileencoding=utf-16 :\n",
    ],
)
def test_a_cookie_naming_another_codec_is_refused_as_such(cookie: bytes) -> None:
    problem = launcher_problem(cookie + DISTLIB, ENTRY, SIMPLE)
    assert problem is not None
    assert "coding cookie" in problem


@pytest.mark.parametrize(
    "body",
    [
        DISTLIB.replace(
            b"utf-8", b"utf8"
        ),  # a cookie Python reads as UTF-8: still not the template
        DISTLIB.replace(b"import sys\n", b"import sys\n# a comment\n"),
        DISTLIB.replace(b"\n", b"\r\n"),
        DISTLIB + b"\n",
    ],
)
def test_a_harmless_body_that_is_not_a_template_is_refused(body: bytes) -> None:
    # The syntax tree is a launcher's; the bytes are no installer's.
    problem = launcher_problem(body, ENTRY, SIMPLE)
    assert problem is not None
    assert "not the launcher pip, uv, installer or virtualenv writes" in problem


def test_a_cookie_on_the_files_third_line_is_not_one_python_reads() -> None:
    # Below the one-line shebang and a comment: Python reads a cookie on lines 1 and 2 only.
    assert "coding cookie" not in (launcher_problem(b"#\n# coding: latin-1\n", ENTRY) or "")


# --- (b) the /bin/sh prelude with a command substitution -------------------------------------


@pytest.mark.slow
def test_a_sh_prelude_whose_path_runs_a_command_is_refused(
    tmp_path: Path, house: Path, project: Path
) -> None:
    python = pip_env(tmp_path / "env", house, project)
    marker = tmp_path / "marker"
    rest = (python.parent / "tidy-cli").read_bytes().partition(b"\n")[2]
    env = python.parent.parent
    # normpath("ENV/$(...)/../bin/python") is ENV/bin/python (no slash inside the $(...): the
    # marker is written relative to the launcher's working folder); the shell runs the $(...).
    path = f"{env}/$(echo ran >>{marker.name}; echo bin)/../bin/python"
    prelude = f"#!/bin/sh\n'''exec' \"{path}\" \"$0\" \"$@\"\n' '''\n".encode()
    rewrite_with_record(python, prelude + rest)
    assert_runs_then_refused(python, project, house, marker)


# --- (c) another interpreter name ---------------------------------------------------------------


@pytest.mark.slow
def test_a_shebang_naming_another_python_name_in_bin_is_refused(
    tmp_path: Path, house: Path, project: Path
) -> None:
    python = pip_env(tmp_path / "env", house, project)
    marker = tmp_path / "marker"
    bin_dir = python.parent
    rest = (bin_dir / "tidy-cli").read_bytes().partition(b"\n")[2]
    # (A python3.Y beside the interpreter is the virtual_environment check's: it refuses it.)
    for name in ("pythonw", "python2", "python4"):
        fake = bin_dir / name
        fake.write_text(payload_script(marker, python), encoding="utf-8")
        fake.chmod(0o755)
        rewrite_with_record(python, f"#!{fake}\n".encode() + rest)
        assert_runs_then_refused(python, project, house, marker, again=False)
        fake.unlink()


# --- (d) a shebang through a symlink out of the environment ---------------------------------


@pytest.mark.slow
def test_a_shebang_through_a_symlink_out_of_the_environment_is_refused(
    tmp_path: Path, house: Path, project: Path
) -> None:
    python = pip_env(tmp_path / "env", house, project)
    marker = tmp_path / "marker"
    bin_dir = python.parent
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "python").write_text(payload_script(marker, python), encoding="utf-8")
    (outside / "python").chmod(0o755)
    (bin_dir / "lnk").symlink_to(outside / "sub")
    rest = (bin_dir / "tidy-cli").read_bytes().partition(b"\n")[2]
    # normpath says bin/python; the kernel resolves lnk first and lands in outside/.
    rewrite_with_record(python, f"#!{bin_dir}/lnk/../python\n".encode() + rest)
    assert_runs_then_refused(python, project, house, marker)


# --- the forms installers write stay READY ----------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "folder",
    [
        pytest.param("d" * 120, id="long-path"),  # over 127 bytes: distlib's /bin/sh form
        pytest.param("with space", id="spaced-path"),  # a space: distlib quotes it
    ],
)
def test_pips_sh_prelude_for_a_long_or_spaced_path_is_ready(
    tmp_path: Path, house: Path, project: Path, folder: str
) -> None:
    python = pip_env(tmp_path / folder / "env", house, project)
    launcher = python.parent / "tidy-cli"
    data = launcher.read_bytes()
    assert data.startswith(b"#!/bin/sh\n'''exec' "), data[:200]  # what the test relies on
    if " " in folder:
        assert f"'''exec' \"{python.parent}/".encode() in data
    done = launch(launcher)
    assert (done.returncode, done.stdout) == (0, "tidy ran\n"), done
    found = checked(python, project, house)
    assert found["integrity"] == "pass", found
    assert found["status"] == "READY", found


@pytest.mark.slow
@pytest.mark.parametrize(
    ("folder", "prelude"),
    [
        pytest.param("short", b"#!/", id="short-path"),
        pytest.param("d" * 120, b"#!/bin/sh\n'''exec' '/", id="long-path"),  # single quotes
        pytest.param("relocatable", b"#!/bin/sh\n'''exec' \"$(dirname", id="relocatable"),
    ],
)
def test_uvs_launcher_is_ready(
    tmp_path: Path, house: Path, project: Path, folder: str, prelude: bytes
) -> None:
    uv = wheelhouse.uv()
    dest = tmp_path / folder / "env"
    if folder == "relocatable":
        wheelhouse.run(
            [
                *(uv, "venv", "--relocatable", "--offline", "--no-cache"),
                *("--python", real_python("3.12").path, dest),
            ]
        )
        python = dest / "bin" / "python"
    else:
        python = wheelhouse.make_venv(real_python("3.12").path, dest, with_pip=False)
    wheelhouse.uv_install(python, house, project / "requirements/py3.12.txt")
    launcher = python.parent / "tidy-cli"
    assert launcher.read_bytes().startswith(prelude)  # the form the case is about
    done = launch(launcher)
    assert (done.returncode, done.stdout) == (0, "tidy ran\n"), done
    found = checked(python, project, house)
    assert found["status"] == "READY", found
