"""One typed request: :class:`preflight.CheckRequest` validates itself, once, naming the key;
``preflight.check(**options)`` is ``preflight.check_request(CheckRequest(**options))``; and no
function of the package but the public keyword forms takes more than eight arguments."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import math
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import run_preflight

import preflight
from preflight._checks import ALL
from preflight._facts.request import CHECK_IDS, SKIPPABLE

PACKAGE = Path(preflight.__file__).parent


def test_the_request_knows_every_check_in_order() -> None:
    """The request validates ``skip`` a layer below the checks: its ids are theirs, in order."""
    assert tuple(c.id for c in ALL) == CHECK_IDS
    assert "python_version" not in SKIPPABLE
    assert set(SKIPPABLE) | {"python_version"} == set(CHECK_IDS)


def test_the_request_has_exactly_the_keywords_of_check() -> None:
    """``check(**options)`` builds a request of the same names, with the same defaults."""
    parameters = inspect.signature(preflight.check).parameters
    fields = {f.name: f for f in dataclasses.fields(preflight.CheckRequest)}
    assert list(parameters) == list(fields)
    built = preflight.CheckRequest()
    for name, parameter in parameters.items():
        given = parameter.default
        if name == "remedies":
            assert given is None
            assert built.remedies == preflight.Remedies()
        elif name == "project":
            assert Path(given) == built.project
        else:
            assert getattr(built, name) == given, name
    assert all(f.kw_only for f in fields.values())


BAD: list[tuple[dict[str, Any], str]] = [
    ({"skip": "integrity"}, "skip: 'integrity' is a string, not a collection of check ids"),
    ({"skip": ("nope",)}, "skip: 'nope' is not a check that can be left out"),
    ({"skip": ["python_version"]}, "skip: 'python_version' is not a check that can be left out"),
    ({"skip": 3}, "skip: 3 is not a collection of check ids"),
    ({"skip": (1,)}, "skip: (1,) is not a collection of check ids"),
    ({"timeout": 0}, "timeout: 0 must be a number of seconds more than 0"),
    ({"timeout": -1.5}, "timeout: -1.5 must be"),
    ({"timeout": math.nan}, "timeout: nan must be"),
    ({"timeout": math.inf}, "timeout: inf must be"),
    ({"timeout": "30"}, "timeout: '30' must be"),
    ({"timeout": True}, "timeout: True must be"),
    ({"python": 3}, "python: 3 is not a path"),
    ({"project": None}, "project: None is not a path"),
    ({"lock": ""}, "lock: '' is not a path"),
    ({"root": 7}, "root: 7 is not a path"),
    ({"wheelhouse": b"/tmp"}, "wheelhouse: b'/tmp' is not a path"),
    ({"baseline": ["a"]}, "baseline: ['a'] is not a path"),
    ({"image": 1.5}, "image: 1.5 is not a path"),
    ({"substitute_for": 3.12}, "substitute_for: 3.12 is not a version"),
    ({"environ": [("A", "1")]}, "environ: list is not a mapping of variables"),
    ({"environ": {"APP_PORT": 8080}}, "environ: APP_PORT: int is not a string"),
    ({"environ": {1: "x"}}, "environ: 1: int is not a string"),
    ({"environ": {"A": None}}, "environ: A: NoneType is not a string"),
    ({"remedies": "pip"}, "remedies: 'pip' is not a Remedies"),
    ({"root": "/srv/root", "image": "app.tar"}, "--root and --image both name what to judge"),
]


@pytest.mark.parametrize(("options", "message"), BAD, ids=[m for _, m in BAD])
def test_the_request_refuses_what_cannot_work_naming_the_key(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(preflight.UsageError, match=f"^{re.escape(message)}") as raised:
        preflight.CheckRequest(**options)
    assert raised.value.hint  # and says what to do


@pytest.mark.parametrize(("options", "message"), BAD, ids=[m for _, m in BAD])
def test_check_refuses_the_same_before_anything_is_read(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    """The same refusals from the keyword form, before the policy is read (here: none)."""
    options = {"project": tmp_path / "no-such-project", **options}
    with pytest.raises(preflight.UsageError, match=f"^{re.escape(message)}"):
        preflight.check(**options)


def test_a_changed_field_is_validated_again() -> None:
    request = preflight.CheckRequest(skip=["suite"], timeout=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.timeout = 0  # type: ignore[misc]
    with pytest.raises(preflight.UsageError, match=r"^timeout: 0 must be"):
        dataclasses.replace(request, timeout=0)
    with pytest.raises(preflight.UsageError, match=r"^--root and --image"):
        dataclasses.replace(request, root=Path("/r"), image="a.tar")
    assert dataclasses.replace(request, timeout=7).skip == ("suite",)


def test_the_request_keeps_each_value_in_one_form(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    request = preflight.CheckRequest(
        python="./venv/bin/python",  # not "venv/bin/python", and never a command on PATH
        lock="requirements/py3.12.txt",
        skip={"suite"},
        vulnerability_db="",  # as before: an empty path is none given
        wheelhouse=Path("wh"),
        image=Path("./app.tar"),
        environ={"API_TOKEN": "s3cret-value"},
    )
    assert request.python == "./venv/bin/python"
    assert request.lock == tmp_path / "requirements/py3.12.txt"
    assert request.wheelhouse == tmp_path / "wh"
    assert request.vulnerability_db is None
    assert request.skip == ("suite",)
    assert request.image == "app.tar"
    assert request.remedies == preflight.Remedies()
    assert "s3cret-value" not in repr(request)  # a request logged never shows credentials
    assert request.timeout_or(30.0) == 30.0
    assert dataclasses.replace(request, timeout=2).timeout_or(30.0) == 2
    # a baseline with an image is accepted (one build's manifest checked against the next)
    assert preflight.CheckRequest(image="a.tar", baseline="m").baseline == Path("m").absolute()


def test_an_unknown_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="nope"):
        preflight.CheckRequest(nope=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="nope"):
        preflight.check(nope=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        preflight.CheckRequest(sys.executable)  # type: ignore[call-arg]  # keywords only
    with pytest.raises(TypeError, match="takes a CheckRequest"):
        preflight.check_request({"python": sys.executable})  # type: ignore[arg-type]


def _comparable(report: preflight.Report) -> dict[str, Any]:
    """The report without what differs between two runs of one check (clocks)."""
    data = report.to_dict()
    for key in ("timestamp", "duration_s"):
        data.pop(key)
    for check in data["checks"].values():
        check.pop("seconds")
        for key in [k for k in check.get("details", {}) if "seconds" in k or k.endswith("_s")]:
            check["details"].pop(key)
    return data


def test_check_and_a_request_give_the_same_report(venv312: Path, project: Path) -> None:
    """The keyword form and the request are one check: the same verdict, checks, messages."""
    skip = ("performance", "suite", "bytecode")
    by_keywords = preflight.check(venv312, project=project, skip=skip, timeout=120)
    request = preflight.CheckRequest(python=str(venv312), project=project, skip=skip, timeout=120)
    by_request = preflight.check_request(request)
    assert by_keywords.status == "READY", by_keywords.to_dict()
    first, second = _comparable(by_request), _comparable(by_keywords)
    assert first == second
    # one request, one field changed: the other interpreter of the project's policy
    elsewhere = preflight.check_request(dataclasses.replace(request, python=sys.executable))
    assert elsewhere.interpreter.path != by_request.interpreter.path


def test_the_cli_refuses_a_request_that_cannot_work_as_before(tmp_path: Path) -> None:
    """The CLI builds the same request: the same error, exit 3, no traceback."""
    done = run_preflight(
        "check", "--root", tmp_path, "--image", tmp_path / "a.tar", "--python", "/usr/bin/python3",
        "--project", tmp_path, "--report-dir", tmp_path / "reports", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "error: --root and --image both name what to judge" in done.stderr
    assert "hint: keep one" in done.stderr
    assert "Traceback" not in done.stderr


# The public keyword forms: they build a CheckRequest, and may take more.
_KEYWORD_FORMS = {("_engine.py", "check"), ("nox.py", "check_env")}


def _arguments(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """The arguments a caller passes, as ruff counts them (a method's ``self`` not)."""
    args = node.args
    named = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    return len([a for a in named if a.arg not in {"self", "cls"}])


def test_no_function_but_the_keyword_forms_takes_more_than_eight_arguments() -> None:
    """What ruff's PLR0913 (max-args = 8) holds, read from the source: a new option of a
    check is a field of the request, not a ninth argument copied through five signatures."""
    many = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _arguments(node) > 8:
                where = (str(path.relative_to(PACKAGE)), node.name)
                if where not in _KEYWORD_FORMS:
                    many.append(f"{where[0]}:{node.lineno} {node.name} ({_arguments(node)})")
    assert not many


def test_the_cli_builds_one_request_from_its_options(tmp_path: Path, monkeypatch: Any) -> None:
    from preflight._cli import build_parser
    from preflight._cli.check import CheckOptions

    monkeypatch.chdir(tmp_path)
    argv = [
        "check", "--python", "./venv/bin/python", "--skip", "suite", "--skip", "security",
        "--timeout", "5", "--lock", "py.txt", "--wheelhouse", "wh", "--report-dir", "out",
    ]  # fmt: skip
    options = CheckOptions.from_args(build_parser(argv).parse_args(argv))
    assert options.request == preflight.CheckRequest(
        python="./venv/bin/python",
        project=Path.cwd(),
        lock=tmp_path / "py.txt",
        skip=("suite", "security"),
        timeout=5.0,
        wheelhouse=tmp_path / "wh",
    )
    assert (options.report_dir, options.own_interpreter) == (Path("out"), False)
    argv = ["check", "--report-dir", "out"]
    options = CheckOptions.from_args(build_parser(argv).parse_args(argv))
    assert (options.request.python, options.own_interpreter) == (sys.executable, True)


class _Session:
    """What ``preflight.nox`` uses of a nox session here: its name and its error."""

    name = "preflight-3.12"

    def error(self, message: str) -> None:
        raise AssertionError(f"session.error: {message}")


def test_the_nox_sessions_build_one_request_from_their_arguments(tmp_path: Path) -> None:
    import preflight.nox as sessions
    from preflight._facts.context import NOX_REMEDIES

    (tmp_path / "pyproject.toml").write_text(
        '[tool.preflight]\npythons = ["3.12"]\nrequires = []\n'
    )
    policy = sessions.policy(tmp_path)
    options = sessions._session_options(["--skip", "suite", "--timeout", "9"], policy)
    assert options.request == preflight.CheckRequest(
        project=policy, skip=("suite",), timeout=9.0, first_start=True, remedies=NOX_REMEDIES
    )
    # check_env keeps its keyword form; what cannot work is the session's error, as before
    with pytest.raises(AssertionError, match=r"session.error: error: skip: 'integrity' is a str"):
        sessions.check_env(
            _Session(),  # type: ignore[arg-type]
            Path(sys.executable),
            project=policy,
            skip="integrity",  # type: ignore[arg-type]
        )
