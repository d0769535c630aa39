"""The wheelhouse fetcher (preflight/_ops/fetch.py) against a real index on loopback.

The index is ``http.server`` on 127.0.0.1 in a thread, serving PEP 691 JSON pages and tiny
wheels written by the test (``tests/wheelhouse.py``); the target's tags come from a real
interpreter's ``-I -S`` probe. Nothing here leaves the loopback interface.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import loopback
import pytest
import wheelhouse

from preflight._ops import fetch

HOST = "127.0.0.1"
Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Index:
    """A simple index on loopback: ``pages`` (project -> files) and ``routes`` (path -> a
    handler answering the request itself)."""

    port: int = 0
    files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    routes: dict[str, Handler] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/simple/"

    def add(self, project: str, path: Path, *, served: bytes | None = None) -> str:
        """List ``path`` on the project's page with its sha256; serve ``served`` (default:
        its own bytes) at its URL. Returns ``sha256:HEX`` as a lock writes it."""
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        self.blobs[f"/files/{path.name}"] = data if served is None else served
        self.files.setdefault(project, []).append(
            {"filename": path.name, "url": f"/files/{path.name}", "hashes": {"sha256": digest}}
        )
        return f"sha256:{digest}"


@pytest.fixture
def index() -> Iterator[Index]:
    served = Index()

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.requests.append(self.path)
            if self.path in served.routes:
                served.routes[self.path](self)
                return
            parts = self.path.strip("/").split("/")
            if len(parts) == 2 and parts[0] == "simple" and parts[1] in served.files:
                body = json.dumps({"meta": {"api-version": "1.0"}, "name": parts[1],
                                   "files": served.files[parts[1]]}).encode()  # fmt: skip
                self.answer(200, "application/vnd.pypi.simple.v1+json", body)
            elif self.path in served.blobs:
                self.answer(200, "application/octet-stream", served.blobs[self.path])
            else:
                self.answer(404, "text/plain", b"not here")

        def answer(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((HOST, 0), Answer)
    server.daemon_threads = True
    served.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def target() -> fetch.Target:
    """The tags of the interpreter running the tests, from its own -I -S probe."""
    return fetch.probe_target(sys.executable)


def sources(*indexes: str, links: tuple[str, ...] = ()) -> Callable[[Sequence[str]], fetch.Sources]:
    return lambda options: fetch.Sources(tuple(indexes), links)


def lock_of(*pins: tuple[str, str, list[str]]) -> str:
    return "".join(
        f"{name}=={version} " + " ".join(f"--hash={h}" for h in hashes) + "\n"
        for name, version, hashes in pins
    )


def renamed(wheel: Path, folder: Path, tag: str) -> Path:
    """The bytes of ``wheel`` under another tag's file name, in ``folder``."""
    name, version = wheel.name.split("-")[:2]
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(wheel, folder / f"{name}-{version}-{tag}.whl"))


def kept(house: Path) -> list[str]:
    return sorted(p.name for p in house.iterdir()) if house.exists() else []


def test_the_file_is_chosen_by_its_hash_among_several(
    tmp_path: Path, index: Index, target: fetch.Target
) -> None:
    other = wheelhouse.build_wheel(tmp_path / "a", "alpha", "1.0", files={"alpha/x.py": "1\n"})
    locked = wheelhouse.build_wheel(tmp_path / "b", "alpha", "1.0", files={"alpha/x.py": "2\n"})
    index.add("alpha", other)  # listed first, same name, not the lock's bytes
    renamed_locked = renamed(locked, tmp_path / "c", "py2.py3-none-any")
    digest = index.add("alpha", renamed_locked)
    house = tmp_path / "house"
    done = fetch.fetch_lock(
        lock_of(("alpha", "1.0", [digest])), house, target=target, sources=sources(index.url)
    )
    assert done.downloaded == ["alpha-1.0-py2.py3-none-any.whl"]
    assert kept(house) == ["alpha-1.0-py2.py3-none-any.whl"]
    assert (house / renamed_locked.name).read_bytes() == locked.read_bytes()
    assert "/files/alpha-1.0-py3-none-any.whl" not in index.requests  # never fetched


def test_the_wheel_for_another_platform_is_skipped_and_the_best_tag_chosen(
    tmp_path: Path, index: Index, target: fetch.Target
) -> None:
    best = str(target.tags[0])  # e.g. cp311-cp311-manylinux_2_39_x86_64
    python = best.split("-", maxsplit=1)[0]
    pure = wheelhouse.build_wheel(tmp_path / "p", "beta", "2.0", files={"beta/a.py": "1\n"})
    native = wheelhouse.build_wheel(tmp_path / "n", "beta", "2.0", files={"beta/a.py": "2\n"})
    foreign = wheelhouse.build_wheel(tmp_path / "f", "beta", "2.0", files={"beta/a.py": "3\n"})
    foreign_wheel = renamed(foreign, tmp_path / "fw", f"{python}-{python}-win_amd64")
    native_wheel = renamed(native, tmp_path / "nw", best)
    hashes = [index.add("beta", foreign_wheel), index.add("beta", pure)]
    house = tmp_path / "house"
    lock = lock_of(("beta", "2.0", [*hashes, wheelhouse.file_hash(native_wheel)]))
    # Only the other platform's wheel and the pure one are listed: the pure one.
    done = fetch.fetch_lock(lock, house, target=target, sources=sources(index.url))
    assert done.downloaded == [pure.name]
    assert f"/files/{foreign_wheel.name}" not in index.requests
    # The native wheel listed too: it ranks first for this interpreter.
    index.add("beta", native_wheel)
    shutil.rmtree(house)
    done = fetch.fetch_lock(lock, house, target=target, sources=sources(index.url))
    assert done.downloaded == [native_wheel.name]
    assert kept(house) == [native_wheel.name]


def test_bytes_that_are_not_the_locked_ones_are_refused_and_nothing_is_kept(
    tmp_path: Path, index: Index, target: fetch.Target
) -> None:
    wheel = wheelhouse.build_wheel(tmp_path / "w", "gamma", "1.0")
    served = b"PK" + b"\0" * 100  # the index advertises the lock's hash, serves these
    digest = index.add("gamma", wheel, served=served)
    house = tmp_path / "house"
    with pytest.raises(fetch.FetchError) as caught:
        fetch.fetch_lock(
            lock_of(("gamma", "1.0", [digest])), house, target=target, sources=sources(index.url)
        )
    message = caught.value.message
    assert "gamma 1.0" in message
    assert f"{index.url[: -len('simple/')]}files/{wheel.name}" in message
    assert hashlib.sha256(served).hexdigest() in message
    assert digest in message
    assert kept(house) == []  # no file, no partial one


def test_several_files_are_fetched_side_by_side(
    tmp_path: Path, index: Index, target: fetch.Target
) -> None:
    """Each file's answer waits until three requests for files are in flight at once: a
    fetcher that fetched one at a time would get a 503 and fail."""
    together = threading.Barrier(3, timeout=120)
    pins = []
    for name in ("one", "two", "three"):
        wheel = wheelhouse.build_wheel(tmp_path / name, name, "1.0")
        digest = index.add(name, wheel)
        data = wheel.read_bytes()

        def answer(handler: BaseHTTPRequestHandler, data: bytes = data) -> None:
            try:
                together.wait()
            except threading.BrokenBarrierError:
                handler.send_error(503)
                return
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)

        index.routes[f"/files/{wheel.name}"] = answer
        pins.append((name, "1.0", [digest]))
    house = tmp_path / "house"
    done = fetch.fetch_lock(lock_of(*pins), house, target=target, sources=sources(index.url))
    assert (
        sorted(done.downloaded)
        == kept(house)
        == sorted(f"{n}-1.0-py3-none-any.whl" for n in ("one", "two", "three"))
    )


def test_a_warm_wheelhouse_starts_no_child_and_asks_no_index(
    tmp_path: Path, index: Index, target: fetch.Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = wheelhouse.build_wheel(tmp_path / "w", "delta", "3.0")
    digest = index.add("delta", wheel)
    house = tmp_path / "house"
    closed = socket.socket()
    closed.bind((HOST, 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    lock = f"--index-url http://{HOST}:{port}/simple/\n" + lock_of(("delta", "3.0", [digest]))
    lock_file = tmp_path / "lock.txt"
    lock_file.write_text(lock)

    def real_sources(options: Sequence[str]) -> fetch.Sources:
        return fetch.pip_sources(sys.executable, options, tmp_path)

    # Cold, the closed port is the lock's index: the fetch fails, naming it.
    with pytest.raises(fetch.FetchError, match=f"{HOST}:{port}"):
        fetch.fetch_lock(lock, house, target=target, sources=real_sources)
    assert kept(house) == []
    fetch.fetch_lock(lock_of(("delta", "3.0", [digest])), house, target=target,
                     sources=sources(index.url))  # fmt: skip

    # Warm: no child (Popen fails), no connection (connect fails), and it succeeds.
    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("the warm path started a child or opened a connection")

    monkeypatch.setattr(subprocess.Popen, "__init__", refused)
    monkeypatch.setattr(socket.socket, "connect", refused)
    done = fetch.fetch_lock(lock, house, target=target, sources=real_sources)
    assert done.present == [wheel.name]
    assert done.downloaded == done.left == []


def test_a_wheel_in_place_with_other_bytes_is_fetched_again_and_parts_are_cleared(
    tmp_path: Path, index: Index, target: fetch.Target
) -> None:
    wheel = wheelhouse.build_wheel(tmp_path / "w", "eps", "1.0")
    digest = index.add("eps", wheel)
    house = tmp_path / "house"
    house.mkdir()
    (house / wheel.name).write_bytes(b"PK tampered")
    (house / f".{wheel.name}.0123456789ab.part").write_bytes(b"a killed run's")
    done = fetch.fetch_lock(
        lock_of(("eps", "1.0", [digest])), house, target=target, sources=sources(index.url)
    )
    assert done.present == []
    assert done.downloaded == [wheel.name]
    assert (house / wheel.name).read_bytes() == wheel.read_bytes()
    assert kept(house) == [wheel.name]  # the partial file of a killed run is gone too


def test_an_sdist_only_pin_and_an_unread_line_are_left_to_pip(
    tmp_path: Path, index: Index, target: fetch.Target
) -> None:
    sdist = tmp_path / "zeta-1.0.tar.gz"
    sdist.write_bytes(b"not really a tarball")
    digest = index.add("zeta", sdist)
    wheel = wheelhouse.build_wheel(tmp_path / "w", "eta", "1.0")
    other = index.add("eta", wheel)
    lock = lock_of(("zeta", "1.0", [digest]), ("eta", "1.0", [other]))
    lock += "theta @ https://example.invalid/theta-1.0.tar.gz --hash=sha256:" + "a" * 64 + "\n"
    house = tmp_path / "house"
    done = fetch.fetch_lock(lock, house, target=target, sources=sources(index.url))
    assert done.downloaded == [wheel.name]
    assert done.left == [
        "theta @ https://example.invalid/theta-1.0.tar.gz --hash=sha256:" + "a" * 64,
        f"zeta==1.0 --hash={digest}",
    ]
    assert kept(house) == [wheel.name]


def test_an_index_asking_for_credentials_leaves_the_pin_to_pip(
    tmp_path: Path, index: Index, target: fetch.Target
) -> None:
    index.routes["/simple/iota/"] = lambda h: h.send_error(401)
    lock = lock_of(("iota", "1.0", ["sha256:" + "b" * 64]))
    done = fetch.fetch_lock(lock, tmp_path / "house", target=target, sources=sources(index.url))
    assert done.left == [lock.strip()]
    assert any("credentials" in note for note in done.notes)


def test_an_unreadable_cert_setting_is_a_clear_error(
    tmp_path: Path, index: Index, target: fetch.Target
) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    lock = lock_of(("xi", "1.0", ["sha256:" + "e" * 64]))
    where = fetch.Sources((index.url,), (), str(bad))
    with pytest.raises(fetch.FetchError, match="cert setting"):
        fetch.fetch_lock(lock, tmp_path / "h", target=target, sources=lambda options: where)


def test_an_unknown_option_line_leaves_the_whole_lock_to_pip(
    tmp_path: Path, target: fetch.Target
) -> None:
    lock = "--no-binary :all:\n" + lock_of(("kappa", "1.0", ["sha256:" + "c" * 64]))
    done = fetch.fetch_lock(lock, tmp_path / "h", target=target, sources=sources())
    assert done.whole is not None
    assert "--no-binary" in done.whole


def test_an_index_that_never_answers_hits_the_deadline(
    tmp_path: Path, target: fetch.Target
) -> None:
    with loopback.silent() as server:
        url = f"http://{HOST}:{server.port}/simple/"
        lock = lock_of(("lam", "1.0", ["sha256:" + "d" * 64]))
        with pytest.raises(fetch.FetchError, match=f"{HOST}:{server.port}/simple/lam/") as caught:
            fetch.fetch_lock(lock, tmp_path / "h", target=target, sources=sources(url), timeout=1)
        server.wait_connected()
    assert "timed out" in caught.value.message


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ("huge page", "larger than"),
        ("redirect to file", "file:///.*is not (allowed|followed)"),
        ("bad json", "not a PEP 691 JSON index page"),
        ("longer than declared", "more than the 10 bytes the index declared"),
        ("link to a local file", "links to the local file"),
    ],
)
def test_a_hostile_index_is_a_clear_error_and_leaves_nothing(
    tmp_path: Path,
    index: Index,
    target: fetch.Target,
    monkeypatch: pytest.MonkeyPatch,
    *,
    route: str,
    expected: str,
) -> None:
    secret = tmp_path / "secret.whl"
    secret.write_bytes(b"local secret")
    digest = hashlib.sha256(b"x").hexdigest()
    entry = {"filename": "mu-1.0-py3-none-any.whl", "url": "/files/mu-1.0-py3-none-any.whl",
             "hashes": {"sha256": digest}}  # fmt: skip
    monkeypatch.setattr(fetch, "PAGE_LIMIT", 1 << 16)

    def page(body: bytes, kind: str = "application/vnd.pypi.simple.v1+json") -> Handler:
        def answer(h: BaseHTTPRequestHandler) -> None:
            h.send_response(200)
            h.send_header("Content-Type", kind)
            h.end_headers()
            h.wfile.write(body)

        return answer

    def redirect(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", secret.as_uri())
        h.send_header("Content-Length", "0")
        h.end_headers()

    if route == "huge page":
        index.routes["/simple/mu/"] = page(b"[" * (1 << 17))
    elif route == "redirect to file":
        index.routes["/simple/mu/"] = redirect
    elif route == "bad json":
        index.routes["/simple/mu/"] = page(b'{"files": [{"filename": 3}')
    elif route == "longer than declared":
        index.files["mu"] = [{**entry, "size": 10}]
        index.blobs["/files/mu-1.0-py3-none-any.whl"] = b"x" * 1000
    else:
        index.files["mu"] = [{**entry, "url": secret.as_uri()}]
    house = tmp_path / "house"
    with pytest.raises(fetch.FetchError, match=expected):
        fetch.fetch_lock(lock_of(("mu", "1.0", [f"sha256:{digest}"])), house, target=target,
                         sources=sources(index.url))  # fmt: skip
    assert kept(house) == []


def test_a_file_name_that_would_leave_the_wheelhouse_is_never_written(
    tmp_path: Path, index: Index, target: fetch.Target
) -> None:
    wheel = wheelhouse.build_wheel(tmp_path / "w", "nu", "1.0")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    index.files["nu"] = [{"filename": "../nu-1.0-py3-none-any.whl", "url": "/files/x",
                          "hashes": {"sha256": digest}}]  # fmt: skip
    house = tmp_path / "deep" / "house"
    done = fetch.fetch_lock(lock_of(("nu", "1.0", [f"sha256:{digest}"])), house, target=target,
                            sources=sources(index.url))  # fmt: skip
    assert done.left
    assert kept(house) == []
    assert kept(tmp_path / "deep") == ["house"]


def test_pip_configuration_and_the_lock_options_give_the_sources(tmp_path: Path) -> None:
    config = {
        "global.index-url": "https://global.example/simple",
        "download.index-url": "https://download.example/simple",
        "global.extra-index-url": "https://x.example/simple https://y.example/simple",
        ":env:.find-links": "/opt/links",
        "global.cert": "/etc/ca.pem",
    }
    got = fetch.sources_from(config, [], tmp_path)
    assert got.indexes == (
        "https://download.example/simple", "https://x.example/simple", "https://y.example/simple"
    )  # fmt: skip
    assert got.find_links == ("/opt/links",)
    assert got.cert == "/etc/ca.pem"
    options = [
        "--index-url https://lock.example/simple",
        "-f wheels",
        "--extra-index-url=https://z",
    ]
    got = fetch.sources_from(config, options, tmp_path)
    assert got.indexes == ("https://lock.example/simple", "https://z")
    assert got.find_links == ("/opt/links", str(tmp_path / "wheels"))
    assert fetch.sources_from({":env:.no-index": "1", **config}, [], tmp_path).indexes == ()
    trusting = {"global.trusted-host": "a.example b.example:8443"}
    assert fetch.sources_from(trusting, [], tmp_path).trusted == ("a.example", "b.example")
    parsed = fetch.parse_config_list("global.index-url='https://a/simple'\n:env:.no-index='1'\n")
    assert parsed == {"global.index-url": "https://a/simple", ":env:.no-index": "1"}


# --- review3: a hostile or broken index, a wheelhouse that is in the way ------------------------


def trickle(index: Index, path: str, *, size: int, every: float, cut: threading.Event) -> None:
    """Serve ``size`` bytes at ``path`` one at a time, ``every`` seconds apart; ``cut`` is set
    when the client went away before the end (a write failed)."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(size))
        handler.end_headers()
        try:
            for _ in range(size):
                handler.wfile.write(b"y")
                handler.wfile.flush()
                if cut.wait(every):
                    return
        except OSError:
            cut.set()

    index.routes[path] = answer


def test_a_body_trickled_a_byte_at_a_time_meets_the_deadline(
    tmp_path: Path, index: Index, target: fetch.Target
) -> None:
    """The server sends its 400 bytes 50 ms apart (20 s at least); each byte comes well
    within the timeout. The deadline (1 s) for the whole request holds while it trickles: the
    connection is dropped before the end (on main the deadline was checked only after each
    1 MiB read: the trickle was read to its end, a slow-loris index held a worker for ever)."""
    digest = hashlib.sha256(b"x").hexdigest()
    index.files["rho"] = [{"filename": "rho-1.0-py3-none-any.whl",
                           "url": "/files/rho-1.0-py3-none-any.whl",
                           "hashes": {"sha256": digest}}]  # fmt: skip
    cut = threading.Event()
    trickle(index, "/files/rho-1.0-py3-none-any.whl", size=400, every=0.05, cut=cut)
    house = tmp_path / "house"
    with pytest.raises(fetch.FetchError, match=r"not read within 1 s|timed out"):
        fetch.fetch_lock(lock_of(("rho", "1.0", [f"sha256:{digest}"])), house, target=target,
                         sources=sources(index.url), timeout=30, deadline=1)  # fmt: skip
    assert cut.wait(30), "the trickle was read to its end"
    assert kept(house) == []


def test_a_size_the_index_declares_never_lifts_the_bound_of_a_file(
    tmp_path: Path, index: Index, target: fetch.Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hostile index declares 10**12 bytes: the bound stays FILE_LIMIT (on main the declared
    size was the bound: a disk filled before the hash could say no)."""
    monkeypatch.setattr(fetch, "FILE_LIMIT", 1024)
    digest = hashlib.sha256(b"x").hexdigest()
    index.files["sigma"] = [{"filename": "sigma-1.0-py3-none-any.whl", "size": 10**12,
                             "url": "/files/sigma-1.0-py3-none-any.whl",
                             "hashes": {"sha256": digest}}]  # fmt: skip
    index.blobs["/files/sigma-1.0-py3-none-any.whl"] = b"z" * (1 << 16)
    house = tmp_path / "house"
    with pytest.raises(fetch.FetchError, match="more than the 1,024 bytes allowed"):
        fetch.fetch_lock(lock_of(("sigma", "1.0", [f"sha256:{digest}"])), house, target=target,
                         sources=sources(index.url))  # fmt: skip
    assert kept(house) == []


@pytest.mark.parametrize("ending", ["silent", "cut"])
def test_a_body_gone_silent_or_cut_is_a_fetch_error_not_a_traceback(
    tmp_path: Path, index: Index, target: fetch.Target, ending: str
) -> None:
    """Headers promising 100 bytes, three bytes, then silence past the timeout, or the
    connection closed: a FetchError naming the URL and what happened (on main a silence
    escaped as a raw TimeoutError, and a cut was blamed on the index serving other bytes)."""
    digest = hashlib.sha256(b"x").hexdigest()
    index.files["tau"] = [{"filename": "tau-1.0-py3-none-any.whl",
                           "url": "/files/tau-1.0-py3-none-any.whl",
                           "hashes": {"sha256": digest}}]  # fmt: skip
    done = threading.Event()

    def silent(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        handler.wfile.write(b"abc")
        handler.wfile.flush()
        if ending == "silent":
            done.wait(120)
        handler.close_connection = True

    index.routes["/files/tau-1.0-py3-none-any.whl"] = silent
    house = tmp_path / "house"
    try:
        with pytest.raises(
            fetch.FetchError, match=r"tau-1\.0-py3-none-any\.whl: the transfer failed"
        ):
            fetch.fetch_lock(lock_of(("tau", "1.0", [f"sha256:{digest}"])), house,
                             target=target, sources=sources(index.url), timeout=1)  # fmt: skip
    finally:
        done.set()
    assert kept(house) == []


def test_a_folder_at_the_file_s_name_is_a_clear_error(
    tmp_path: Path, index: Index, target: fetch.Target
) -> None:
    """The rename into place meets a folder: a FetchError naming the path (a raw
    IsADirectoryError escaped on main), and no partial file left."""
    wheel = wheelhouse.build_wheel(tmp_path / "w", "upsilon", "1.0")
    digest = index.add("upsilon", wheel)
    house = tmp_path / "house"
    (house / wheel.name).mkdir(parents=True)
    with pytest.raises(fetch.FetchError, match=f"cannot write .*{wheel.name}"):
        fetch.fetch_lock(lock_of(("upsilon", "1.0", [digest])), house, target=target,
                         sources=sources(index.url))  # fmt: skip
    assert kept(house) == [wheel.name]


def test_one_file_failing_stops_the_others(
    tmp_path: Path, index: Index, target: fetch.Target
) -> None:
    """One pin's file answers 500 while another's trickles (400 bytes, 50 ms apart): the
    trickle is cut when the first fails (on main it was read to its end, and Ctrl-C waited
    for it likewise)."""
    digest = hashlib.sha256(b"x").hexdigest()
    for name in ("phi", "chi"):
        index.files[name] = [{"filename": f"{name}-1.0-py3-none-any.whl",
                              "url": f"/files/{name}-1.0-py3-none-any.whl",
                              "hashes": {"sha256": digest}}]  # fmt: skip
    cut = threading.Event()
    trickle(index, "/files/phi-1.0-py3-none-any.whl", size=400, every=0.05, cut=cut)
    started = threading.Event()

    def fail(handler: BaseHTTPRequestHandler) -> None:
        started.wait(60)
        handler.send_error(500)

    index.routes["/files/chi-1.0-py3-none-any.whl"] = fail
    original = index.routes["/files/phi-1.0-py3-none-any.whl"]

    def first_byte_then_go(handler: BaseHTTPRequestHandler) -> None:
        started.set()  # the trickle is under way before the other fails
        original(handler)

    index.routes["/files/phi-1.0-py3-none-any.whl"] = first_byte_then_go
    lock = lock_of(("phi", "1.0", [f"sha256:{digest}"]), ("chi", "1.0", [f"sha256:{digest}"]))
    with pytest.raises(fetch.FetchError, match="500") as caught:
        fetch.fetch_lock(lock, tmp_path / "house", target=target, sources=sources(index.url))
    assert "1 other downloads stopped" in caught.value.message
    assert cut.wait(30), "the trickle was read to its end"


def test_a_fifo_in_a_find_links_folder_is_never_opened(
    tmp_path: Path, target: fetch.Target
) -> None:
    """A FIFO under a locked wheel's name in a local find-links folder: passed over (on main
    the fetcher's open blocked for ever, no deadline)."""
    links = tmp_path / "links"
    links.mkdir()
    fifo = links / "omega-1.0-py3-none-any.whl"
    os.mkfifo(fifo)
    finished, opened = threading.Event(), threading.Event()

    def writer() -> None:
        """Opening a FIFO's write end without blocking succeeds only while a reader has it
        open: then the fetcher opened it (and would block there without a writer)."""
        while not finished.is_set():
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                finished.wait(0.01)
                continue
            opened.set()
            os.close(fd)  # the reader sees end-of-file: main goes on, to fail below
            return

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    lock = lock_of(("omega", "1.0", ["sha256:" + "f" * 64]))
    try:
        done = fetch.fetch_lock(lock, tmp_path / "house", target=target,
                                sources=sources(links=(str(links),)))  # fmt: skip
    finally:
        finished.set()
        thread.join(timeout=30)
    assert not opened.is_set(), "the fetcher opened the FIFO"
    assert done.left == [lock.strip()]
    assert kept(tmp_path / "house") == []


@pytest.mark.parametrize("value", ["y", "t", "yes", "on", "1", "True"])
def test_pip_s_every_true_no_index_means_no_index(tmp_path: Path, value: str) -> None:
    """pip reads PIP_NO_INDEX with its strtobool (y, t, yes, on, 1, true): "y" and "t" left
    the fetcher asking PyPI on main."""
    got = fetch.sources_from({":env:.no-index": value}, [], tmp_path)
    assert got.indexes == ()


def test_a_status_line_and_headers_trickled_meet_the_deadline(
    tmp_path: Path, target: fetch.Target
) -> None:
    """The status line and a header sent a byte at a time, 50 ms apart, each well within the
    timeout: the request's deadline (1 s) holds before any body (urllib reads the headers; on
    main only the body's reads looked at the deadline: the trickle was read to its end)."""
    listener = socket.create_server((HOST, 0))
    cut = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            try:
                for byte in b"HTTP/1.0 200 OK\r\nX-Slow: " + b"a" * 400:
                    conn.send(bytes([byte]))
                    if cut.wait(0.05):
                        return
            except OSError:
                cut.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://{HOST}:{listener.getsockname()[1]}/simple/"
    try:
        lock = lock_of(("psi", "1.0", ["sha256:" + "a" * 64]))
        with pytest.raises(fetch.FetchError, match="simple/psi/: timed out"):
            fetch.fetch_lock(lock, tmp_path / "h", target=target, sources=sources(url),
                             timeout=30, deadline=1)  # fmt: skip
        assert cut.wait(30), "the trickle was read to its end"
    finally:
        cut.set()
        thread.join(timeout=30)
        listener.close()
