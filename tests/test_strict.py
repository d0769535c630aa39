"""The one strict reader of untrusted values: every getter checks the type, bounds the value
and names the key it is at; the policy's tables read through it say so in their errors."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from preflight._errors import ConfigError
from preflight._policy.alerts import parse_alerts
from preflight._policy.audit import parse_audit
from preflight._strict import MAX_INT, Node, ShapeError


def refused(call: Any) -> ShapeError:
    with pytest.raises(ShapeError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize("value", [True, False, 1.0, "1", None, [1], -1, 11, 10**400])
def test_an_integer_is_a_whole_number_in_its_bounds_never_a_bool(value: Any) -> None:
    error = refused(lambda: Node(value, "a.b").integer(minimum=0, maximum=10))
    assert error.key == "a.b"
    assert str(error).startswith("key 'a.b': must be a whole number from 0 to 10, not ")
    assert len(str(error)) < 120  # a 400-digit number is said to be one, not printed


def test_an_integer_without_a_stated_maximum_is_still_bounded() -> None:
    assert Node(MAX_INT).integer(minimum=0) == MAX_INT
    assert "a number of about 30 digits" in str(
        refused(lambda: Node(10**30, "n").integer(minimum=0))
    )


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, True, -0.5, 5.5, 10**400, "1"])
def test_a_number_is_finite_in_its_bounds_never_a_bool(value: Any) -> None:
    error = refused(lambda: Node(value, "wait").number(maximum=5))
    assert str(error).startswith("key 'wait': must be a number >= 0, at most 5, not ")


def test_numbers_in_bounds_are_read() -> None:
    assert Node(3).number(maximum=5) == 3.0
    assert Node(0).number(maximum=5) == 0.0
    assert "positive" in str(refused(lambda: Node(0, "t").number(maximum=5, positive=True)))


def test_strings_are_bounded_and_not_blank() -> None:
    assert Node("x" * 10).string(max_length=10) == "x" * 10
    assert "11 characters long, more than 10" in str(
        refused(lambda: Node("x" * 11, "s").string(max_length=10))
    )
    assert "non-empty string" in str(refused(lambda: Node("  ", "s").string()))
    assert Node("", "s").string(empty=True) == ""
    assert "must be a string, not 3" in str(refused(lambda: Node(3, "s").string(empty=True)))


def test_a_table_names_the_unknown_key_and_its_members_their_full_key() -> None:
    error = refused(lambda: Node({"port": 1, "prot": 2}, "smtp").table({"port"}))
    assert error.key == "smtp.prot"
    assert error.problem == "unknown key; expected one of: port"
    table = Node({"inner": {"deep": [1, 2, "three"]}}, "doc").table()
    deep = table["inner"].table()["deep"].items()
    assert [node.key for node in deep] == ["doc.inner.deep[0]", "doc.inner.deep[1]",
                                           "doc.inner.deep[2]"]  # fmt: skip
    assert refused(lambda: deep[2].integer(minimum=0)).key == "doc.inner.deep[2]"
    assert refused(lambda: table["missing"]).problem == "is required"
    assert table.get("missing") is None


def test_a_table_with_keys_that_are_not_strings_is_refused() -> None:
    assert "must be a table" in str(refused(lambda: Node({1: "x"}, "t").table()))
    assert "must be a table, e.g. [x], not 5" in str(
        refused(lambda: Node(5, "t").table(example="[x]"))
    )


def test_lists_are_bounded() -> None:
    assert len(Node([0] * 3).items(max_items=3)) == 3
    assert "holds 4 elements, more than 3" in str(
        refused(lambda: Node([0] * 4, "l").items(max_items=3))
    )
    assert "must be a list" in str(refused(lambda: Node("abc", "l").items()))


def test_booleans_and_choices() -> None:
    assert Node(True).boolean() is True
    assert "true or false, not 1" in str(refused(lambda: Node(1, "b").boolean()))
    assert Node("ssl").choice(["ssl", "none"]) == "ssl"
    assert "must be one of 'ssl', 'none', not 'tls'" in str(
        refused(lambda: Node("tls", "c").choice(["ssl", "none"]))
    )


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        # On main a 31-digit threshold was taken (no bound on a whole number without a maximum).
        ({"warning_threshold": 10**30}, "alerts.warning_threshold", "a number of about 30 digits"),
        ({"retries": True}, "alerts.retries", "must be a whole number from 0 to 10, not True"),
        ({"cooldown_minutes": math.nan}, "alerts.cooldown_minutes", "not nan"),
        ({"smtp": {"host": "h", "from": "a@b", "to": ["c@d"], "port": 0}}, "alerts.smtp.port",
         "from 1 to 65535"),
        ({"webhook": {"timeout_seconds": math.inf}}, "alerts.webhook.timeout_seconds", "not inf"),
        ({"smtp": "smtp.example.com"}, "alerts.smtp", "must be a table, e.g. "
         "[tool.preflight.alerts.smtp], not 'smtp.example.com'"),
    ],
)  # fmt: skip
def test_the_alerts_table_is_read_strictly_naming_file_and_key(
    table: dict[str, Any], key: str, message: str
) -> None:
    path = Path("/project/pyproject.toml")
    with pytest.raises(ConfigError) as caught:
        parse_alerts(path, table)
    assert caught.value.key == key
    assert str(caught.value).startswith(f"{path}: [tool.preflight] key {key!r}: ")
    assert message in str(caught.value)


def test_the_audit_table_names_the_entry_of_a_bad_date() -> None:
    path = Path("/project/pyproject.toml")
    table = {"ignore": [{"id": "A", "reason": "r"}, {"id": "B", "reason": "r", "until": 20261231}]}
    with pytest.raises(ConfigError) as caught:
        parse_audit(path, table)
    assert caught.value.key == "audit.ignore[1].until"
    assert "must be a date, e.g. 2026-12-31" in str(caught.value)


def test_a_hex_digest_is_its_length_of_lowercase_hex() -> None:
    digest = "0123456789abcdef" * 4
    assert Node(digest).hex_digest() == digest
    for value in [digest.upper(), digest[:-1], digest + "0", 64, None, "g" * 64]:
        error = refused(lambda value=value: Node(value, "x.sha256").hex_digest())
        assert error.key == "x.sha256"
        assert error.problem.startswith("must be a sha256 (64 lowercase hex digits), not ")


def test_a_plain_value_is_json_bounded_in_depth_and_numbers_naming_the_first_bad_key() -> None:
    good = {"a": [1, -2.5, None, True, "x", {"b": []}], "c": -MAX_INT}
    assert Node(good, "d").plain() is good
    cases: list[tuple[Any, str, str]] = [
        ({"a": [0, {"b": math.nan}]}, "d.a[1].b", "must be a finite number, not nan"),
        ({"a": 10**400}, "d.a", "not a number of about 400 digits"),
        ({"a": {1: "x"}}, "d.a", "must be a table with text keys"),
        ({"a": b"x"}, "d.a", "is not a JSON value but b'x'"),
        ({"a": [[[[]]]]}, "d.a[0][0]", "is nested more than 3 lists or tables deep"),
    ]
    for value, key, problem in cases:
        error = refused(lambda value=value: Node(value, "d").plain(max_depth=3))
        assert (error.key, problem in error.problem) == (key, True), error
    assert Node([[[]]]).plain(max_depth=3) == [[[]]]


def test_a_reader_keeps_its_own_words_for_a_table() -> None:
    said = {"problem": "is not a JSON object", "unknown": "unknown key", "missing": "is missing"}
    assert refused(lambda: Node([], "r").table(**said)).problem == "is not a JSON object"
    error = refused(lambda: Node({"z": 1, "a": 2}, "r").table({"b"}, **said))
    assert (error.key, error.problem) == ("r.z", "unknown key")  # the first in the document
    assert refused(lambda: Node({}, "r").table(**said)["b"]).problem == "is missing"
    assert str(refused(lambda: Node(0, "l").integer(minimum=1, what="a line number"))) == (
        "key 'l': must be a line number >= 1, not 0"
    )
