"""README.md is a front page that tells the truth: short, the first steps first, and every
command and file it shows one the tools accept.

What is run where: each shell command of README is parsed here by what would run it (the CLI's
own parser for ``preflight ...``, this project's ``nox -l`` for a session), and the adopter's
steps (the install command, the noxfile, ``nox -s relock``, ``nox -s preflight``, the
``.gitignore`` lines) are run as they stand by ``test_adopter``; the policy table is loaded as a
policy and the GitHub Actions job is validated with the workflow's own validators.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest
import readme
from test_workflow import tool

from preflight._cli import build_parser
from preflight._ops.matrix import NOT_CHECKED, Outcome, matrix_verdict
from preflight._ops.summarize import Entry, exit_code_of
from preflight._policy.policy import load_policy

ROOT = readme.ROOT
DOCS = ROOT / "docs"
MANUAL = (
    "checks.md", "policy.md", "trust-model.md", "operations.md", "nox.md", "api.md",
    "architecture.md", "benchmarks.md", "troubleshooting.md", "images.md",
)  # fmt: skip


def test_readme_is_a_front_page_of_at_most_10_kb() -> None:
    assert len(readme.README.read_bytes()) <= 10 * 1024


def test_the_first_sections_are_the_quick_start_the_verdicts_and_adopting() -> None:
    headings = re.findall(r"^## (.+)$", readme.text(), re.MULTILINE)
    assert headings[:3] == ["Quick start", "Verdicts and exit codes", "Adopting preflight"]


def test_the_manual_is_linked_and_every_relative_link_of_readme_and_docs_resolves() -> None:
    links = re.findall(r"\]\(([^)]+)\)", readme.text())
    for name in MANUAL:
        assert f"docs/{name}" in {link.split("#")[0] for link in links}, name
    pages = [readme.README, ROOT / "CONTRIBUTING.md", *sorted(DOCS.glob("*.md"))]
    assert {p.name for p in DOCS.glob("*.md")} == set(MANUAL)
    for page in pages:
        for link in re.findall(r"\]\(([^)]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", link):
                continue  # https://...
            path, _, anchor = link.partition("#")
            target = (page.parent / path).resolve() if path else page
            assert target.is_file(), f"{page.name}: {link} does not exist"
            if anchor:
                assert anchor in anchors(target), f"{page.name}: {link}: no such heading"


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a markdown page's headings (lower case, punctuation dropped)."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(slug)
    return found


@pytest.fixture(scope="module")
def project_sessions() -> set[str]:
    """The sessions this project's noxfile registers (``nox -l``)."""
    done = subprocess.run(
        [sys.executable, "-m", "nox", "--no-color", "-f", str(ROOT / "noxfile.py"), "-l"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return {line.split()[1] for line in done.stdout.splitlines() if line[:2] in ("* ", "- ")}


def test_every_shell_command_of_readme_is_one_the_tools_accept(project_sessions: set[str]) -> None:
    shown = [c for block in readme.blocks("sh") for c in readme.commands(block)]
    assert len(shown) >= 7, shown
    for command in shown:
        match command:
            case ["python3", "noxfile.py", "-s", session] | ["nox", "-s", session]:
                assert session in project_sessions, (command, sorted(project_sessions))
            case ["preflight", *arguments]:
                # The CLI's own parser: an unknown subcommand or option exits (argparse).
                build_parser(arguments).parse_args(arguments)
            case ["uv", "tool", "install", *_]:
                assert command == readme.adopter_install()  # test_adopter runs it
            case _:
                pytest.fail(f"README shows {command}, which no test runs: add one")


def test_every_preflight_command_of_the_manual_is_one_the_cli_accepts() -> None:
    """docs/: a whole command is parsed by the CLI's parser; a synopsis (``[--python PATH]``)
    names only options its subcommand has."""
    seen = 0
    for page in sorted(DOCS.glob("*.md")):
        for block in readme.blocks("sh", page.read_text(encoding="utf-8")):
            for command in readme.commands(block):
                if "preflight" not in command:
                    continue  # the gate example's deploy script
                words = command[command.index("preflight") + 1 :]
                parser = build_parser(words)
                if any("[" in w or w == "..." for w in words):
                    options = _options_of(parser, words)
                    named = [
                        w.strip("[]").split("=")[0] for w in words if w.startswith(("--", "[--"))
                    ]
                    unknown = [o for o in named if o != "--" and o not in options]
                    assert not unknown, (page.name, command, unknown)
                else:
                    parser.parse_args(words)
                seen += 1
    assert seen >= 10, seen


def _options_of(parser: argparse.ArgumentParser, words: list[str]) -> set[str]:
    """The option strings of the (sub)command ``words`` names (``audit-db update``)."""
    for word in words:
        subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subparsers or word not in subparsers[0].choices:
            break
        parser = subparsers[0].choices[word]
    return set(parser._option_string_actions)


def test_the_adopter_runs_relock_then_preflight() -> None:
    assert readme.adopter_nox_commands() == [["nox", "-s", "relock"], ["nox", "-s", "preflight"]]
    # pip beside nox: the sessions download the locked files with it (uv's envs have none)
    assert readme.adopter_install() == [
        "uv", "tool", "install", "nox", "--with", "preflight-env", "--with", "pip",
    ]  # fmt: skip
    assert readme.adopter_gitignore() == [".nox/", "reports/"]
    # The noxfile's PEP 723 block names the distribution the install command installs.
    assert '"preflight-env"' in readme.adopter_noxfile().split("# ///", 2)[1]


def test_the_adopters_policy_table_is_a_valid_policy_without_exact_pins(tmp_path: Path) -> None:
    (table,) = readme.blocks("toml", readme.adopter())
    (tmp_path / "pyproject.toml").write_text(table, encoding="utf-8")
    policy = load_policy(tmp_path)
    assert [str(spec) for spec in policy.pythons] == ["3.12", "3.11"]
    assert all(str(spec).count(".") == 1 for spec in policy.pythons), "an exact pin"


def test_the_adopters_github_job_passes_the_workflows_validators(tmp_path: Path) -> None:
    (job,) = readme.blocks("yaml", readme.adopter())
    path = tmp_path / "preflight.yml"
    path.write_text(job, encoding="utf-8")
    for argv in (
        [tool("actionlint"), "-no-color", str(path)],
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
        [tool("zizmor"), "--offline", str(path)],
    ):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, (argv[0], done.stdout + done.stderr)
    # The same pinned actions as this repository's own workflow.
    ours = (ROOT / ".github" / "workflows" / "preflight.yml").read_text(encoding="utf-8")
    for action in re.findall(r"uses: (\S+@[0-9a-f]{40})", job):
        assert action in ours, action


def test_the_quick_starts_matrix_verdicts_and_their_exit_codes() -> None:
    """README's table of ``matrix:`` lines: each is a verdict the matrix gives, and
    ``summarize`` (CI's last job) fails on INCOMPLETE."""
    table = readme.section("Quick start")
    shown = re.findall(r"^\| `matrix: (\w+)`", table, re.MULTILINE)
    assert shown == ["READY", "READY_WITH_SUBSTITUTE", "INCOMPLETE", "NOT_READY"]

    def outcome(verdict: str, *, substitute: bool = False) -> Outcome:
        return Outcome("preflight-x", "3.12", "run", verdict, substitute=substitute)

    cases = {
        "READY": [outcome("READY")],
        "READY_WITH_SUBSTITUTE": [outcome("READY"), outcome("READY_FALLBACK", substitute=True)],
        "INCOMPLETE": [outcome("READY"), outcome(NOT_CHECKED)],
        "NOT_READY": [outcome("READY"), outcome("NOT_READY")],
    }
    assert {verdict: matrix_verdict(rows) for verdict, rows in cases.items()} == {
        v: v for v in cases
    }
    entries = [Entry(o) for o in cases["INCOMPLETE"]]
    assert exit_code_of(entries) == 2
