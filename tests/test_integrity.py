"""Integrity: every installed file hashed against its RECORD, and what no RECORD owns.

The environments are real: tiny wheels installed by the venv's own pip, then probed by
``probe_interpreter`` and scanned. The shared venv is never touched; every test that tampers
works on its own copy (a venv copied with its symlinks is a working venv of its own).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import wheelhouse
from conftest import real_python

from preflight._facts import integrity
from preflight._facts.model import FileProblem, IntegrityFacts, InterpreterFacts, UnownedEntry
from preflight._facts.probes import probe_interpreter

CORE = "answer = 42\n"
HEXED = "value = 'made by uv_build < 0.8.13'\n"
ODD = "x = 1\n"


def python(*specs: str) -> Path:
    """The first of ``specs`` preflight's own discovery can find, else skip the test."""
    return real_python(*specs).path


def sha256_b64(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def tiny_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheels")
    wheelhouse.build_wheel(
        folder,
        "tidy",
        "1.0",
        files={
            "tidy/__init__.py": "from tidy.core import answer\n",
            "tidy/core.py": CORE,
            "tidy/data/table.csv": "a,b\n1,2\n",
            # pip installs this as bin/tidy-run, recorded as ../../../bin/tidy-run.
            "tidy-1.0.data/scripts/tidy-run": "#!python\nimport tidy\n",
        },
    )
    # uv_build < 0.8.13 wrote hex digests into RECORD; pip copies them as they are.
    hex_digest = hashlib.sha256(HEXED.encode()).hexdigest()
    wheelhouse.build_wheel(
        folder,
        "hexed",
        "1.0",
        files={"hexed/__init__.py": HEXED},
        record_hashes={"hexed/__init__.py": f"sha256={hex_digest}"},
    )
    odd_digests = {
        "garbled": "sha256=" + sha256_b64(ODD)[:-4],  # truncated: decodes to the wrong length
        "weak": "md5="
        + base64.urlsafe_b64encode(hashlib.md5(ODD.encode()).digest()).rstrip(b"=").decode(),
        "strange": "sha3000=" + sha256_b64(ODD),
        "shaken": "shake_128=",
    }
    for name, digest in odd_digests.items():
        wheelhouse.build_wheel(
            folder,
            name,
            "1.0",
            files={f"{name}/__init__.py": ODD},
            record_hashes={f"{name}/__init__.py": digest},
        )
    wheelhouse.build_wheel(folder, "bare", "1.0", record=False)
    return folder


@pytest.fixture(scope="module")
def base_env(tmp_path_factory: pytest.TempPathFactory, tiny_wheels: Path) -> Path:
    """A venv with ``tidy`` and ``hexed``, installed by pip. Read-only: copy it to tamper."""
    root = tmp_path_factory.mktemp("base") / "env"
    wheelhouse.make_venv(python("3.12"), root, find_links=tiny_wheels, install=["tidy", "hexed"])
    return root


@pytest.fixture
def env_copy(base_env: Path, tmp_path: Path) -> Path:
    """A private copy of the base venv; returns its root."""
    root = tmp_path / "env"
    wheelhouse.copy_venv(base_env, root)
    return root


def probe(root: Path) -> InterpreterFacts:
    facts = probe_interpreter(root / "bin" / "python")
    assert isinstance(facts, InterpreterFacts), facts
    return facts


def scan(root: Path) -> tuple[InterpreterFacts, IntegrityFacts]:
    facts = probe(root)
    return facts, integrity.scan(facts)


def site_of(facts: InterpreterFacts) -> Path:
    assert len(facts.site_packages) == 1
    return Path(facts.site_packages[0])


def record_rows(site: Path, dist: str) -> list[list[str]]:
    (dist_info,) = site.glob(f"{dist}-*.dist-info")
    with (dist_info / "RECORD").open(newline="", encoding="utf-8") as handle:
        return [row for row in csv.reader(handle) if row]


def hashed_files(site: Path) -> list[Path]:
    """Every file a RECORD row gives a hash for, read with csv (independently of the scan)."""
    return [
        site / row[0]
        for dist_info in site.glob("*.dist-info")
        for row in record_rows(site, dist_info.name.split("-")[0])
        if row[1]
    ]


# --- a clean environment ----------------------------------------------------------------


@pytest.mark.slow
def test_clean_environment_has_no_problems_and_counts_files_and_bytes(base_env: Path) -> None:
    facts, result = scan(base_env)
    assert result.problems == ()
    assert result.unowned == ()
    assert result.without_record == ()
    # Count independently what should have been hashed: every RECORD row with a hash.
    site = site_of(facts)
    hashed = hashed_files(site)
    assert result.files_checked == len(hashed)
    assert result.bytes_checked == sum(path.stat().st_size for path in hashed)
    # The clean run did check what makes it meaningful: a script outside site-packages
    # (../../../bin/tidy-run) and a hex digest (uv_build < 0.8.13).
    assert (site / "../../../bin/tidy-run").resolve() in {p.resolve() for p in hashed}
    tidy_paths = {row[0] for row in record_rows(site, "tidy")}
    assert "../../../bin/tidy-run" in tidy_paths
    hexed = {row[0]: row[1] for row in record_rows(site, "hexed")}
    assert hexed["hexed/__init__.py"] == "sha256=" + hashlib.sha256(HEXED.encode()).hexdigest()


@pytest.mark.slow
def test_rows_without_hash_are_not_checked(env_copy: Path) -> None:
    site = site_of(probe(env_copy))
    unhashed = {row[0] for row in record_rows(site, "tidy") if not row[1]}
    pyc = next(p for p in unhashed if p.endswith(".pyc"))
    assert "tidy-1.0.dist-info/RECORD" in unhashed
    # Change both: neither has a hash to be checked against.
    with (site / pyc).open("ab") as handle:
        handle.write(b"not bytecode")
    with (site / "tidy-1.0.dist-info" / "RECORD").open("a", encoding="utf-8") as handle:
        handle.write("\n")
    _, result = scan(env_copy)
    assert result.problems == ()


# --- tampering --------------------------------------------------------------------------


@pytest.mark.slow
def test_appended_byte_is_modified(env_copy: Path) -> None:
    site = site_of(probe(env_copy))
    with (site / "tidy" / "core.py").open("ab") as handle:
        handle.write(b"\n")
    _, result = scan(env_copy)
    assert result.problems == (
        FileProblem(
            "tidy",
            "tidy/core.py",
            "modified",
            f"size {len(CORE) + 1}, RECORD says {len(CORE)}: not read, no content of that "
            "size can match",
        ),
    )


@pytest.mark.slow
def test_same_size_change_is_modified(env_copy: Path) -> None:
    site = site_of(probe(env_copy))
    (site / "tidy" / "core.py").write_text(CORE.replace("42", "43"), encoding="utf-8")
    _, result = scan(env_copy)
    assert result.problems == (FileProblem("tidy", "tidy/core.py", "modified", "sha256 differs"),)


@pytest.mark.slow
def test_deleted_file_is_missing(env_copy: Path) -> None:
    site = site_of(probe(env_copy))
    (site / "tidy" / "data" / "table.csv").unlink()
    _, result = scan(env_copy)
    assert result.problems == (
        FileProblem("tidy", "tidy/data/table.csv", "missing", "file not found"),
    )


@pytest.mark.slow
def test_file_replaced_by_a_folder_is_modified(env_copy: Path) -> None:
    site = site_of(probe(env_copy))
    (site / "tidy" / "core.py").unlink()
    (site / "tidy" / "core.py").mkdir()
    _, result = scan(env_copy)
    assert result.problems == (
        FileProblem("tidy", "tidy/core.py", "modified", "not a readable regular file"),
    )


@pytest.mark.slow
def test_a_fifo_named_in_record_is_not_read(env_copy: Path) -> None:
    # Reading a FIFO would block forever: it is reported, never opened.
    site = site_of(probe(env_copy))
    (site / "tidy" / "core.py").unlink()
    os.mkfifo(site / "tidy" / "core.py")
    _, result = scan(env_copy)
    assert result.problems == (
        FileProblem("tidy", "tidy/core.py", "modified", "not a readable regular file"),
    )


@pytest.mark.slow
def test_code_that_record_lists_without_a_hash_is_unverifiable(env_copy: Path) -> None:
    site = site_of(probe(env_copy))
    record = site / "tidy-1.0.dist-info" / "RECORD"
    rows = record.read_text(encoding="utf-8").splitlines()
    record.write_text(
        "\n".join("tidy/core.py,," if row.startswith("tidy/core.py,") else row for row in rows)
        + "\n",
        encoding="utf-8",
    )
    _, result = scan(env_copy)
    assert result.problems == (
        FileProblem("tidy", "tidy/core.py", "unverifiable", "RECORD gives no hash"),
    )


@pytest.mark.slow
def test_a_module_dropped_into_an_owned_package_is_unowned(env_copy: Path) -> None:
    site = site_of(probe(env_copy))
    (site / "tidy" / "evil.py").write_text("import os\n", encoding="utf-8")
    (site / "tidy" / "data" / "helper.cpython-312-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    (site / "tidy" / "data" / "other.csv").write_text("x\n", encoding="utf-8")  # data: fine
    _, result = scan(env_copy)
    assert result.problems == ()
    assert set(result.unowned) == {
        UnownedEntry(str(site / "tidy" / "evil.py"), "module"),
        UnownedEntry(
            str(site / "tidy" / "data" / "helper.cpython-312-x86_64-linux-gnu.so"), "extension"
        ),
    }


@pytest.mark.slow
def test_modified_script_outside_site_packages(env_copy: Path) -> None:
    with (env_copy / "bin" / "tidy-run").open("a", encoding="utf-8") as handle:
        handle.write("import os\n")
    _, result = scan(env_copy)
    assert [(p.dist, p.path, p.kind) for p in result.problems] == [
        ("tidy", "../../../bin/tidy-run", "modified")
    ]


@pytest.mark.slow
def test_hex_digest_is_checked_as_hex(env_copy: Path) -> None:
    site = site_of(probe(env_copy))
    (site / "hexed" / "__init__.py").write_text(HEXED.upper(), encoding="utf-8")
    _, result = scan(env_copy)
    assert result.problems == (
        FileProblem("hexed", "hexed/__init__.py", "modified", "sha256 differs"),
    )


@pytest.mark.slow
def test_digests_that_cannot_be_verified(env_copy: Path, tiny_wheels: Path) -> None:
    names = ["garbled", "weak", "strange", "shaken"]
    wheelhouse.pip_install(env_copy / "bin" / "python", names, find_links=tiny_wheels)
    facts, before = scan(env_copy)
    # A digest that cannot be checked says so; it is never taken for a modified file, even
    # when the file did change.
    site = site_of(facts)
    for name in names:
        (site / name / "__init__.py").write_text("tampered = True\n", encoding="utf-8")
    _, after = scan(env_copy)
    truncated = sha256_b64(ODD)[:-4]
    expected = {
        ("garbled", f"malformed hash sha256={truncated!r}"),
        ("weak", "md5 is not allowed in RECORD (sha256 or stronger)"),
        ("strange", "unknown hash algorithm 'sha3000'"),
        ("shaken", "shake_128 has no fixed digest length (sha256 or stronger)"),
    }
    for result in (before, after):
        assert {(p.dist, p.detail) for p in result.problems} == expected
        assert {(p.path, p.kind) for p in result.problems} == {
            (f"{name}/__init__.py", "unverifiable") for name in names
        }
    # Unverifiable rows are not counted as checked.
    assert before.files_checked == len(hashed_files(site)) - len(names)


# --- what no RECORD owns ----------------------------------------------------------------


@pytest.mark.slow
def test_unowned_code_in_site_packages(env_copy: Path) -> None:
    site = site_of(probe(env_copy))
    (site / "evil.pth").write_text("import os; os.environ['X'] = '1'\n", encoding="utf-8")
    (site / "stray.py").write_text("print('hello')\n", encoding="utf-8")
    (site / "sneaky" / "sub").mkdir(parents=True)
    (site / "sneaky" / "sub" / "impl.py").write_text("x = 1\n", encoding="utf-8")
    (site / "fast.cpython-312-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    # Not code: data folders, text files and a stray bytecode cache are not reported.
    (site / "notes").mkdir()
    (site / "notes" / "readme.txt").write_text("hi\n", encoding="utf-8")
    (site / "README.txt").write_text("hi\n", encoding="utf-8")
    (site / "__pycache__").mkdir()
    (site / "__pycache__" / "stray.cpython-312.pyc").write_bytes(b"\0")
    _, result = scan(env_copy)
    assert result.problems == ()
    assert set(result.unowned) == {
        UnownedEntry(str(site / "evil.pth"), "pth"),
        UnownedEntry(str(site / "stray.py"), "module"),
        UnownedEntry(str(site / "sneaky"), "package"),
        UnownedEntry(str(site / "fast.cpython-312-x86_64-linux-gnu.so"), "extension"),
    }
    assert all(entry.known_tool is None for entry in result.unowned)


@pytest.mark.slow
def test_virtualenv_start_up_hook_is_recognised(tmp_path: Path) -> None:
    # virtualenv 20.x/21.x writes _virtualenv.pth + _virtualenv.py only for Pythons older than
    # 3.10 (newer ones ignore the distutils settings it guards against), so use such a Python.
    base = python("3.9", "3.8")
    root = tmp_path / "venv"
    env = wheelhouse.hermetic_env(
        {
            # Keep virtualenv away from the developer's app-data folder and config file.
            "VIRTUALENV_OVERRIDE_APP_DATA": str(tmp_path / "app-data"),
            "VIRTUALENV_CONFIG_FILE": os.devnull,
        }
    )
    wheelhouse.run(
        [
            sys.executable,
            "-m",
            "virtualenv",
            "--no-seed",
            "--no-periodic-update",
            "-p",
            str(base),
            str(root),
        ],
        env=env,
    )
    facts, result = scan(root)
    site = site_of(facts)
    assert (site / "_virtualenv.pth").is_file()
    assert set(result.unowned) == {
        UnownedEntry(str(site / "_virtualenv.pth"), "pth", "virtualenv"),
        UnownedEntry(str(site / "_virtualenv.py"), "module", "virtualenv"),
        # in bin, beside the activation scripts: the tool's, exec'd by name, imported by none
        UnownedEntry(
            str(root / "bin" / "activate_this.py"),
            "module",
            "virtualenv or uv",
            note=integrity._SCRIPTS_NOTE,
        ),
    }
    assert result.problems == ()
    # A look-alike is not recognised by its name: the hook's .pth says exactly one thing.
    (site / "_virtualenv.pth").write_text("import _virtualenv; import os; os.system('id')\n")
    _, tampered = scan(root)
    assert set(tampered.unowned) == {
        UnownedEntry(str(site / "_virtualenv.pth"), "pth", None),
        UnownedEntry(str(site / "_virtualenv.py"), "module", None),
        UnownedEntry(
            str(root / "bin" / "activate_this.py"),
            "module",
            "virtualenv or uv",
            note=integrity._SCRIPTS_NOTE,
        ),
    }


@pytest.mark.slow
def test_distribution_without_record(env_copy: Path) -> None:
    # pip never leaves a complete install without RECORD (it writes its own), so simulate a
    # broken install by deleting it; see the next test for what pip does with such a wheel.
    site = site_of(probe(env_copy))
    (site / "tidy-1.0.dist-info" / "RECORD").unlink()
    # A legacy (distutils / `setup.py install`) install: an .egg-info file and a module.
    (site / "legacy-0.1-py3.12.egg-info").write_text(
        "Metadata-Version: 1.0\nName: legacy\nVersion: 0.1\n", encoding="utf-8"
    )
    (site / "legacy.py").write_text("x = 1\n", encoding="utf-8")
    _, result = scan(env_copy)
    assert set(result.without_record) == {"tidy", "legacy"}
    assert result.problems == ()
    # With no RECORD, nothing owns their files any more.
    assert set(result.unowned) == {
        UnownedEntry(str(site / "tidy"), "package"),
        UnownedEntry(str(site / "legacy.py"), "module"),
    }


@pytest.mark.slow
def test_pip_refusing_a_wheel_without_record_leaves_a_broken_install(
    env_copy: Path, tiny_wheels: Path
) -> None:
    # What pip does with a wheel that has no RECORD (pip 23.2, bundled with 3.12.1): it fails
    # with "OSError: RECORD" after moving the files, and leaves a dist-info without RECORD.
    with pytest.raises(AssertionError, match="RECORD"):
        wheelhouse.pip_install(env_copy / "bin" / "python", ["bare"], find_links=tiny_wheels)
    facts, result = scan(env_copy)
    site = site_of(facts)
    assert not (site / "bare-1.0.dist-info" / "RECORD").exists()
    assert result.without_record == ("bare",)
    assert result.unowned == (UnownedEntry(str(site / "bare"), "package"),)


# --- parse_record, pure ---------------------------------------------------------------

SITE = "/env/lib/python3.12/site-packages"


def test_parse_record_rows() -> None:
    text = (
        "pkg/__init__.py,sha256=AAAA,12\r\n"
        '"pkg/a,b.py",SHA256=BBBB,3\r\n'
        "\r\n"
        "../../../bin/tool,sha256=CCCC,100\n"
        "/opt/elsewhere/x.py,sha256=DDDD,\n"
        "pkg-1.0.dist-info/RECORD,,\n"
        "pkg/__pycache__/__init__.cpython-312.pyc,,\n"
        "pkg/only-a-path\n"
    )
    rows = integrity.parse_record(text, SITE)
    assert [(r.written, r.path, r.algorithm, r.digest, r.size) for r in rows] == [
        ("pkg/__init__.py", f"{SITE}/pkg/__init__.py", "sha256", "AAAA", 12),
        ("pkg/a,b.py", f"{SITE}/pkg/a,b.py", "sha256", "BBBB", 3),
        ("../../../bin/tool", "/env/bin/tool", "sha256", "CCCC", 100),
        ("/opt/elsewhere/x.py", "/opt/elsewhere/x.py", "sha256", "DDDD", None),
        ("pkg-1.0.dist-info/RECORD", f"{SITE}/pkg-1.0.dist-info/RECORD", None, "", None),
        (
            "pkg/__pycache__/__init__.cpython-312.pyc",
            f"{SITE}/pkg/__pycache__/__init__.cpython-312.pyc",
            None,
            "",
            None,
        ),
        ("pkg/only-a-path", f"{SITE}/pkg/only-a-path", None, "", None),
    ]


def test_parse_record_normalises_paths() -> None:
    (row,) = integrity.parse_record("pkg/./sub/../mod.py,sha256=X,1\n", SITE + "/")
    assert row.path == f"{SITE}/pkg/mod.py"
    assert row.written == "pkg/./sub/../mod.py"


def test_parse_record_of_nothing() -> None:
    assert integrity.parse_record("", SITE) == []


@pytest.mark.parametrize(
    ("line", "why"),
    [
        # Each was a traceback (ValueError, csv.Error) before.
        ("pkg/a.py,sha256=AAAA,²", "its size '²' is not a number of bytes"),
        ("pkg/a.py,sha256=AAAA," + "9" * 4000, "is not a number of bytes"),
        ("pkg/" + "a" * 131_073 + ".py,sha256=AAAA,1", "characters long"),
        ("pkg/a.py,sha256=" + "A" * 5000 + ",1", "a field is over 4096 characters"),
        ("pkg/a\rb.py,sha256=AAAA,1", "it holds a carriage return"),
        ("pkg/a\0b.py,sha256=AAAA,1", "it holds a NUL byte"),
        ('"pkg/a.py,sha256=AAAA,1', "it is not CSV"),
        (",sha256=AAAA,1", "it names no file"),
    ],
    ids=["superscript", "digits", "long-line", "long-field", "cr", "nul", "quote", "no-path"],
)
def test_a_malformed_record_row_is_named_not_raised(line: str, why: str) -> None:
    rows = integrity.parse_record(f"good.py,sha256=AAAA,1\n{line}\nlast.py,,\n", SITE)
    assert [r.written for r in rows] == ["good.py", "RECORD row 2", "last.py"]
    assert rows[1].malformed is not None
    assert why in rows[1].malformed


@pytest.mark.slow
def test_a_malformed_row_is_a_critical_finding(env_copy: Path) -> None:
    site = site_of(probe(env_copy))
    (dist_info,) = site.glob("tidy-*.dist-info")
    record = dist_info / "RECORD"
    record.write_text(record.read_text() + "tidy/x\0y.py,sha256=AAAA,1\n")
    _, result = scan(env_copy)
    (problem,) = result.problems
    assert (problem.dist, problem.kind, problem.detail) == (
        "tidy",
        "malformed",
        "it holds a NUL byte",
    )
    assert problem.path.startswith("RECORD row ")


@pytest.mark.slow
def test_a_missing_file_is_missing_whatever_its_hash_field_says(env_copy: Path) -> None:
    site = site_of(probe(env_copy))
    (dist_info,) = site.glob("tidy-*.dist-info")
    record = dist_info / "RECORD"
    text = record.read_text()
    rows = [r for r in text.splitlines() if r.startswith("tidy/data/table.csv,")]
    (row,) = rows
    record.write_text(text.replace(row, "tidy/data/table.csv,sha256=not-base64!,3"))
    (site / "tidy" / "data" / "table.csv").unlink()
    _, result = scan(env_copy)
    assert result.problems == (
        FileProblem("tidy", "tidy/data/table.csv", "missing", "file not found"),
    )


@pytest.mark.slow
def test_a_stopped_scan_ends_within_a_chunk_of_a_huge_file(env_copy: Path) -> None:
    """Ctrl-C while a 20 GiB file was hashed took 41 s: the scan now stops between chunks."""
    site = site_of(probe(env_copy))
    (dist_info,) = site.glob("tidy-*.dist-info")
    huge = site / "tidy" / "huge.bin"
    with huge.open("wb") as handle:
        handle.truncate(8 << 30)  # sparse: 8 GiB that take no room
    record = dist_info / "RECORD"
    record.write_text(record.read_text() + "tidy/huge.bin,sha256=" + "A" * 43 + ",1\n")
    stop = threading.Event()
    stop.set()
    with pytest.raises(integrity.Stopped):
        integrity.scan(probe(env_copy), stop=stop)


# --- whatever sits where a file should be (the environment is hostile) ---------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("make", "what"),
    [
        (os.mkfifo, "a FIFO"),
        (lambda path: os.symlink("/dev/zero", path), "a character device"),
    ],
    ids=["fifo", "dev-zero"],
)
def test_a_record_that_is_not_a_file_is_a_problem_not_a_hang(
    env_copy: Path, make: Callable[[Path], None], what: str
) -> None:
    site = site_of(probe(env_copy))
    record = site / "tidy-1.0.dist-info" / "RECORD"
    record.unlink()
    make(record)
    started = time.monotonic()
    _, result = scan(env_copy)
    assert time.monotonic() - started < 30
    assert result.problems == (
        FileProblem(
            "tidy",
            "tidy-1.0.dist-info/RECORD",
            "modified",
            f"{what}, not a regular file; its files cannot be verified",
        ),
    )
    assert result.without_record == ()
    # What that RECORD would have owned is owned by nothing now: it is named too.
    assert UnownedEntry(str(site / "tidy"), "package") in result.unowned


@pytest.mark.slow
def test_metadata_fifo_and_installer_dev_zero_neither_hang_the_probe_nor_pass(
    env_copy: Path,
) -> None:
    """The probe reads inside the target: a FIFO as METADATA would block it for ever, and
    /dev/zero as INSTALLER would grow its output without end. Both are refused there (read as
    missing), and the scan names both files as not what RECORD says."""
    site = site_of(probe(env_copy))
    dist_info = site / "tidy-1.0.dist-info"
    (dist_info / "METADATA").unlink()
    os.mkfifo(dist_info / "METADATA")
    (dist_info / "INSTALLER").unlink()
    os.symlink("/dev/zero", dist_info / "INSTALLER")
    os.mkfifo(dist_info / "direct_url.json")
    started = time.monotonic()
    facts, result = scan(env_copy)
    assert time.monotonic() - started < 30
    (tidy,) = [d for d in facts.distributions if d.name == "tidy"]
    assert tidy.version == "1.0"  # from the folder's name: METADATA was not read
    assert tidy.installer is None
    assert tidy.direct_url == {
        "_error": "direct_url.json could not be read: is a FIFO, not a regular file"
    }
    assert set(result.problems) == {
        FileProblem(
            "tidy", "tidy-1.0.dist-info/METADATA", "modified", "not a readable regular file"
        ),
        # a symlink where RECORD lists a file: named as such, and never read
        FileProblem(
            "tidy", "tidy-1.0.dist-info/INSTALLER", "symlink", "a symlink to /dev/zero, not a file"
        ),
    }
