"""Secrets stay ours: code of the judged environment never sees the tool's credentials.

A ``.pth`` file in site-packages runs at every start of the environment's interpreter, even
under ``-I``: here one records which of the watched variables it was handed, for the probe, the
performance probe, the first start and the suite alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import preflight

pytestmark = pytest.mark.slow

WATCHED = ("PREFLIGHT_WEBHOOK_URL", "PREFLIGHT_SMTP_PASSWORD", "SLACK_URL", "APP_MODE")
SECRETS = {
    "PREFLIGHT_WEBHOOK_URL": "https://hooks.invalid/secret-token",
    "PREFLIGHT_SMTP_PASSWORD": "hunter2",
    "SLACK_URL": "https://hooks.invalid/another-secret",  # named by the policy's url_env
    "APP_MODE": "production",  # the application's own: it must still get it
}


def _spy(python: Path, record: Path) -> None:
    site = next((python.parent.parent / "lib").glob("python*/site-packages"))
    watched = repr(WATCHED)
    (site / "zz_spy.pth").write_text(
        f"import os, json; open({str(record)!r}, 'a').write(json.dumps(sorted("
        f"k for k in {watched} if k in os.environ)) + '\\n')\n"
    )


def test_no_credential_reaches_the_judged_environment(
    make_project: Callable[..., Path], venv312_copy: Path, tmp_path: Path
) -> None:
    record = tmp_path / "seen.jsonl"
    _spy(venv312_copy, record)
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    project = make_project(
        extra=f'suite = "{suite}"\n\n[tool.preflight.alerts.webhook]\nurl_env = "SLACK_URL"\n'
    )
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SECRETS.items():
            patch.setenv(name, value)
        report = preflight.check(venv312_copy, project=project, first_start=True)
    starts = [json.loads(line) for line in record.read_text().splitlines()]
    # The spy ran for the probe, the first start's child, the performance probe (and the suite
    # when pytest is in the env): the test can see a leak.
    assert len(starts) >= 3, starts
    assert all(seen == ["APP_MODE"] for seen in starts), starts
    text = json.dumps(report.to_dict())
    assert not [value for name, value in SECRETS.items() if name != "APP_MODE" and value in text]


@pytest.mark.parametrize("name", ["PREFLIGHT_WEBHOOK_URL", "SLACK_URL"])
def test_a_policy_cannot_ask_to_check_a_credential(
    make_project: Callable[..., Path], name: str
) -> None:
    project = make_project(
        env_vars=[name], extra='\n[tool.preflight.alerts.webhook]\nurl_env = "SLACK_URL"\n'
    )
    with pytest.raises(preflight.ConfigError, match=f"{name} holds a credential"):
        preflight.load_policy(project)
