"""The interpreter spec: parsing, the X.Y of a version, and which release may stand in for a pin."""

from __future__ import annotations

import pytest
from packaging.version import InvalidVersion, Version

from preflight._interpreters.resolve import resolve
from preflight._policy.spec import PythonSpec, minor_of, same_minor


@pytest.mark.parametrize(
    ("text", "release", "exact", "minor"),
    [
        ("3.12", (3, 12), False, "3.12"),
        ("3.11.13", (3, 11, 13), True, "3.11"),
        (" 3.12 ", (3, 12), False, "3.12"),
    ],
)
def test_parse(text: str, release: tuple[int, ...], exact: bool, minor: str) -> None:
    spec = PythonSpec.parse(text)
    assert spec.release == release
    assert spec.exact is exact
    assert spec.minor == minor
    assert str(spec) == text.strip()


@pytest.mark.parametrize(
    "text", ["3", "", "3.12.1.2", "py3.12", "3.x", "3.12.*", ">=3.12", "3.12a", "3.١٢"]
)
def test_parse_errors_name_the_text_and_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match="is not an interpreter spec") as info:
        PythonSpec.parse(text)
    assert repr(text) in str(info.value)
    assert "'X.Y' for any X.Y.z or 'X.Y.Z' for exactly that release" in str(info.value)
    # The str edge of resolve parses with the same rule.
    with pytest.raises(ValueError, match="is not an interpreter spec"):
        resolve(text, [])


@pytest.mark.parametrize(
    ("version", "minor"),
    [
        ("3.12.1", "3.12"),
        ("3.12", "3.12"),
        ("3.13.0rc1", "3.13"),
        ("3.10.13", "3.10"),  # not "3.1": versions are not strings
        (Version("3.11.7"), "3.11"),
    ],
)
def test_minor_of(version: str | Version, minor: str) -> None:
    assert minor_of(version) == minor


def test_minor_of_text_that_is_not_a_version_is_an_error() -> None:
    with pytest.raises(InvalidVersion):
        minor_of("three")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("3.12.1", "3.12", True),
        ("3.12.1", Version("3.12.9"), True),
        ("3.1.2", "3.12.1", False),
        ("3.12.1", "", False),
        ("garbled", "garbled", False),  # read from a file: not a version is never "the same"
    ],
)
def test_same_minor(a: str | Version, b: str | Version, same: bool) -> None:
    assert same_minor(a, b) is same


@pytest.mark.parametrize(
    ("pin", "version", "why"),
    [
        ("3.11.13", "3.11.7", None),
        ("3.11.13", "3.11.14", None),  # a newer patch release stands in too
        ("3.11.13", Version("3.11.2"), None),
        ("3.11.13", "3.11.14rc1", "a final release"),
        ("3.11.13", "3.11.14.dev0", "a final release"),
        ("3.11.13", "3.10.13", "another patch release of a pin"),
        ("3.11.13", "3.1.13", "another patch release of a pin"),
        ("3.11.13", "3.11.13", "itself"),
        ("3.12", "3.12.1", "not an exact pin"),  # a X.Y spec takes any patch: no substitute
        ("3.12", "3.11.7", "another patch release of a pin"),
    ],
)
def test_accepts_substitute(pin: str, version: str | Version, why: str | None) -> None:
    spec = PythonSpec.parse(pin)
    assert spec.accepts_substitute(version) is (why is None)
    reason = spec.why_not_substitute(version)
    if why is None:
        assert reason is None
    else:
        assert reason is not None
        assert why in reason
