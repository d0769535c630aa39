"""Differential test: preflight reads real locks (tests/data/locks, sources in its README) and
variants of them exactly as pip's own parser does, or refuses them for a stated reason.

pip's reading is ``pip._internal.req.req_file.parse_requirements`` with a ``PipSession``, each
requirement made into an ``InstallRequirement`` as ``pip install -r`` makes it. Both readings
are reduced to the same tuple per entry: canonical name, specifier, marker, hashes, URL,
editable. A file both read must give the same tuples (pip's identical repeated lines are one
entry: preflight reads them as one, with a note); a file pip reads and preflight refuses must be
refused with a deliberate reason; a file pip refuses must not be read by preflight.

Boundary: preflight's reading of real files against pip's, nothing of our own wording (that is
test_lockfile.py and test_lock_forms.py).
"""

from __future__ import annotations

import codecs
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from preflight._errors import LockError
from preflight._lock.requirements import parse_lock

# pip's reading is what preflight follows; the corpus was checked against pip 26. Older pips
# read some forms differently (e.g. pip 23 refuses what pip-compile now writes), so they are
# not the reference.
pip = pytest.importorskip("pip")
if tuple(int(part) for part in pip.__version__.split(".")[:2]) < (25, 0):
    pytest.skip(
        f"pip {pip.__version__} is older than the reference (>= 25)", allow_module_level=True
    )
pip_req_file = pytest.importorskip("pip._internal.req.req_file")
pip_constructors = pytest.importorskip("pip._internal.req.constructors")
pip_session = pytest.importorskip("pip._internal.network.session")

CORPUS = Path(__file__).parent / "data" / "locks"
REAL = {
    "pip-compile": CORPUS / "vscode-python-pip-compile.txt",
    "uv-export": CORPUS / "ollama-python" / "requirements.txt",
    "poetry-export": CORPUS / "ollama-python-poetry-export.txt",
}
# What preflight says when it refuses, on purpose, a lock pip reads.
DELIBERATE = (
    "preflight refuses",
    "refused on purpose",
    "is a machine-specific setting",
    "a lock must be self-contained",
    "not attached to a requirement",
)

Entry = tuple[str | None, str, str | None, tuple[str, ...], str | None, bool]


def _marker(text: object) -> str | None:
    return None if text is None else str(Marker(str(text)))


def pip_reads(path: Path) -> list[Entry]:
    """The entries ``pip install -r PATH`` would install (before markers), deduplicated."""
    session = pip_session.PipSession()
    try:
        found = []
        for parsed in pip_req_file.parse_requirements(str(path), session=session):
            ireq = pip_constructors.install_req_from_parsed_requirement(parsed)
            req = ireq.req
            hashes = tuple(
                sorted(f"{algo}:{d}" for algo, ds in ireq.hash_options.items() for d in ds)
            )
            if ireq.editable:
                url = parsed.requirement
            elif req is not None and req.url:
                url = req.url
            else:
                url = ireq.link.url if ireq.link is not None else None
            entry: Entry = (
                canonicalize_name(req.name) if req is not None else None,
                str(SpecifierSet(str(req.specifier))) if req is not None else "",
                _marker(ireq.markers),
                hashes,
                url,
                bool(ireq.editable),
            )
            if entry not in found:
                found.append(entry)
        return found
    finally:
        session.close()


def preflight_reads(path: Path) -> list[Entry]:
    lock = parse_lock(path)
    return [
        (
            e.name,
            str(SpecifierSet(e.specifier)),
            _marker(e.markers),
            tuple(sorted(e.hashes)),
            e.url,
            e.editable,
        )
        for e in lock.entries
    ]


def compare(path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``"same"``, ``"both refuse"`` or ``"refused on purpose"``; fails otherwise."""
    monkeypatch.chdir(path.parent)  # pip reads "-e ." from the folder it runs in
    try:
        theirs: list[Entry] | None = pip_reads(path)
    except Exception:  # pip's parse errors are several unrelated types
        theirs = None
    try:
        ours: list[Entry] | None = preflight_reads(path)
        why = ""
    except LockError as exc:
        ours, why = None, exc.message
    if ours is None:
        if theirs is None:
            return "both refuse"
        deliberate = any(reason in why for reason in DELIBERATE)
        assert deliberate, f"pip reads {path.name}, preflight refuses it not saying why: {why}"
        return "refused on purpose"
    assert theirs is not None, f"pip refuses {path.name}, preflight reads it: {ours}"
    # An editable's name is learned by pip when it builds the project: compare the rest.
    assert [_unnamed(e) for e in ours or []] == [_unnamed(e) for e in theirs]
    assert [e[0] for e in theirs if e[0] is not None] == [
        e[0] for e in ours or [] if not e[5] or e[0] in {t[0] for t in theirs}
    ]
    return "same"


def _unnamed(entry: Entry) -> Entry:
    return (None, *entry[1:]) if entry[5] else entry


@pytest.mark.parametrize("kind", sorted(REAL))
def test_real_locks_read_as_pip_reads_them(
    kind: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = _copy(REAL[kind], tmp_path)
    assert compare(path, monkeypatch) == "same"
    assert len(parse_lock(path).entries) >= 6


def test_the_universal_lock_pins_anyio_once_per_marker_range(tmp_path: Path) -> None:
    lock = parse_lock(_copy(REAL["uv-export"], tmp_path))
    anyio = [(e.version, e.markers) for e in lock.entries if e.name == "anyio"]
    assert anyio == [
        ("4.5.2", 'python_full_version < "3.9"'),
        ("4.8.0", 'python_full_version >= "3.9"'),
    ]
    assert lock.universal
    assert lock.entries[0].editable
    assert lock.entries[0].name == "ollama"


def _copy(source: Path, tmp_path: Path) -> Path:
    folder = tmp_path / source.parent.name
    shutil.copytree(source.parent, folder, dirs_exist_ok=True)
    return folder / source.name


# --- generated variants -----------------------------------------------------------------

Variant = Callable[[str], bytes]

VARIANTS: dict[str, tuple[Variant, str]] = {
    "utf-16 with a BOM": (lambda t: t.encode("utf-16"), "same"),
    "utf-16-be with a BOM": (lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be"), "same"),
    "utf-32 with a BOM": (lambda t: t.encode("utf-32"), "same"),
    "utf-8 with a BOM": (lambda t: codecs.BOM_UTF8 + t.encode(), "same"),
    "a latin-1 coding line": (
        lambda t: ("# -*- coding: latin-1 -*-\n# café\n" + t).encode("latin-1"),
        "same",
    ),
    "latin-1 without a coding line": (lambda t: ("# café\n" + t).encode("latin-1"), "refused"),
    "crlf": (lambda t: t.replace("\n", "\r\n").encode(), "same"),
    "form feeds are line breaks": (lambda t: t.replace("\n", "\x0c").encode(), "same"),
    "a tab before --hash": (lambda t: t.replace(" \\\n    --hash", "\t--hash", 1).encode(), ""),
    "a tab and a space before --hash": (
        lambda t: t.replace(" \\\n    --hash", "\t \\\n    --hash").encode(),
        "same",
    ),
    "--hash VALUE": (lambda t: t.replace("--hash=", "--hash ").encode(), "same"),
    "--hash abbreviated": (lambda t: t.replace("--hash=", "--ha=").encode(), "same"),
    "tabs as indentation": (lambda t: t.replace("\n    ", "\n\t").encode(), ""),
    "egg fragments": (
        lambda t: (
            t
            + "git+https://github.com/example/tool.git@stable/1.1#egg=django-oauth-toolkit\n"
            + "file:.#egg=jsonschema\n"
        ).encode(),
        "same",
    ),
    "a wheel URL line with a marker": (
        lambda t: (
            t + "https://example.invalid/w/demo_pkg-1.0-py3-none-any.whl; os_name == 'nt'\n"
        ).encode(),
        "same",
    ),
    "name @ url;marker": (
        lambda t: (
            t + "demo-pkg @ https://example.invalid/demo_pkg-1.0-py3-none-any.whl;"
            "python_version>='3'\n"
        ).encode(),
        "same",
    ),
    "an identical repeated line": (lambda t: (t + _first_entry(t)).encode(), "same"),
    "a global option on a requirement line": (
        lambda t: t.replace(" \\\n", " --prefer-binary \\\n", 1).encode(),
        "same",
    ),
    "an index line": (
        lambda t: ("--index-url https://example.invalid/simple\n" + t).encode(),
        "refused",
    ),
    "an include": (lambda t: ("-r other.txt\n" + t).encode(), "refused"),
    "an unnamed URL": (
        lambda t: (t + "https://example.invalid/src/thing.tar.gz\n").encode(),
        "refused",
    ),
    "a word pip drops": (
        lambda t: t.replace(" \\\n", " --pre extra==1 \\\n", 1).encode(),
        "refused",
    ),
    "md5 hashes": (lambda t: t.replace("--hash=sha256:", "--hash=md5:", 1).encode(), ""),
}


def _first_entry(text: str) -> str:
    """The first requirement with its continued lines, as written."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line[:1].isalnum())
    end = start
    while lines[end].rstrip("\r\n").endswith("\\"):
        end += 1
    return "".join(lines[start : end + 1])


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("kind", ["pip-compile", "uv-export"])
def test_variants_read_as_pip_reads_them(
    kind: str, variant: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make, expected = VARIANTS[variant]
    folder = tmp_path / "lock"
    shutil.copytree(REAL[kind].parent, folder)
    path = folder / REAL[kind].name
    path.write_bytes(make(REAL[kind].read_text(encoding="utf-8")))
    (folder / "other.txt").write_text("six==1.16.0\n", encoding="utf-8")  # for "-r other.txt"
    outcome = compare(path, monkeypatch)
    if expected == "same":
        assert outcome == "same"
    elif expected == "refused":
        # pip may refuse it too (latin-1 decodes with this machine's UTF-8 locale): preflight
        # says why, whatever pip does.
        assert outcome in ("refused on purpose", "both refuse")
        with pytest.raises(LockError) as info:
            parse_lock(path)
        assert any(reason in info.value.message for reason in DELIBERATE), info.value
    else:  # pip refuses it: so must preflight
        assert outcome == "both refuse"
