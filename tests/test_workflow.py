"""The GitHub workflow, validated for real and offline, and its matrix read from the policy."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from preflight._policy.policy import load_policy
from preflight._report.interpreter import Interpreter

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def tool(name: str) -> str:
    """A validator of the test extras, next to this interpreter (or on PATH)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is missing: install the test extras (pip install -e .[test])"
    return found


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return data


def test_there_is_a_workflow() -> None:
    assert [p.name for p in WORKFLOWS] == ["preflight.yml"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint(path: Path) -> None:
    done = run(tool("actionlint"), "-no-color", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_github_workflow_schema(path: Path) -> None:
    done = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_zizmor_finds_nothing(path: Path) -> None:
    done = run(tool("zizmor"), "--offline", "--format", "json", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == []


def test_the_validators_do_fail_on_a_broken_workflow(tmp_path: Path) -> None:
    # The three checks above can fail: a workflow with an unknown key, an expression error
    # and an unpinned action with default permissions is refused by each of them.
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\n"
        "jobs:\n"
        "  x:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "      - run: echo ${{ github.event.issue.title }} ${{ matrix.nope }}\n"
        "        shell: bash\n"
        "        colour: red\n",
        encoding="utf-8",
    )
    assert run(tool("actionlint"), "-no-color", str(bad)).returncode != 0
    schema = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(bad))
    assert schema.returncode != 0
    assert run(tool("zizmor"), "--offline", str(bad)).returncode != 0


def github_output(project: Path, tmp_path: Path) -> dict[str, str]:
    """Run the policy job's command for real and parse what it writes to GITHUB_OUTPUT."""
    output = tmp_path / "github_output"
    done = subprocess.run(
        [sys.executable, "-m", "preflight", "pythons", "--project", str(project),
         "--github-output", str(output)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    values: dict[str, str] = {}
    lines = iter(output.read_text(encoding="utf-8").splitlines())
    for line in lines:
        if "<<" in line:
            key, marker = line.split("<<", 1)
            values[key] = "\n".join(iter(lambda: next(lines), marker))
        else:
            key, _, value = line.partition("=")
            values[key] = value
    return values


def test_the_matrix_the_workflow_computes_is_the_policys(tmp_path: Path) -> None:
    workflow = load(ROOT / ".github" / "workflows" / "preflight.yml")
    jobs = workflow["jobs"]
    run_step = next(s for s in jobs["policy"]["steps"] if s.get("id") == "policy")
    assert "python -m preflight pythons --github-output" in run_step["run"]
    matrix = jobs["preflight"]["strategy"]["matrix"]["python"]
    assert matrix == "${{ fromJSON(needs.policy.outputs.pythons) }}"
    setup = next(s for s in jobs["preflight"]["steps"] if "setup-python" in s.get("uses", ""))
    assert setup["with"]["python-version"] == "${{ matrix.python }}"  # exact: 3.11.13
    session = next(s for s in jobs["preflight"]["steps"] if "nox -s" in s.get("run", ""))
    assert session["run"] == 'nox -s "preflight-$SPEC"'
    assert session["env"]["SPEC"] == "${{ matrix.python }}"

    values = github_output(ROOT, tmp_path)
    policy = [str(p) for p in load_policy(ROOT).pythons]
    assert json.loads(values["pythons"]) == policy == ["3.12", "3.11.13"]
    assert values["python-versions"].splitlines() == policy


def test_adding_an_interpreter_to_the_policy_adds_a_job(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[tool.preflight]\npythons = ["3.13", "3.12", "3.11.13"]\nrequires = []\n',
        encoding="utf-8",
    )
    values = github_output(project, tmp_path)
    assert json.loads(values["pythons"]) == ["3.13", "3.12", "3.11.13"]


def test_every_action_is_pinned_to_a_commit_and_jobs_have_least_permissions() -> None:
    for path in WORKFLOWS:
        workflow = load(path)
        assert workflow["permissions"] == {}, path
        for name, job in workflow["jobs"].items():
            assert job.get("permissions") == {"contents": "read"}, (path, name)
            for step in job["steps"]:
                uses = step.get("uses")
                if uses:
                    ref = uses.split("@", 1)[1]
                    assert len(ref) == 40, f"{path.name}: {uses} is not pinned to a commit"
                    assert all(c in "0123456789abcdef" for c in ref), uses
                if "actions/checkout" in (uses or ""):
                    assert step["with"]["persist-credentials"] is False


def test_reports_are_uploaded_even_when_the_check_fails() -> None:
    steps = load(ROOT / ".github" / "workflows" / "preflight.yml")["jobs"]["preflight"]["steps"]
    upload = next(s for s in steps if "upload-artifact" in s.get("uses", ""))
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "reports/"


def test_a_last_job_summarizes_every_matrix_job_and_fails_on_a_refused_one(
    tmp_path: Path,
) -> None:
    jobs = load(ROOT / ".github" / "workflows" / "preflight.yml")["jobs"]
    summary = jobs["summary"]
    assert "preflight" in summary["needs"]
    assert summary["if"] == "${{ !cancelled() }}"  # also when a matrix job failed
    upload = next(s for s in jobs["preflight"]["steps"] if "upload-artifact" in s.get("uses", ""))
    download = next(s for s in summary["steps"] if "download-artifact" in s.get("uses", ""))
    assert upload["with"]["name"] == "preflight-${{ matrix.python }}"
    assert download["with"] == {"pattern": "preflight-*", "path": "artifacts"}
    step = next(s for s in summary["steps"] if "preflight summarize" in s.get("run", ""))
    script = step["run"]
    command = script[script.index("python -m preflight summarize") :]

    # The step's command, run for real on what download-artifact makes of two jobs' uploads
    # (artifacts/<name>/ holding the job's reports/): one ready, one refused.
    from preflight._checks.result import CheckResult, Status
    from preflight._render.report import REPORT_NAME, dumps
    from preflight._report.model import Report

    for spec, status in (("3.12", Status.PASS), ("3.11.13", Status.FAIL)):
        folder = tmp_path / "artifacts" / f"preflight-{spec}" / f"preflight-{spec}"
        folder.mkdir(parents=True)
        report = Report(
            timestamp="2026-11-27T07:00:00Z", interpreter=Interpreter.of(path="/py", version=spec),
            python_status="primary",
            checks=(CheckResult("integrity", "Integrity", status, status.label),),
            duration_s=1.0, project="/p", lock=None, tool_version="0.1.0", host="runner",
        )  # fmt: skip
        (folder / REPORT_NAME).write_text(dumps(report), encoding="utf-8")
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (shims / "python").chmod(0o755)
    (tmp_path / "summary").mkdir()
    env = {"PATH": f"{shims}:/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # the run fails on the refused interpreter
    assert "matrix: NOT_READY" in done.stderr
    written = sorted(p.name for p in (tmp_path / "summary").iterdir())
    assert written == ["junit.xml", "preflight.html", "summary.json"]
