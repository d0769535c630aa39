"""The forms of requirements-file locks pip reads, one by one, and how wheel_status judges the
entries they give (pip's reading itself is compared in test_lock_corpus.py).

Boundary: one form per test (encodings, URL lines, options); whole files and refusals are
test_lockfile.py, what every format shares test_lock_format.py.
"""

from __future__ import annotations

from pathlib import Path

import factories as f
import pytest

from preflight._checks.result import Severity, Status
from preflight._checks.wheel_status import wheel_status
from preflight._errors import LockError
from preflight._lock.requirements import LockNote, parse_lock, parse_lock_text

H = "--hash=sha256:" + "a" * 64


def read(tmp_path: Path, data: bytes) -> object:
    path = tmp_path / "lock.txt"
    path.write_bytes(data)
    return parse_lock(path)


def refused(tmp_path: Path, data: bytes) -> LockError:
    with pytest.raises(LockError) as info:
        read(tmp_path, data)
    return info.value


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-8-sig"])
def test_a_byte_order_mark_decides_the_encoding(tmp_path: Path, encoding: str) -> None:
    lock = read(tmp_path, f"# café\nfoo==1 {H}\n".encode(encoding))
    assert [(e.name, e.line) for e in lock.entries] == [("foo", 2)]  # type: ignore[attr-defined]


def test_a_coding_line_decides_the_encoding(tmp_path: Path) -> None:
    lock = read(tmp_path, "#\n# -*- coding: latin-1 -*-\n# café\nfoo==1\n".encode("latin-1"))
    assert lock.entries[0].line == 4  # type: ignore[attr-defined]


def test_a_coding_line_on_the_third_line_does_not_count(tmp_path: Path) -> None:
    exc = refused(tmp_path, "#\n#\n# -*- coding: latin-1 -*-\n# café\nfoo==1\n".encode("latin-1"))
    assert exc.line == 4
    assert "not UTF-8" in exc.message
    assert "preflight refuses it" in exc.message


def test_a_file_that_is_not_what_its_coding_line_says(tmp_path: Path) -> None:
    exc = refused(tmp_path, b"# coding: ascii\nfoo==1\n# caf\xc3\xa9\n")
    assert exc.line == 3
    assert "not ascii, as its coding line (ascii) says" in exc.message


@pytest.mark.parametrize("name", ["klingon", "rot13", "hex", "base64"])
def test_an_unknown_coding_line(tmp_path: Path, name: str) -> None:
    # rot13, hex and base64 are codecs, not text encodings: bytes.decode refuses them.
    exc = refused(tmp_path, f"# -*- coding: {name} -*-\nfoo==1\n".encode())
    assert exc.line == 1
    assert f"{name!r}, which is not a text encoding Python knows" in exc.message


def test_url_lines_are_named_by_egg_or_wheel(tmp_path: Path) -> None:
    text = (
        "git+https://github.com/example/tool.git@stable/1.1#egg=django-oauth-toolkit\n"
        "file:.#egg=jsonschema\n"
        "https://example.invalid/w/demo_pkg-1.0-py3-none-any.whl; os_name == 'nt'\n"
    )
    lock = parse_lock_text(text, tmp_path / "l.txt")
    assert [(e.name, e.version, e.markers, e.legacy_url) for e in lock.entries] == [
        ("django-oauth-toolkit", None, None, True),
        ("jsonschema", None, None, True),
        ("demo-pkg", "1.0", 'os_name == "nt"', True),
    ]
    assert not any(e.pinned for e in lock.entries)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("https://example.invalid/thing.tar.gz\n", "cannot tell which package"),
        ("git+https://x.invalid/r.git#egg=a[b]\n", "which is not a project name"),
        ("./vendor/thing-1.0.tar.gz\n", "is a local path"),
        ("foo @ ${BASE}/foo-1.0.whl\n", "${BASE} is expanded by pip from the environment"),
        ("foo==1 --hash=md5:abc\n", "pip allows only sha256, sha384, sha512"),
        ("foo==1 --no-\n", "ambiguous option '--no-'"),
        ("foo==1 --pre=yes\n", "--pre takes no value"),
        ("foo==1 --pre bar==2\n", "pip would silently ignore 'bar==2'"),
        ("foo==1 -e ./x\n", "pip would install that requirement as editable"),
        ("-e ./a#egg=a -e ./b#egg=b\n", "two -e on one line"),
        (f"foo==1\t{H}\n", "pip splits a line's options on spaces only"),
        ("foo==1 --hash='sha256:aa\n", "pip cannot split the options"),
    ],
)
def test_forms_pip_refuses_or_preflight_refuses_on_purpose(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(LockError) as info:
        parse_lock_text(text, tmp_path / "l.txt")
    assert message in f"{info.value} (hint: {info.value.hint})"


def test_options_as_optparse_reads_them(tmp_path: Path) -> None:
    lock = parse_lock_text(
        "foo==1 --ha sha256:aa --hash=sha384:bb -C k=v\nbar @ https://x.invalid/bar-2.whl;"
        "python_version>='3'\n",
        tmp_path / "l.txt",
    )
    foo, bar = lock.entries
    assert foo.hashes == ("sha256:aa", "sha384:bb")
    assert bar.url == "https://x.invalid/bar-2.whl"
    assert bar.markers == 'python_version >= "3"'


def test_wheel_status_names_a_url_line_and_warns_of_notes() -> None:
    url = "git+https://github.com/example/tool.git@v1#egg=tool"
    lk = f.lock(
        f.entry("numpy", "2.2.6", 1),
        f.entry("pandas", "2.3.3", 4),
        f.entry("tool", None, 7, specifier="", url=url, legacy_url=True),
    )
    lk = type(lk)(lk.path, lk.entries, lk.header, (LockNote(9, "line 9 repeats line 1 (numpy)"),))
    result = wheel_status(f.context(lock=lk))
    assert result.status is Status.FAIL
    found = {(x.severity, x.message) for x in result.findings}
    assert (
        Severity.CRITICAL,
        f"{lk.path}, line 7: tool comes from {url} (a URL line named by its #egg= fragment or "
        "wheel filename), not an index pin",
    ) in found
    assert (Severity.WARNING, f"{lk.path}, line 9: line 9 repeats line 1 (numpy)") in found
