"""Bytecode: every pyc Python would load instead of its source holds that source's code.

Real venvs, real pycs: pip compiles the tiny wheel's modules at install; the tests then write
pycs the way an attacker (or a tool) would, with the *target* interpreter's magic number, and
first show that Python really runs them (``import`` prints the poisoned value) before showing
that the check refuses them. The verified-pairs cache lives in this test's tmp folder.
"""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import factories as f
import pytest
import wheelhouse
from conftest import CliRun, real_python

import preflight
from preflight._checks.base import Context
from preflight._checks.bytecode import bytecode as bytecode_check
from preflight._checks.result import Status
from preflight._facts.bytecode import (
    CACHE_FILE,
    BytecodeFacts,
    CompileAhead,
    CompiledFacts,
    PycProblem,
    _learn,
    _parse_compiled,
    cache_file,
    compile_imports,
    parse_bytecode_output,
    remember_verified,
    verify_bytecode,
)
from preflight._facts.integrity import scan
from preflight._facts.model import InterpreterFacts, ProbeFailure, UnownedEntry
from preflight._facts.probes import probe_interpreter
from preflight._process import Completed
from preflight._render.report import summary_lines

CORE = "answer = 42\n\n\ndef double(x):\n    return 2 * x\n"
EVIL = "answer = 666\n\n\ndef double(x):\n    return 3 * x\n"

# Writes a pyc for SOURCE holding the code of TEXT, run by the target interpreter so the magic
# number and marshal format are its own. MODE: the header importlib checks (see PEP 552).
POISON = r"""
import importlib.util, marshal, os, sys
source, pyc, text, mode, level = sys.argv[1:6]
st = os.stat(source)
with open(source, "rb") as handle:
    data = handle.read()
code = compile(text, source, "exec", dont_inherit=True, optimize=int(level))
le = lambda n: (n & 0xFFFFFFFF).to_bytes(4, "little")
heads = {
    "timestamp": le(0) + le(int(st.st_mtime)) + le(st.st_size),
    "stale": le(0) + le(int(st.st_mtime) + 7) + le(st.st_size),
    "checked": le(3) + importlib.util.source_hash(data),
    "unchecked": le(1) + b"\0" * 8,
}
os.makedirs(os.path.dirname(pyc), exist_ok=True)
with open(pyc, "wb") as handle:
    handle.write(importlib.util.MAGIC_NUMBER + heads[mode] + marshal.dumps(code))
"""


@pytest.fixture(scope="module")
def base_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding ``tidy`` (``tidy/core.py`` = CORE), compiled by pip. Copy to tamper."""
    folder = tmp_path_factory.mktemp("wheels")
    wheelhouse.build_wheel(
        folder,
        "tidy",
        "1.0",
        files={"tidy/__init__.py": "from tidy.core import answer\n", "tidy/core.py": CORE},
    )
    root = tmp_path_factory.mktemp("base") / "env"
    python = real_python("3.12").path
    wheelhouse.make_venv(python, root, find_links=folder, install=["tidy"], with_pip=False)
    return root


@pytest.fixture
def env(base_env: Path, tmp_path: Path) -> Path:
    """This test's own copy of the venv; returns its interpreter."""
    return wheelhouse.copy_venv(base_env, tmp_path / "env")


@pytest.fixture
def cache_env(tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    return {"PREFLIGHT_CACHE_DIR": str(folder)}


def facts_of(python: Path) -> InterpreterFacts:
    facts = probe_interpreter(python)
    assert isinstance(facts, InterpreterFacts), facts
    return facts


def site_of(python: Path) -> Path:
    (site,) = facts_of(python).site_packages
    return Path(site)


def pyc_of(python: Path, module: str = "tidy/core", level: int = 0) -> Path:
    folder, name = (site_of(python) / module).parent, Path(module).name
    opt = "" if level == 0 else f".opt-{level}"
    return folder / "__pycache__" / f"{name}.cpython-312{opt}.pyc"


def poison(python: Path, mode: str, *, text: str = EVIL, level: int = 0) -> Path:
    source = site_of(python) / "tidy" / "core.py"
    pyc = pyc_of(python, level=level)
    argv = [python, "-c", POISON, source, pyc, text, mode, str(level)]
    wheelhouse.run(argv)
    return pyc


def poison_module(python: Path, source: Path, text: str = EVIL) -> Path:
    """A timestamp pyc valid for ``source`` holding the code of ``text``; its path."""
    pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
    wheelhouse.run([python, "-c", POISON, source, pyc, text, "timestamp", "0"])
    return pyc


def imported_answer(python: Path, *flags: str) -> str:
    done = wheelhouse.run([python, *flags, "-c", "import tidy.core; print(tidy.core.answer)"])
    return done.stdout.strip()


def verify(python: Path, environ: dict[str, str]) -> BytecodeFacts:
    site_dirs = facts_of(python).site_packages
    result = verify_bytecode(python, site_dirs, environ=environ, remember=True)
    assert isinstance(result, BytecodeFacts), result
    return result


# --- the real thing ---------------------------------------------------------------------


@pytest.mark.slow
def test_pip_compiled_environment_passes(env: Path, cache_env: dict[str, str]) -> None:
    assert pyc_of(env).is_file(), "pip compiled the module at install"
    first = verify(env, cache_env)
    assert first.mismatches == ()
    assert first.unverifiable == ()
    assert first.candidates >= 2
    assert first.stale == 0
    # The venv was copied: co_filename differs from what pip compiled, so the bytes differ
    # and the code objects are compared field by field.
    assert first.compared == first.candidates
    assert first.cached == 0
    second = verify(env, cache_env)
    assert (second.cached, second.compared, second.identical) == (second.candidates, 0, 0)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["timestamp", "checked", "unchecked"])
def test_poisoned_pyc_whose_header_is_valid_is_refused(
    env: Path, cache_env: dict[str, str], mode: str
) -> None:
    verify(env, cache_env)  # a warm cache must not hide what changes after it
    pyc = poison(env, mode)
    assert imported_answer(env) == "666", "Python runs the poisoned pyc instead of core.py"
    found = verify(env, cache_env)
    (problem,) = found.mismatches
    source = site_of(env) / "tidy" / "core.py"
    assert (problem.pyc, problem.source, problem.level) == (str(pyc), str(source), 0)
    assert "its code differs from the source's (<module>" in problem.detail
    result = bytecode_check(_ctx(found))
    assert result.status is Status.FAIL
    assert str(pyc) in result.message
    assert str(source) in result.message


@pytest.mark.slow
def test_poisoned_optimised_pyc_is_refused(env: Path, cache_env: dict[str, str]) -> None:
    pyc = poison(env, "timestamp", level=1)
    assert imported_answer(env, "-O") == "666"
    (problem,) = verify(env, cache_env).mismatches
    assert (problem.pyc, problem.level) == (str(pyc), 1)


@pytest.mark.slow
def test_stale_pyc_is_ignored_as_python_ignores_it(env: Path, cache_env: dict[str, str]) -> None:
    poison(env, "stale")
    assert imported_answer(env) == "42", "Python compiles the source instead"
    found = verify(env, cache_env)
    assert found.mismatches == ()
    assert found.stale == 1


@pytest.mark.slow
def test_hash_based_pyc_of_the_source_passes(env: Path, cache_env: dict[str, str]) -> None:
    for mode in ("checked", "unchecked"):
        poison(env, mode, text=CORE)
        assert imported_answer(env) == "42"
        found = verify(env, cache_env)
        assert found.mismatches == (), mode
        assert found.stale == 0, mode


@pytest.mark.slow
def test_bytecode_written_at_run_time_is_no_false_alarm(
    env: Path, cache_env: dict[str, str]
) -> None:
    for cache in site_of(env).rglob("__pycache__"):
        for pyc in cache.iterdir():
            pyc.unlink()
    writing = {k: v for k, v in wheelhouse.hermetic_env().items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([env, "-c", "import tidy.core"], env=writing, check=True)
    subprocess.run([env, "-OO", "-c", "import tidy.core"], env=writing, check=True)
    assert pyc_of(env).is_file()
    assert pyc_of(env, level=2).is_file()
    found = verify(env, {"PREFLIGHT_CACHE_DIR": ""})
    assert found.mismatches == ()
    assert found.candidates == 4
    assert found.identical == 4, "the same interpreter wrote them: byte-equal"
    assert found.cache is None
    assert found.cache_note


@pytest.mark.slow
def test_source_that_does_not_compile_with_a_valid_pyc_is_refused(
    env: Path, cache_env: dict[str, str]
) -> None:
    source = site_of(env) / "tidy" / "core.py"
    poison(env, "unchecked")
    source.write_text("answer = (\n", encoding="utf-8")
    assert imported_answer(env) == "666"
    (problem,) = verify(env, cache_env).mismatches
    assert "does not compile here (SyntaxError" in problem.detail


@pytest.mark.slow
def test_pyc_that_is_not_a_file_is_unverifiable_and_never_read(
    env: Path, cache_env: dict[str, str]
) -> None:
    pyc = pyc_of(env)
    pyc.unlink()
    os.mkfifo(pyc)
    found = verify(env, cache_env)
    (problem,) = found.unverifiable
    assert (problem.pyc, problem.detail, problem.loads) == (str(pyc), "not a regular file", True)
    # Python would read it (whatever a writer feeds the FIFO): unverified is refused.
    assert bytecode_check(_ctx(found)).status is Status.FAIL


@pytest.mark.slow
def test_poisoned_pyc_padded_past_the_size_limit_is_refused(
    env: Path, cache_env: dict[str, str]
) -> None:
    # marshal ignores trailing bytes: 65 MiB of padding leave the poison running, and a
    # pyc too large to verify must not pass as a mere warning (a gate lets warnings through).
    pyc = poison(env, "timestamp")
    with pyc.open("ab") as handle:
        handle.write(bytes(65 * 1024 * 1024))
    assert imported_answer(env) == "666"
    found = verify(env, cache_env)
    (problem,) = found.unverifiable
    assert (problem.pyc, problem.loads) == (str(pyc), True)
    assert "larger than 64 MiB" in problem.detail
    result = bytecode_check(_ctx(found))
    assert result.status is Status.FAIL
    assert "is what Python runs for" in result.message


@pytest.mark.slow
def test_a_padded_stale_pyc_is_ignored(env: Path, cache_env: dict[str, str]) -> None:
    pyc = poison(env, "stale")
    with pyc.open("ab") as handle:
        handle.write(bytes(65 * 1024 * 1024))
    assert imported_answer(env) == "42"
    found = verify(env, cache_env)
    assert (found.unverifiable, found.stale) == ((), 1)


@pytest.mark.slow
def test_sourceless_pyc_no_record_owns_is_an_unowned_module(env: Path) -> None:
    site = site_of(env)
    for target in (site / "sneaky.pyc", site / "tidy" / "extra.pyc"):
        wheelhouse.run(
            [env, "-c", POISON, site / "tidy" / "core.py", target, EVIL, "unchecked", "0"]
        )
    assert wheelhouse.run([env, "-c", "import sneaky; print(sneaky.answer)"]).stdout == "666\n"
    unowned = set(scan(facts_of(env)).unowned)
    assert {UnownedEntry(str(site / "sneaky.pyc"), "module"),
            UnownedEntry(str(site / "tidy" / "extra.pyc"), "module")} <= unowned  # fmt: skip


# A module whose ``run()`` calls ``safe()``, and a pyc for it whose instructions are stored
# *specialised*: 3.12's LOAD_GLOBAL_MODULE with an inline cache naming ``evil`` (its index in
# the module's dict; keys version 0, which a fresh module dict has). ``co_code`` is the
# de-optimised form of what is stored, equal to the source's; the interpreter executes what is
# stored. MODE "cache" stores only the inline cache (the opcode left as the compiler's).
CALLS = (
    "def safe():\n    return 'safe'\n\n\n"
    "def evil():\n    return 'evil'\n\n\n"
    "def run():\n    return safe()\n"
)
SPECIALISE = r"""
import dis, importlib.util, marshal, opcode, os, sys
source, pyc, mode = sys.argv[1:4]
st = os.stat(source)
with open(source, "rb") as handle:
    code = compile(handle.read(), source, "exec", dont_inherit=True)
run = next(c for c in code.co_consts if getattr(c, "co_name", None) == "run")
stored = bytearray(run.co_code)
at = stored.index(opcode.opmap["LOAD_GLOBAL"])
dunders = ["__name__", "__doc__", "__package__", "__loader__", "__spec__", "__file__",
           "__cached__", "__builtins__"]
order = dunders + [c.co_name for c in code.co_consts if hasattr(c, "co_name")]
if mode == "opcode":
    specialised = getattr(dis, "_all_opmap", None) or getattr(opcode, "_specialized_opmap")
    stored[at] = specialised["LOAD_GLOBAL_MODULE"]
stored[at + 4:at + 6] = order.index("evil").to_bytes(2, "little")  # the cached index
body = marshal.dumps(code)
assert body.count(bytes(run.co_code)) == 1
body = body.replace(bytes(run.co_code), bytes(stored))
le = lambda n: (n & 0xFFFFFFFF).to_bytes(4, "little")
os.makedirs(os.path.dirname(pyc), exist_ok=True)
with open(pyc, "wb") as handle:
    handle.write(importlib.util.MAGIC_NUMBER + le(0) + le(int(st.st_mtime)) + le(st.st_size) + body)
"""


def specialise(python: Path, mode: str) -> tuple[Path, Path]:
    source = site_of(python) / "tidy" / "calls.py"
    source.write_text(CALLS, encoding="utf-8")
    pyc = source.parent / "__pycache__" / "calls.cpython-312.pyc"
    wheelhouse.run([python, "-c", SPECIALISE, source, pyc, mode])
    return source, pyc


@pytest.mark.slow
def test_a_pyc_of_specialised_instructions_is_refused(env: Path, cache_env: dict[str, str]) -> None:
    source, pyc = specialise(env, "opcode")
    ran = wheelhouse.run([env, "-c", "import tidy.calls; print(tidy.calls.run())"])
    assert ran.stdout == "evil\n", "Python runs the stored LOAD_GLOBAL_MODULE: evil(), not safe()"
    found = verify(env, cache_env)
    (problem,) = found.mismatches
    assert (problem.pyc, problem.source) == (str(pyc), str(source))
    assert "<module>.run: its stored instructions or inline caches" in problem.detail
    assert bytecode_check(_ctx(found)).status is Status.FAIL
    # and a warm cache of the honest pair does not vouch for the poisoned one
    pyc.unlink()
    wheelhouse.run([env, "-c", "import py_compile, sys; py_compile.compile(sys.argv[1])", source])
    assert verify(env, cache_env).mismatches == ()
    specialise(env, "opcode")
    assert len(verify(env, cache_env).mismatches) == 1


@pytest.mark.slow
def test_a_pyc_differing_only_in_an_inline_cache_is_refused(
    env: Path, cache_env: dict[str, str]
) -> None:
    _source, pyc = specialise(env, "cache")
    ran = wheelhouse.run([env, "-c", "import tidy.calls; print(tidy.calls.run())"])
    assert ran.stdout == "safe\n", "the generic LOAD_GLOBAL ignores its cache: harmless here"
    (problem,) = verify(env, cache_env).mismatches
    assert problem.pyc == str(pyc)
    assert "inline caches" in problem.detail, "what cannot be shown equal is refused"


# --- the cache --------------------------------------------------------------------------


@pytest.mark.slow
def test_a_cache_others_can_write_is_not_believed(env: Path, cache_env: dict[str, str]) -> None:
    verify(env, cache_env)
    path = cache_file(cache_env)
    assert path is not None
    assert path.name == CACHE_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o666)
    found = verify(env, cache_env)
    assert found.cached == 0
    assert found.cache is None
    assert found.cache_note is not None
    assert "writable by others" in found.cache_note


@pytest.mark.slow
def test_keys_come_from_bytes_preflight_read_not_from_the_probe(
    env: Path, cache_env: dict[str, str]
) -> None:
    facts = verify_bytecode(env, facts_of(env).site_packages, environ=cache_env)
    assert isinstance(facts, BytecodeFacts)
    assert facts.learned, "a clean environment's pairs are keyed"
    path = cache_file(cache_env)
    assert path is not None
    assert not path.exists(), "nothing is written before the verdict allows it"
    # Keys printed by the probe are not its report: such output is malformed, never learned.
    forged = '{"ok": true, "probe_version": 2, "candidates": 0, "other_tags": 0, "stale": 0, '
    forged += '"cached": 0, "identical": 0, "compared": 0, "mismatches": [], '
    forged += f'"unverifiable": [], "identity": "{"a" * 64}", "verified": ["{"b" * 64}"]}}'
    assert isinstance(parse_bytecode_output(forged), ProbeFailure)
    # A pair whose bytes changed after the probe verified them is not keyed.
    pyc = pyc_of(env)
    changed = {
        "pyc": str(pyc),
        "source": str(pyc.parent.parent / "core.py"),
        "level": 0,
        "source_sha256": "c" * 64,
        "body_sha256": "d" * 64,
    }
    part = parse_bytecode_output(forged.replace(f'["{"b" * 64}"]', json.dumps([changed])))
    assert not isinstance(part, ProbeFailure)
    assert _learn(part.verified) == ()


@pytest.mark.slow
def test_a_cache_changed_during_the_check_is_dropped(env: Path, cache_env: dict[str, str]) -> None:
    verify(env, cache_env)
    path = cache_file(cache_env)
    assert path is not None
    assert path.stat().st_size > 0
    facts = verify_bytecode(env, facts_of(env).site_packages, environ=cache_env)
    assert isinstance(facts, BytecodeFacts)
    evil_key = "e" * 64 + "\n"
    with path.open("a", encoding="ascii") as handle:  # the environment's code, as this user
        handle.write(evil_key)
    note = remember_verified(facts)
    assert note is not None
    assert "changed during the check" in note
    assert not path.exists(), "a cache anything else wrote to is not believed"


def locked_env(
    tmp_path: Path,
    python: Path,
    make_project: Callable[..., Path],
    name: str,
    files: dict[str, str],
    *,
    compiled: bool = True,
) -> tuple[Path, Path]:
    """``(project, python)``: a project whose policy requires ``name`` and whose locks pin
    its wheel (made of ``files``), and a venv installed from that lock with hashes;
    ``compiled=False``: pip writes no pyc (as the nox session's install)."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    wheel = wheelhouse.build_wheel(folder, name, "1.0", files=files)
    project = make_project(requires=[name])
    for minor in ("3.12", "3.11"):
        wheelhouse.write_lock(project / "requirements" / f"py{minor}.txt", [wheel], python=minor)
    lock = project / "requirements" / "py3.12.txt"
    install = ["--require-hashes", "-r", str(lock)] + ([] if compiled else ["--no-compile"])
    env = wheelhouse.make_venv(
        python, tmp_path / "env", find_links=folder, install=install, with_pip=False
    )
    return project, env


@pytest.mark.slow
def test_a_cache_the_environment_writes_during_the_check_is_dropped_and_said(
    tmp_path: Path, python312: Path, make_project: Callable[..., Path]
) -> None:
    """Issue 16 (g): the note of a dropped cache reaches the report and the terminal."""
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    target, marker = cache / CACHE_FILE, tmp_path / "ran"
    # A locked package whose import appends a key to preflight's cache, as this user.
    code = (
        f"open({str(target)!r}, 'a').write('e' * 64 + '\\n')\nopen({str(marker)!r}, 'w').close()\n"
    )
    project, python = locked_env(
        tmp_path, python312, make_project, "chatty", {"chatty/__init__.py": code}
    )
    wheelhouse.run([python, "-c", "import chatty"])  # the poison runs under plain Python
    assert marker.exists()
    assert target.read_text(encoding="ascii") == "e" * 64 + "\n"
    marker.unlink()
    target.unlink()
    report = preflight.check(python, project=project, environ={"PREFLIGHT_CACHE_DIR": str(cache)})
    assert marker.exists(), "the environment's code ran in the check (the import timing)"
    assert report.status.value != "NOT_READY", [c.message for c in report.checks]
    (result,) = [c for c in report.checks if c.id == "bytecode"]
    assert "changed during the check" in result.message
    assert "changed during the check" in str(result.details["cache_note"])
    assert any("changed during the check" in line for line in summary_lines(report))
    assert not target.exists(), "the forged cache is dropped"


# Imported, it writes a pyc for its sibling ``victim.py`` (never imported by it) that holds
# other code, with a header valid for the source: the environment's first start poisoning
# bytecode that nothing compiled ahead.
SNEAKY = r"""
import importlib.util, marshal, os
_src = os.path.join(os.path.dirname(__file__), "victim.py")
_st = os.stat(_src)
_pyc = importlib.util.cache_from_source(_src)
os.makedirs(os.path.dirname(_pyc), exist_ok=True)
_le = lambda n: (n & 0xFFFFFFFF).to_bytes(4, "little")
with open(_pyc, "wb") as _handle:
    _handle.write(importlib.util.MAGIC_NUMBER + _le(0) + _le(int(_st.st_mtime)) + _le(_st.st_size)
                  + marshal.dumps(compile("answer = 666", _src, "exec")))
"""


@pytest.mark.slow
def test_the_first_start_of_a_built_environment_finds_its_pycs_compiled_and_recorded(
    tmp_path: Path, python312: Path, make_project: Callable[..., Path]
) -> None:
    """Issue 17 item 4: verify, compile + record, then the first start, which writes none."""
    files = {
        "neat/__init__.py": "from neat import core\nfrom . import util as _util\n",
        "neat/core.py": CORE,
        "neat/util.py": "import neat.core\n",
        "neat/unused.py": "answer = 1\n",  # imported by nothing: not compiled
    }
    project, python = locked_env(tmp_path, python312, make_project, "neat", files, compiled=False)
    site = site_of(python)
    assert not list(site.rglob("*.pyc")), "the install wrote no pyc (as the nox session's)"
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    environ = {"PREFLIGHT_CACHE_DIR": str(cache)}
    report = preflight.check(python, project=project, environ=environ, first_start=True)
    assert report.status.value != "NOT_READY", [c.message for c in report.checks]
    (result,) = [c for c in report.checks if c.id == "bytecode"]
    assert result.status is Status.PASS, result
    names = sorted(p.name for p in site.rglob("*.pyc"))
    assert names == ["__init__.cpython-312.pyc", "core.cpython-312.pyc", "util.cpython-312.pyc"]
    assert result.details["written"] == 3, result.details
    assert result.details["compiled"] == 0, "the first start wrote no pyc of its own"
    (perf,) = [c for c in report.checks if c.id == "performance"]
    assert perf.details["first_start_seconds"] is not None, "the first start ran"
    # Recorded as verified: the next check compiles nothing.
    again = preflight.check(python, project=project, environ=environ, skip=("performance",))
    (second,) = [c for c in again.checks if c.id == "bytecode"]
    assert second.details["compiled"] == 0, second
    assert second.details["verified_before"] == 3, second
    # A pyc tampered with after that is still caught (it runs under plain Python first).
    pyc = poison_module(python, site / "neat" / "core.py")
    done = wheelhouse.run([python, "-c", "import neat.core; print(neat.core.answer)"])
    assert done.stdout.strip() == "666"
    late = preflight.check(python, project=project, environ=environ, skip=("performance",))
    assert late.status.value == "NOT_READY"
    (third,) = [c for c in late.checks if c.id == "bytecode"]
    assert third.status is Status.FAIL
    assert third.details["mismatches"][0]["pyc"] == str(pyc)


@pytest.mark.slow
def test_a_pyc_the_first_start_writes_is_checked_in_the_same_run(
    tmp_path: Path, python312: Path, make_project: Callable[..., Path]
) -> None:
    """Issue 16 (f): what the environment's first start writes is checked before the verdict."""
    files = {"sneaky/__init__.py": SNEAKY, "sneaky/victim.py": "answer = 42\n"}
    project, python = locked_env(tmp_path, python312, make_project, "sneaky", files, compiled=False)
    # The poison works under plain Python (in a copy: the judged env stays untouched).
    copy = wheelhouse.copy_venv(python.parent.parent, tmp_path / "copy")
    wheelhouse.run([copy, "-c", "import sneaky"])
    done = wheelhouse.run([copy, "-c", "import sneaky.victim as v; print(v.answer)"])
    assert done.stdout.strip() == "666"
    victim = site_of(python) / "sneaky" / "__pycache__" / "victim.cpython-312.pyc"
    assert not victim.exists()
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    report = preflight.check(
        python, project=project, environ={"PREFLIGHT_CACHE_DIR": str(cache)}, first_start=True
    )
    assert victim.exists(), "the first start ran and wrote it"
    (result,) = [c for c in report.checks if c.id == "bytecode"]
    assert result.status is Status.FAIL, result
    assert [m["pyc"] for m in result.details["mismatches"]] == [str(victim)]
    assert report.status.value == "NOT_READY"
    assert not (cache / CACHE_FILE).exists(), "a NOT_READY environment teaches the cache nothing"


def test_a_not_ready_environment_teaches_the_cache_nothing(
    venv312_copy: Path, project: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    environ = {"PREFLIGHT_CACHE_DIR": str(cache)}
    site = site_of(venv312_copy)
    (site / "zz_unowned.pth").write_text(str(tmp_path / "nowhere") + "\n", encoding="utf-8")
    report = preflight.check(venv312_copy, project=project, skip=("performance",), environ=environ)
    assert report.status.value == "NOT_READY"
    assert not (cache / CACHE_FILE).exists(), "a poisoned environment taught the cache"
    (site / "zz_unowned.pth").unlink()
    report = preflight.check(venv312_copy, project=project, skip=("performance",), environ=environ)
    assert report.status.value != "NOT_READY", [c.message for c in report.checks]
    assert (cache / CACHE_FILE).read_text(encoding="ascii").split(), "a clean one does"


def test_cache_location() -> None:
    assert cache_file({"PREFLIGHT_CACHE_DIR": ""}) is None
    assert cache_file({"PREFLIGHT_CACHE_DIR": "/c"}) == Path("/c") / CACHE_FILE
    assert cache_file({"XDG_CACHE_HOME": "/x"}) == Path("/x/preflight") / CACHE_FILE


# --- the judge, from facts made by hand --------------------------------------------------


def _ctx(found: BytecodeFacts | ProbeFailure | None) -> Context:
    return f.context(bytecode=found)


@pytest.mark.parametrize(
    ("found", "status"),
    [
        (None, Status.SKIP),
        (f.bytecode(), Status.PASS),
        (
            f.bytecode(mismatches=(PycProblem("/s/__pycache__/m.pyc", "/s/m.py", 0, "x"),)),
            Status.FAIL,
        ),
        (ProbeFailure("crashed", "exited with code -11"), Status.FAIL),
        (ProbeFailure("timeout", "did not finish"), Status.WARN),
    ],
)
def test_check_outcomes(found: BytecodeFacts | ProbeFailure | None, status: Status) -> None:
    result = bytecode_check(_ctx(found))
    assert result.status is status, result


def test_malformed_probe_output_is_a_failure_not_a_crash() -> None:
    for text in ("", "garbage", "[1]", '{"ok": true, "probe_version": 1}',
                 '{"ok": true, "probe_version": 1, "candidates": -1}'):  # fmt: skip
        assert isinstance(parse_bytecode_output(text), ProbeFailure), text


# --- the traps of the probe's output, read by the strict reader (preflight._strict) -------

_PAIR = {"pyc": "/s/__pycache__/m.cpython-312.pyc", "source": "/s/m.py", "level": 0,
         "source_sha256": "c" * 64, "body_sha256": "d" * 64}  # fmt: skip
_PROBLEM = {"pyc": "/s/__pycache__/m.cpython-312.pyc", "source": "/s/m.py", "level": 0,
            "detail": "code differs"}  # fmt: skip


def _shard(**change: Any) -> str:
    good: dict[str, Any] = {
        "ok": True, "probe_version": 2, "candidates": 1, "other_tags": 0, "stale": 0,
        "cached": 1, "identical": 1, "compared": 1, "mismatches": [dict(_PROBLEM)],
        "unverifiable": [], "identity": "a" * 64, "verified": [dict(_PAIR)],
    }  # fmt: skip
    return "a chatty .pth printed this\n" + json.dumps({**good, **change})


def test_a_good_shard_reads_and_keys_of_a_later_probe_are_tolerated() -> None:
    part = parse_bytecode_output(_shard(a_later_key={"x": [1]}))
    assert not isinstance(part, ProbeFailure), part
    assert part.counts["compared"] == 1
    assert part.mismatches == (PycProblem(_PAIR["pyc"], "/s/m.py", 0, "code differs", True),)
    assert [v.identity for v in part.verified] == ["a" * 64]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        # Taken on main: a 39-digit count, a detail of any length, 1,000,001 listed problems.
        ({"compared": 10**39}, "'compared' must be a whole number from 0 to 10000000, "
         "not a number of about 39 digits"),
        ({"mismatches": [{**_PROBLEM, "detail": "x" * 70_000}]},
         "'mismatches[0].detail' is 70000 characters long, more than 65536"),
        ({"unverifiable": [0] * 1_000_001},
         "'unverifiable' holds 1000001 elements, more than 1000000"),
        # Refused on main too; now the nested key is named: a bool is no count nor level.
        ({"stale": True}, "'stale' must be a whole number from 0 to 10000000, not True"),
        ({"mismatches": [{**_PROBLEM, "level": True}]},
         "'mismatches[0].level' must be a whole number from 0 to 2, not True"),
        ({"unverifiable": [{**_PROBLEM, "loads": "yes"}]},
         "'unverifiable[0].loads' must be true or false, not 'yes'"),
        ({"verified": [{**_PAIR, "body_sha256": "D" * 64}]},
         "'verified[0].body_sha256' must be a sha256 (64 lowercase hex digits)"),
        ({"identity": None}, "'identity' must be a sha256"),
        ({"verified": ["b" * 64]}, "'verified[0]' must be a table"),
        ({"probe_version": 2.5}, "ok=True, probe_version 2.5"),
    ],
)  # fmt: skip
def test_a_shard_is_read_strictly_naming_the_key(change: dict[str, Any], said: str) -> None:
    failure = parse_bytecode_output(_shard(**change))
    assert isinstance(failure, ProbeFailure), failure
    assert failure.kind == "not_python"
    assert failure.message.startswith(f"the bytecode probe's output is not its report ({said}")
    assert len(failure.message) < 400


def _compiled(**change: Any) -> Completed:
    good = {"ok": True, "probe_version": 2, "written": 1, "unwritten": [], "verified": []}
    out = json.dumps({**good, **change})
    return Completed(("python", "-I", "-S", "-B", "bytecode.py"), 0, out + "\n", "", 0.1)


def test_the_compile_output_is_read_strictly_naming_the_key() -> None:
    assert _parse_compiled(_compiled(unwritten=[{"source": "/s/m.py", "detail": ""}]), 60) == (
        1, [("/s/m.py", "")], []
    )  # fmt: skip
    for change, said in [
        ({"written": 10**30}, "'written' must be a whole number from 0 to 10000000, not a number"),
        ({"written": False}, "'written' must be a whole number from 0 to 10000000, not False"),
        ({"unwritten": [{"source": 3, "detail": ""}]}, "'unwritten[0].source' must be a string"),
        ({"unwritten": [{"source": "/s/m.py"}]}, "'unwritten[0].detail' is required"),
    ]:
        failure = _parse_compiled(_compiled(**change), 60)
        assert isinstance(failure, ProbeFailure), change
        assert failure.message.startswith(
            f"the bytecode probe's compile output is not its report ({said}"
        ), failure.message


# --- end to end ---------------------------------------------------------------------------


@pytest.mark.slow
def test_check_refuses_a_poisoned_pyc_in_the_projects_venv(
    venv312_copy: Path, project: Path, run_check: Callable[..., CliRun]
) -> None:
    site = site_of(venv312_copy)
    (source,) = site.glob("alpha/__init__.py")
    pyc = source.parent / "__pycache__" / "__init__.cpython-312.pyc"
    assert pyc.is_file(), "pip compiled alpha at install"
    clean = run_check("--python", venv312_copy, "--project", project, "--skip", "performance")
    assert clean.check("bytecode")["status"] == "pass", clean.check("bytecode")
    wheelhouse.run([venv312_copy, "-c", POISON, source, pyc, "__version__ = 'evil'\n",
                    "timestamp", "0"])  # fmt: skip
    run = run_check("--python", venv312_copy, "--project", project, "--skip", "performance")
    assert run.returncode == 1
    assert run.report["status"] == "NOT_READY"
    result = run.check("bytecode")
    assert result["status"] == "fail"
    assert str(pyc) in run.findings("bytecode")
    assert str(source) in run.findings("bytecode")
    assert result["details"]["mismatches"][0]["pyc"] == str(pyc)
    assert run.check("integrity")["status"] == "pass", "RECORD cannot see it"


def test_compiling_ahead_writes_nothing_through_a_link_or_outside(
    tmp_path: Path, python312: Path
) -> None:
    """The environment is hostile even when just built: a linked folder, a linked source, a
    linked __pycache__ or a linked pyc does not take a write anywhere else."""
    site, outside = tmp_path / "site", tmp_path / "outside"
    for folder in (site / "good", site / "pkg", site / "pre" / "__pycache__", outside / "real"):
        folder.mkdir(parents=True)
    (site / "good" / "__init__.py").write_text("from . import helper\n", encoding="utf-8")
    (site / "good" / "helper.py").write_text("x = 1\n", encoding="utf-8")
    (site / "pkg" / "__init__.py").write_text("y = 2\n", encoding="utf-8")
    (outside / "cache").mkdir()
    (site / "pkg" / "__pycache__").symlink_to(outside / "cache")  # a linked __pycache__
    (outside / "real" / "__init__.py").write_text("z = 3\n", encoding="utf-8")
    (site / "linked").symlink_to(outside / "real")  # a linked package
    (outside / "f.py").write_text("w = 4\n", encoding="utf-8")
    (site / "filelink.py").symlink_to(outside / "f.py")  # a linked module
    (site / "pre" / "__init__.py").write_text("v = 5\n", encoding="utf-8")
    target = outside / "target.bin"
    target.write_bytes(b"untouched")
    (site / "pre" / "__pycache__" / "__init__.cpython-312.pyc").symlink_to(target)
    roots = ["good", "pkg", "linked", "filelink", "pre", "..", "good.../x"]
    found = compile_imports(python312, [str(site)], roots)
    assert isinstance(found, CompiledFacts), found
    written = sorted(str(p.relative_to(site)) for p in site.rglob("*.pyc") if not p.is_symlink())
    assert written == ["good/__pycache__/__init__.cpython-312.pyc",
                       "good/__pycache__/helper.cpython-312.pyc"]  # fmt: skip
    assert found.written == 2
    assert len(found.learned) == 4, "both pairs keyed from the bytes read back"
    assert list(outside.rglob("*.pyc")) == [], "nothing written outside"
    assert target.read_bytes() == b"untouched"
    assert {source for source, _ in found.unwritten} == {
        "pkg/__init__.py", "linked/__init__.py", "filelink.py"
    }  # fmt: skip


@pytest.mark.slow
def test_sources_compiled_beside_the_census_of_a_tampered_environment_are_never_written(
    tmp_path: Path, python312: Path, make_project: Callable[..., Path]
) -> None:
    """The first start's pycs are compiled beside the census, before the verdict: an
    environment whose files fail verification gets none of them written (and none of its
    code runs)."""
    marker = tmp_path / "ran"
    files = {"neat/__init__.py": "from neat import core\n", "neat/core.py": CORE}
    project, python = locked_env(tmp_path, python312, make_project, "neat", files, compiled=False)
    site = site_of(python)
    (site / "neat" / "core.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n" + CORE, encoding="utf-8"
    )
    copy = wheelhouse.copy_venv(python.parent.parent, tmp_path / "copy")
    wheelhouse.run([copy, "-c", "import neat"])
    assert marker.exists(), "the tampered module runs under plain Python"
    marker.unlink()
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    report = preflight.check(
        python, project=project, environ={"PREFLIGHT_CACHE_DIR": str(cache)}, first_start=True
    )
    assert report.status.value == "NOT_READY"
    (integrity,) = [c for c in report.checks if c.id == "integrity"]
    assert integrity.status is Status.FAIL, integrity
    assert list(site.rglob("*.pyc")) == [], "nothing compiled ahead was written"
    assert not marker.exists(), "nothing of the environment ran"
    assert not (cache / CACHE_FILE).exists() or not (cache / CACHE_FILE).read_text().strip()


def test_a_source_changed_after_it_was_compiled_gets_no_pyc(tmp_path: Path) -> None:
    """The pyc written is of the bytes the census read: a source rewritten between the
    compile (beside the census) and the write (after the verdict) gets none."""
    spec = importlib.util.spec_from_file_location(
        "bytecode_probe", Path(preflight.__file__).parent / "_probe" / "bytecode.py"
    )
    assert spec is not None
    assert spec.loader is not None
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    site = tmp_path / "site"
    (site / "pkg").mkdir(parents=True)
    (site / "pkg" / "same.py").write_text(CORE, encoding="utf-8")
    (site / "pkg" / "changed.py").write_text(CORE, encoding="utf-8")
    fd = os.open(site, os.O_RDONLY | os.O_DIRECTORY)
    try:
        same, _ = probe._compile_one(fd, str(site), "pkg/same.py")
        changed, _ = probe._compile_one(fd, str(site), "pkg/changed.py")
        (site / "pkg" / "changed.py").write_text(EVIL, encoding="utf-8")
        magic, tag = importlib.util.MAGIC_NUMBER, sys.implementation.cache_tag
        fact = probe._store_one(fd, str(site), same, tag, magic)
        with pytest.raises(probe.Unwritable, match="changed since it was compiled"):
            probe._store_one(fd, str(site), changed, tag, magic)
    finally:
        os.close(fd)
    assert fact is not None
    assert fact["source"] == str(site / "pkg" / "same.py")
    assert sorted(p.name for p in site.rglob("*.pyc")) == [f"same.{tag}.pyc"]


@pytest.mark.slow
def test_compiled_ahead_and_told_no_writes_nothing(tmp_path: Path, python312: Path) -> None:
    """The children compile at once and write only when told to: told no (or never told,
    or killed), not a file is written."""
    site = tmp_path / "site"
    (site / "good").mkdir(parents=True)
    (site / "good" / "__init__.py").write_text("from . import helper\n", encoding="utf-8")
    (site / "good" / "helper.py").write_text("x = 1\n", encoding="utf-8")
    refused = CompileAhead(python312, [str(site)], ["good"], timeout=60)
    refused.decide(False)
    found = refused.wait()
    assert isinstance(found, CompiledFacts), found
    assert found.written == 0
    undecided = CompileAhead(python312, [str(site)], ["good"], timeout=60).wait()
    assert isinstance(undecided, CompiledFacts)
    assert undecided.written == 0
    CompileAhead(python312, [str(site)], ["good"], timeout=60).kill()
    assert list(site.rglob("*.pyc")) == []
    allowed = CompileAhead(python312, [str(site)], ["good"], timeout=60)
    allowed.decide(True)
    done = allowed.wait()
    assert isinstance(done, CompiledFacts), done
    assert done.written == 2, done
    assert len(list(site.rglob("*.pyc"))) == 2
