"""The vulnerability audit: the audit table, the OSV reader, the check, the CLI and audit-db.

Every OSV record here is written by the test (as a folder and as a zip, as OSV publishes
PyPI's), so nothing depends on the network or on a real advisory staying as it is.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import factories
import pytest
from conftest import CliRun, cli_env, write_project

from preflight._checks import vulnerabilities
from preflight._checks.result import Severity, Status
from preflight._errors import ConfigError
from preflight._facts import osv
from preflight._facts.osv import DataUnavailable, VulnerabilityData

# --- OSV fixtures --------------------------------------------------------------------------


def record(
    ident: str,
    name: str,
    *,
    events: list[dict[str, str]] | None = None,
    versions: list[str] | None = None,
    ecosystem: str = "PyPI",
    modified: str = "2026-10-01T00:00:00Z",
    **extra: Any,
) -> dict[str, Any]:
    """One OSV record affecting ``name``: ECOSYSTEM ``events`` and/or a ``versions`` list."""
    affected: dict[str, Any] = {"package": {"ecosystem": ecosystem, "name": name}}
    if events is not None:
        affected["ranges"] = [{"type": "ECOSYSTEM", "events": events}]
    if versions is not None:
        affected["versions"] = versions
    return {
        "schema_version": "1.6.0",
        "id": ident,
        "modified": modified,
        "aliases": [f"CVE-2026-{abs(hash(ident)) % 10000:04d}"],
        "summary": f"{name} does something bad",
        "affected": [affected],
        **extra,
    }


SIX = record(
    "GHSA-six0-0000-0001",
    "six",
    events=[{"introduced": "0"}, {"fixed": "1.17.0"}],
    aliases=["CVE-2026-1111"],
)


def write_folder(
    folder: Path, records: list[dict[str, Any]], raw: dict[str, bytes] | None = None
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for item in records:
        (folder / f"{item['id']}.json").write_text(json.dumps(item), encoding="utf-8")
    for name, data in (raw or {}).items():
        (folder / name).write_bytes(data)
    return folder


def write_zip(
    path: Path, records: list[dict[str, Any]], raw: dict[str, bytes] | None = None
) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in records:
            archive.writestr(f"{item['id']}.json", json.dumps(item))
        for name, data in (raw or {}).items():
            archive.writestr(name, data)
    return path


def loaded(path: Path, *names: str) -> VulnerabilityData:
    data = osv.load(path, names)
    assert isinstance(data, VulnerabilityData), data
    return data


# --- the audit table -----------------------------------------------------------------------


def test_audit_table_parses() -> None:
    audit = factories.policy(
        audit={
            "database": "osv/all.zip",
            "ignore": [
                {"id": "GHSA-1", "reason": "not reachable", "until": dt.date(2026, 12, 31)},
                {"id": "CVE-2026-2", "reason": "vendored fix", "until": "2027-01-31"},
                {"id": "PYSEC-3", "reason": "forever"},
            ],
        }
    ).audit
    assert audit.database == "osv/all.zip"
    assert audit.database_path(Path("/p")) == Path("/p/osv/all.zip")
    assert [i.until for i in audit.ignore] == [dt.date(2026, 12, 31), dt.date(2027, 1, 31), None]
    assert audit.ignore_for(("GHSA-9", "cve-2026-2")) is audit.ignore[1]  # aliases, any case
    assert factories.policy().audit.database is None


@pytest.mark.parametrize(
    ("audit", "key", "text"),
    [
        ({"ignore": [{"id": "GHSA-1"}]}, "audit.ignore[0].reason", "is required"),
        ({"ignore": [{"id": "GHSA-1", "reason": "  "}]}, "audit.ignore[0].reason", "non-empty"),
        ({"ignore": [{"reason": "x"}]}, "audit.ignore[0].id", "is required"),
        ({"ignore": [{"id": "A", "reason": "x", "why": 1}]}, "audit.ignore[0].why", "unknown key"),
        (
            {"ignore": [{"id": "A", "reason": "x", "until": "31.12.2026"}]},
            "audit.ignore[0].until",
            "must be a date",
        ),
        (
            {"ignore": [{"id": "A", "reason": "x", "until": dt.datetime(2026, 1, 1, 12, 0)}]},
            "audit.ignore[0].until",
            "must be a date",
        ),
        (
            {"ignore": [{"id": "A", "reason": "x"}, {"id": "a", "reason": "y"}]},
            "audit.ignore[1].id",
            "twice",
        ),
        ({"ignore": {"id": "A"}}, "audit.ignore", "must be a list"),
        ({"ignore": ["GHSA-1"]}, "audit.ignore[0]", "must be a table"),
        ({"database": 3}, "audit.database", "non-empty string"),
        ({"databse": "x"}, "audit.databse", "unknown key"),
    ],
)
def test_audit_table_errors_name_the_key(audit: dict[str, Any], key: str, text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        factories.policy(audit=audit)
    assert caught.value.key == key
    assert text in caught.value.message


# --- reading the export --------------------------------------------------------------------


@pytest.mark.parametrize("form", ["folder", "zip"])
def test_reads_folder_and_zip_alike(tmp_path: Path, form: str) -> None:
    records = [
        SIX,
        record(
            "GHSA-othr-0000-0001",
            "other",
            events=[{"introduced": "0"}],
            modified="2026-11-02T10:00:00.123456789Z",
        ),
        record("RUSTSEC-1", "six", events=[{"introduced": "0"}], ecosystem="crates.io"),
        record(
            "GHSA-gone-0000-0001",
            "six",
            events=[{"introduced": "0"}],
            withdrawn="2026-01-01T00:00:00Z",
            modified="2026-11-20T00:00:00Z",
        ),
    ]
    raw = {"BAD-1.json": b"{not json", "BAD-2.json": json.dumps({"id": 3}).encode(), "README": b"x"}
    path = (
        write_folder(tmp_path / "osv", records, raw)
        if form == "folder"
        else write_zip(tmp_path / "all.zip", records, raw)
    )
    data = loaded(path, "six")
    assert data.form == form
    assert data.records == 6  # README is no record
    assert (data.pypi_records, data.withdrawn, data.malformed) == (2, 1, 2)
    assert any("BAD-1.json: not JSON" in e for e in data.malformed_examples)
    assert any("BAD-2.json: 'id' must be a string" in e for e in data.malformed_examples)
    # The newest modified of every record read (the withdrawn one included) is the data's date.
    assert data.newest_modified == dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    assert [a.id for a in data.for_package("Six", "1.16.0")] == ["GHSA-six0-0000-0001"]
    assert data.for_package("six", "1.17.0") == ()
    assert data.for_package("other", "1.0") == ()  # not asked for: not kept


def test_matching_follows_the_osv_evaluation(tmp_path: Path) -> None:
    records = [
        record(
            "R-range",
            "pkg",
            events=[
                {"introduced": "1.0"},
                {"fixed": "1.2.5"},
                {"introduced": "2.0"},
                {"fixed": "2.3.1"},
            ],
        ),
        record("R-last", "pkg", events=[{"introduced": "0"}, {"last_affected": "0.5"}]),
        record("R-list", "pkg", versions=["3.0.0", "not-pep-440"]),
        record("R-limit", "pkg", events=[{"introduced": "4.0"}, {"limit": "4.5"}]),
    ]
    data = loaded(write_folder(tmp_path / "osv", records), "pkg")

    def ids(version: str) -> list[str]:
        return [a.id for a in data.for_package("PKG", version)]

    assert ids("0.9") == []
    assert ids("1.0") == ["R-range"]
    assert ids("1.2.4") == ["R-range"]
    assert ids("1.2.5") == []
    assert ids("2.3.0") == ["R-range"]
    assert ids("0.5") == ["R-last"]  # last_affected is inclusive
    assert ids("0.5.1") == []
    assert ids("3.0") == ["R-list"]  # PEP 440: 3.0 is 3.0.0
    assert ids("not-pep-440") == ["R-list"]
    assert ids("4.4") == ["R-limit"]
    assert ids("4.5") == []
    (advisory,) = data.for_package("pkg", "1.1")
    assert [str(v) for v in advisory.fixed_after("pkg", "1.1")] == ["1.2.5", "2.3.1"]
    assert [str(v) for v in advisory.fixed_after("pkg", "2.1")] == ["2.3.1"]


def test_a_zip_bomb_stops_at_the_record_limit(tmp_path: Path) -> None:
    bomb = b"{" + b" " * (osv.RECORD_LIMIT + 10) + b"}"  # inflates past the limit, tiny compressed
    path = write_zip(tmp_path / "all.zip", [SIX], {"BOMB.json": bomb})
    assert path.stat().st_size < 100_000
    data = loaded(path, "six")
    assert data.malformed == 1
    assert "BOMB.json: is larger than 8 MiB decompressed" in data.malformed_examples[0]
    assert data.for_package("six", "1.16.0")


def test_a_zip_directory_over_the_limit_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(osv, "MAX_RECORDS", 3)
    path = write_zip(
        tmp_path / "all.zip", [record(f"R-{i}", "six", versions=["1"]) for i in range(5)]
    )
    data = osv.load(path, ["six"])
    assert isinstance(data, DataUnavailable)
    assert "zip directory of 5 entries" in data.reason


@pytest.mark.parametrize(
    ("make", "text"),
    [
        (lambda p: p / "missing.zip", "does not exist"),
        (
            lambda p: (p / "x.zip").write_bytes(b"not a zip") and p / "x.zip",
            "neither a folder of OSV records nor a zip",
        ),
        (lambda p: (p / "empty").mkdir() or p / "empty", "holds no OSV record"),
        (
            lambda p: write_folder(
                p / "npm", [record("N-1", "left-pad", versions=["1"], ecosystem="npm")]
            ),
            "holds no current PyPI advisory",
        ),
        (
            lambda p: write_folder(p / "bad", [], {"a.json": b"[]", "b.json": b"nul"}),
            "none of its 2 records could be read",
        ),
    ],
)
def test_unusable_data_says_why(tmp_path: Path, make: Callable[[Path], Path], text: str) -> None:
    data = osv.load(make(tmp_path), ["six"])
    assert isinstance(data, DataUnavailable)
    assert text in data.reason


def test_a_fifo_where_the_data_should_be_never_blocks(tmp_path: Path) -> None:
    fifo = tmp_path / "all.zip"
    os.mkfifo(fifo)
    data = osv.load(fifo, ["six"])
    assert isinstance(data, DataUnavailable)
    assert "FIFO" in data.reason


# --- the check -----------------------------------------------------------------------------


def ctx_with(tmp_path: Path, records: list[dict[str, Any]], **policy: Any) -> Any:
    dists = (factories.dist("six", "1.16.0"), factories.dist("numpy", "2.2.6"))
    data = osv.load(write_folder(tmp_path / "osv", records), ["six", "numpy", "pandas"])
    return factories.context(
        policy=factories.policy(**policy),
        interpreter=factories.interpreter(dists=dists),
        lock=factories.lock(factories.entry("six", "1.16.0"), factories.entry("pandas", "2.3.3")),
        vulnerabilities=data,
    )


def test_a_vulnerable_pin_fails_with_the_advisory_and_the_fix(tmp_path: Path) -> None:
    result = vulnerabilities.vulnerabilities(ctx_with(tmp_path, [SIX]))
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.severity is Severity.CRITICAL
    assert "six 1.16.0 (installed and locked) is affected by GHSA-six0-0000-0001" in finding.message
    assert "CVE-2026-1111" in finding.message
    assert finding.remedy is not None
    assert finding.remedy.startswith("upgrade six to 1.17.0")
    assert result.details["vulnerable"][0]["fixed"] == ["1.17.0"]
    assert result.details["data_modified"] == "2026-10-01T00:00:00+00:00"


def test_a_locked_pin_that_is_not_installed_is_audited_too(tmp_path: Path) -> None:
    pandas = record("PYSEC-pd", "pandas", versions=["2.3.3"])
    result = vulnerabilities.vulnerabilities(ctx_with(tmp_path, [SIX, pandas]))
    assert "pandas 2.3.3 (locked) is affected by PYSEC-pd" in "\n".join(
        f.message for f in result.findings
    )
    (pandas_finding,) = [f for f in result.findings if f.message.startswith("pandas")]
    assert "no fixed version is known" in (pandas_finding.remedy or "")


def test_an_ignored_advisory_passes_with_its_reason(tmp_path: Path) -> None:
    ignore = [{"id": "CVE-2026-1111", "reason": "we never call six.moves", "until": "2026-12-31"}]
    result = vulnerabilities.vulnerabilities(ctx_with(tmp_path, [SIX], audit={"ignore": ignore}))
    assert result.status is Status.PASS, result
    assert (
        "ignored: GHSA-six0-0000-0001 (six 1.16.0: we never call six.moves, until 2026-12-31)"
        in result.message
    )
    assert "data of 2026-10-01" in result.message
    assert result.details["ignored"][0]["reason"] == "we never call six.moves"


def test_an_expired_ignore_counts_again(tmp_path: Path) -> None:
    ignore = [{"id": "GHSA-six0-0000-0001", "reason": "until the upgrade", "until": "2026-11-24"}]
    ctx = ctx_with(tmp_path, [SIX], audit={"ignore": ignore})  # factories.NOW is 2026-11-25
    result = vulnerabilities.vulnerabilities(ctx)
    assert result.status is Status.FAIL
    assert "its ignore expired after 2026-11-24" in result.findings[0].message
    on_the_day = replace(ctx, now=dt.datetime(2026, 11, 24, 23, 0, tzinfo=dt.UTC))
    assert vulnerabilities.vulnerabilities(on_the_day).status is Status.PASS


def test_not_configured_is_a_skip_that_says_how(tmp_path: Path) -> None:
    result = vulnerabilities.vulnerabilities(factories.context())
    assert result.status is Status.SKIP
    assert "--vulnerability-db" in result.message
    assert "[tool.preflight.audit]" in result.message
    assert "audit-db update" in result.message


def test_unusable_data_is_not_audited_never_a_pass(tmp_path: Path) -> None:
    ctx = factories.context(vulnerabilities=osv.load(tmp_path / "nowhere.zip", ["six"]))
    result = vulnerabilities.vulnerabilities(ctx)
    assert result.status is Status.WARN
    assert result.findings[0].message.startswith("not audited: ")
    assert "does not exist" in result.findings[0].message


# --- end to end ----------------------------------------------------------------------------


AUDIT_OK = '[tool.preflight.audit]\ndatabase = "osv.zip"\n'


def test_cli_refuses_a_vulnerable_env_and_passes_an_ignored_one(
    tmp_path: Path, venv312: Path, wheels: Any, run_check: Callable[..., CliRun]
) -> None:
    alpha = record("GHSA-alph-0000-0001", "alpha", events=[{"introduced": "0"}, {"fixed": "1.1"}])
    db = write_zip(tmp_path / "osv.zip", [alpha, SIX])
    project = write_project(tmp_path / "p", wheels, extra=AUDIT_OK)
    (project / "osv.zip").write_bytes(db.read_bytes())
    run = run_check("--python", venv312, "--project", project, "--skip", "performance")
    assert run.returncode == 1, run.stderr
    assert "vulnerabilities" in run.statuses("fail")
    assert "alpha 1.0 (installed and locked) is affected by GHSA-alph-0000-0001" in run.findings(
        "vulnerabilities"
    )
    assert "upgrade alpha to 1.1" in run.stderr

    ignored = write_project(
        tmp_path / "q",
        wheels,
        extra=AUDIT_OK + 'ignore = [{id = "GHSA-alph-0000-0001", reason = "test fixture"}]\n',
    )
    (ignored / "osv.zip").write_bytes(db.read_bytes())
    run = run_check("--python", venv312, "--project", ignored, "--skip", "performance")
    assert run.returncode == 0, run.stderr
    assert (
        "GHSA-alph-0000-0001 (alpha 1.0: test fixture)" in run.check("vulnerabilities")["message"]
    )

    # --vulnerability-db overrides the policy; a folder works as the zip does.
    folder = write_folder(tmp_path / "folder", [alpha])
    run = run_check(
        "--python",
        venv312,
        "--project",
        project,
        "--skip",
        "performance",
        "--vulnerability-db",
        folder,
    )
    assert run.returncode == 1
    assert run.check("vulnerabilities")["details"]["form"] == "folder"


def test_cli_without_data_skips_and_with_missing_data_warns(
    tmp_path: Path, venv312: Path, wheels: Any, run_check: Callable[..., CliRun]
) -> None:
    plain = write_project(tmp_path / "p", wheels)
    run = run_check("--python", venv312, "--project", plain, "--skip", "performance")
    assert run.returncode == 0, run.stderr
    assert "vulnerabilities" in run.statuses("skip")
    missing = write_project(tmp_path / "q", wheels, extra=AUDIT_OK)
    run = run_check("--python", venv312, "--project", missing, "--skip", "performance")
    assert run.returncode == 2, run.stderr
    assert "not audited: " in run.findings("vulnerabilities")


# --- audit-db update -----------------------------------------------------------------------


def audit_db(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "preflight", "audit-db", "update", *map(str, args)],
        capture_output=True, text=True, env=cli_env(), cwd=cwd, timeout=120, check=False,
    )  # fmt: skip


def free_port() -> int:
    """A loopback port nothing listens on (bound, then closed: a connect is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_audit_db_says_clearly_when_the_network_does_not_reach(tmp_path: Path) -> None:
    output = tmp_path / "osv" / "all.zip"
    output.parent.mkdir()
    output.write_bytes(b"the old copy")
    url = f"http://127.0.0.1:{free_port()}/PyPI/all.zip"
    done = audit_db("--output", output, "--url", url, "--timeout", "20", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"error: cannot download {url}:" in done.stderr
    assert "The network here does not reach it" in done.stderr
    assert "--vulnerability-db" in done.stderr
    assert output.read_bytes() == b"the old copy"
    assert sorted(p.name for p in output.parent.iterdir()) == ["all.zip"]  # no temp file left


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("notaurl", "is not an http, https or file URL"),
        ("ftp://example.com/all.zip", "is not an http, https or file URL"),
        ("http://[::1/all.zip", "is not a URL"),
        ("http://example.com:port/all.zip", "is not a URL"),
    ],
)
def test_audit_db_refuses_a_bad_url_as_a_usage_error(tmp_path: Path, url: str, said: str) -> None:
    done = audit_db("--output", tmp_path / "all.zip", "--url", url, cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: --url {url!r} {said}"), done.stderr
    assert not (tmp_path / "all.zip").exists()


@pytest.mark.parametrize("where", ["/proc/db.zip", "file/db.zip"])
def test_audit_db_refuses_an_output_it_cannot_write(tmp_path: Path, where: str) -> None:
    (tmp_path / "file").write_text("a file, not a folder")
    output = Path(where) if where.startswith("/") else tmp_path / where
    url = f"http://127.0.0.1:{free_port()}/PyPI/all.zip"
    done = audit_db("--output", output, "--url", url, cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert f"error: --output {output}: cannot write there" in done.stderr


def test_audit_db_keeps_its_deadline_against_a_trickling_server(tmp_path: Path) -> None:
    """Each read of the socket gets a byte within its timeout: only a deadline for the whole
    download ends it."""
    import loopback  # the hostile servers of the alert tests

    with loopback.tcp_server(loopback.trickling_http) as server:
        url = f"http://127.0.0.1:{server.port}/PyPI/all.zip"
        started = time.monotonic()
        done = audit_db(
            "--output", tmp_path / "all.zip", "--url", url, "--timeout", "2", cwd=tmp_path
        )
        elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert elapsed < 15, elapsed


@pytest.fixture
def osv_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    """A real HTTP server on loopback serving the bytes of ``files[path]``."""
    files: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", files
    finally:
        server.shutdown()
        server.server_close()


def test_audit_db_downloads_checks_and_replaces(
    tmp_path: Path, osv_server: tuple[str, dict[str, bytes]]
) -> None:
    base, files = osv_server
    files["/PyPI/all.zip"] = write_zip(tmp_path / "served.zip", [SIX]).read_bytes()
    files["/npm/all.zip"] = write_zip(
        tmp_path / "npm.zip", [record("N-1", "x", versions=["1"], ecosystem="npm")]
    ).read_bytes()
    output = tmp_path / "db" / "all.zip"
    done = audit_db("--output", output, "--url", f"{base}/PyPI/all.zip", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert output.read_bytes() == files["/PyPI/all.zip"]
    assert "1 PyPI advisory, data of 2026-10-01" in done.stderr
    # Not OSV's PyPI data, or not found: refused, and the good copy stays.
    for path, text in (("/npm/all.zip", "did not give OSV's PyPI data"), ("/gone.zip", "HTTP 404")):
        done = audit_db("--output", output, "--url", base + path, cwd=tmp_path)
        assert done.returncode == 1
        assert text in done.stderr
        assert output.read_bytes() == files["/PyPI/all.zip"]
    assert sorted(p.name for p in output.parent.iterdir()) == ["all.zip"]


def test_audit_db_output_defaults_to_the_policy(tmp_path: Path, wheels: Any) -> None:
    project = write_project(tmp_path / "p", wheels)
    done = audit_db("--project", project, cwd=tmp_path)
    assert done.returncode == 3
    assert "pass --output PATH" in done.stderr


# --- audit-db update: one deadline for the whole command; file:// names a regular file -------


def _null_device(path: Path) -> Path:
    """A character device with the null device's numbers, made here (never the real one)."""
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return path


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_audit_db_refuses_a_file_url_to_anything_but_a_regular_file(
    tmp_path: Path, kind: str
) -> None:
    """On main, a FIFO with no writer blocked the open for ever (killed here at 120 s)."""
    source = tmp_path / "all.zip"
    if kind == "fifo":
        os.mkfifo(source)
    elif kind == "device":
        _null_device(source)
    else:
        source.mkdir()
    output = tmp_path / "db" / "all.zip"
    output.parent.mkdir()
    output.write_bytes(b"the old copy")
    done = audit_db("--output", output, "--url", source.as_uri(), "--timeout", "30", cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    said = {"fifo": "a FIFO", "device": "a character device", "folder": "a directory"}[kind]
    assert done.stderr.startswith(f"error: --url {source.as_uri()!r}: {source} is {said}, not a "
                                  "regular file"), done.stderr  # fmt: skip
    assert output.read_bytes() == b"the old copy"
    assert sorted(p.name for p in output.parent.iterdir()) == ["all.zip"]
    assert stat.S_ISFIFO(source.stat().st_mode) == (kind == "fifo")  # left as it was


def test_audit_db_copy_opens_a_file_url_non_blocking(tmp_path: Path) -> None:
    """A FIFO swapped in after the URL was looked at is refused by the open itself (open
    non-blocking, then fstat), not waited on: the copy runs on a thread that must end."""
    from preflight._errors import UsageError
    from preflight._ops import auditdb

    fifo = tmp_path / "all.zip"
    os.mkfifo(fifo)
    outcome: list[BaseException | int] = []

    def copy() -> None:
        with open(tmp_path / "copy", "wb") as handle:
            try:
                outcome.append(
                    auditdb._copy_file(fifo.as_uri(), str(fifo), handle, time.monotonic() + 60)
                )
            except BaseException as exc:
                outcome.append(exc)

    worker = threading.Thread(target=copy, daemon=True)
    worker.start()
    worker.join(60)  # a guard so that a regression fails instead of hanging the run
    if worker.is_alive():  # free the blocked open, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("the open of a FIFO blocked")
    assert len(outcome) == 1
    assert isinstance(outcome[0], UsageError)
    assert f"{fifo} is a FIFO, not a regular file" in str(outcome[0])


def test_audit_db_deadline_covers_reading_the_download_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On main the deadline ended with the download: a slow read-back (an export that takes
    long to read) held the command past --timeout. The reader here is the real one, held
    back at its first record until the test ends: only the deadline can end the command."""
    from preflight._ops import auditdb

    release = threading.Event()
    started = threading.Event()
    real_load = auditdb.load

    def held_load(path: str, *args: Any, stop: threading.Event | None = None) -> Any:
        started.set()
        # Held until the test ends; 60 s at most, so that a command that waits for it (main)
        # fails this test instead of hanging it.
        release.wait(60)
        return real_load(path, stop=stop)

    monkeypatch.setattr(auditdb, "load", held_load)
    source = write_zip(tmp_path / "served.zip", [SIX])
    output = tmp_path / "db" / "all.zip"
    output.parent.mkdir()
    output.write_bytes(b"the old copy")
    try:
        with pytest.raises(auditdb.FetchError) as info:
            auditdb.update(output, url=source.as_uri(), timeout=1.0)
    finally:
        release.set()
    assert started.is_set()  # the download finished, and the read-back began
    assert "reading it back did not finish within the 1 s of --timeout" in info.value.message
    assert output.read_bytes() == b"the old copy"
    assert sorted(p.name for p in output.parent.iterdir()) == ["all.zip"]


def test_audit_db_file_url_to_a_real_export_is_copied(tmp_path: Path) -> None:
    source = write_zip(tmp_path / "served.zip", [SIX])
    output = tmp_path / "db" / "all.zip"
    done = audit_db("--output", output, "--url", source.as_uri(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert output.read_bytes() == source.read_bytes()
    assert "1 PyPI advisory, data of" in done.stderr


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_audit_db_refuses_to_replace_a_fifo_or_a_device_at_its_output(
    tmp_path: Path, kind: str
) -> None:
    """On main, the FIFO or the device node at --output was replaced by the zip."""
    output = tmp_path / "all.zip"
    if kind == "fifo":
        os.mkfifo(output)
    else:
        _null_device(output)
    source = write_zip(tmp_path / "served.zip", [SIX])
    done = audit_db("--output", output, "--url", source.as_uri(), cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    said = {"fifo": "a FIFO", "device": "a character device"}[kind]
    assert done.stderr.startswith(f"error: --output {output}: is {said}, not a file"), done.stderr
    mode = os.lstat(output).st_mode
    assert stat.S_ISFIFO(mode) if kind == "fifo" else stat.S_ISCHR(mode)


# --- the traps of a record, read by the strict reader (preflight._strict) -------------------


def _fed(value: dict[str, Any], *names: str) -> osv._Reader:
    reader = osv._Reader("test", {"six", *names})
    reader.feed("R.json", json.dumps(value).encode())
    return reader


def _six(**change: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(SIX))
    data.update(change)
    return data


def _entry(**change: Any) -> dict[str, Any]:
    return _six(affected=[{**SIX["affected"][0], **change}])


@pytest.mark.parametrize(
    ("value", "said"),
    [
        # Taken on main as a withdrawn record (ignored unseen): a withdrawn time of garbage.
        (_six(withdrawn="x" * 100), "'withdrawn' is 100 characters long, more than 64"),
        # Refused on main too (not an RFC 3339 time), the key named as before.
        (_six(modified="2026-" + "1" * 100_000), "'modified' is 100005 characters long"),
        # Refused on main too; now the nested key is named: a wrong nested type, a bool.
        (_entry(package={"ecosystem": "PyPI", "name": 3}),
         "'affected[0].package.name' must be a string, not 3"),
        (_entry(versions=["1.0", True]), "'affected[0].versions' must be a list of strings"),
        (_entry(ranges=[{"type": "ECOSYSTEM", "events": [{"fixed": 1.17}]}]),
         "'affected[0].ranges[0].events[0].fixed' must be a string, not 1.17"),
        (_entry(ranges=[{"type": "ECOSYSTEM", "events": [{"patched": "1"}]}]),
         "'affected[0].ranges[0].events[0].patched' is not an OSV event"),
        (_entry(ranges=[{"type": "ECOSYSTEM", "events": []}]),
         "'affected[0].ranges[0].events' must be a non-empty list"),
        (_six(affected=["six"]), "'affected[0]' must be a table, not 'six'"),
        (_six(id=True), "'id' must be a string, not True"),
    ],
)  # fmt: skip
def test_a_record_is_read_strictly_and_counted_malformed_naming_the_key(
    value: dict[str, Any], said: str
) -> None:
    reader = _fed(value)
    assert (reader.records, reader.malformed, reader.kept) == (1, 1, {})
    assert reader.examples[0].startswith(f"R.json: {said}"), reader.examples
    assert len(reader.examples[0]) < 300


def test_fields_osv_adds_later_are_tolerated_and_a_good_record_reads_as_before() -> None:
    value = _entry(database_specific={"cwe_ids": ["CWE-1"], "n": 10**30}, severity=[{}])
    value["credits"] = [{"name": "someone", "contact": ["x"]}]
    reader = _fed(value)
    assert (reader.malformed, reader.pypi) == (0, 1)
    advisory = reader.kept["GHSA-six0-0000-0001"]
    assert advisory.affecting("six", "1.16.0")
    assert not advisory.affecting("six", "1.17.0")
    assert advisory.aliases == ("CVE-2026-1111",)


def test_a_folder_with_a_bad_record_names_it_and_the_key(tmp_path: Path) -> None:
    bad = _entry(ranges=[{"type": "ECOSYSTEM", "events": [{"fixed": ["1.17.0"]}]}])
    path = write_folder(tmp_path / "osv", [SIX], {"BAD.json": json.dumps(bad).encode()})
    data = loaded(path, "six")
    assert data.malformed == 1
    assert data.malformed_examples == (
        "BAD.json: 'affected[0].ranges[0].events[0].fixed' must be a string, not ['1.17.0']",
    )


def test_long_texts_of_a_record_are_never_what_loses_its_advisory() -> None:
    """A record refused is an advisory lost: an id, an alias, a name, a listed version or a
    bound of any length is read as before (a bound that is no version errs towards
    "affected", a long id is capped where it is shown)."""
    value = _six(id="GHSA-" + "x" * 300, aliases=["CVE-" + "1" * 300])
    value["affected"][0]["versions"] = ["1." + "0" * 300]
    value["affected"][0]["ranges"][0]["events"] = [{"introduced": "0"}, {"fixed": "9" * 5000}]
    reader = _fed(value)
    assert reader.malformed == 0, reader.examples
    (advisory,) = reader.kept.values()
    assert advisory.id == "GHSA-" + "x" * 300
    assert advisory.affecting("six", "99.0")  # the unreadable fixed bound left the range open
    assert advisory.affecting("six", "1." + "0" * 300)  # listed, compared as text
