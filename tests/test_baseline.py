"""Baselines: the manifest of a passing environment, and every file changed since.

The environments are real venvs (the shared clean 3.12 venv, copied per test before anything
is changed); the manifests are written and judged by the real CLI (``preflight baseline``,
``check``, ``gate``, ``monitor --once``) or by the API. The key case is the one the
``integrity`` check cannot see: a file rewritten together with its RECORD row.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import wheelhouse
from conftest import CliRun, cli_env, run_preflight

import preflight
from preflight._facts import baseline as baselines
from preflight._facts.model import InterpreterFacts
from preflight._facts.probes import probe_interpreter
from preflight._report.model import Report

RunCheck = Callable[..., CliRun]
FAST = ("--skip", "performance")  # the import timing is not what these tests judge


def write_baseline(
    python: Path, project: Path, output: Path, *extra: str | Path
) -> subprocess.CompletedProcess[str]:
    return run_preflight(
        "baseline",
        "--python",
        python,
        "--project",
        project,
        "--output",
        output,
        "--report-dir",
        output.parent.parent / f"reports-of-{output.name}",
        *FAST,
        *extra,
        cwd=output.parent.parent,
    )


@pytest.fixture
def env(venv312_copy: Path, project: Path, tmp_path: Path) -> tuple[Path, Path]:
    """This test's venv and a baseline of it (written by the CLI), outside the venv."""
    output = tmp_path / "kept" / "baseline.json"
    done = write_baseline(venv312_copy, project, output)
    assert done.returncode == 0, done.stderr
    return venv312_copy, output


def judged(python: Path, project: Path, manifest: Path) -> Report:
    return preflight.check(python, project=project, skip=("performance",), baseline=manifest)


def changes(report: Report) -> dict[str, tuple[str, str]]:
    """``{root/path: (kind, detail)}`` of the baseline check's details."""
    (result,) = [c for c in report.checks if c.id == "baseline"]
    return {c["path"]: (c["kind"], c["detail"]) for c in result.details["changes"]}


def rewrite_with_record(site: Path, relative: str, text: str) -> None:
    """Rewrite an installed file and its RECORD row, as an attacker who read the spec would."""
    (site / relative).write_text(text, encoding="utf-8")
    (record,) = site.glob("alpha-*.dist-info/RECORD")
    rows = list(csv.reader(io.StringIO(record.read_text(encoding="utf-8"))))
    data = text.encode()
    for row in rows:
        if row and row[0] == relative:
            row[1], row[2] = wheelhouse.record_hash(data), str(len(data))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    record.write_text(out.getvalue(), encoding="utf-8")


# --- writing ------------------------------------------------------------------------------


def test_a_fresh_baseline_is_read_only_json_of_every_file(
    env: tuple[Path, Path], project: Path, run_check: RunCheck
) -> None:
    python, output = env
    assert stat.S_IMODE(output.stat().st_mode) == 0o444
    assert [p.name for p in output.parent.iterdir()] == ["baseline.json"], "temp files left"
    data = json.loads(output.read_text(encoding="ascii"))
    assert (data["schema"], data["schema_version"]) == ("preflight-baseline", 1)
    assert data["interpreter"]["prefix"] == str(python.parent.parent)
    assert set(data["roots"]) == {"purelib", "scripts"}  # platlib is the same folder here
    entries = {(e["root"], e["path"]): e for e in data["entries"]}
    init = entries["purelib", "alpha/__init__.py"]
    assert init["owner"] == "alpha"
    assert init["type"] == "file"
    assert init["mode"] == "0644"
    module = wheelhouse.site_packages(python) / "alpha" / "__init__.py"
    content = module.read_bytes()
    assert (init["size"], "sha256:" + init["sha256"]) == (
        len(content),
        wheelhouse.file_hash(module),
    )
    link = entries["scripts", "python"]
    assert link["type"] == "link"
    assert link["target"] == os.readlink(python)
    assert "sha256" not in link
    assert entries["purelib", "alpha"]["type"] == "dir"
    assert entries["scripts", "activate"]["owner"] is None  # written by venv, in no RECORD

    run = run_check("--python", python, "--project", project, "--baseline", output, *FAST)
    assert run.returncode == 0, run.stderr
    result = run.check("baseline")
    assert result["status"] == "pass"
    assert result["details"]["entries"] == len(data["entries"])
    assert result["details"]["changes"] == []


def test_a_refused_environment_writes_no_manifest(
    venv312_copy: Path, project: Path, tmp_path: Path
) -> None:
    (wheelhouse.site_packages(venv312_copy) / "alpha" / "__init__.py").write_text("x = 1\n")
    output = tmp_path / "kept" / "baseline.json"
    done = write_baseline(venv312_copy, project, output)
    assert done.returncode == 1, done.stderr
    assert "baseline: not written: the environment is NOT_READY (FAILED)" in done.stderr
    assert "integrity" in done.stderr
    assert not output.parent.exists(), "nothing made before the check passed"


def test_warnings_are_recorded_unless_strict(
    venv312_copy: Path, make_project: Callable[..., Path], tmp_path: Path
) -> None:
    # A variable the policy expects and the environment lacks: a warning, not a failure.
    warned = make_project(env_vars=["MYAPP_NEVER_SET_IN_TESTS"])
    kept = tmp_path / "kept"
    strict = write_baseline(venv312_copy, warned, kept / "strict.json", "--strict")
    assert strict.returncode == 1, strict.stderr
    assert "--strict refuses warnings" in strict.stderr
    assert not (kept / "strict.json").exists()
    lenient = write_baseline(venv312_copy, warned, kept / "lenient.json")
    assert lenient.returncode == 0, lenient.stderr
    assert (kept / "lenient.json").is_file()


@pytest.mark.parametrize("inside", ["prefix", "site", "link"])
def test_a_manifest_inside_the_environment_is_refused(
    venv312_copy: Path, project: Path, tmp_path: Path, inside: str
) -> None:
    prefix = venv312_copy.parent.parent
    if inside == "prefix":
        output = prefix / "baseline.json"
    elif inside == "site":
        output = wheelhouse.site_packages(venv312_copy) / "baseline.json"
    else:  # a symlink that leads into the environment
        (tmp_path / "sneaky").symlink_to(prefix / "lib")
        output = tmp_path / "sneaky" / "baseline.json"
    done = write_baseline(venv312_copy, project, output)
    assert done.returncode == 3, done.stderr
    assert "is inside the environment it describes" in done.stderr
    assert "hint: keep the baseline outside the environment" in done.stderr
    assert not output.exists()


def test_the_manifest_is_replaced_atomically(env: tuple[Path, Path], project: Path) -> None:
    python, output = env
    before = output.stat().st_ino
    done = write_baseline(python, project, output)  # over the read-only old one
    assert done.returncode == 0, done.stderr
    assert output.stat().st_ino != before, "replaced by rename, not rewritten in place"
    assert stat.S_IMODE(output.stat().st_mode) == 0o444
    assert [p.name for p in output.parent.iterdir()] == ["baseline.json"]


# --- what is found ------------------------------------------------------------------------


def test_a_file_rewritten_with_its_record_row_is_refused(
    env: tuple[Path, Path], project: Path, run_check: RunCheck
) -> None:
    python, output = env
    site = wheelhouse.site_packages(python)
    size = (site / "alpha" / "__init__.py").stat().st_size
    record_size = (site / "alpha-1.0.dist-info" / "RECORD").stat().st_size
    rewrite_with_record(site, "alpha/__init__.py", "evil = 1\n")
    run = run_check("--python", python, "--project", project, "--baseline", output, *FAST)
    assert run.returncode == 1, run.stderr
    assert run.check("integrity")["status"] == "pass", "RECORD was rewritten to match"
    result = run.check("baseline")
    assert result["status"] == "fail"
    assert run.findings("baseline").splitlines() == [
        "purelib/alpha-1.0.dist-info/RECORD (owned by alpha) changed since the baseline: "
        f"sha256 differs; {record_size} → {(site / 'alpha-1.0.dist-info/RECORD').stat().st_size} "
        "bytes",
        "purelib/alpha/__init__.py (owned by alpha) changed since the baseline: "
        f"sha256 differs; {size} → 9 bytes",
    ]
    assert "✗ baseline" in run.stderr


@pytest.mark.parametrize("change", ["added", "removed", "chmod", "retargeted", "replaced"])
def test_each_kind_of_change_is_found(env: tuple[Path, Path], project: Path, change: str) -> None:
    python, output = env
    site = wheelhouse.site_packages(python)
    expected: dict[str, tuple[str, str]]
    if change == "added":
        (site / "alpha" / "extra.py").write_text("import os\n")
        expected = {"purelib/alpha/extra.py": ("added", "")}
    elif change == "removed":
        (site / "alpha" / "__init__.py").unlink()
        expected = {"purelib/alpha/__init__.py": ("removed", "")}
    elif change == "chmod":
        (site / "alpha" / "__init__.py").chmod(0o666)
        expected = {"purelib/alpha/__init__.py": ("changed", "mode 0644 → 0666")}
    elif change == "retargeted":
        # a link of the venv's scripts that the judged interpreter does not go through (not
        # a python: another python of bin/ that is not home's is virtual_environment's to
        # refuse, and then nothing is compared)
        link = python.parent / "tool"
        link.symlink_to(python.name)
        output.unlink()
        assert write_baseline(python, project, output).returncode == 0
        link.unlink()
        link.symlink_to(sys.executable)
        detail = f"link target {python.name!r} → {sys.executable!r}"
        expected = {f"scripts/{link.name}": ("changed", detail)}
    else:  # a file swapped for a symlink to a copy with the same bytes
        module = site / "alpha" / "__init__.py"
        copy = python.parent.parent / "copy.py"
        copy.write_bytes(module.read_bytes())
        module.unlink()
        module.symlink_to(copy)
        expected = {"purelib/alpha/__init__.py": ("changed", "was a file, now a link")}
    report = judged(python, project, output)
    assert changes(report) == expected
    (result,) = [c for c in report.checks if c.id == "baseline"]
    assert result.status.label == "fail"
    assert result.details[expected.popitem()[1][0]] == 1


def test_bytecode_written_at_run_time_is_no_false_alarm(
    venv312_copy: Path, project: Path, tmp_path: Path
) -> None:
    python, site = venv312_copy, wheelhouse.site_packages(venv312_copy)
    for cache in [site / "alpha" / "__pycache__", site / "beta_pkg" / "__pycache__"]:
        shutil.rmtree(cache)  # as an installer run with --no-compile leaves them
    output = tmp_path / "kept" / "baseline.json"
    assert write_baseline(python, project, output).returncode == 0
    # The application's first start writes __pycache__/*.pyc beside unchanged sources.
    subprocess.run(
        [python, "-c", "import alpha, beta_pkg"],
        check=True,
        env={k: v for k, v in cli_env().items() if k != "PYTHONDONTWRITEBYTECODE"},
    )
    written = list((site / "alpha" / "__pycache__").glob("*.pyc"))
    assert written, "the import wrote bytecode"
    report = judged(python, project, output)
    (result,) = [c for c in report.checks if c.id == "baseline"]
    assert result.status.label == "pass", result.findings
    assert result.details["runtime_bytecode"] == 4  # two .pyc and their two folders
    assert "4 runtime bytecode files left to the bytecode check" in result.message

    # A .pyc whose source is not in the baseline is a file like any other.
    (site / "__pycache__").mkdir(exist_ok=True)
    (site / "__pycache__" / "ghost.cpython-312.pyc").write_bytes(written[0].read_bytes())
    # And one beside a source that changed is not bytecode Python wrote for that source.
    init = site / "alpha" / "__init__.py"
    init.write_text(init.read_text() + "# edited\n")
    found = changes(judged(python, project, output))
    assert found["purelib/__pycache__/ghost.cpython-312.pyc"] == ("added", "")
    assert found["purelib/alpha/__init__.py"][0] == "changed"
    assert {p for p in found if p.startswith("purelib/alpha/__pycache__/__init__")}


def test_an_untrusted_file_name_is_shown_escaped(
    env: tuple[Path, Path], project: Path, run_check: RunCheck
) -> None:
    python, output = env
    name = "x\n✓ baseline  pass  forged.py"
    (wheelhouse.site_packages(python) / name).write_text("")
    run = run_check("--python", python, "--project", project, "--baseline", output, *FAST)
    assert run.returncode == 1
    assert "purelib/x\\n✓ baseline  pass  forged.py added since the baseline" in run.stderr
    assert not [line for line in run.stderr.splitlines() if line.startswith("✓ baseline  pass")]
    assert run.check("baseline")["details"]["changes"][0]["path"] == f"purelib/{name}"


def test_the_findings_are_capped_with_a_count(env: tuple[Path, Path], project: Path) -> None:
    python, output = env
    for n in range(30):
        (python.parent / f"tool{n:02}").write_text("#!/bin/sh\n")
    report = judged(python, project, output)
    (result,) = [c for c in report.checks if c.id == "baseline"]
    assert len(result.findings) == 21
    assert result.findings[-1].message.startswith("10 more entries differ from the baseline")
    assert result.details["added"] == 30
    assert len(result.details["changes"]) == 30


# --- front ends ---------------------------------------------------------------------------


def test_gate_and_monitor_honour_the_baseline(
    env: tuple[Path, Path], project: Path, tmp_path: Path
) -> None:
    python, output = env
    marker = tmp_path / "deployed"
    common = ("--python", python, "--project", project, "--baseline", output, *FAST)
    deploy = ("--", sys.executable, "-c", f"open({str(marker)!r}, 'w').close()")
    gate = run_preflight("gate", *common, "--report-dir", tmp_path / "r1", *deploy, cwd=tmp_path)
    assert gate.returncode == 0, gate.stderr
    assert marker.exists()
    marker.unlink()
    monitor_args = ("--once", "--log-dir", tmp_path / "logs", "--report-dir", tmp_path / "r2")
    monitor = run_preflight("monitor", *common, *monitor_args, cwd=tmp_path)
    assert monitor.returncode == 0, monitor.stderr

    rewrite_with_record(wheelhouse.site_packages(python), "alpha/__init__.py", "evil = 1\n")
    gate = run_preflight("gate", *common, "--report-dir", tmp_path / "r3", *deploy, cwd=tmp_path)
    assert gate.returncode == 1, gate.stderr
    assert "fail baseline: purelib/alpha-1.0.dist-info/RECORD (owned by alpha) changed" in (
        gate.stderr
    )
    assert not marker.exists()
    monitor = run_preflight("monitor", *common, *monitor_args, cwd=tmp_path)
    assert monitor.returncode == 1, monitor.stderr
    (log,) = (tmp_path / "logs").glob("runtime_health_*.log")
    assert "DOWN" in log.read_text(encoding="utf-8").splitlines()[-1]


def test_skipping_the_check_reads_no_manifest(venv312: Path, project: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    report = preflight.check(
        venv312, project=project, skip=("performance", "baseline"), baseline=broken
    )
    assert "baseline" not in {c.id for c in report.checks}


# --- unusable manifests: exit 3 naming the file and the key ------------------------------


def _first_file(data: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = next(e for e in data["entries"] if e["type"] == "file")
    return entry


def _mutated(manifest: Path, target: Path, change: Callable[[dict[str, Any]], object]) -> Path:
    data = json.loads(manifest.read_text(encoding="ascii"))
    change(data)
    target.write_text(json.dumps(data), encoding="utf-8")
    return target


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(schema_version=2), "key 'schema_version': is 2; this preflight reads"),
        (lambda d: d.pop("interpreter"), "key 'interpreter': is missing or null, not an object"),
        (lambda d: _first_file(d).update(sha256="abc"), ".sha256': must be a sha256 (64 lowercase"),
        (lambda d: d["entries"][0].update(type="dir", sha256="0" * 64), ".sha256': is not a key"),
        (lambda d: d["entries"][0].update(path="../etc"), "key 'entries[0].path': is '../etc'"),
        (lambda d: d["entries"][1].update(mode=420), "key 'entries[1].mode': must be a string"),
        (lambda d: d["entries"].append(d["entries"][0]), "is listed twice"),
        (lambda d: d["interpreter"].update(prefix="/elsewhere"), "key 'interpreter.prefix'"),
        (lambda d: d["interpreter"].update(version="3.12.0"), "key 'interpreter.version'"),
        (lambda d: d["roots"].update(platlib="/x/lib"), "key 'roots.platlib'"),
    ],
)
def test_an_unusable_manifest_is_a_usage_error(
    env: tuple[Path, Path],
    project: Path,
    run_check: RunCheck,
    change: Callable[[dict[str, Any]], object],
    expected: str,
) -> None:
    python, output = env
    bad = _mutated(output, output.parent / "bad.json", change)
    run = run_check("--python", python, "--project", project, "--baseline", bad, *FAST)
    assert run.returncode == 3, run.stderr
    assert run.stderr.startswith(f"error: baseline {bad}: "), run.stderr
    assert expected in run.stderr
    assert "hint: " in run.stderr
    assert not run.report_path.exists(), "no verdict on a baseline that cannot be used"


@pytest.mark.parametrize("content", ["", "{", "[]", '{"schema": "x"}', "\udcff"])
def test_a_manifest_that_is_not_one_is_refused(
    venv312: Path, project: Path, tmp_path: Path, content: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.raises(baselines.BaselineError) as caught:
        judged(venv312, project, bad)
    assert str(caught.value).startswith(f"baseline {bad}: ")


def test_a_manifest_of_another_environment_is_refused(
    env: tuple[Path, Path], venv312: Path, project: Path
) -> None:
    _, output = env
    with pytest.raises(baselines.BaselineError) as caught:
        judged(venv312, project, output)
    assert caught.value.key == "interpreter.prefix"
    assert "the baseline is of another interpreter or environment" in str(caught.value)


def test_a_fifo_as_manifest_is_refused_without_blocking(
    venv312: Path, project: Path, tmp_path: Path, run_check: RunCheck
) -> None:
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    run = run_check("--python", venv312, "--project", project, "--baseline", fifo, timeout=60)
    assert run.returncode == 3
    assert f"error: baseline {fifo}: is a FIFO, not a regular file" in run.stderr


def test_the_manifest_round_trips(venv312: Path) -> None:
    facts = probe_interpreter(str(venv312))
    assert isinstance(facts, InterpreterFacts)
    manifest = baselines.build_manifest(facts, created="2026-01-01T00:00:00Z", tool_version="x")
    text = baselines.manifest_json(manifest)
    assert baselines.parse_manifest_text(text, Path("/m.json")) == manifest


# --- the traps of untrusted values, read by the strict reader (preflight._strict) ----------

_SHA = "ab" * 32


def _manifest_data(**entry: Any) -> dict[str, Any]:
    """A manifest of one file entry (changed by ``entry``), as JSON data: no environment."""
    manifest = baselines.Manifest(
        created="2026-01-01T00:00:00Z",
        tool_version="1",
        interpreter=baselines.ManifestInterpreter("/e/bin/python", "3.12.1", "cpython", "/e"),
        roots=(("purelib", "/e/lib/python3.12/site-packages"),),
        entries=(baselines.Entry("purelib", "six.py", "file", 0o644, 10, _SHA, None, "six"),),
    )
    data: dict[str, Any] = json.loads(baselines.manifest_json(manifest))
    data["entries"][0].update(entry)
    return data


def _refusal(data: dict[str, Any]) -> baselines.BaselineError:
    path = Path("/store/baseline.json")
    with pytest.raises(baselines.BaselineError) as caught:
        baselines.parse_manifest_text(json.dumps(data), path)
    assert str(caught.value).startswith(f"baseline {path}: key {caught.value.key!r}: ")
    return caught.value


@pytest.mark.parametrize(
    ("entry", "key", "problem"),
    [
        # Taken on main: a size of 39 digits (JSON allows 40), a path, a target or an owner of
        # any length (a manifest holds one path in 64 MiB).
        ({"size": 10**39}, "entries[0].size",
         "must be a number of bytes >= 0, not a number of about 39 digits"),
        ({"path": "a/" * 40_000 + "b"}, "entries[0].path", "is 80001 characters long"),
        ({"owner": "x" * 70_000}, "entries[0].owner", "is 70000 characters long"),
        # Refused on main too, the same key and meaning: a bool is no size, a digest must be
        # hex, an unknown key of an entry, a wrong nested type.
        ({"size": True}, "entries[0].size", "must be a number of bytes >= 0, not True"),
        ({"size": 1.5}, "entries[0].size", "must be a number of bytes >= 0, not 1.5"),
        ({"sha256": _SHA.upper()}, "entries[0].sha256", "must be a sha256 (64 lowercase hex"),
        ({"colour": "red"}, "entries[0].colour", "is not a key of an entry"),
        ({"owner": ["six"]}, "entries[0].owner", "must be a string or null, not ['six']"),
        ({"type": "door"}, "entries[0].type", "must be one of 'file', 'dir', "),
        ({"mode": "644"}, "entries[0].mode", "is '644', not four octal digits like 0644"),
    ],
)  # fmt: skip
def test_a_manifest_entry_is_read_strictly_naming_file_and_key(
    entry: dict[str, Any], key: str, problem: str
) -> None:
    error = _refusal(_manifest_data(**entry))
    assert error.key == key
    assert f"key {key!r}: {problem}" in str(error)
    assert len(str(error)) < 400  # the value is said, shortened


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (lambda d: d.update(entries={"a": 1}), "entries", "must be a list, not {'a': 1}"),
        (lambda d: d.update(interpreter=["x"]), "interpreter", "is a list, not an object"),
        (lambda d: d["interpreter"].update(version=3.12), "interpreter.version",
         "must be a string, not 3.12"),
        (lambda d: d.update(created=None), "created", "is missing or null, not a string"),
        (lambda d: d["roots"].update(purelib="lib"), "roots.purelib",
         "is 'lib', not an absolute path"),
        (lambda d: d["roots"].update(extra="/x"), "roots.extra",
         "is not one of purelib, platlib, scripts"),
        (lambda d: d.update(schema_version=True), "schema_version",
         "is True; this preflight reads schema version 1"),
    ],
)  # fmt: skip
def test_a_manifest_is_read_strictly_naming_the_key(
    change: Callable[[dict[str, Any]], object], key: str, problem: str
) -> None:
    data = _manifest_data()
    change(data)
    error = _refusal(data)
    assert (error.key, f"key {key!r}: {problem}" in str(error)) == (key, True), str(error)


def test_a_manifest_tolerates_keys_it_does_not_know_outside_its_entries() -> None:
    """As before: a later writer may add to the header and the interpreter; an entry is exact."""
    data = _manifest_data(owner=None)
    data["comment"] = "written by a later preflight"
    data["interpreter"]["abi"] = "cp312"
    manifest = baselines.parse_manifest_text(json.dumps(data), Path("/m.json"))
    assert manifest.entries[0] == baselines.Entry(
        "purelib", "six.py", "file", 0o644, 10, _SHA, None, None
    )
