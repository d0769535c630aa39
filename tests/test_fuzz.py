"""Fuzzing the parsers of untrusted input: any exception but the tool's own is a failure.

Each entry point reads text that a user or a judged environment controls: a lock, a policy,
the probe's output, a RECORD, a JSON report, text to show. Hypothesis generates inputs, from
grammar-shaped ones (lock lines, TOML tables, JSON) to raw text; the parser must return a value
or raise its own error type, in time linear in the input.

The budget is small in the test run (``PREFLIGHT_FUZZ_EXAMPLES``, default 60 per target) and
larger in ``nox -s fuzz``, which prints how many examples each target ran.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.version import InvalidVersion

from preflight import _json as _json_reader
from preflight._checks.result import CheckResult, Finding, Severity, Status
from preflight._errors import ConfigError, LockError
from preflight._facts import baseline, integrity, osv, wheels
from preflight._facts.model import ProbeFailure, ProbeReport
from preflight._facts.probes import parse_probe_output
from preflight._lock.pylock import parse_pylock_text
from preflight._lock.requirements import decode_lock, parse_lock_text
from preflight._ops.matrix import Outcome
from preflight._policy.policy import policy_from_table, version_or_none
from preflight._policy.spec import VERSION_LIMIT, parse_version
from preflight._read import check_zip_directory
from preflight._report.interpreter import Interpreter
from preflight._report.model import Report, report_from_json
from preflight._text import shown

EXAMPLES = int(os.environ.get("PREFLIGHT_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # the machine is shared: time is a benchmark's business, not a test's
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,  # nothing written into the checkout
)
LOCK = Path("/fuzz/requirements/py3.12.txt")
PYLOCK = Path("/fuzz/pylock.toml")
POLICY = Path("/fuzz/pyproject.toml")

# --- strategies ---------------------------------------------------------------------------

_word = st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=12)
_hash = st.builds(
    lambda algo, digest: f"--hash={algo}:{digest}",
    st.sampled_from(["sha256", "sha512", "md5", "", "x"]),
    st.text(alphabet="0123456789abcdef=", max_size=70),
)
# URL-shaped text: the characters that make urllib and packaging choose a branch.
_url = st.builds(
    lambda scheme, rest: scheme + rest,
    st.sampled_from(["", "./", "file:", "file://", "http://", "git+https://", "//", "["]),
    st.text(alphabet="ab1[]:/@#%=?.&\x00 ~", max_size=20),
)
_lock_line = st.one_of(
    st.builds(
        lambda name, op, version, hashes: f"{name}{op}{version} " + " \\\n    ".join(hashes),
        _word,
        st.sampled_from(["==", ">=", "===", "~=", "", " @ "]),
        st.text(alphabet=string.digits + ".*+abrc", max_size=8),
        st.lists(_hash, max_size=3),
    ),
    st.builds(lambda target: f"-e {target}", st.one_of(st.text(max_size=30), _url)),
    st.builds(lambda name, url: f"{name} @ {url}", _word, _url),
    st.builds(lambda body: f"# preflight-lock: {body}", st.text(max_size=40)),
    st.builds(
        lambda option, value: f"{option} {value}",
        st.sampled_from(["--index-url", "-r", "-c", "--hash", "--find-links", "--no-binary", "-i"]),
        st.text(max_size=20),
    ),
    st.text(max_size=60),
)
_json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
_json = st.recursive(
    _json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
_toml_value = st.recursive(
    st.one_of(
        st.booleans(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.floats(),
        st.text(max_size=30),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
_policy_key = st.sampled_from(
    [
        "pythons", "requires", "lock", "ignore", "lock_max_age_days", "env_vars",
        "config_file", "config_file_required", "protected_files", "performance", "suite",
        "suite_timeout_seconds", "startup_hooks", "alerts", "audit",
    ]
)  # fmt: skip


# --- targets ------------------------------------------------------------------------------


@FUZZ
@given(st.lists(_lock_line, min_size=1, max_size=12))
def test_the_lock_reader_raises_only_lock_errors(lines: list[str]) -> None:
    with contextlib.suppress(LockError):
        parse_lock_text("\n".join(lines) + "\n", LOCK)


@FUZZ
@given(st.text(max_size=400))
def test_the_lock_reader_on_raw_text(text: str) -> None:
    with contextlib.suppress(LockError):
        parse_lock_text(text, LOCK)


# The bytes of a lock: a byte-order mark or a coding line (any codec name, text or not) first.
_lock_head = st.one_of(
    st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00"]),
    st.builds(
        lambda name: f"# -*- coding: {name} -*-\n".encode(),
        st.one_of(
            st.sampled_from(["utf-8", "latin-1", "rot13", "hex", "base64", "zlib", "utf-16"]),
            st.from_regex(r"[-\w.]{1,12}", fullmatch=True),
        ),
    ),
)


@FUZZ
@given(_lock_head, st.binary(max_size=200))
def test_the_lock_decoder_raises_only_lock_errors(head: bytes, body: bytes) -> None:
    with contextlib.suppress(LockError):
        decode_lock(head + body, LOCK)


# A PEP 751 lock: the top-level keys, then packages of any shape (tables of TOML values with
# the keys packaging reads), written as TOML by way of JSON (a JSON string is a TOML string).
_package_key = st.sampled_from(
    ["name", "version", "marker", "requires-python", "wheels", "sdist", "vcs", "directory",
     "archive", "hashes", "url", "path", "commit-id", "type", "index", "editable"]
)  # fmt: skip
_pylock_value = st.one_of(
    _toml_value,
    st.sampled_from(["1.0", "2.0", "1.9", "a", "alpha", "python_version < '3'", ">=3.11"]),
    st.dictionaries(_package_key, _toml_value, max_size=4),
    st.lists(st.dictionaries(_package_key, _toml_value, max_size=4), max_size=2),
)


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # inf and nan are TOML too
    return json.dumps(value)


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(["lock-version", "created-by", "requires-python", "environments",
                         "default-groups", "tool"]),
        _pylock_value, max_size=2,
    ),
    st.lists(st.dictionaries(_package_key, _pylock_value, max_size=6), max_size=3),
)  # fmt: skip
def test_the_pylock_reader_raises_only_lock_errors(
    top: dict[str, Any], packages: list[dict[str, Any]]
) -> None:
    # Mostly a valid header, so that the packages are read: a key drawn replaces it.
    top = {"lock-version": "1.0", "created-by": "fuzz", **top}
    lines = [f"{json.dumps(k)} = {_toml(v)}" for k, v in top.items()]
    for package in packages:
        lines.append("[[packages]]")
        lines += [f"{json.dumps(k)} = {_toml(v)}" for k, v in package.items()]
    with contextlib.suppress(LockError):
        parse_pylock_text("\n".join(lines) + "\n", PYLOCK)


@FUZZ
@given(st.text(max_size=400))
def test_the_pylock_reader_on_raw_text(text: str) -> None:
    with contextlib.suppress(LockError):
        parse_pylock_text(text, PYLOCK)


@FUZZ
@given(
    st.fixed_dictionaries(
        {"pythons": st.one_of(st.lists(st.text(max_size=8), max_size=4), _toml_value),
         "requires": st.one_of(st.lists(st.text(max_size=16), max_size=3), _toml_value)},
        optional={},
    ),
    st.dictionaries(_policy_key, _toml_value, max_size=4),
)  # fmt: skip
def test_the_policy_reader_raises_only_config_errors(
    base: dict[str, Any], extra: dict[str, Any]
) -> None:
    with contextlib.suppress(ConfigError):
        policy_from_table(POLICY, {**base, **extra})


def _probe_payload(version: Any, paths: Any) -> str:
    return json.dumps(
        {
            "ok": True, "probe_version": 2, "executable": "/e/bin/python",
            "base_executable": None, "version": version, "release_level": "final",
            "implementation": "cpython", "base_prefix": "/b", "base_exec_prefix": "/b",
            "platlibdir": "lib", "abiflags": "", "venv_prefix": "/e", "venv_paths": paths,
            "base_paths": {}, "vendor_site": [], "user_site": None,
            "user_site_allowed": False, "marker_env": {}, "stdlib_path": [],
        }
    )  # fmt: skip


@FUZZ
@given(st.one_of(st.text(max_size=12), _json), st.one_of(_json, st.lists(_json, max_size=3)))
def test_the_probe_output_parser_returns_a_report_or_a_failure(version: Any, paths: Any) -> None:
    result = parse_probe_output(_probe_payload(version, paths))
    assert isinstance(result, ProbeReport | ProbeFailure)


@FUZZ
@given(st.text(max_size=300))
def test_the_probe_output_parser_on_raw_text(text: str) -> None:
    assert isinstance(parse_probe_output(text), ProbeReport | ProbeFailure)


@FUZZ
@given(st.lists(st.text(max_size=60), max_size=8))
def test_record_rows_parse_or_are_marked_malformed(lines: list[str]) -> None:
    """One row per physical line that is not blank, in order; a malformed one names its line
    and carries nothing else; a read one holds no NUL or CR, a path under the site folder as
    ``site.addpackage`` would join it, and a size that is a plain number of bytes."""
    text = "\n".join(lines)
    physical = [
        (number, line.removesuffix("\r"))
        for number, line in enumerate(text.split("\n"), start=1)
        if line.removesuffix("\r").strip()
    ]
    rows = integrity.parse_record(text, "/site")
    assert len(rows) == len(physical)
    for row, (number, line) in zip(rows, physical, strict=True):
        if row.malformed is not None:
            assert row.malformed
            assert (row.written, row.path, row.algorithm, row.size) == (
                f"RECORD row {number}", "", None, None,
            )  # fmt: skip
            continue
        assert row.written
        assert line.startswith(row.written) or line.startswith('"')
        assert not any(c in row.written for c in "\0\r\n")
        assert row.path == os.path.normpath(os.path.join("/site", row.written))
        assert row.size is None or (row.size >= 0 and str(row.size) in line)
        assert row.algorithm is None or row.algorithm == row.algorithm.lower()


_record_name = st.text(
    alphabet=string.ascii_letters + string.digits + "_-./", min_size=1, max_size=40
)


@FUZZ
@given(
    st.lists(
        st.tuples(_record_name, st.binary(min_size=32, max_size=32), st.integers(0, 10**12)),
        max_size=8,
    )
)
def test_well_formed_record_rows_are_read_as_written(
    entries: list[tuple[str, bytes, int]],
) -> None:
    """What a wheel's RECORD holds (path, sha256 in urlsafe base64, size) reads back exactly."""
    lines = [
        f"{name},sha256={base64.urlsafe_b64encode(digest).decode().rstrip('=')},{size}"
        for name, digest, size in entries
    ]
    rows = integrity.parse_record("\r\n".join(lines), "/site")
    assert [(r.malformed, r.written, r.algorithm, r.size) for r in rows] == [
        (None, name, "sha256", size) for name, _, size in entries
    ]
    for row, (_, digest, _) in zip(rows, entries, strict=True):
        assert integrity.expected_digest(row) == (digest, None)


@FUZZ
@given(_json)
def test_a_report_is_read_back_or_refused_with_a_value_error(data: Any) -> None:
    with contextlib.suppress(ValueError):
        Report.from_dict(data)


@FUZZ
@given(st.text(max_size=500), st.integers(min_value=1, max_value=600))
def test_shown_text_never_holds_a_control_character(text: str, limit: int) -> None:
    out = shown(text, limit=limit)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" for c in out)


pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")


_osv_scalar = st.one_of(_json_scalar, st.sampled_from(["0", "1.0", "2.0rc1", "PyPI", "ECOSYSTEM"]))
_osv_value = st.recursive(
    _osv_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                ["id", "modified", "withdrawn", "aliases", "summary", "details", "affected",
                 "package", "ecosystem", "name", "versions", "ranges", "type", "events",
                 "introduced", "fixed", "last_affected", "limit", "schema_version"]
            ),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=25,
)  # fmt: skip


@FUZZ
@given(st.one_of(_osv_value, st.binary(max_size=80)))
def test_an_osv_record_is_read_or_counted_malformed(value: Any) -> None:
    reader = osv._Reader("fuzz", {"pkg", "six"})
    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    reader.feed("R.json", data)
    assert reader.records == 1
    for advisory in reader.kept.values():
        for name in ("pkg", "six"):
            advisory.affecting(name, "1.0")
            advisory.fixed_after(name, "1.0")


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(["database", "ignore", "other"]),
        st.one_of(
            _toml_value,
            st.lists(
                st.dictionaries(st.sampled_from(["id", "reason", "until", "x"]), _toml_value),
                max_size=3,
            ),
        ),
        max_size=3,
    )
)
def test_the_audit_table_raises_only_config_errors(audit: dict[str, Any]) -> None:
    with contextlib.suppress(ConfigError):
        policy_from_table(POLICY, {"pythons": ["3.12"], "requires": [], "audit": audit})


_entry_value = st.one_of(
    _json_scalar,
    st.sampled_from(["purelib", "scripts", "file", "dir", "link", "0644", "a/b.py", "0" * 64]),
)
_manifest_entry = st.dictionaries(
    st.sampled_from(["root", "path", "type", "mode", "size", "sha256", "target", "owner", "x"]),
    _entry_value,
    max_size=8,
)
_manifest = st.fixed_dictionaries(
    {
        "schema": st.sampled_from(["preflight-baseline", "other"]),
        "schema_version": st.one_of(st.just(1), _json_scalar),
        "created": _json_scalar,
        "tool_version": _json_scalar,
        "interpreter": st.one_of(
            _json,
            st.fixed_dictionaries(
                {k: st.text(max_size=8) for k in ("executable", "version", "implementation")},
                optional={"prefix": _json_scalar},
            ),
        ),
        "roots": st.one_of(
            _json, st.dictionaries(st.sampled_from(["purelib", "scripts", "x"]), _json_scalar)
        ),
        "entries": st.one_of(_json, st.lists(_manifest_entry, max_size=4)),
    }
)


@FUZZ
@given(st.one_of(_manifest, _json, st.text(max_size=200)))
def test_a_baseline_manifest_is_read_or_refused_with_its_error(value: Any) -> None:
    text = value if isinstance(value, str) else json.dumps(value)
    with contextlib.suppress(baseline.BaselineError):
        manifest = baseline.parse_manifest_text(text, Path("/fuzz/baseline.json"))
        again = baseline.parse_manifest_text(baseline.manifest_json(manifest), Path("/m"))
        assert again == manifest


# --- round two: the one JSON reader, summarize's inputs, archives -----------------------------

# Text that is JSON-shaped but hostile: what the limits of _json exist for.
_hostile_fragment = st.one_of(
    st.builds(lambda n: "[" * n, st.integers(0, 300)),
    st.builds(lambda n: "]" * n, st.integers(0, 300)),
    st.builds(lambda n: '{"a":' * n, st.integers(0, 120)),
    st.builds(lambda n: "9" * n, st.integers(1, 5000)),
    st.builds(lambda n: "-" + "1" * n + ".5e" + "9" * 3, st.integers(1, 60)),
    st.sampled_from(
        ["NaN", "Infinity", "-Infinity", "1e999", '{"a": 1, "a": 2}', '"\\"[[["', "\ufeff", ","]
    ),
)
_json_text = st.one_of(
    st.builds(json.dumps, _json),
    st.builds(
        lambda head, fragments, tail: head + "".join(fragments) + tail,
        st.sampled_from(["", "[", '{"k": ', '{"k": [']),
        st.lists(_hostile_fragment, max_size=4),
        st.sampled_from(["", "]", "}", "]}", "1"]),
    ),
    st.text(max_size=200),
)


def _nesting(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_nesting, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_nesting, value), default=0)
    return 0


@FUZZ
@given(_json_text)
def test_the_json_reader_agrees_with_json_or_refuses_with_its_error(text: str) -> None:
    """Either the value ``json`` reads (within every limit), or a JSONError: never another
    exception, never a value over a limit."""
    try:
        value = _json_reader.loads(text)
    except _json_reader.JSONError:
        return
    assert value == json.loads(text)
    assert _nesting(value) <= _json_reader.MAX_DEPTH


@FUZZ
@given(_json_text, st.sampled_from(["report", "outcome"]))
def test_summarizes_inputs_are_read_or_refused_with_a_value_error(text: str, kind: str) -> None:
    """What summarize (and alert --report) reads: a report or a session outcome, any text."""
    with contextlib.suppress(ValueError):
        if kind == "report":
            report_from_json(text)
        else:
            Outcome.from_dict(_json_reader.loads(text))


_REPORT_TEXT = json.dumps(
    Report(
        timestamp="2026-12-07T07:00:00Z",
        interpreter=Interpreter.of(path="/env/bin/python", version="3.12.1"),
        python_status="primary",
        checks=(
            CheckResult(
                "security", "Security", Status.WARN, "warned", (Finding(Severity.WARNING, "w"),)
            ),
        ),
        duration_s=1.0,
        project="/p",
        lock=None,
        tool_version="0.1.0",
    ).to_dict()
)


@FUZZ
@given(st.integers(0, len(_REPORT_TEXT)), st.integers(0, 40), _hostile_fragment)
def test_a_real_report_cut_or_spliced_is_read_or_refused(at: int, cut: int, fragment: str) -> None:
    text = _REPORT_TEXT[:at] + fragment + _REPORT_TEXT[at + cut :]
    with contextlib.suppress(ValueError):
        report_from_json(text)


# Archives: zips built in memory from hypothesis-chosen members, then damaged the ways a zip
# bomb or a forger would: entries of the central directory repeated, the end record's count
# and size forged, bytes cut or flipped.
_member_name = st.one_of(
    st.sampled_from(
        ["A.json", "B.json", "x/../C.json", "alpha/__init__.py", "alpha-1.0.dist-info/METADATA",
         "alpha-1.0.dist-info/RECORD", "alpha-1.0.dist-info/WHEEL", "alpha-1.0.data/scripts/s"]
    ),
    st.text(alphabet=string.ascii_letters + "/._-", min_size=1, max_size=20),
)  # fmt: skip
_member_data = st.one_of(
    st.binary(max_size=200),
    st.builds(json.dumps, _osv_value).map(str.encode),
    st.builds(lambda n: b"0" * n, st.integers(0, 300_000)),
)


@st.composite
def _zip_bytes(draw: st.DrawFn) -> bytes:
    import io
    import struct
    import warnings
    import zipfile

    buffer = io.BytesIO()
    members = draw(st.lists(st.tuples(_member_name, _member_data), max_size=5))
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w", method) as archive:
        warnings.simplefilter("ignore")  # a duplicate name is one of the cases
        for name, data in members:
            archive.writestr(name, data)
    raw = buffer.getvalue()
    end = raw.rfind(b"PK\x05\x06")
    damage = draw(st.sampled_from(["none", "repeat", "forge", "cut", "flip"]))
    if damage == "repeat" and end >= 0:
        _, _, _, _, count, size, offset, _ = struct.unpack_from("<4s4H2LH", raw, end)
        directory = raw[offset : offset + size]
        times = draw(st.integers(2, 50))
        raw = raw[:offset] + directory * times + struct.pack(
            "<4s4H2LH", b"PK\x05\x06", 0, 0, min(count * times, 0xFFFF),
            min(count * times, 0xFFFF), size * times, offset, 0,
        )  # fmt: skip
    elif damage == "forge" and end >= 0:
        count, size = draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFFFFFF))
        raw = raw[:end] + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, size,
                                      draw(st.integers(0, 0xFFFFFFFF)), 0)  # fmt: skip
    elif damage == "cut" and raw:
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + raw[at + draw(st.integers(1, 64)) :]
    elif damage == "flip" and raw:
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1 :]
    return raw


def _written(data: bytes, name: str) -> Path:
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="preflight-fuzz-"))
    path = folder / name
    path.write_bytes(data)
    return path


@FUZZ
@given(_zip_bytes())
def test_an_osv_zip_is_read_or_unusable_never_an_exception(data: bytes) -> None:
    path = _written(data, "osv.zip")
    try:
        loaded = osv.load(path, ["alpha", "six"])
        assert isinstance(loaded, osv.VulnerabilityData | osv.DataUnavailable)
    finally:
        shutil.rmtree(path.parent)


@FUZZ
@given(_zip_bytes())
def test_a_vouched_wheel_is_read_or_unusable_never_an_exception(data: bytes) -> None:
    path = _written(data, "alpha-1.0-py3-none-any.whl")
    try:
        with contextlib.suppress(wheels.UnusableWheel):
            content = wheels.read_wheel(path)
            for member in sorted(content.members)[:4]:
                with contextlib.suppress(wheels.UnusableWheel):
                    content.reader.digest(member)
                with contextlib.suppress(wheels.UnusableWheel):
                    content.reader.read(member, 1 << 20)
            content.reader.close()
    finally:
        shutil.rmtree(path.parent)


@FUZZ
@given(_zip_bytes())
def test_the_zip_directory_walk_answers_for_any_bytes(data: bytes) -> None:
    import io

    why = check_zip_directory(io.BytesIO(data), max_entries=100, max_bytes=1 << 20)
    assert why is None or isinstance(why, str)


@FUZZ
@given(st.lists(_hostile_fragment, min_size=1, max_size=3), st.integers(0, 400))
def test_a_baseline_manifest_with_hostile_json_is_refused_with_its_error(
    fragments: list[str], at: int
) -> None:
    text = json.dumps({"schema": "preflight-baseline", "schema_version": 1, "entries": []})
    at = min(at, len(text))
    with contextlib.suppress(baseline.BaselineError):
        baseline.parse_manifest_text(
            text[:at] + "".join(fragments) + text[at:], Path("/fuzz/baseline.json")
        )


@FUZZ
@given(st.text(alphabet=string.digits + ".+-!abrcpostdev", max_size=6000))
def test_a_version_from_untrusted_data_parses_or_is_invalid(text: str) -> None:
    with contextlib.suppress(InvalidVersion):
        parse_version(text)
    assert version_or_none(text) is None or len(text) <= VERSION_LIMIT
