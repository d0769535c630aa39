"""The interpreter matrix behind ``nox -s preflight``: backends, commands, outcomes, summary.

The noxfile runs one session per interpreter of the policy. Each builds a fresh environment
from that interpreter's lock (commands from :func:`venv_command` / :func:`install_command`),
runs ``preflight check`` against it, and records an :class:`Outcome` beside its report; a
last session reads the outcomes of this nox run and prints one table of the matrix (and
writes ``reports/summary.json``, and the GitHub step summary when ``GITHUB_STEP_SUMMARY`` is
set). Everything here is plain functions of paths and values, so it is tested without nox.

The table and the step summary show every cell through :func:`preflight._text.shown` (a spec
comes from the policy, a version and a message from the interpreter): no name can add a row
or a line. The markdown also turns the characters that would end a cell or start markup
(``|``, a backtick, ``<``, ``>``, ``&``, ``\\``, ``[``, ``]``, ``*``: no cell end, no link, no
inline code or HTML) into HTML character references.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from preflight import _json
from preflight._atomic import write_atomic
from preflight._checks.result import Status
from preflight._errors import UsageError
from preflight._read import read_text
from preflight._report.model import Report
from preflight._strict import Node, ShapeError, Table
from preflight._text import MESSAGE_LIMIT, shown

__all__ = [
    "Backend",
    "Outcome",
    "choose_backend",
    "install_command",
    "install_env",
    "matrix_verdict",
    "read_outcomes",
    "summary_markdown",
    "summary_table",
    "venv_command",
    "write_outcome",
]

OUTCOME_NAME = "outcome.json"
SUMMARY_NAME = "summary.json"
BACKEND_VARIABLE = "PREFLIGHT_BACKEND"  # "uv" or "virtualenv" forces one; default: uv if found
NOT_CHECKED = "NOT_CHECKED"  # the session ran and could not check (no such interpreter)
NOT_RUN = "NOT_RUN"  # the session was not run by this nox run (not selected)
ERROR = "ERROR"  # a step before the verdict failed (venv, install, check): not ready
# pip/uv settings from the user's environment that would weaken a hash-checked, no-deps
# install. The command line asks for hashes and no deps explicitly; these are dropped too so
# that nothing reads as if they applied.
_WEAKENING = (
    "PIP_REQUIRE_HASHES",
    "PIP_NO_DEPS",
    "PIP_NO_BUILD_ISOLATION",
    "UV_NO_VERIFY_HASHES",
    "UV_REQUIRE_HASHES",
    "UV_NO_DEPS",
    "PYTHONPATH",
    "PYTHONHOME",
)


@dataclass(frozen=True)
class Backend:
    """How environments are built: ``uv`` (fast) or ``virtualenv`` + pip."""

    name: Literal["uv", "virtualenv"]
    uv: str | None = None  # path of the uv executable
    reason: str = ""  # why this one, printed by the session

    def describe(self) -> str:
        return f"backend: {self.name} ({self.reason})"


def choose_backend(env: Mapping[str, str] | None = None) -> Backend:
    """uv when it is on PATH, virtualenv otherwise; ``PREFLIGHT_BACKEND`` forces one."""
    env = os.environ if env is None else env
    forced = env.get(BACKEND_VARIABLE, "").strip().lower()
    uv = shutil.which("uv", path=env.get("PATH"))
    if forced == "virtualenv":
        return Backend("virtualenv", None, f"{BACKEND_VARIABLE}=virtualenv")
    if forced == "uv":
        if uv is None:
            raise UsageError(
                f"{BACKEND_VARIABLE}=uv, but uv is not on PATH",
                hint=f"install uv, or unset {BACKEND_VARIABLE}",
            )
        return Backend("uv", uv, f"{BACKEND_VARIABLE}=uv")
    if forced:
        raise UsageError(
            f"{BACKEND_VARIABLE}={forced!r}: expected 'uv' or 'virtualenv'",
            hint=f"set {BACKEND_VARIABLE} to uv or virtualenv, or unset it",
        )
    if uv is not None:
        return Backend("uv", uv, f"found {uv}")
    return Backend("virtualenv", None, "uv not found on PATH; virtualenv + pip")


def venv_command(backend: Backend, tool_python: str, interpreter: str, target: Path) -> list[str]:
    """Create a fresh venv at ``target`` from ``interpreter`` (the folder must not exist)."""
    if backend.name == "uv":
        assert backend.uv is not None
        return [backend.uv, "venv", "--quiet", "--no-project", "--python", interpreter, str(target)]
    # --no-setuptools: virtualenv seeds setuptools for Python < 3.12, and setuptools' start-up
    # hook (distutils-precedence.pth) is code run at every start that the lock does not pin;
    # pip, which the install needs, owns no hook. A lock that pins setuptools installs it.
    return [
        tool_python,
        "-m",
        "virtualenv",
        "--quiet",
        "--no-periodic-update",
        "--no-setuptools",
        "--python",
        interpreter,
        str(target),
    ]


def install_command(
    backend: Backend, target_python: Path, lock: Path, *, wheelhouse: Path | None = None
) -> list[str]:
    """Install exactly the lock: hashes required, no dependency resolution.

    No bytecode is compiled here: compiling every file of pandas, numpy and their tests costs
    ~9 s on two cores; the check's first start compiles what the application imports instead.
    ``wheelhouse``: from that folder only, the index off (``--no-index --find-links``).
    """
    offline = ["--no-index", "--find-links", str(wheelhouse)] if wheelhouse is not None else []
    if backend.name == "uv":
        assert backend.uv is not None
        return [
            backend.uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(target_python),
            "--require-hashes",
            "--no-deps",
            *offline,
            "-r",
            str(lock),
        ]
    return [
        str(target_python),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
        "--require-hashes",
        "--no-deps",
        "--no-compile",
        *offline,
        "-r",
        str(lock),
    ]


def download_command(
    backend: Backend,
    tool_python: str,
    target_python: Path,
    lock: Path,
    wheelhouse: Path,
    *,
    offline: bool = False,
) -> list[str]:
    """Download the lock's artifacts for the target into ``wheelhouse``, hashes required.

    pip runs *under the target interpreter*, so the markers and wheel tags are the target's:
    the environment's own pip (virtualenv seeds one), or, with uv (which has no download
    command), the tool's pip aimed at it (``pip --python``). ``offline``: from the folder
    itself, the index off; it succeeds when the wheelhouse already holds every artifact.
    """
    if backend.name == "uv":
        pip = [tool_python, "-m", "pip", "--python", str(target_python)]
    else:
        pip = [str(target_python), "-m", "pip"]
    source = ["--no-index", "--find-links", str(wheelhouse)] if offline else []
    return [
        *pip,
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
        "--require-hashes",
        "--no-deps",
        *source,
        "--dest",
        str(wheelhouse),
        "-r",
        str(lock),
    ]


def install_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for the install: the user's indexes kept, weakening settings dropped."""
    env = os.environ if env is None else env
    return {k: v for k, v in env.items() if k not in _WEAKENING}


# ---------------------------------------------------------------------------------------------
# Outcomes and the summary
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one session of the matrix found (or why it checked nothing)."""

    session: str  # "preflight-3.12"
    spec: str  # "3.12"
    run_id: str  # the nox run that wrote it
    verdict: str  # READY | READY_FALLBACK | NOT_READY | ERROR | NOT_CHECKED | NOT_RUN
    overall: str | None = None  # PASSED | WARNING | FAILED (None when not checked)
    python: str | None = None  # the version checked, e.g. "3.12.1"
    interpreter: str | None = None  # its path
    substitute: bool = False  # a patch-level substitute was accepted
    failed: tuple[str, ...] = ()  # ids of the checks that failed
    warned: tuple[str, ...] = ()  # ids of the checks that warned
    seconds: float = 0.0  # the whole session: build, install, check
    backend: str | None = None
    report: str | None = None  # path of the JSON report
    message: str = ""  # for NOT_CHECKED: why (what was searched, nearest, how to install)
    timings: dict[str, float] = field(default_factory=dict)  # venv, install, check
    host: str | None = None  # the machine that ran it (None: not recorded, an older outcome)

    @classmethod
    def from_report(cls, checked: Report, **fields: Any) -> Outcome:
        """An outcome from the check's :class:`Report`, plus the session's fields."""
        fields.setdefault("host", checked.host)
        return cls(
            verdict=checked.status.value,
            overall=checked.overall_status.value,
            python=checked.interpreter.version,
            failed=tuple(c.id for c in checked.checks if c.status is Status.FAIL),
            warned=tuple(c.id for c in checked.checks if c.status is Status.WARN),
            **fields,
        )

    @classmethod
    def from_dict(cls, data: object) -> Outcome:
        """The outcome :func:`write_outcome` wrote; ``ValueError`` ("key: what is wrong")
        when ``data`` is not one."""
        if not isinstance(data, dict):
            raise ValueError("is not a JSON object")
        try:
            return cls._read(Node(data).table(f.name for f in fields(cls)))
        except ShapeError as exc:
            raise ValueError(f"{exc.key}: {exc.problem}") from None

    @classmethod
    def _read(cls, table: Table) -> Outcome:
        values: dict[str, Any] = {
            name: table[name].string() for name in ("session", "spec", "run_id", "verdict")
        }
        for name in ("python", "interpreter", "host", "overall", "backend", "report"):
            if (node := table.get(name)) is not None:
                values[name] = node.string_or_null()
        if (node := table.get("message")) is not None:
            values["message"] = node.string(empty=True)
        if (node := table.get("substitute")) is not None:
            values["substitute"] = node.boolean()
        for name in ("failed", "warned"):
            values[name] = tuple(table[name].strings(max_items=1000, max_length=200))
        if (node := table.get("seconds")) is not None:
            values["seconds"] = node.number(maximum=_LONGEST)
        if (node := table.get("timings")) is not None:
            values["timings"] = {
                step: time.number(maximum=_LONGEST) for step, time in node.table().nodes()
            }
        return cls(**values)


_LONGEST = 1e9  # seconds: no session of the matrix takes 31 years


def write_outcome(folder: Path, outcome: Outcome) -> Path:
    path = folder / OUTCOME_NAME
    write_atomic(path, json.dumps(asdict(outcome), indent=2) + "\n")
    return path


_OUTCOME_LIMIT = 1 << 20  # a few hundred bytes in practice
_OUTCOME_VALUES = 10_000  # JSON values: a few dozen in practice


def read_outcome(path: Path) -> Outcome:
    """The outcome in ``path``; ``ValueError`` (a ReadError for the file) when it is none."""
    text = read_text(path, what="a session outcome", limit=_OUTCOME_LIMIT)
    data = _json.loads(text, max_values=_OUTCOME_VALUES)  # JSONError: a ValueError
    return Outcome.from_dict(data)


def read_outcomes(reports: Path, sessions: Sequence[tuple[str, str]], run_id: str) -> list[Outcome]:
    """The outcome of each ``(session, spec)`` written by run ``run_id``, in matrix order.

    A session with no outcome from this run (not selected, or crashed before writing one)
    gets a NOT_RUN outcome (a CI job runs one interpreter: the others are other jobs').
    """
    outcomes = []
    for session, spec in sessions:
        path = reports / session / OUTCOME_NAME
        try:
            # ReadError is a ValueError: a FIFO or /dev/zero in its place is "not run".
            outcome: Outcome | None = read_outcome(path)
        except (OSError, ValueError):
            outcome = None
        if outcome is None or outcome.run_id != run_id:
            outcome = Outcome(session, spec, run_id, NOT_RUN, message="not run in this nox run")
        outcomes.append(outcome)
    return outcomes


def matrix_verdict(outcomes: Sequence[Outcome]) -> str:
    """Over the interpreters this run checked: READY only when each was checked and is ready.

    Interpreters not run by this nox run (``NOT_RUN``) are left out; see :func:`not_run`.
    """
    ran = [o for o in outcomes if o.verdict != NOT_RUN]
    if not ran:
        return "NOTHING_RUN"
    if any(o.verdict in ("NOT_READY", ERROR) for o in ran):
        return "NOT_READY"
    if any(o.verdict == NOT_CHECKED for o in ran):
        return "INCOMPLETE"
    if any(o.substitute for o in ran):
        return "READY_WITH_SUBSTITUTE"
    return "READY"


def not_run(outcomes: Sequence[Outcome]) -> list[str]:
    return [o.spec for o in outcomes if o.verdict == NOT_RUN]


def _row(o: Outcome, *, where: bool = False) -> list[str]:
    """The cells of ``o``'s row, each shown (escaped, shortened); ``where``: its host and
    interpreter first (the rows of ``preflight summarize`` come from several machines)."""
    python = shown(o.python or "-")
    if o.substitute:
        python += f" (substitute for {shown(o.spec)})"
    problems = ", ".join(o.failed) or (o.message if o.verdict in (NOT_CHECKED, ERROR) else "-")
    place = [shown(o.host or UNKNOWN_HOST), shown(o.interpreter or "-")] if where else []
    verdict = shown(o.verdict)
    if o.overall == "WARNING" and o.verdict != "NOT_READY":
        verdict += " (WARNING)"  # as the session's own last line said it: never a bare READY
    return [
        *place,
        shown(o.spec),
        python,
        verdict,
        shown(problems, limit=MESSAGE_LIMIT),
        f"{o.seconds:.1f} s" if o.seconds else "-",
    ]


UNKNOWN_HOST = "unknown"  # the host of an outcome or report that did not record one
_HEADER = ["spec", "python", "verdict", "failed checks", "time"]
_WHERE = ["host", "interpreter"]


def _header(where: bool) -> list[str]:
    return [*_WHERE, *_HEADER] if where else list(_HEADER)


def _verdict_line(outcomes: Sequence[Outcome]) -> str:
    line = f"matrix: {matrix_verdict(outcomes)}"
    skipped = not_run(outcomes)
    if skipped:
        line += f" (not run by this nox run: {', '.join(shown(s) for s in skipped)})"
    return line


def summary_table(outcomes: Sequence[Outcome], *, where: bool = False) -> str:
    rows = [_header(where), *(_row(o, where=where) for o in outcomes if o.verdict != NOT_RUN)]
    fixed = len(rows[0]) - 2  # the columns before the failed checks and the time
    widths = [max(len(r[i]) for r in rows) for i in range(fixed)]
    lines = []
    for r in rows:
        head = "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=False))
        lines.append(f"{head}  {r[-1]:>7}  {r[-2]}".rstrip())
    lines.append(_verdict_line(outcomes))
    return "\n".join(lines)


# Characters that end a table cell, start inline code, HTML, a link or emphasis, an escape or a
# character reference.
_MARKDOWN = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        "|": "&#124;",
        "`": "&#96;",
        "\\": "&#92;",
        "[": "&#91;",
        "]": "&#93;",
        "*": "&#42;",
    }
)


def markdown_text(shown_text: str) -> str:
    """Text already :func:`shown` (one line) as literal markdown: no cell end, no markup."""
    return shown_text.translate(_MARKDOWN)


def summary_markdown(
    outcomes: Sequence[Outcome], *, where: bool = False, title: str = "preflight matrix"
) -> str:
    header = _header(where)
    lines = [
        f"### {title}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *(
            "| " + " | ".join(markdown_text(c) for c in _row(o, where=where)) + " |"
            for o in outcomes
            if o.verdict != NOT_RUN
        ),
        "",
        f"**{markdown_text(_verdict_line(outcomes))}**",
        "",
    ]
    return "\n".join(lines)


def summary_json(outcomes: Sequence[Outcome]) -> str:
    return (
        json.dumps(
            {
                "schema_version": 1,
                "matrix": matrix_verdict(outcomes),
                "interpreters": [asdict(o) for o in outcomes],
            },
            indent=2,
        )
        + "\n"
    )


def write_summary(reports: Path, outcomes: Sequence[Outcome], *, step_summary: str | None) -> Path:
    """``reports/summary.json`` (atomically), and the markdown table into the step summary."""
    path = reports / SUMMARY_NAME
    write_atomic(path, summary_json(outcomes))
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(summary_markdown(outcomes))
    return path
