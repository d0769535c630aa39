"""What ``site`` would do, read from files (``preflight/_facts/site.py``), never run.

The rules are CPython's ``Lib/site.py`` (``venv``, ``getsitepackages``, ``addsitedir``,
``addpackage``); each case here is one of those rules, checked against the real thing where
the real thing answers in milliseconds (the target's own ``site`` on a real venv).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import real_python

from preflight._facts import site
from preflight._facts.model import InterpreterFacts
from preflight._facts.probes import probe_interpreter

V312, V313 = (3, 12), (3, 13)


def pth(tmp_path: Path, content: bytes, version: tuple[int, int] = V312) -> site.PthFile:
    path = tmp_path / "x.pth"
    path.write_bytes(content)
    (found,) = site.pth_files(str(tmp_path), version)
    return found


# --- .pth lines, by site.addpackage's rules ---------------------------------------------------


def test_comments_blank_lines_imports_and_paths(tmp_path: Path) -> None:
    (tmp_path / "here").mkdir()
    found = pth(
        tmp_path,
        b"# import os  (a comment never runs)\n"
        b"\n   \n"
        b"import os; open('x')\n"
        b"import\tsys\n"
        b"importlib\n"  # no space or tab after import: a path line, not code
        b" import os\n"  # leading space: a path line too
        b"here   \n"  # right-stripped, relative to the site folder
        b"missing\n",
    )
    assert found.code == ("import os; open('x')", "import\tsys")
    assert found.paths == (str(tmp_path / "here"),)
    assert set(found.missing) == {
        str(tmp_path / "importlib"),
        str(tmp_path / " import os"),
        str(tmp_path / "missing"),
    }
    assert found.problem is None


def test_a_path_line_naming_a_file_is_a_fact(tmp_path: Path) -> None:
    """A file (a zip) where a folder should be: recorded for the startup_hooks check, which
    reads no file itself."""
    (tmp_path / "here").mkdir()
    (tmp_path / "bundle.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    found = pth(tmp_path, b"here\nbundle.zip\n")
    assert found.paths == (str(tmp_path / "here"), str(tmp_path / "bundle.zip"))
    assert found.not_folders == (str(tmp_path / "bundle.zip"),)


def test_absolute_and_dotted_paths_and_each_folder_once(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / "a.pth").write_text(f"{elsewhere}\n../elsewhere\n", encoding="utf-8")
    (site_dir / "b.pth").write_text("../elsewhere\n", encoding="utf-8")
    a, b = site.pth_files(str(site_dir), V312, set())
    assert a.paths == (str(elsewhere),)  # the second line names the same folder
    assert b.paths == ()


def test_bytes_that_are_not_utf8_do_not_hide_an_import(tmp_path: Path) -> None:
    found = pth(tmp_path, b"\xff\xfe garbage \x80\nimport evil\n")
    assert found.code == ("import evil",)
    assert found.problem == site.NOT_UTF8


@pytest.mark.parametrize("version", [V312, V313])
def test_a_pth_that_is_not_utf8_is_a_problem_whatever_it_seems_to_say(
    tmp_path: Path, version: tuple[int, int]
) -> None:
    """Read as UTF-8 this is one comment; 3.13 under a Latin-1 locale splits it at \\x85 (NEL)
    and runs the import. What the locale of a later start will be is not preflight's to know,
    so the file is unreadable as Python would read it, for every version."""
    found = pth(tmp_path, b"# notes\x85import evil\n", version)
    assert found.code == ()
    assert found.problem == site.NOT_UTF8
    (hook,) = site.startup_hooks([found], [], [str(tmp_path)], {found.path: "notes"})
    assert hook.problem == site.NOT_UTF8
    # a UTF-8 BOM is UTF-8, and valid UTF-8 beyond ASCII is no problem
    assert pth(tmp_path, b"\xef\xbb\xbf# caf\xc3\xa9\n", version).problem is None


def test_a_huge_pth_is_bounded_and_reported_not_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.pth"
    with path.open("wb") as handle:
        handle.write(b"import evil\n")
        handle.truncate(site.PTH_LIMIT + 10)
    (found,) = site.pth_files(str(tmp_path), V312)
    assert found.code == ()
    assert found.problem is not None
    assert "larger than" in found.problem


def test_a_fifo_named_pth_is_never_waited_on_and_a_folder_is_no_pth(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.pth")
    (tmp_path / "folder.pth").mkdir()  # site.py cannot open it: it runs nothing
    (found,) = site.pth_files(str(tmp_path), V312)
    assert found.problem == "is a FIFO, not a regular file"


def test_a_hooks_code_is_bounded_for_the_report(tmp_path: Path) -> None:
    lines = [f"import os; x = {'1' * 1000}" for _ in range(100)]
    (tmp_path / "many.pth").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pths = site.pth_files(str(tmp_path), V312)
    assert len(pths[0].code) == 100
    (hook,) = site.startup_hooks(pths, [str(tmp_path)], [str(tmp_path)], {})
    assert len(hook.code) == site.HOOK_LINES + 1
    assert hook.code[-1] == f"... ({100 - site.HOOK_LINES} more lines)"
    assert all(len(line) <= site.HOOK_LINE_CHARS for line in hook.code)


def test_line_splitting_follows_the_target_version(tmp_path: Path) -> None:
    """3.13 splits with str.splitlines: a form feed starts a line that runs; 3.12 reads the
    file with universal newlines, where the same bytes are one path line."""
    content = b"nothing\x0cimport evil\n"
    assert pth(tmp_path, content, V313).code == ("import evil",)
    assert pth(tmp_path, content, V312).code == ()
    # a UTF-8 BOM: 3.13 strips it (the import runs), 3.12 keeps it (a path line)
    bom = b"\xef\xbb\xbfimport evil\n"
    assert pth(tmp_path, bom, V313).code == ("import evil",)
    assert pth(tmp_path, bom, V312).code == ()
    # \r alone ends a line for both
    assert pth(tmp_path, b"x\rimport evil", V312).code == ("import evil",)


def test_hidden_pth_files_are_skipped_from_313_only(tmp_path: Path) -> None:
    (tmp_path / ".hidden.pth").write_text("import evil\n", encoding="utf-8")
    assert [p.code for p in site.pth_files(str(tmp_path), V312)] == [("import evil",)]
    assert site.pth_files(str(tmp_path), V313) == []


@pytest.mark.parametrize("version", ["3.9", "3.12", "3.13"])
def test_the_rules_agree_with_the_real_site(tmp_path: Path, version: str) -> None:
    """The path entries and the code lines found are what the real site.py does, on a real
    venv whose .pth files exercise each rule (the code lines append to a marker file)."""
    base = real_python(version)
    env = tmp_path / "env"
    subprocess.run(
        [str(base.path), "-m", "venv", "--without-pip", str(env)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    facts = probe_interpreter(env / "bin" / "python")
    assert isinstance(facts, InterpreterFacts), facts
    (site_dir,) = facts.site_packages
    for name in ("one", "two", "three"):
        (Path(site_dir) / name).mkdir()
    marker = tmp_path / "ran"
    Path(site_dir, "a.pth").write_bytes(
        b"# comment\none\nimport\tos; open(%r, 'a').write('a\\n')\nnope\n" % str(marker).encode()
    )
    Path(site_dir, "b.pth").write_bytes(
        b"two\x0cimport os; open(%r, 'a').write('b\\n')\n../site-packages/three\n"
        % str(marker).encode()
    )
    real = subprocess.run(
        [str(env / "bin" / "python"), "-c", "import sys; print('\\n'.join(sys.path))"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"]},
    )
    ours = probe_interpreter(env / "bin" / "python")
    assert isinstance(ours, InterpreterFacts), ours
    assert [p for p in ours.path if p] == [p for p in real.stdout.splitlines() if p]
    # (site.py processes a venv's site folder twice, so each line ran twice)
    ran = set(marker.read_text().split())
    assert ran == set({"a.pth": "a", "b.pth": "b"}[Path(h.path).name] for h in ours.startup_hooks)
    assert ran == ({"a", "b"} if version == "3.13" else {"a"})


# --- site folders and the cross-check ---------------------------------------------------------


def test_site_rule_with_lib64_and_free_threading() -> None:
    assert site.rule_site_dirs("/e", "3.12.1", "lib", "") == ["/e/lib/python3.12/site-packages"]
    assert site.rule_site_dirs("/e", "3.13.0", "lib64", "t") == [
        "/e/lib64/python3.13t/site-packages",
        "/e/lib/python3.13t/site-packages",
    ]


def test_site_folder_reached_through_a_symlink_is_listed_once(tmp_path: Path) -> None:
    # A venv has lib64 -> lib; where platlibdir is "lib64" (Fedora, RHEL) purelib and platlib
    # are the same folder under two names, and every distribution was reported twice.
    (tmp_path / "lib" / "python3.12" / "site-packages").mkdir(parents=True)
    (tmp_path / "lib64").symlink_to("lib")
    purelib = str(tmp_path / "lib" / "python3.12" / "site-packages")
    platlib = str(tmp_path / "lib64" / "python3.12" / "site-packages")
    assert site.existing_unique([purelib, platlib]) == [purelib]
    assert site.existing_unique([platlib], exclude=[purelib]) == []


def test_layout_disagreement_names_both_sides(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib64").symlink_to("lib")
    agree = {"purelib": str(tmp_path / "lib"), "platlib": str(tmp_path / "lib64")}
    real = site.real_paths([str(tmp_path / "lib"), *agree.values()])
    assert site.layout_disagreement([str(tmp_path / "lib")], agree, real) == []
    # Without the real paths (facts built by hand), each is compared as it is written.
    assert site.layout_disagreement([str(tmp_path / "lib")], agree) == [
        (f"platlib {tmp_path / 'lib64'}", str(tmp_path / "lib"))
    ]
    other = {"purelib": str(tmp_path / "lib"), "platlib": "/elsewhere/site-packages"}
    assert site.layout_disagreement([str(tmp_path / "lib")], other) == [
        ("platlib /elsewhere/site-packages", str(tmp_path / "lib"))
    ]


# --- pyvenv.cfg and the interpreter's anchor --------------------------------------------------


def test_pyvenv_cfg_by_site_rules(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "pyvenv.cfg").write_bytes(
        b"home = /opt/py/bin\nversion = 3.12.1\nno equals sign\n Key = v = w\n"
    )
    venv = site.find_venv(str(tmp_path / "bin" / "python"))
    assert venv is not None
    assert venv.prefix == str(tmp_path)
    assert venv.cfg == {"home": "/opt/py/bin", "version": "3.12.1", "key": "v = w"}
    assert venv.system_site  # site.py: true unless the file says otherwise
    os.unlink(tmp_path / "pyvenv.cfg")
    os.mkfifo(tmp_path / "pyvenv.cfg")
    fifo = site.find_venv(str(tmp_path / "bin" / "python"))  # never opened: refused
    assert fifo is not None
    assert fifo.problem is not None
    assert "FIFO" in fifo.problem
    os.unlink(tmp_path / "pyvenv.cfg")
    (tmp_path / "bin" / "pyvenv.cfg").write_bytes(b"x" * (site.PYVENV_CFG_LIMIT + 1))
    venv = site.find_venv(str(tmp_path / "bin" / "python"))
    assert venv is not None
    assert venv.problem is not None
    assert "larger than" in venv.problem


def test_anchor_of_a_copy_a_link_and_a_script(tmp_path: Path) -> None:
    base = real_python("3.12").path.resolve()
    home = base.parent  # the folder the interpreter was installed in
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    (env / "pyvenv.cfg").write_text(f"home = {home}\n", encoding="utf-8")
    python = env / "bin" / "python"
    python.symlink_to(base)
    assert site.anchor_problem(str(python))[1] is None
    python.unlink()
    shutil.copy(base, python)
    _venv, problem, anchor = site.anchor_problem(str(python))
    assert problem is None
    assert "byte-identical copy" in anchor
    with python.open("ab") as handle:
        handle.write(b"\0")  # one byte more: not the same program
    problem = site.anchor_problem(str(python))[1]
    assert problem is not None
    assert "a program" in problem
    assert str(home) in problem
    python.unlink()
    python.write_text('#!/bin/sh\nexec /usr/bin/python3 "$@"\n', encoding="utf-8")
    problem = site.anchor_problem(str(python))[1]
    assert problem is not None
    assert f"{python} is a script that is not the interpreter pyvenv.cfg's home" in problem
    (env / "pyvenv.cfg").write_text("version = 3.12.1\n", encoding="utf-8")
    problem = site.anchor_problem(str(python))[1]
    assert problem is not None
    assert "names no home" in problem


# --- distributions, read with the bounded readers ---------------------------------------------


def test_distribution_metadata_is_read_bounded(tmp_path: Path) -> None:
    """A FIFO is never waited on, /dev/zero never read whole, headers over their limit are
    unreadable (the folder name stands in), not a huge output."""
    good = tmp_path / "good-1.0.dist-info"
    good.mkdir()
    (good / "METADATA").write_text(
        "Name: Good\nVersion: 1.0\nLicense: UNKNOWN\nLicense-Expression: MIT\n\n"
        + "body " * 300_000,
        encoding="utf-8",
    )
    (good / "INSTALLER").write_text("pip\n", encoding="utf-8")
    (good / "REQUESTED").write_text("", encoding="utf-8")
    big = tmp_path / "big-2.dist-info"
    big.mkdir()
    (big / "METADATA").write_text(
        "Name: big\nSummary: " + "x" * site.METADATA_LIMIT + "\n\nbody\n", encoding="utf-8"
    )
    os.mkfifo(big / "direct_url.json")
    os.mkfifo(big / "REQUESTED")
    (big / "INSTALLER").symlink_to("/dev/zero")
    dists = {d.name: d for d in site.distributions([str(tmp_path)])}
    assert set(dists) == {"Good", "big"}
    assert (dists["Good"].version, dists["Good"].installer, dists["Good"].requested) == (
        "1.0",
        "pip",
        True,
    )
    assert dists["Good"].license is None  # UNKNOWN
    assert dists["Good"].license_expression == "MIT"
    assert dists["big"].version == "2"  # from the folder name: the headers are unreadable
    assert dists["big"].installer is None
    assert not dists["big"].requested
    assert dists["big"].direct_url == {
        "_error": "direct_url.json could not be read: is a FIFO, not a regular file"
    }


@pytest.mark.parametrize("flags", [(), ("--system-site-packages",)])
def test_sys_path_with_and_without_the_system_site(tmp_path: Path, flags: tuple[str, ...]) -> None:
    """With include-system-site-packages, the base's site folders follow the venv's, as the
    real site.py puts them (compared with the real sys.path)."""
    base = real_python("3.12")
    env = tmp_path / "env"
    subprocess.run(
        [str(base.path), "-m", "venv", "--without-pip", *flags, str(env)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    facts = probe_interpreter(env / "bin" / "python")
    assert isinstance(facts, InterpreterFacts), facts
    real = subprocess.run(
        [str(env / "bin" / "python"), "-c", "import sys; print('\\n'.join(sys.path))"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"]},
    )
    assert [p for p in facts.path if p] == [p for p in real.stdout.splitlines() if p]
    assert bool(facts.system_site_packages) == bool(flags)
    assert "links to" in facts.anchor


@pytest.mark.parametrize("version", ["3.10", "3.12"])
def test_a_base_interpreter_says_what_is_not_anchored(version: str) -> None:
    base = real_python(version)
    facts = probe_interpreter(base.path)
    assert isinstance(facts, InterpreterFacts), facts
    real = subprocess.run(
        [str(base.path), "-c", "import sys; print('\\n'.join(sys.path))"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"]},
    )
    assert [p for p in facts.path if p] == [p for p in real.stdout.splitlines() if p]
    assert not facts.in_venv
    assert facts.anchor.startswith("not a virtual environment (no pyvenv.cfg beside or above ")
    assert "nothing on disk names which interpreter it must be" in facts.anchor


@pytest.mark.parametrize(
    "text",
    [
        b"x = 1\x0bhome = /opt/real/bin\nhome = /tmp/evil/bin\n",  # getpath: one line
        b"home = /opt/real/bin\rhome2 = x\n",
        b"home = /opt/real/bin\x00\n",
        b"include-system-site-packages = false\ninclude-system-site-packages = true\n",
    ],
)
def test_a_pyvenv_cfg_readers_could_read_apart_is_refused(tmp_path: Path, text: bytes) -> None:
    """getpath splits pyvenv.cfg at "\\n" and keeps the first home; site.py splits at every
    line boundary and keeps the last value: a file they could read apart names no home."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "pyvenv.cfg").write_bytes(text)
    venv = site.find_venv(str(tmp_path / "bin" / "python"))
    assert venv is not None
    assert venv.problem is not None
    assert venv.cfg == {}


def test_two_pyvenv_cfgs_are_refused(tmp_path: Path) -> None:
    """getpath reads the prefix's pyvenv.cfg first, site.py the executable folder's."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "pyvenv.cfg").write_text("home = /tmp/evil/bin\n")
    (tmp_path / "bin" / "pyvenv.cfg").write_text("home = /opt/real/bin\n")
    venv = site.find_venv(str(tmp_path / "bin" / "python"))
    assert venv is not None
    assert venv.problem is not None
    assert "both exist" in venv.problem


def test_a_home_the_environment_holds_or_a_pth_file_is_refused(tmp_path: Path) -> None:
    """getpath looks for the standard library upwards from home, and reads <exe>._pth."""
    real = real_python("3.12").path
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    python = env / "bin" / "python3.12"
    python.symlink_to(real)
    (env / "bin" / "python").symlink_to(real)  # a home *in* the env that holds a real python
    (env / "pyvenv.cfg").write_text(f"home = {env / 'bin'}\n")
    problem = site.anchor_problem(str(python))[1]
    assert problem is not None
    assert "inside the environment" in problem
    (env / "pyvenv.cfg").write_text("home = bin\n")
    problem = site.anchor_problem(str(python))[1]
    assert problem is not None
    assert "relative" in problem
    (env / "pyvenv.cfg").write_text(f"home = {real.parent}\n")
    assert site.anchor_problem(str(python))[1] is None
    (env / "bin" / "python3.12._pth").write_text("/tmp/evil\n")
    problem = site.anchor_problem(str(python))[1]
    assert problem is not None
    assert "._pth" in problem
    (env / "bin" / "python3.12._pth").unlink()
    (env / "bin" / "python").unlink()
    (env / "bin" / "python").write_text('#!/bin/sh\nexec /tmp/evil "$@"\n')
    problem = site.anchor_problem(str(python))[1]
    assert problem is not None
    assert "beside" in problem
