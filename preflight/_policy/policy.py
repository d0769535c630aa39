"""The policy: ``[tool.preflight]`` in ``pyproject.toml``, read and validated once.

This is the single source of truth for the interpreter list, the required packages, the lock
naming scheme and the thresholds. The noxfile, the CI matrix and the checks all read it here.
"""

from __future__ import annotations

import os
import string
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from preflight._errors import ConfigError, UsageError
from preflight._policy.alerts import AlertConfig, config_error, parse_alerts
from preflight._policy.audit import AuditConfig, parse_audit
from preflight._policy.environment import EnvVar, parse_env_vars
from preflight._policy.spec import PythonSpec, parse_version
from preflight._read import POLICY_LIMIT, ReadError, parse_toml, read_text
from preflight._secrets import OWN_PREFIX
from preflight._strict import Node, ShapeError, Table, shown

__all__ = [  # PythonSpec lives in spec.py; re-exported here, where the public API finds it
    "Classification",
    "Policy",
    "PythonSpec",
    "PythonStatus",
    "Thresholds",
    "load_policy",
    "policy_from_table",
    "version_or_none",
]

DEFAULT_IGNORED = ("pip", "setuptools", "wheel")
DEFAULT_LOCK = "requirements/py{major}.{minor}.txt"


PythonStatus = Literal["primary", "fallback", "unsupported"]


@dataclass(frozen=True)
class Classification:
    """How the policy sees one interpreter version: the one answer the check, the report's
    ``python_status`` and the engine share.

    ``substitute`` is True when a patch-level substitute was requested and accepted: ``spec``
    is then the pin it stands in for. ``refused`` says why a requested substitute was not
    accepted (the version is then unsupported).
    """

    status: PythonStatus
    spec: PythonSpec | None = None  # the matching spec, or the pin a substitute stands in for
    substitute: bool = False
    refused: str | None = None


@dataclass(frozen=True)
class Thresholds:
    """Performance thresholds in seconds (the seed's: imports 2 s, whole test 5 s)."""

    max_import_seconds: float = 2.0
    max_total_seconds: float = 5.0


@dataclass(frozen=True)
class Policy:
    path: Path  # the pyproject.toml it came from
    pythons: tuple[PythonSpec, ...]
    requires: tuple[Requirement, ...]
    lock: str = DEFAULT_LOCK  # template with {major} and {minor}, relative to the project
    ignore: tuple[NormalizedName, ...] = tuple(canonicalize_name(n) for n in DEFAULT_IGNORED)
    # The defaults are an adopter's: a policy of only `pythons` and `requires` passes on a
    # clean, freshly built environment. The seed's SMVM_* settings are this project's own.
    lock_max_age_days: float = 90.0  # a committed lock goes stale in months, not in a day
    env_vars: tuple[EnvVar, ...] = ()  # none required unless named
    config_file: str | None = None  # no config file is checked unless named
    config_file_required: bool = False  # only with a config_file
    protected_files: tuple[str, ...] = ()  # besides the lock in use, which is always checked
    performance: Thresholds = field(default_factory=Thresholds)
    perf_imports: tuple[str, ...] | None = None  # None: derived from `requires`
    suite: str | None = None  # the project's own pytest folder, run inside the environment
    # File names of the start-up hooks allowed (a .pth, sitecustomize.py...); None: the
    # default (owned hooks pass, unowned ones do not); once set, any other hook is refused.
    startup_hooks: tuple[str, ...] | None = None
    suite_timeout_seconds: float = 600.0
    alerts: AlertConfig = field(default_factory=AlertConfig)  # [tool.preflight.alerts]
    audit: AuditConfig = field(default_factory=AuditConfig)  # [tool.preflight.audit]

    @property
    def project_dir(self) -> Path:
        return self.path.parent

    @property
    def primary(self) -> PythonSpec:
        return self.pythons[0]

    def lock_path(self, version: str | Version) -> Path:
        """The lock for an interpreter version, e.g. requirements/py3.12.txt."""
        v = version if isinstance(version, Version) else Version(version)
        return self.project_dir / self.lock.format(major=v.major, minor=v.minor)

    def classify(self, version: str | Version, substitute_for: str | None = None) -> Classification:
        """Primary, fallback or unsupported; with ``substitute_for`` (an exact pin of the policy),
        a version that matches no spec but may stand in for that pin counts as the pin.

        Pass an interpreter's version with its release level (``interpreter_version``): a
        pre-release matches its spec (the check warns) but never stands in for a pin."""
        for index, spec in enumerate(self.pythons):
            if spec.matches(version):
                return Classification(_status(index), spec)
        if substitute_for is None:
            return Classification("unsupported")
        for index, spec in enumerate(self.pythons):
            if str(spec) == substitute_for:
                why = spec.why_not_substitute(version)
                if why is None:
                    return Classification(_status(index), spec, substitute=True)
                return Classification("unsupported", refused=why)
        return Classification(
            "unsupported",
            refused="a substitute must be another patch release of a pin of the policy",
        )

    def check_substitute_for(self, spec: str | None) -> None:
        """``substitute_for`` must name an exact pin of the policy (a X.Y takes any patch)."""
        pins = [str(s) for s in self.pythons if s.exact]
        if spec is not None and spec not in pins:
            raise UsageError(
                f"--substitute-for {spec}: not an exact pin of the policy",
                hint=f"the policy's exact pins: {', '.join(pins) or 'none'}",
            )

    def status_of(self, version: str | Version, substitute_for: str | None = None) -> PythonStatus:
        """primary | fallback | unsupported, a requested substitute counted as its pin."""
        return self.classify(version, substitute_for).status

    def session_environ(self, python_version: str) -> dict[str, str]:
        """What a front end that builds the environment exports into it: the table form of
        ``env_vars`` with ``{python}`` as ``python_version`` (X.Y.Z). The list form names no
        values, so it gives nothing."""
        values = {var.name: var.expected_for(python_version) for var in self.env_vars}
        return {name: value for name, value in values.items() if value is not None}

    def secret_variables(self) -> tuple[str, ...]:
        """The variables that hold the alerts' credentials (besides every ``PREFLIGHT_*``), and
        the ``NAME_FILE`` variables naming files that hold them: never handed to the judged
        environment, never checked or reported."""
        names = []
        if self.alerts.smtp is not None:
            names += [self.alerts.smtp.user_env, self.alerts.smtp.password_env]
        if self.alerts.webhook is not None:
            names.append(self.alerts.webhook.url_env)
        return tuple(dict.fromkeys([n for name in names for n in (name, f"{name}_FILE")]))

    def import_names(self) -> tuple[str, ...]:
        """Modules the performance check imports: the policy's, or one per requirement."""
        if self.perf_imports is not None:
            return self.perf_imports
        return tuple(canonicalize_name(r.name).replace("-", "_") for r in self.requires)


def _status(index: int) -> PythonStatus:
    return "primary" if index == 0 else "fallback"


# --- loading -----------------------------------------------------------------------------

_KNOWN_KEYS = {
    "pythons",
    "requires",
    "lock",
    "ignore",
    "lock_max_age_days",
    "env_vars",
    "config_file",
    "config_file_required",
    "protected_files",
    "performance",
    "suite",
    "suite_timeout_seconds",
    "startup_hooks",
    "alerts",
    "audit",
}
_PERF_KEYS = {"max_import_seconds", "max_total_seconds", "imports"}


def load_policy(project: str | os.PathLike[str]) -> Policy:
    """Read and validate ``[tool.preflight]`` from ``project/pyproject.toml`` (or that file)."""
    project = Path(project)
    path = project if project.name == "pyproject.toml" else project / "pyproject.toml"
    try:
        data = parse_toml(read_text(path, what="a pyproject.toml", limit=POLICY_LIMIT))
    except ReadError as exc:
        if exc.kind == "missing":
            raise ConfigError(
                path, None, "file not found", hint="pass --project DIR pointing at your project"
            ) from None
        where = f"line {exc.line}: " if exc.line is not None else ""
        raise ConfigError(path, None, f"cannot be read: {where}{exc.problem}") from None
    except ValueError as exc:  # TOML, a 5000-digit integer, nesting (parse_toml)
        raise ConfigError(path, None, f"is not valid TOML: {exc}") from None
    tool = data.get("tool", {})
    if not isinstance(tool, Mapping):
        raise ConfigError(path, None, "[tool] must be a table (here it is not)")
    table = tool.get("preflight")
    if table is None:
        raise ConfigError(
            path,
            None,
            "has no [tool.preflight] table",
            hint='add one, e.g. [tool.preflight] pythons = ["3.12"] requires = ["requests>=2"]',
        )
    if not isinstance(table, Mapping):
        raise ConfigError(path, None, "[tool.preflight] must be a table")
    return policy_from_table(path, table)


def policy_from_table(path: Path, table: Mapping[str, Any]) -> Policy:
    try:
        return _policy(path, Node(table).table(_KNOWN_KEYS))
    except ShapeError as exc:
        raise config_error(path, exc) from None


def _policy(path: Path, table: Table) -> Policy:
    pythons = tuple(_parse_pythons(table["pythons"]))
    requires = tuple(_parse_requires(table["requires"]))
    optional: dict[str, Callable[[Node], Any]] = {
        "lock": _parse_lock_template,
        "ignore": lambda node: tuple(canonicalize_name(n) for n in node.strings()),
        "lock_max_age_days": _positive_number,
        "env_vars": parse_env_vars,
        "config_file": lambda node: node.string(),
        "config_file_required": lambda node: node.boolean(),
        "protected_files": lambda node: tuple(node.strings()),
        "suite": lambda node: node.string(),
        "suite_timeout_seconds": _positive_number,
        "startup_hooks": _file_names,
        "alerts": lambda node: parse_alerts(path, node.value),
        "audit": lambda node: parse_audit(path, node.value),
    }
    kwargs: dict[str, Any] = {
        key: parse(node) for key, parse in optional.items() if (node := table.get(key)) is not None
    }
    if (node := table.get("performance")) is not None:
        kwargs.update(_parse_performance(node))
    if kwargs.get("config_file_required") and "config_file" not in kwargs:
        raise table.error(
            "config_file_required",
            'needs config_file: name the file that must exist, e.g. config_file = ".app_config"',
        )
    policy = Policy(path=path, pythons=pythons, requires=requires, **kwargs)
    secrets = set(policy.secret_variables())
    for var in policy.env_vars:
        if var.name.startswith(OWN_PREFIX) or var.name in secrets:
            raise table.error(
                "env_vars",
                f"{var.name} holds a credential of preflight's own: the check would write its "
                "value into the report",
            )
    return policy


def _parse_performance(node: Node) -> dict[str, Any]:
    perf = node.table(_PERF_KEYS, example="[tool.preflight.performance]")
    limits = {
        key: _positive_number(perf[key])
        for key in ("max_import_seconds", "max_total_seconds")
        if perf.has(key)
    }
    parsed: dict[str, Any] = {"performance": Thresholds(**limits)}
    if (imports := perf.get("imports")) is not None:
        parsed["perf_imports"] = tuple(imports.strings())
    return parsed


# --- validators ----------------------------------------------------------------------------


def _file_names(node: Node) -> tuple[str, ...]:
    """A list of bare file names (``distutils-precedence.pth``, ``sitecustomize.py``)."""
    names = node.strings()
    for name in names:
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
            raise node.error(
                f"{name!r} is not a file name: list the hooks' file names, e.g. "
                '["distutils-precedence.pth", "sitecustomize.py"]',
            )
    return tuple(names)


_LARGEST = 1e9  # no threshold, age or timeout of this policy needs more (seconds: 31 years)


def _positive_number(node: Node) -> float:
    """A finite number more than 0 and at most 1e9 (nan, inf and 400-digit integers refused)."""
    return node.number(positive=True, maximum=_LARGEST)


def _parse_pythons(node: Node) -> list[PythonSpec]:
    values = node.strings()
    if not values:
        raise node.error('must name at least one interpreter, e.g. ["3.12"]')
    specs = []
    for text in values:
        try:
            specs.append(PythonSpec.parse(text))
        except ValueError as exc:
            raise node.error(str(exc)) from None
    counts = Counter(s.minor for s in specs)  # linear: 40,000 entries must not take seconds
    duplicated = sorted(m for m, n in counts.items() if n > 1)
    if duplicated:
        # One lock per X.Y: two entries of the same minor would share (and fight over) it.
        raise node.error(f"names {duplicated[0]} twice; each X.Y has one lock")
    return specs


def _parse_requires(node: Node) -> list[Requirement]:
    reqs = []
    for text in node.strings():
        try:
            reqs.append(Requirement(text))
        except InvalidRequirement as exc:
            raise node.error(f"{text!r} is not a PEP 508 requirement: {exc}") from None
    return reqs


def _parse_lock_template(node: Node) -> str:
    """A path, with ``{major}`` and ``{minor}`` exactly: no other field, attribute, index or
    format spec. Without them, it names one lock for every interpreter (a universal lock:
    ``preflight relock --universal``)."""
    value = node.value
    if not isinstance(value, str) or not value.strip():
        raise node.error(
            "must be a path: a template using {major} and {minor} (one lock per X.Y), or one "
            f"lock for every interpreter, not {shown(value)}",
        )
    try:
        fields = [
            (name, spec, conversion)
            for _, name, spec, conversion in string.Formatter().parse(value)
            if name is not None
        ]
    except ValueError as exc:
        raise node.error(f"bad template {shown(value)}: {exc}") from None
    bad = [
        name
        for name, spec, conversion in fields
        if name not in ("major", "minor") or spec or conversion
    ]
    if bad:
        raise node.error(
            f"bad template {shown(value)}: only {{major}} and {{minor}} exist, not {{{bad[0]}}}",
        )
    return value


def version_or_none(text: str) -> Version | None:
    """The version ``text`` is, or None (not PEP 440, or over :data:`VERSION_LIMIT`)."""
    try:
        return parse_version(text)
    except InvalidVersion:
        return None
