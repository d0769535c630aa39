"""``preflight baseline [check options] [--strict] --output FILE``: record a passing env.

The check runs first, as ``preflight check`` does (report included). Only a verdict the gate
would let through (READY or READY_FALLBACK; warnings too, unless ``--strict``) is recorded:
a baseline of a broken environment would anchor the breakage. A refused environment exits 1
and writes no manifest. The manifest is written while the environment's files are there (with
``--image``, before its work folder is removed); its paths are relative to the environment's
named roots, and for ``--root``/``--image`` the roots as the image names them, so the
manifest of one build of an image compares with the next.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from preflight import Judged
from preflight._cli.check import CheckOptions, add_check_options, judge_and_report
from preflight._facts.model import InterpreterFacts
from preflight._ops.baseline import Written, check_output, write_baseline
from preflight._ops.gate import blocking_checks, gate_decision
from preflight._render.report import summary_lines
from preflight._report.model import EXIT_FAILED, EXIT_PASSED
from preflight._text import shown


def add_baseline_options(parser: argparse.ArgumentParser) -> None:
    add_check_options(parser, data_output=False)
    parser.add_argument(
        "--output",
        type=Path,
        required=True,
        metavar="FILE",
        help="where the manifest is written (read-only, 0444); outside the environment, "
        "ideally on another host or a read-only medium",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="record only a PASSED environment (by default warnings are recorded too)",
    )


def run_baseline(args: argparse.Namespace) -> int:
    output: Path = args.output
    check_output(output)
    stop = threading.Event()
    written: list[tuple[Written, float]] = []

    def record(judged: Judged) -> None:
        """The manifest, written while the environment's files are there (an image's work
        folder is removed once judged), when the verdict lets it be."""
        decision = gate_decision(
            judged.report.status, judged.report.overall_status, strict=args.strict
        )
        facts = judged.context.interpreter
        if not decision.allowed or not isinstance(facts, InterpreterFacts):
            return
        start = time.perf_counter()
        try:
            done = write_baseline(output, facts, stop=stop)
        except BaseException:
            stop.set()
            raise
        written.append((done, time.perf_counter() - start))

    judged = judge_and_report(CheckOptions.from_args(args), while_there=record)
    report = judged.report
    for line in summary_lines(report):
        print(line, file=sys.stderr)
    decision = gate_decision(report.status, report.overall_status, strict=args.strict)
    if not written:
        print(f"baseline: not written: {decision.reason}", file=sys.stderr)
        for line in blocking_checks(report, strict=args.strict):
            print(line, file=sys.stderr)
        return EXIT_FAILED
    ((done, seconds),) = written
    entries = len(done.manifest.entries)
    print(
        f"baseline: {shown(str(output))} ({entries} entries, {done.size} bytes, "
        f"{seconds:.2f} s); keep it outside the environment, read-only",
        file=sys.stderr,
    )
    return EXIT_PASSED
