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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from string import Formatter
from typing import Any

from preflight._errors import ConfigError

PLACEHOLDERS = ("python",)  # what an expected value may name: the interpreter's X.Y.Z
# What a shell can export: a name pip, nox and `env` all accept.
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

_Err = Callable[[str, str], ConfigError]


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


def parse_env_vars(value: Any, err: _Err, key: str = "env_vars") -> tuple[EnvVar, ...]:
    """A list of names or a table of name = expected value; anything else names the key."""
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise err(key, f"must be a list of names or a table of values, not {value!r}")
        return tuple(EnvVar(_name(name, err, key)) for name in dict.fromkeys(value))
    if isinstance(value, Mapping):
        return tuple(
            EnvVar(_name(name, err, key), _expected(expected, err, f"{key}.{name}"))
            for name, expected in value.items()
        )
    raise err(
        key,
        f"must be a list of names or a table of expected values "
        f'(e.g. {{APP_PYTHON_VERSION = "{{python}}"}}), not {value!r}',
    )


def _name(name: str, err: _Err, key: str) -> str:
    if not _NAME_RE.match(name):
        raise err(key, f"{name!r} is not an environment variable name (letters, digits, _)")
    return name


def _expected(value: Any, err: _Err, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise err(key, f"must be a non-empty string (the expected value), not {value!r}")
    known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
    try:
        fields = [(n, spec, conv) for _, n, spec, conv in Formatter().parse(value) if n is not None]
    except ValueError as exc:
        raise err(
            key, f"{value!r} is not a valid template ({exc}); write a literal brace as {{{{ or }}}}"
        ) from None
    for name, spec, conversion in fields:
        if name not in PLACEHOLDERS or spec or conversion:
            shown = (
                "{"
                + name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
            raise err(key, f"unknown placeholder {shown} in {value!r}; the only one is {known}")
    return value
