"""The lock-format seam (``preflight/_lock/format.py``): one contract, run against every format.

Boundary: what a caller may ask of a lock's format, and that both formats answer it the same
way for the same pins (chosen by name, read, selected, judged, installed, stamped, compared).
How each reader reads its own syntax is tested beside it: requirements files in
test_lockfile.py (the parser), test_lock_forms.py (each form pip reads) and
test_lock_corpus.py (against pip's own parser); PEP 751 locks in test_pylock.py.

Every lock is written by the test in ``tmp_path``, in the format's own syntax, from one list
of pins; the user-visible words of each format are stated here as literals, so a change to
them fails this test.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import sys
import textwrap
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import factories as f
import pytest

import preflight
from preflight._checks.wheel_status import wheel_status
from preflight._cli import main
from preflight._errors import LockError
from preflight._facts.model import InterpreterFacts
from preflight._facts.probes import probe_interpreter
from preflight._lock.format import RESOLVERS, LockFormat
from preflight._lock.meta import stamp_meta
from preflight._lock.read import FORMATS, lock_format, read_lock
from preflight._lock.requirements import Lock, LockEntry
from preflight._ops.installable import installable_lock
from preflight._ops.relock import RelockError, comparable, finalize
from preflight._policy.policy import load_policy
from preflight._report.model import EXIT_USAGE

H = {letter: "sha256:" + letter * 64 for letter in "abcdef"}


@dataclasses.dataclass(frozen=True)
class Pin:
    name: str
    version: str
    hashes: tuple[str, ...]  # "sha256:...", in order
    marker: str | None = None  # as packaging writes it back


# One universal lock: beta is pinned once per marker range.
PINS = (
    Pin("alpha", "1.0", (H["a"], H["b"])),
    Pin("beta", "1.0", (H["c"],), 'python_version < "3.12"'),
    Pin("beta", "2.0", (H["d"],), 'python_version >= "3.12"'),
)


def requirements_text(pins: Sequence[Pin]) -> str:
    out = []
    for pin in pins:
        marker = f" ; {pin.marker}" if pin.marker else ""
        hashes = "".join(f" \\\n    --hash={value}" for value in pin.hashes)
        out.append(f"{pin.name}=={pin.version}{marker}{hashes}\n")
    return "".join(out)


def pylock_text(pins: Sequence[Pin]) -> str:
    out = ['lock-version = "1.0"\ncreated-by = "test"\n' + ("" if pins else "packages = []\n")]
    for pin in pins:
        marker = f"marker = '{pin.marker}'\n" if pin.marker else ""
        files = [
            f'{{ name = "{pin.name}-{pin.version}-{n}-py3-none-any.whl", '
            f'url = "https://x/{pin.name}-{n}.whl", hashes = {{ sha256 = "{value[7:]}" }} }}'
            for n, value in enumerate(pin.hashes)
        ]
        # PEP 751 hashes every file: a package without hashes is one without files, a
        # source tree (not an index pin either).
        wheels = (
            f"wheels = [{', '.join(files)}]\n"
            if files
            else f'directory = {{ path = "./{pin.name}" }}\n'
        )
        out.append(
            f'\n[[packages]]\nname = "{pin.name}"\nversion = "{pin.version}"\n{marker}{wheels}'
        )
    return "".join(out)


@dataclasses.dataclass(frozen=True)
class Case:
    """A format, a file name it claims, how a lock of it is written, and its words."""

    name: str
    filename: str
    write: Callable[[Sequence[Pin]], str]
    noun: str
    no_hash: str  # the wheel_status finding of a package without hashes
    hash_remedy: str  # after the relock remedy
    producer: str  # relock's name for what wrote an unusable lock
    sound_pin: str


CASES = [
    Case(
        "requirements",
        "py3.12.txt",
        requirements_text,
        "a requirements file",
        "has no --hash",
        " (it runs pip-compile --generate-hashes)",
        "pip-compile",
        "an == pin and hashes",
    ),
    Case(
        "pylock",
        "pylock.toml",
        pylock_text,
        "a PEP 751 lock",
        "has no file with hashes",
        "",
        "the resolver",
        "a pinned version and hashes",
    ),
]


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    return request.param  # type: ignore[no-any-return]  # pytest types param as Any


def write(tmp_path: Path, case: Case, pins: Sequence[Pin] = PINS) -> Path:
    path = tmp_path / case.filename
    path.write_text(case.write(pins), encoding="utf-8")
    return path


def pins_of(entries: Sequence[LockEntry]) -> list[tuple[str, str | None, tuple[str, ...]]]:
    return [(e.name, e.version, e.hashes) for e in entries]


# --- chosen once, by name -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("pylock.toml", "pylock"),
        ("pylock.py312.toml", "pylock"),
        ("pylock.dev.toml", "pylock"),
        ("requirements/py3.12.txt", "requirements"),
        ("lock.toml", "requirements"),  # PEP 751 names its locks pylock.*: any other name
        ("pylock.a.b.toml", "requirements"),  # NAME has no dot
        ("pylock.toml.txt", "requirements"),
    ],
)
def test_the_format_is_chosen_by_the_file_name(name: str, expected: str) -> None:
    chosen = lock_format(Path("/p") / name)
    assert chosen is FORMATS[expected]
    assert chosen.name == expected


def test_read_lock_reads_a_pylock_by_its_name_and_a_requirements_file_otherwise(
    tmp_path: Path,
) -> None:
    (tmp_path / "pylock.dev.toml").write_text(pylock_text(PINS[:1]), encoding="utf-8")
    assert preflight.read_lock(tmp_path / "pylock.dev.toml").format is FORMATS["pylock"]
    # The same TOML under a requirements file's name is read as one, and refused as one.
    shutil.copy(tmp_path / "pylock.dev.toml", tmp_path / "locked.txt")
    with pytest.raises(LockError):
        preflight.read_lock(tmp_path / "locked.txt")
    plain = tmp_path / "py3.12.txt"
    plain.write_text(requirements_text(PINS), encoding="utf-8")
    assert preflight.read_lock(plain).format is FORMATS["requirements"]


def test_every_format_is_named_for_relock_and_its_hint_names_a_lock_of_it(case: Case) -> None:
    fmt = FORMATS[case.name]
    assert (fmt.name, fmt.noun) == (case.name, case.noun)
    # The usage error's hint tells the user how to name one: a name this format claims.
    named = re.findall(r'lock = "([^"]+)"', fmt.naming_hint)
    assert named
    for template in named:
        assert lock_format(template.format(major=3, minor=12)) is fmt, template
    assert list(FORMATS) == ["requirements", "pylock"]  # relock's --format choices, in order


# --- read, selected ------------------------------------------------------------------------


def test_the_same_pins_read_the_same_in_every_format(tmp_path: Path, case: Case) -> None:
    path = write(tmp_path, case)
    lock = read_lock(path)
    fmt = lock_format(path)
    assert lock.format is fmt, "the lock carries the format that read it"
    assert isinstance(lock, Lock)
    assert [(e.name, e.version, e.hashes, e.markers) for e in lock.entries] == [
        (p.name, p.version, p.hashes, p.marker) for p in PINS
    ]
    assert all(e.sound for e in lock.entries)
    assert lock.universal, "beta is pinned once per marker range"
    # Reading the file and parsing its text (with a byte-order mark) give the same lock.
    text = path.read_text(encoding="utf-8")
    assert fmt.read(path) == lock == fmt.parse("\ufeff" + text, path)
    assert preflight.read_lock(path) == lock


@pytest.mark.parametrize(("python", "beta"), [("3.11", "1.0"), ("3.12", "2.0")])
def test_every_format_selects_the_same_pins_for_an_interpreter(
    tmp_path: Path, case: Case, python: str, beta: str
) -> None:
    path = write(tmp_path, case)
    env = {**f.MARKERS, "python_version": python, "python_full_version": f"{python}.1"}
    selected = read_lock(path, environment=env)
    assert selected.format is lock_format(path), "selection keeps the format"
    assert [(e.name, e.version) for e in selected.entries] == [("alpha", "1.0"), ("beta", beta)]
    assert [(e.name, e.version) for e in selected.entries] == [
        (e.name, e.version) for e in selected.applying(env)
    ]


def test_every_format_refuses_a_lock_ambiguous_for_the_interpreter(
    tmp_path: Path, case: Case
) -> None:
    twice = (PINS[0], dataclasses.replace(PINS[1], marker=None), PINS[2])
    path = write(tmp_path, case, twice)
    with pytest.raises(LockError, match="the lock is ambiguous for this interpreter: beta is"):
        read_lock(path, environment={**f.MARKERS, "python_version": "3.12"})


def test_every_format_refuses_a_missing_or_empty_lock_naming_it(tmp_path: Path, case: Case) -> None:
    path = tmp_path / case.filename
    with pytest.raises(LockError, match="lock file does not exist") as missing:
        read_lock(path)
    assert missing.value.path == path
    path.write_text(case.write(()), encoding="utf-8")
    with pytest.raises(LockError) as empty:
        read_lock(path)
    assert empty.value.path == path
    assert "an empty lock installs nothing" in (empty.value.hint or "")


# --- judged (wheel_status) ----------------------------------------------------------------


def test_every_format_is_judged_by_one_check_in_its_own_words(tmp_path: Path, case: Case) -> None:
    unhashed = (Pin("alpha", "1.0", ()), *PINS[1:])
    lock = read_lock(write(tmp_path, case, unhashed))
    assert (lock.format.no_hash, lock.format.hash_remedy) == (case.no_hash, case.hash_remedy)
    ctx = f.context(lock=lock, lock_path=lock.path)
    result = wheel_status(ctx)
    (finding,) = [x for x in result.findings if "hash-checked" in x.message]
    assert finding.message == (
        f"{lock.path}, line 1: alpha {case.no_hash}, so the install cannot be hash-checked"
        if case.name == "requirements"
        else f"{lock.path}, line 4: alpha {case.no_hash}, so the install cannot be hash-checked"
    )
    assert finding.remedy == ctx.remedies.relock + case.hash_remedy
    assert result.details["universal"] is True
    assert result.details["selected"] == 2


def test_what_only_a_pylock_states_is_neutral_for_a_requirements_file(
    tmp_path: Path, case: Case
) -> None:
    lock = read_lock(write(tmp_path, case))
    policy = f.policy(requires=["alpha>=1", "beta"])
    result = wheel_status(f.context(policy=policy, lock=lock, lock_path=lock.path))
    assert result.status.name == "PASS", result.findings
    assert lock.version_warning is None
    if case.name == "requirements":
        assert (lock.requires_python, lock.environments, lock.format_details()) == (None, (), {})
        assert "lock_version" not in result.details
    else:
        expected = {"lock_version": "1.0", "requires_python": None, "environments": []}
        assert lock.format_details() == expected
        assert {k: result.details[k] for k in expected} == expected


# --- installed ------------------------------------------------------------------------------


def test_what_is_installed_is_what_the_check_selects_in_every_format(
    tmp_path: Path, case: Case
) -> None:
    """pip installs a requirements file as written; a PEP 751 lock as its pins for the
    target (probed: this interpreter, for real). Either way, the same pins."""
    path = write(tmp_path, case)
    python = Path(sys.executable)
    installed = installable_lock(path, python, tmp_path / "pins")
    assert (installed == path) is lock_format(path).installs_as_written
    facts = probe_interpreter(python)
    assert isinstance(facts, InterpreterFacts)
    want = read_lock(path, environment=facts.marker_env).entries
    got = read_lock(installed, environment=facts.marker_env).entries
    assert pins_of(got) == pins_of(want)
    assert lock_format(installed).installs_as_written, "pip reads what it is handed"


# --- relocked: compiled, stamped, compared --------------------------------------------------


def test_every_format_names_its_compilers(case: Case) -> None:
    fmt = FORMATS[case.name]
    tools = {
        (resolver, universal): fmt.tool(resolver, universal=universal)
        for resolver in (None, *fmt.resolvers)
        for universal in (False, True)
    }
    if case.name == "requirements":
        assert fmt.resolvers == ()
        assert tools == {(None, False): "pip-compile", (None, True): "uv"}
        assert not fmt.universal_when_shared
    else:
        assert fmt.resolvers == RESOLVERS
        assert tools[None, False] == tools["uv", False] == tools["uv", True] == "uv"
        assert tools["pip", False] == "pip lock"
        assert fmt.universal_when_shared


NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_every_format_keeps_relocks_stamp_and_reads_it_back(tmp_path: Path, case: Case) -> None:
    path = tmp_path / case.filename
    fmt = lock_format(path)
    meta = stamp_meta(python="3.12.1", compiled=NOW, inputs="sha256:0", universal=True)
    stamped = fmt.stamp(case.write(PINS), meta, path)
    lock = fmt.parse(stamped, path)
    assert lock.header.preflight == meta
    assert lock.header.universal
    assert pins_of(lock.entries) == pins_of(fmt.parse(case.write(PINS), path).entries)


def test_only_the_compile_time_and_patch_release_are_not_compared(
    tmp_path: Path, case: Case
) -> None:
    path = tmp_path / case.filename
    fmt = lock_format(path)

    def stamped(python: str, compiled: datetime) -> str:
        meta = stamp_meta(python=python, compiled=compiled, inputs="sha256:0")
        return fmt.stamp(case.write(PINS), meta, path)

    base = stamped("3.12.1", NOW)
    assert comparable(base) == comparable(stamped("3.12.7", NOW.replace(year=2027)))
    assert comparable(base) != comparable(stamped("3.13.0", NOW))
    assert comparable(base) != comparable(base.replace("2.0", "2.1"))


def test_relock_refuses_an_unsound_compile_in_each_formats_words(
    tmp_path: Path, case: Case
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.preflight]\npythons = ["3.12"]\nrequires = ["alpha>=1"]\n', encoding="utf-8"
    )
    policy = load_policy(tmp_path)
    path = tmp_path / case.filename
    raw = case.write((Pin("alpha", "1.0", ()),))
    with pytest.raises(RelockError) as unsound:
        finalize(raw, lock_path=path, python="3.12.1", policy=policy, now=NOW)
    assert unsound.value.message == (
        f"{case.producer} left alpha without {case.sound_pin}, so {path} was left as it was"
    )
    with pytest.raises(RelockError) as unusable:
        finalize("", lock_path=path, python="3.12.1", policy=policy, now=NOW)
    assert unusable.value.message.startswith(
        f"{case.producer} produced an unusable lock, so {path} was left as it was: {path}"
    )
    fresh = finalize(case.write(PINS), lock_path=path, python="3.12.1", policy=policy, now=NOW)
    assert read_lock_text(fresh, path).header.preflight["python"] == "3.12.1"


def read_lock_text(text: str, path: Path) -> Lock:
    path.write_text(text, encoding="utf-8")
    return read_lock(path)


def test_relock_format_confirms_the_policys_lock_naming_the_format(
    tmp_path: Path, case: Case, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--format`` only confirms the policy's lock; a mismatch says what the lock is and
    how to name one of the wanted format, before anything is compiled (a matching one is
    the relock itself: test_relock*.py)."""
    (other,) = (name for name in FORMATS if name != case.name)
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [tool.preflight]
            pythons = ["3.12"]
            requires = ["alpha>=1"]
            lock = "{case.filename}"
            """
        ),
        encoding="utf-8",
    )
    code = main(["relock", "--project", str(tmp_path), "--format", other])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert f"--format {other}: the policy's lock {case.filename} is {case.noun}" in err
    assert f"hint: {FORMATS[other].naming_hint}" in err


def test_a_format_is_a_complete_implementation_of_the_interface() -> None:
    """Every class-level answer the interface declares is given by every format (the ABC
    enforces the methods; its ClassVars only this)."""
    declared = [k for k, v in LockFormat.__annotations__.items() if "ClassVar" in str(v)]
    assert {"name", "no_hash", "installs_as_written", "resolvers"} <= set(declared)
    for fmt in FORMATS.values():
        assert isinstance(fmt, LockFormat)
        missing = [name for name in declared if name not in vars(type(fmt))]
        assert not missing, (fmt.name, missing)


# Tests of the format by name or type, outside the readers and the seam's chooser.
_FORMAT_TEST = re.compile(r"is_pylock_path\(|isinstance\([^)]*Pylock\b|parse_pylock|\bPylock\b")
_SEAM = {"_lock/pylock.py", "_lock/read.py", "_lock/format.py"}


def test_no_caller_tests_for_a_format_outside_the_seam() -> None:
    """Every caller asks the lock's format; none tells the formats apart by itself."""
    package = Path(preflight.__file__).parent
    found = [
        f"{path.relative_to(package)}:{number}: {line.strip()}"
        for path in sorted(package.rglob("*.py"))
        if path.relative_to(package).as_posix() not in _SEAM
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if _FORMAT_TEST.search(line)
    ]
    assert not found, "\n".join(found)
