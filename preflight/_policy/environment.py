"""``env_vars``: the variables the checked application needs, and what they must say.

Two forms, both judged by the ``environment_config`` check:

* a list of names, ``env_vars = ["APP_PYTHON_VERSION", "APP_MODE"]``: each must be set, to any
  value, except that a ``*_PYTHON_VERSION`` one must agree with the interpreter;
* a table of expected values, ``env_vars = {APP_PYTHON_VERSION = "{python}", APP_MODE = "prod"}``:
  each must be set to exactly that value, ``{python}`` being the judged interpreter's X.Y.Z.
  Because the values are known, a front end that builds the environment (the nox session) can
  export them itself (:meth:`~preflight._policy.policy.Policy.session_environ`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from string import Formatter

from preflight._strict import Node, shown

PLACEHOLDERS = ("python",)  # what an expected value may name: the interpreter's X.Y.Z
# What a shell can export: a name pip, nox and `env` all accept.
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class EnvVar:
    """One variable of ``env_vars``: it must be set; with ``expected``, to exactly that value."""

    name: str
    expected: str | None = None  # a template with {python}; None: any value (the list form)

    def expected_for(self, python_version: str) -> str | None:
        """The value this variable must have for an interpreter of ``python_version``."""
        if self.expected is None:
            return None
        return self.expected.format(python=python_version)


def parse_env_vars(node: Node) -> tuple[EnvVar, ...]:
    """A list of names or a table of name = expected value; anything else names the key."""
    value = node.value
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise node.error(f"must be a list of names or a table of values, not {shown(value)}")
        return tuple(EnvVar(_name(name, node)) for name in dict.fromkeys(node.strings()))
    if isinstance(value, Mapping):
        return tuple(
            EnvVar(_name(name, node), _expected(expected))
            for name, expected in node.table().nodes()
        )
    raise node.error(
        f"must be a list of names or a table of expected values "
        f'(e.g. {{APP_PYTHON_VERSION = "{{python}}"}}), not {shown(value)}',
    )


def _name(name: str, node: Node) -> str:
    if not _NAME_RE.match(name):
        raise node.error(f"{name!r} is not an environment variable name (letters, digits, _)")
    return name


def _expected(node: Node) -> str:
    value = node.value
    if not isinstance(value, str) or not value:
        raise node.error(f"must be a non-empty string (the expected value), not {shown(value)}")
    known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
    try:
        fields = [(n, spec, conv) for _, n, spec, conv in Formatter().parse(value) if n is not None]
    except ValueError as exc:
        raise node.error(
            f"{value!r} is not a valid template ({exc}); write a literal brace as {{{{ or }}}}"
        ) from None
    for name, spec, conversion in fields:
        if name not in PLACEHOLDERS or spec or conversion:
            written = (
                "{"
                + name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
            raise node.error(f"unknown placeholder {written} in {value!r}; the only one is {known}")
    return value
