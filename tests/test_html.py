"""The HTML pages: self-contained, the verdict first, every hostile text escaped; the monitor's
history read back from real daily logs; ``--html`` on check, monitor and summarize for real.

The markup is parsed with the standard library's HTML parser (what a browser builds from it
is ``test_html_browser.py``'s part).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import wheelhouse
from conftest import cli_argv, cli_env
from pages import CHECK_IDS, HOSTILE, check_html, monitor_html, report, summarize_html, visible

from preflight._checks.result import CheckResult, Finding, Severity, Status
from preflight._ops.history import monitor_page, read_history
from preflight._ops.monitor import Monitor, outcome_of
from preflight._render.html import report_page
from preflight._text import shown

PAGES = {"check": check_html, "summarize": summarize_html, "monitor": monitor_html}
# What would load something from elsewhere, or run something.
EXTERNAL = re.compile(
    r"<script|<link|<iframe|<object|<embed|<img|\bsrc=|\bhref=|url\(|@import", re.I
)


@pytest.mark.parametrize("name", PAGES)
def test_a_page_is_self_contained_and_its_csp_loads_nothing(name: str) -> None:
    page = PAGES[name]()
    assert EXTERNAL.search(page) is None, EXTERNAL.search(page)
    assert (
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
    ) in page
    assert page.count("<style>") == 1


@pytest.mark.parametrize("name", PAGES)
def test_hostile_text_is_text_never_markup_or_an_attributes_end(name: str) -> None:
    page = PAGES[name]()
    parsed = visible(page)
    assert "script" not in {tag for tag, _ in parsed.elements}
    for tag, attrs in parsed.elements:
        for attr, _ in attrs:
            assert not attr.startswith("on"), (tag, attr)  # no quote ended an attribute
    titles = [v for _, attrs in parsed.elements for a, v in attrs if a == "title"]
    if name != "monitor":  # the monitor's page holds the name in no title attribute
        assert any(shown(HOSTILE) in (v or "") for v in titles)
    assert "<script>" not in page
    assert '"pwned"' not in page
    assert "'x'" not in page
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; &#x27;x&#x27;" in page
    assert shown(HOSTILE) in parsed.text  # what a reader sees: the name, escaped as shown
    assert "\u202e" not in page
    assert "\n\u202eevil" not in parsed.text


@pytest.mark.parametrize("name", PAGES)
def test_the_verdict_comes_first_then_every_check_in_colour_and_text(name: str) -> None:
    page = PAGES[name]()
    text = visible(page).text
    verdict = "DOWN" if name == "monitor" else "NOT_READY"
    assert text.startswith(f"preflight {name} {verdict}"), text[:80]
    assert f'<div class="verdict bad" id="verdict"><span class="word">{verdict}</span>' in page
    header = re.search(r"<thead><tr>(.*?)</tr></thead>", page)
    assert header is not None
    headings = re.findall(r"<th>(.*?)</th>", header.group(1))
    assert "python_<wbr>version" in headings  # a long id may wrap at its underscores
    assert [h.replace("<wbr>", "") for h in headings] == [
        "host", "Python", "interpreter", "verdict", *CHECK_IDS,
    ]  # fmt: skip
    for level, label in (("good", "✓ pass"), ("bad", "✗ fail"), ("warn", "⚠ warn")):
        assert re.search(rf'<td class="status {level}" title="[^"]*">{label}</td>', page), label
    assert '<td class="status none" title="skipped on request">\u2013 skip</td>' in page
    assert "fix: pip install &#x27;" in page  # the remedy
    assert "line 7" in text  # the lock line the finding points at


def test_a_skipped_check_is_never_shown_as_passed() -> None:
    """No vulnerability database, no baseline: the page says the checks were skipped and
    names them, and never "every check passed clean"."""
    judged = report(hostile=False, failed=False)
    clean = replace(
        judged,
        checks=(
            *[c for c in judged.checks if c.status is not Status.WARN],
            CheckResult("vulnerabilities", "V", Status.SKIP, "no vulnerability data configured"),
        ),
    )
    page = report_page(clean)
    text = visible(page).text
    assert "passed clean" not in text
    assert "READY (PASSED) in 2.50 s; 2 checks skipped" in text
    assert (
        "2 checks skipped, not judged: performance (skipped on request); "
        "vulnerabilities (no vulnerability data configured)"
    ) in text
    assert "No findings in the checks that ran; 2 checks were skipped (not judged)." in text
    ran = replace(clean, checks=tuple(c for c in clean.checks if c.status is Status.PASS))
    assert "No findings: every check passed clean." in visible(report_page(ran)).text


def test_a_checks_long_fix_is_on_the_page_once() -> None:
    fix = "build a fresh environment from the lock (`python -m venv ENV`, then ...)"
    judged = report(hostile=False, failed=False)
    findings = tuple(Finding(Severity.CRITICAL, f"pkg{n} is missing", fix) for n in range(3))
    failing = CheckResult("package_dependencies", "P", Status.FAIL, "3 missing", findings)
    page = report_page(replace(judged, checks=(*judged.checks, failing)))
    text = visible(page).text
    assert text.count("build a fresh environment from the lock") == 1
    assert text.count("fix: as above") == 2
    assert all(f"pkg{n} is missing" in text for n in range(3))


def test_the_summary_page_has_a_row_per_interpreter_and_the_error_row_says_why() -> None:
    page = summarize_html()
    text = visible(page).text
    assert "3 interpreters on 2 hosts (1 of unknown host)" in text
    rows = re.findall(r"<tr>(.*?)</tr>", page.split("<tbody>")[1].split("</tbody>")[0])
    assert len(rows) == 3
    assert '<td class="status good">READY</td>' in rows[0]
    assert '<td class="status bad">NOT_READY</td>' in rows[1]
    assert '<td class="status bad">ERROR</td>' in rows[2]
    assert 'colspan="4"' in rows[2]
    assert "does not exist" in rows[2]


def test_the_monitor_page_charts_every_run_with_its_state_in_words() -> None:
    page = monitor_html()
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert svg.count("<circle") == 48
    assert svg.count('fill="#cf222e"><title>') == 4  # the DOWN runs, in red
    for lane in ("GOOD", "DEGRADED", "DOWN"):
        assert f">{lane}</text>" in svg
    assert "48 runs from the daily logs: 38 GOOD, 6 DEGRADED, 4 DOWN." in visible(page).text
    last_runs = page.split("The last 20 runs")[1]
    assert last_runs.count("<tr><td>2026-11-") == 20


def test_the_history_is_read_back_from_the_monitors_own_logs(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    start = datetime(2026, 11, 26, 23, 50, 0).astimezone()
    times = iter([start + timedelta(minutes=5 * i) for i in range(100)])
    reports = iter([report(failed=False), report(), report(failed=False)])
    for _ in range(3):  # three runs across midnight: two daily logs
        monitor = Monitor(
            check=lambda: next(reports),
            alerts=lambda: None,
            log_dir=logs,
            project_dir=tmp_path,
            python="/env/bin/python",
            once=True,
            clock=lambda: next(times),
            stderr=io.StringIO(),
        )
        monitor.run()
    assert sorted(p.name for p in logs.iterdir()) == [
        "runtime_health_20261126.log",
        "runtime_health_20261127.log",
    ]
    # Lines of another kind, a line cut short, an impossible date: passed over.
    with (logs / "runtime_health_20261127.log").open("a", encoding="utf-8") as log:
        log.write("2026-11-27 00:30:00 - state changed DOWN -> GOOD\n")
        log.write("2026-11-27 00:35:00 - health GO")
        log.write("\n2026-02-31 00:40:00 - health GOOD - READY (PASSED)\n")
    os.mkfifo(logs / "runtime_health_20261128.log")  # never opened: refused and named

    history = read_history(logs)
    assert [p.health for p in history.points] == ["DEGRADED", "DOWN", "DEGRADED"]
    assert history.points[1].text.startswith("NOT_READY (FAILED) - fail: lock_sync")
    assert len(history.notes) == 1
    assert "is a FIFO" in history.notes[0]
    page = monitor_page(outcome_of(report()), history)
    assert page.count("<circle") == 3
    assert "is a FIFO" in visible(page).text
    assert read_history(tmp_path / "no-logs-yet").points == ()


# --- the command line, for real -------------------------------------------------------------


def _run(*args: str | Path, cwd: Path, command: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        cli_argv(*args, command=command), capture_output=True, text=True, encoding="utf-8",
        env=cli_env(), cwd=cwd, timeout=180, check=False,
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.mark.slow
def test_check_monitor_and_summarize_write_their_pages(
    venv312: Path, venv312_copy: Path, project: Path, tmp_path: Path
) -> None:
    module = wheelhouse.site_packages(venv312_copy) / "alpha" / "__init__.py"
    module.write_text(module.read_text() + "print('patched')\n")
    good, bad = tmp_path / "good", tmp_path / "bad"
    ok = _run(
        "--python", venv312, "--project", project, "--report-dir", good,
        "--html", tmp_path / "pages" / "good.html", cwd=tmp_path, command="check",
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    tampered = _run(
        "--python", venv312_copy, "--project", project, "--report-dir", bad,
        "--html", tmp_path / "pages" / "bad.html", cwd=tmp_path, command="check",
    )  # fmt: skip
    assert tampered.returncode == 1, tampered.stderr
    page = (tmp_path / "pages" / "bad.html").read_text("utf-8")
    assert visible(page).text.startswith("preflight check NOT_READY")
    assert "alpha/__init__.py is modified" in page
    assert sorted(p.name for p in (tmp_path / "pages").iterdir()) == ["bad.html", "good.html"]

    for _ in range(2):
        once = _run(
            "--python", venv312_copy, "--project", project, "--once", "--report-dir", bad,
            "--log-dir", tmp_path / "logs", "--html", tmp_path / "monitor.html",
            cwd=tmp_path, command="monitor",
        )  # fmt: skip
        assert once.returncode == 1, once.stderr
    monitor = (tmp_path / "monitor.html").read_text("utf-8")
    assert visible(monitor).text.startswith("preflight monitor DOWN")
    assert monitor.count("<circle") == 2

    merged = _run(good, bad, "--html", tmp_path / "summary.html", cwd=tmp_path, command="summarize")
    assert merged.returncode == 1, merged.stderr
    summary = visible((tmp_path / "summary.html").read_text("utf-8")).text
    assert summary.startswith("preflight summarize NOT_READY 2 interpreters on 1 host")
    assert os.uname().nodename in summary
