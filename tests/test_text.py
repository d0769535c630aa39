"""Untrusted text in text outputs: ``shown()``, ``capped()``, and every renderer that uses them.

A name from the judged environment may hold a newline, a CR, an ANSI escape, a bidi override:
each text output shows it escaped, on the line it belongs to, and shortened; the JSON report
keeps it exact (and bounded).
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import factories
import pytest

from preflight._alerts.model import AlertState, decide
from preflight._checks.result import CheckResult, Finding, Severity, Status
from preflight._errors import LockError, PreflightError, format_error
from preflight._ops import matrix
from preflight._ops.gate import blocking_checks
from preflight._ops.monitor import DAILY_LOG, Monitor, failed_run
from preflight._policy.alerts import AlertConfig
from preflight._render.report import github_annotations, log_text, summary_lines
from preflight._report.interpreter import Interpreter
from preflight._report.model import Report
from preflight._text import FIELD_LIMIT, JSON_FIELD_LIMIT, capped, shown

# What must never reach a line-oriented output raw: C0, DEL, C1, the line and paragraph
# separators, the bidi controls, the BOM and lone surrogates.
RAW = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff"
    "\ud800-\udfff]"
)
FORGED = "x\n::error title=pwned::injected annotation\nNOT_READY (FAILED)\r\x1b[2K\x1b[31mred"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


# --- shown() ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("numpy 2.2.6", "numpy 2.2.6"),
        ("a\nb", "a\\nb"),
        ("a\rb", "a\\rb"),
        ("a\tb", "a\\tb"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("nul\x00", "nul\\x00"),
        ("del\x7f", "del\\x7f"),
        ("nel\x85 csi\x9b", "nel\\x85 csi\\x9b"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("\u202eevil\u202c", "\\u202eevil\\u202c"),
        ("\u2066iso\u2069 \u200e\u200f\u061c", "\\u2066iso\\u2069 \\u200e\\u200f\\u061c"),
        ("\ufeffbom", "\\ufeffbom"),
        ("bad\udcffbyte", "bad\\udcffbyte"),
        ("back\\slash", "back\\\\slash"),
        ("é 中文 emoji 🐍 ✓", "é 中文 emoji 🐍 ✓"),  # printable text is left alone
    ],
)
def test_shown_escapes_each_class(text: str, expected: str) -> None:
    assert shown(text) == expected


def test_an_escaped_form_cannot_be_forged() -> None:
    """A name that spells ``\\n`` with a real backslash does not look like a real newline."""
    assert shown("a\\nb") != shown("a\nb")
    assert shown("a\\nb") == "a\\\\nb"


def test_shown_shortens_with_a_count() -> None:
    assert shown("x" * FIELD_LIMIT) == "x" * FIELD_LIMIT
    assert shown("x" * (FIELD_LIMIT + 1)) == "x" * FIELD_LIMIT + "… (+1 characters)"
    assert shown("abcdef", limit=3) == "abc… (+3 characters)"
    assert shown("a\nbcdef", limit=3) == "a\\nb… (+4 characters)"
    assert shown("x" * 10_000, limit=None) == "x" * 10_000


def test_shown_is_fast_on_huge_text() -> None:
    """50 MB of name is cut before it is escaped: the output is small whatever the input."""
    huge = "\n" * 50_000_000
    out = shown(huge)
    assert out == "\\n" * FIELD_LIMIT + f"… (+{50_000_000 - FIELD_LIMIT} characters)"


def test_shown_keep_newlines_keeps_only_the_newline() -> None:
    assert shown("a\nb\rc\x1bd\u2028", keep_newlines=True) == "a\nb\\rc\\x1bd\\u2028"


def test_no_raw_breaker_survives_any_code_point_below_0x3000() -> None:
    """Property-style: every code point, alone and between text, comes out without a raw
    control, separator or bidi control, and the output is one line."""
    for code in range(0x3000):
        char = chr(code)
        for text in (char, f"a{char}b", char * 3):
            out = shown(text)
            assert RAW.search(out) is None, (hex(code), out)
            assert len(out.splitlines()) <= 1, (hex(code), out)
            if unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp"):
                assert char not in out
            kept = shown(text, keep_newlines=True)
            assert RAW.search(kept.replace("\n", "")) is None, (hex(code), kept)


# --- capped() ---------------------------------------------------------------------------------


def test_capped_keeps_short_text_and_cuts_long_text_with_the_count() -> None:
    assert capped("x" * JSON_FIELD_LIMIT) == "x" * JSON_FIELD_LIMIT
    long = "y" * 50_000_000
    out = capped(long)
    assert len(out) <= JSON_FIELD_LIMIT
    match = re.fullmatch(r"(y+)… \(\+(\d+) characters\)", out)
    assert match, out[-60:]
    assert len(match.group(1)) + int(match.group(2)) == len(long)
    assert capped(out) == out  # capping what was capped changes nothing
    assert capped("a\nb") == "a\nb"  # exact: the JSON report escapes, it does not show


# --- the renderers ----------------------------------------------------------------------------


def hostile_report() -> Report:
    """A report whose every text from the environment is the forged name."""
    return factories.report(
        factories.check(
            "lock_sync",
            Finding(Severity.CRITICAL, f"{FORGED} 1.0 is installed", f"pip uninstall {FORGED}"),
            Finding(Severity.WARNING, "second " + "z" * 100_000),
        ),
        python=f"/env{FORGED}/bin/python",
        project=f"/project{FORGED}",
        lock=f"/lock{FORGED}",
        substitute_for=FORGED,
    )


def assert_safe_lines(lines: list[str]) -> None:
    for line in lines:
        assert RAW.search(line) is None, line
        assert not line.lstrip().startswith("::"), line
        assert len(line) < 3000, len(line)


def test_summary_and_log_show_every_field_on_its_own_line() -> None:
    report = hostile_report()
    lines = summary_lines(report)
    assert_safe_lines(lines)
    assert any(shown(f"{FORGED} 1.0 is installed") in line for line in lines)
    assert [line for line in lines if line.startswith("NOT_READY")] == [lines[-1]]
    assert lines[-1].startswith("NOT_READY (FAILED) in")
    log = log_text(report, started=NOW)
    assert log.endswith("\n")
    log_lines = log[:-1].split("\n")
    assert_safe_lines(log_lines)
    assert all(line.startswith("2026-11-25 12:00:00 - ") for line in log_lines)
    verdicts = [line for line in log_lines if line.split(" - ", 1)[1].startswith("NOT_READY")]
    assert len(verdicts) == 1
    assert len(log) < 10_000  # 100,000 characters of name are shown shortened


def test_annotations_are_one_command_each_with_no_raw_break() -> None:
    report = hostile_report()
    lines = github_annotations(report)
    assert len(lines) == 2
    for line in lines:
        assert re.match(r"::(error|warning) title=preflight lock_sync \(Python 3\.12\.1\)::", line)
        assert RAW.search(line) is None, line
        # The forged command is data of ours: only after an escaped newline, never a command.
        assert re.search(r"(?<!%0A)::error title=pwned", line) is None, line
    assert "%0A::error title=pwned::injected annotation%0A" in lines[0]
    assert "\\x1b[31mred" in lines[0]
    assert len(lines[1]) < 1200  # 100,000 characters of name, shortened


def test_the_json_report_keeps_the_exact_text_but_bounded() -> None:
    report = hostile_report()
    data = report.to_dict()
    found = data["checks"]["lock_sync"]["findings"]
    assert found[0]["message"] == f"{FORGED} 1.0 is installed"
    assert data["project"] == f"/project{FORGED}"
    assert len(found[1]["message"]) <= JSON_FIELD_LIMIT
    assert found[1]["message"].endswith(" characters)")
    assert Report.from_dict(json.loads(json.dumps(data))).to_dict() == data  # reads back


def test_a_report_written_before_the_caps_still_reads_back() -> None:
    """An uncapped report (an older preflight's) agrees with its checks once they are capped."""
    long = "m" * 10_000
    report = factories.report(factories.check("security", Finding(Severity.CRITICAL, long)))
    data = report.to_dict()
    data["checks"]["security"]["findings"][0]["message"] = long
    data["checks"]["security"]["message"] = long
    data["violations"][0]["message"] = long
    again = Report.from_dict(data)
    # read back capped, as a report is bounded by what it holds when read
    assert again.checks[-1].findings[0].message == capped(long)
    data["violations"][0]["message"] = "something else"
    with pytest.raises(ValueError, match="violations: does not agree with the checks"):
        Report.from_dict(data)


def test_the_json_report_caps_details_and_interpreter_fields() -> None:
    check = CheckResult(
        "wheel_status",
        "Wheels",
        Status.PASS,
        "ok",
        details={"urls": {"u" * 9000: "v" * 9000}, "list": ["w" * 9000, 3], "n": 1},
    )
    report = factories.report(check, interpreter=Interpreter.of(path="/p", version="9" * 9000))
    data = report.to_dict()
    details = data["checks"]["wheel_status"]["details"]
    [(key, value)] = details["urls"].items()
    assert len(key) <= JSON_FIELD_LIMIT
    assert len(value) <= JSON_FIELD_LIMIT
    assert len(details["list"][0]) <= JSON_FIELD_LIMIT
    assert details["list"][1] == 3
    assert details["n"] == 1
    assert len(data["interpreter"]["version"]) <= JSON_FIELD_LIMIT
    assert len(json.dumps(data)) < 40_000


def test_the_matrix_table_and_markdown_cannot_be_broken_by_a_name() -> None:
    outcomes = [
        matrix.Outcome(
            "preflight-3.12",
            "3.12",
            "run",
            matrix.NOT_CHECKED,
            python=f"3.12.1|{FORGED}",
            message=f"no interpreter `x` <b>bold</b> | [link](http://e) *em* \\| {FORGED}",
        ),
        matrix.Outcome("preflight-3.13", f"3.13{FORGED}", "run", matrix.NOT_RUN),
    ]
    table = matrix.summary_table(outcomes)
    assert_safe_lines(table.split("\n"))
    assert len(table.split("\n")) == 3  # header, one row, the verdict
    markdown = matrix.summary_markdown(outcomes)
    lines = markdown.split("\n")
    assert_safe_lines(lines)
    rows = [line for line in lines if line.startswith("|")]
    assert len(rows) == 3  # header, rule, one row
    for row in rows:
        assert row.count("|") == 6, row  # five cells: no name adds or ends one
    row = rows[2]
    for raw in ("`", "<", ">", "[", "]", "*", "\\"):
        assert raw not in row, (raw, row)
    assert "&lt;b&gt;bold&lt;/b&gt;" in row
    assert "&#96;x&#96;" in row
    assert "&#92;x1b" in row  # the escape of ESC, its backslash shown as text
    assert "&#92;&#92;&#124;" in row  # a name's own backslash and pipe


def test_the_monitor_log_has_one_line_per_run(tmp_path: Path) -> None:
    stderr = io.StringIO()
    error = PreflightError(f"lock line {FORGED} " + "q" * 50_000, hint=f"hint {FORGED}")
    calls = iter([error])

    def check() -> Report:
        raise next(calls)

    monitor = Monitor(
        check=check,
        alerts=lambda: None,
        log_dir=tmp_path,
        project_dir=tmp_path / f"p{FORGED}",
        python=f"/py{FORGED}",
        interval=0.01,
        once=True,
        stderr=stderr,
        clock=lambda: NOW,
    )
    assert monitor.run() == 3
    text = (tmp_path / DAILY_LOG.format(day="20261125")).read_text(encoding="utf-8")
    [line] = text.splitlines()
    assert_safe_lines([line])
    assert line.startswith("2026-11-25 12:00:00 - health DOWN - the check could not run - lock")
    assert "\\n::error title=pwned" in line
    assert_safe_lines(stderr.getvalue().splitlines())
    assert len(stderr.getvalue().splitlines()) == 2  # the line and the hint


def test_alert_subject_and_body_show_each_field_once_and_short() -> None:
    report = hostile_report()
    decision = decide(report, AlertState(), NOW, AlertConfig(), host=f"h{FORGED}")
    alert = decision.alert
    assert alert is not None
    assert_safe_lines([alert.subject])
    body = alert.text.split("\n")
    assert_safe_lines(body)
    assert f"- lock_sync: {shown(FORGED + ' 1.0 is installed')}" in body
    assert f"Interpreter: {shown(report.interpreter.path)}" in body
    assert len(alert.text) < 5000
    assert alert.problems[0].message == f"{FORGED} 1.0 is installed"  # the typed value: exact
    down = failed_run(FORGED, python="/py", project=Path("/p"), exit_code=1).report
    recovered = decide(factories.report(), decision.state, NOW, AlertConfig()).alert
    assert recovered is not None
    assert_safe_lines(recovered.text.split("\n"))
    again = decide(down, AlertState(), NOW, AlertConfig()).alert
    assert again is not None
    assert_safe_lines(again.text.split("\n"))


def test_gate_lines_are_shown() -> None:
    lines = blocking_checks(hostile_report(), strict=False)
    assert lines
    assert_safe_lines(lines)


def test_an_error_quoting_a_name_or_a_tool_output_stays_ours() -> None:
    error = LockError(Path("/p/lock.txt"), 3, f"cannot parse {FORGED!r} " + "l" * 10_000_000)
    text = format_error(error)
    assert_safe_lines(text.split("\n"))
    assert text.startswith("error: /p/lock.txt, line 3: cannot parse ")
    assert len(text) < 5000
    # A multi-line message (a tool's output tail) keeps its lines, each marked as quoted.
    tail = PreflightError("pip-compile failed\n::error::x\n  ::warning::y\nok", hint="a\nb")
    assert format_error(tail).split("\n") == [
        "error: pip-compile failed",
        "  | ::error::x",
        "  |   ::warning::y",
        "  | ok",
        "hint: a\\nb",
    ]
