"""The pages in a real browser: headless Chromium (Debian's ``chromium``) loads each page,
dumps the DOM it built and takes a screenshot.

What is checked: the verdict and every check id are visible text of the rendered DOM (not in
a style, the head or a tooltip); the hostile name is text, and the browser built no
``<script>`` from it; the screenshot is the window's size and holds the verdict's colour
(the banner) and the matrix's (a failed cell), so the page did render with its inline CSS.

Where Chromium is absent the test skips and says why; under CI (``CI`` set, as ``.ci/run``
installs Chromium where it can) a missing browser is a failure, not a silent skip.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from pages import CHECK_IDS, HOSTILE, history, visible, write_pages

from preflight._checks import ALL
from preflight._checks.result import CheckResult, Status
from preflight._ops.history import monitor_page
from preflight._ops.matrix import ERROR, Outcome
from preflight._ops.monitor import outcome_of
from preflight._ops.summarize import Entry, page_of
from preflight._render.html import html_page, report_page
from preflight._report.interpreter import Interpreter
from preflight._report.model import Report
from preflight._text import shown

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WINDOW = (1280, 1000)
RED = (0xCF, 0x22, 0x2E)  # the NOT_READY / DOWN banner
FAILED_CELL = (0xFF, 0xEB, 0xE9)


def chromium() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    reason = (
        "headless Chromium is not installed (Debian: apt-get install chromium; "
        ".ci/run installs it when run as root)"
    )
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"CI is set but {reason}")
    pytest.skip(reason)


def browse(browser: str, page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-extensions", "--hide-scrollbars", f"--user-data-dir={profile}",
         *args, page.as_uri()],
        capture_output=True, text=True, encoding="utf-8", errors="replace",
        timeout=120, check=False, env={**os.environ, "HOME": str(profile)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def png_pixels(path: Path) -> tuple[int, int, set[tuple[int, int, int]]]:
    """Width, height and the set of colours of an 8-bit RGB or RGBA PNG (what Chromium
    writes), decoded with zlib and the five scanline filters of the PNG spec."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0), (depth, interlace)
    assert colour in (2, 6), colour  # RGB or RGBA
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    previous = bytearray(stride)
    colours: set[tuple[int, int, int]] = set()
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = previous[i]
            c = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        colours.update(
            (line[i], line[i + 1], line[i + 2]) for i in range(0, stride, bpp * 8)
        )  # every 8th pixel: enough to find a banner or a cell
        previous = line
    return width, height, colours


@pytest.fixture(scope="module")
def browser() -> str:
    return chromium()


@pytest.mark.parametrize("name", ["check", "summarize", "monitor"])
def test_the_browser_shows_the_verdict_and_every_check(
    browser: str, name: str, tmp_path: Path
) -> None:
    page = write_pages(tmp_path / "pages")[name]
    dom = browse(browser, page, tmp_path / "profile", "--dump-dom").stdout
    parsed = visible(dom)
    text = parsed.text
    verdict = "DOWN" if name == "monitor" else "NOT_READY"
    assert text.startswith(f"preflight {name} {verdict}"), text[:200]
    for check_id in CHECK_IDS:
        assert check_id in text, check_id
    for status in ("✗ fail", "✓ pass", "⚠ warn"):
        assert status in text, status
    assert shown(HOSTILE) in text  # the hostile name, as text
    assert "script" not in {tag for tag, _ in parsed.elements}  # the browser built none
    if name == "monitor":
        for lane in ("GOOD", "DEGRADED"):  # the chart's lanes, in words
            assert lane in text, lane

    shot = tmp_path / f"{name}.png"
    browse(
        browser, page, tmp_path / "profile", f"--screenshot={shot}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    )  # fmt: skip
    width, height, colours = png_pixels(shot)
    assert (width, height) == WINDOW
    assert RED in colours, "the verdict's banner is not on the screenshot"
    assert FAILED_CELL in colours, "the failed check's cell is not on the screenshot"


# --- the page fits its table ------------------------------------------------------------------

# A CI runner's interpreter path, and a message with no space to break at (a long file path).
LONG_PATH = "/home/runner/work/application/application/.nox/preflight-3.11.13/env/bin/python3.11"
UNBROKEN = "/srv/app/" + "x" * 60 + "/site-packages/" + "deep/" * 30 + "module.py"


def wide_report(host: str) -> Report:
    """Every check of preflight as a column (13 of them), a long path, an unbroken message."""
    checks = tuple(
        CheckResult(check.id, check.title, status, f"{check.id}: {UNBROKEN}")
        for check, status in zip(ALL, itertools.cycle(list(Status)), strict=False)
    )
    return Report(
        timestamp="2026-11-27T07:00:00Z",
        interpreter=Interpreter.of(path=LONG_PATH, version="3.11.13"),
        python_status="fallback",
        checks=checks,
        duration_s=44.8,
        project="/home/runner/work/application/application",
        lock="/home/runner/work/application/application/requirements/py3.11.txt",
        tool_version="0.1.0",
        host=host,
    )


def wide_pages(folder: Path) -> dict[str, Path]:
    one, two = wide_report("runner-a"), wide_report("runner-b")
    entries = [
        Entry(Outcome.from_report(one, session="a", spec="3.11.13", run_id="r"), one),
        Entry(Outcome.from_report(two, session="b", spec="3.11.13", run_id="r"), two),
        Entry(Outcome("c", "3.13", "", ERROR, message=f"{UNBROKEN}: holds no report")),
    ]
    texts = {
        "check": report_page(one),
        "summarize": html_page(page_of(entries, generated="2026-11-27T07:00:00Z")),
        "monitor": monitor_page(outcome_of(one), history()),
    }
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, text in texts.items():
        paths[name] = folder / f"{name}.html"
        paths[name].write_text(text, encoding="utf-8")
    return paths


# Appended to a copy of the page (whose CSP rightly forbids scripts): after layout, it writes
# the document's scroll width and the viewport's width, and the matrix box's own, into the DOM.
MEASURE = """<script>
window.addEventListener("load", () => {
  const box = document.querySelector(".matrix").parentElement;
  document.body.setAttribute("data-fit", [document.documentElement.scrollWidth,
    document.documentElement.clientWidth, box.scrollWidth, box.clientWidth,
    getComputedStyle(box).overflowX].join(" "));
});
</script>"""


@pytest.mark.parametrize("name", ["check", "summarize", "monitor"])
def test_at_1280_px_the_page_is_as_wide_as_the_window_and_the_table_scrolls_inside(
    browser: str, name: str, tmp_path: Path
) -> None:
    """13 checks, a CI runner's path and a message with no space: the page never scrolls
    sideways; the matrix scrolls inside its own box when it must."""
    page = wide_pages(tmp_path / "pages")[name]
    text = page.read_text(encoding="utf-8")
    measured = tmp_path / f"measured-{name}.html"
    csp = re.search(r'<meta http-equiv="Content-Security-Policy"[^>]*>', text)
    assert csp is not None
    measured.write_text(
        text.replace(csp.group(0), "").replace("</body>", MEASURE + "</body>"), encoding="utf-8"
    )
    dom = browse(
        browser, measured, tmp_path / "profile", f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--virtual-time-budget=5000", "--dump-dom",
    ).stdout  # fmt: skip
    fit = re.search(r'data-fit="(\d+) (\d+) (\d+) (\d+) (\w+)"', dom)
    assert fit is not None, dom[-2000:]
    page_width, viewport, box_width, box_visible, overflow = fit.groups()
    assert int(viewport) == WINDOW[0]
    assert int(page_width) == int(viewport), f"the page is {page_width} px wide"
    assert overflow == "auto"  # a table wider than its box scrolls inside it
    assert int(box_visible) <= int(viewport)
    assert int(box_width) >= int(box_visible)
