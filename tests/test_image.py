"""``preflight check --image PATH``: real images built here by umoci and skopeo (no daemon).

The base image's one layer is a root with CPython 3.12.1's files, alpha 1.0 and beta-pkg 2.0
installed by pip, and a ``python3.12`` that writes a marker whenever anything runs it
(``tests/images.py``). Upper layers are what a build step would make (umoci writes the diff,
a deleted file as a whiteout); the hostile ones are written by hand (``images.raw_layer``).
Every case: the check named, or a clear error (exit 3), never a traceback, the marker never
written, nothing written outside the work folder.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import images
import pytest
from conftest import CliRun, Wheels, cli_argv, cli_env, run_preflight

from preflight._engine import judge
from preflight._errors import UsageError
from preflight._facts.image import MEMORY, MEMORY_ENV, Limits, unpack_in_work
from preflight._facts.request import CheckRequest
from preflight._render.report import REPORT_NAME

PY = "/usr/local/bin/python3"
ALPHA = f"{images.SITE}/alpha/__init__.py"


@pytest.fixture(scope="module")
def base_image(tmp_path_factory: pytest.TempPathFactory, wheels: Wheels) -> tuple[Path, Path]:
    """``(layout, marker)``: the clean image, read-only (tests copy it: ``image``)."""
    images.tool("umoci")
    folder = tmp_path_factory.mktemp("base-image")
    marker = folder / "ran"
    root = images.make_root(folder / "root", marker)
    images.pip_into(root, wheels.folder, ["alpha==1.0", "beta-pkg==2.0"])
    return images.oci_image(folder / "layout", root), marker


@pytest.fixture
def image(tmp_path: Path, base_image: tuple[Path, Path]) -> tuple[Path, Path]:
    """This test's copy of the clean image's layout: ``(layout, marker)``."""
    layout = tmp_path / "image"
    shutil.copytree(base_image[0], layout)
    base_image[1].unlink(missing_ok=True)
    return layout, base_image[1]


def _check(
    run_check: Callable[..., CliRun], image: Path, project: Path, *more: str, **kw: Path
) -> CliRun:
    return run_check("--image", image, "--python", PY, "--project", project, *more, **kw)


def test_a_clean_image_is_ready_in_each_format_and_never_runs(
    image: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun], tmp_path: Path
) -> None:
    layout, marker = image
    rootfs_python = tmp_path / "probe-root"
    subprocess.run(  # the poison works: the image's interpreter, run, writes the marker
        [images.tool("umoci"), "raw", "unpack", "--image", f"{layout}:latest", rootfs_python],
        check=True,
        capture_output=True,
    )
    subprocess.run([rootfs_python / "usr/local/bin/python3.12", "-c", "pass"], check=True)
    assert marker.exists()
    marker.unlink()
    formats = {
        "oci-layout": layout,
        "oci-archive": images.oci_archive(layout, tmp_path / "oci.tar"),
        "docker-archive": images.docker_archive(layout, tmp_path / "docker.tar"),
    }
    for form, path in formats.items():
        junit = tmp_path / f"{form}.xml"
        run = _check(run_check, path, project, "--junit", junit)
        assert run.returncode == 0, (form, run.stderr)
        interpreter = run.report["interpreter"]
        digest = interpreter["image"]["digest"]
        assert digest.startswith("sha256:")
        assert interpreter["path"].endswith(f"@{digest}:{PY}"), interpreter["path"]
        assert digest in junit.read_text(encoding="utf-8")  # the outputs name the image
        assert run.report["host"].startswith("image ")
        assert interpreter["version"] == "3.12.1"
        assert "needs the image to run" in run.check("performance")["message"]
        assert not marker.exists(), f"{form}: the image's interpreter was run"
    assert not list(Path(tmp_path).glob("preflight-image-*"))


def test_a_file_changed_in_an_upper_layer_fails_integrity(
    image: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun]
) -> None:
    layout, marker = image
    images.upper_layer(layout, lambda root: (root / ALPHA).write_text("evil = 1\n"))
    run = _check(run_check, layout, project)
    assert run.returncode == 1
    assert run.check("integrity")["status"] == "fail"
    assert "alpha/__init__.py" in run.findings("integrity")
    assert not marker.exists()


def test_a_file_deleted_by_a_whiteout_is_missing(
    image: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun]
) -> None:
    layout, _ = image
    images.upper_layer(layout, lambda root: (root / ALPHA).unlink())
    run = _check(run_check, layout, project)
    assert run.returncode == 1
    assert run.check("integrity")["status"] == "fail"
    assert "alpha/__init__.py" in run.findings("integrity")


def test_an_opaque_folder_hides_what_lower_layers_put_there(
    image: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun]
) -> None:
    layout, _ = image
    images.raw_layer(layout, [images.member(f"{images.SITE}/.wh..wh..opq")])
    run = _check(run_check, layout, project)
    assert run.returncode == 1
    assert "alpha" in run.findings("lock_sync")
    assert "beta" in run.findings("lock_sync")


def test_an_unowned_pth_in_the_last_layer_is_refused(
    image: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun], tmp_path: Path
) -> None:
    layout, marker = image
    poison = tmp_path / "poisoned"
    line = f"import pathlib; pathlib.Path({str(poison)!r}).write_text('x')\n"
    images.upper_layer(layout, lambda root: (root / images.SITE / "zz.pth").write_text(line))
    run = _check(run_check, layout, project)
    assert run.returncode == 1
    assert run.check("startup_hooks")["status"] == "fail"
    assert f"/{images.SITE}/zz.pth" in run.findings("startup_hooks")
    assert not poison.exists()
    assert not marker.exists()


def test_an_extra_package_and_a_downgrade_fail_lock_sync(
    image: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun], wheels: Wheels
) -> None:
    layout, _ = image

    def build_step(root: Path) -> None:
        images.pip_into(root, wheels.folder, ["extra-thing==1.0"])
        shutil.rmtree(root / images.SITE / "alpha-1.0.dist-info")
        shutil.rmtree(root / images.SITE / "alpha")
        images.pip_into(root, wheels.folder, ["alpha==0.9"])

    images.upper_layer(layout, build_step)
    run = _check(run_check, layout, project)
    assert run.returncode == 1
    findings = run.findings("lock_sync")
    assert "extra-thing" in findings
    assert "0.9" in findings


def test_a_wrong_patch_release_fails_an_exact_pin(
    image: tuple[Path, Path], make_project: Callable[..., Path], run_check: Callable[..., CliRun]
) -> None:
    layout, _ = image
    run = _check(run_check, layout, make_project(pythons=("3.12.4",), locks=("3.12",)))
    assert run.returncode == 1
    assert run.check("python_version")["status"] == "fail"


# --- hostile layers ---------------------------------------------------------------------------


def _refused(run: CliRun, *words: str) -> None:
    assert run.returncode == 3, run.stderr
    assert run.stderr.startswith("error: --image"), run.stderr
    for word in words:
        assert word in run.stderr, run.stderr


def test_a_member_climbing_out_is_refused_and_nothing_lands_outside(
    image: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun], tmp_path: Path
) -> None:
    layout, _ = image
    images.raw_layer(layout, [images.member("../../../../../../../../tmp/escaped", data=b"x")])
    _refused(_check(run_check, layout, project), "'..'")
    assert not Path("/tmp/escaped").exists()


def test_an_absolute_member_is_refused(
    image: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun], tmp_path: Path
) -> None:
    layout, _ = image
    target = tmp_path / "absolute"
    images.raw_layer(layout, [images.member(str(target), data=b"x")])
    _refused(_check(run_check, layout, project), "absolute path")
    assert not target.exists()


def test_links_out_of_the_root_never_lead_out_of_the_work_folder(
    image: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun], tmp_path: Path
) -> None:
    """An absolute link to a folder of this machine, then a member written through it: the
    member lands in the work folder; and a .pth linked to this machine's file is never read."""
    layout, _ = image
    outside = tmp_path / "outside"
    outside.mkdir()
    host_pth = outside / "evil.pth"
    host_pth.write_text("import os; HOST_SECRET_CODE\n", encoding="utf-8")
    images.raw_layer(
        layout,
        [
            images.member("opt/outside", tarfile.SYMTYPE, link=str(outside)),
            images.member(f"{images.SITE}/zz.pth", tarfile.SYMTYPE, link=str(host_pth)),
            images.member(f"{images.SITE}/up", tarfile.SYMTYPE, link="../../../../../../.."),
        ],
    )
    images.raw_layer(
        layout,
        [
            images.member("opt/outside/written", data=b"through the link"),
            images.member(f"{images.SITE}/up/tmp/climbed", data=b"through .."),
        ],
    )
    run = _check(run_check, layout, project, "--format", "json")
    assert sorted(p.name for p in outside.iterdir()) == ["evil.pth"]  # nothing written there
    assert not Path("/tmp/climbed").exists()
    assert "HOST_SECRET_CODE" not in run.stdout + run.stderr
    assert run.returncode == 1
    findings = run.findings("integrity")
    assert f"/{images.SITE}/up is a symlinked folder" in findings  # named, as the image names it
    assert "preflight-image-" not in findings  # the work folder is never shown


def test_fifos_and_devices_are_never_made_and_are_listed(
    image: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun]
) -> None:
    layout, _ = image
    images.raw_layer(
        layout,
        [
            images.member("tmp/fifo", tarfile.FIFOTYPE),
            images.member("dev/sda", tarfile.BLKTYPE),
            images.member(f"{images.SITE}/zz_null", tarfile.CHRTYPE),
        ],
    )
    run = _check(run_check, layout, project)
    skipped = run.report["interpreter"]["image"]["skipped"]
    assert any(s.startswith("tmp/fifo: a FIFO") for s in skipped), skipped
    assert any(s.startswith("dev/sda: a device node") for s in skipped), skipped
    assert "image: not made: tmp/fifo: a FIFO" in run.stderr
    assert run.returncode == 0, run.stderr


def test_a_member_whose_header_claims_gigabytes_is_refused_unread(
    image: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun]
) -> None:
    layout, _ = image
    images.raw_layer(layout, [images.member("big", size=5 << 30)])
    _refused(_check(run_check, layout, project), "tar bomb")


def test_a_layer_that_inflates_past_the_limit_is_refused(
    image: tuple[Path, Path], project: Path
) -> None:
    layout, _ = image
    images.raw_layer(layout, [images.member(f"zero{i}", data=bytes(4 << 20)) for i in range(4)])
    with pytest.raises(UsageError, match="tar bomb"):
        judge(
            CheckRequest(python=PY, project=project, image=str(layout)),
            image_limits=Limits(total_bytes=8 << 20),
        )


def test_a_hard_link_to_nothing_and_a_bad_digest_are_refused(
    image: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun]
) -> None:
    layout, _ = image
    broken = layout.parent / "broken"
    shutil.copytree(layout, broken)
    images.raw_layer(broken, [images.member("x", tarfile.LNKTYPE, link="no/such/file")])
    _refused(_check(run_check, broken, project), "names no file")
    blobs = sorted((layout / "blobs/sha256").iterdir(), key=lambda p: p.stat().st_size)
    biggest = blobs[-1]  # the layer
    # the same files, packed again: a valid layer, but not the one the manifest names
    biggest.write_bytes(gzip.compress(gzip.decompress(biggest.read_bytes()), 1, mtime=1))
    _refused(_check(run_check, layout, project), "does not match its digest")
    data = biggest.read_bytes()
    biggest.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one bit of the layer changed
    _refused(_check(run_check, layout, project), "cannot be read")


def test_summarize_shows_an_image_as_a_row_beside_a_host(
    image: tuple[Path, Path],
    project: Path,
    run_check: Callable[..., CliRun],
    venv312: Path,
    tmp_path: Path,
) -> None:
    layout, _ = image
    in_image = _check(run_check, layout, project, report_dir=tmp_path / "jobs/image")
    on_host = run_check("--python", venv312, "--project", project, report_dir=tmp_path / "jobs/vm")
    assert in_image.returncode == 0
    assert on_host.returncode in (0, 2)
    done = run_preflight("summarize", tmp_path / "jobs/image", tmp_path / "jobs/vm", cwd=tmp_path)
    assert "Traceback" not in done.stderr
    digest = in_image.report["interpreter"]["image"]["digest"]
    table = done.stdout + done.stderr  # the table is human text: on stderr
    rows = [line for line in table.splitlines() if line.startswith("image ")]
    assert len(rows) == 1, table
    assert digest[:19] in rows[0]
    assert "READY" in rows[0]
    assert str(venv312) in table


def test_every_output_names_the_image_and_its_interpreter(
    image: tuple[Path, Path], project: Path, tmp_path: Path
) -> None:
    layout, marker = image
    out = {name: tmp_path / name for name in ("junit.xml", "metrics.prom", "page.html")}
    done = subprocess.run(
        cli_argv(
            "--image", layout, "--python", PY, "--project", project, "--nagios",
            "--junit", out["junit.xml"], "--prometheus", out["metrics.prom"],
            "--html", out["page.html"], "--report-dir", tmp_path / "reports",
        ),
        capture_output=True, text=True, cwd=tmp_path, timeout=180, check=False,
        env=cli_env({"GITHUB_ACTIONS": "true"}),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "reports" / REPORT_NAME).read_text(encoding="utf-8"))
    digest = report["interpreter"]["image"]["digest"]
    assert digest in done.stdout.splitlines()[0]  # the Nagios status line names the image
    assert f"{digest}:{PY}" in report["interpreter"]["path"]
    for path in out.values():
        text = path.read_text(encoding="utf-8")
        assert digest in text, path.name
        assert PY in text, path.name
    assert not marker.exists()


# --- where the layers are applied: in memory when there is room, else on disk -----------------


def _packed(layout: Path) -> int:
    """The bytes of the image's layers as stored (gzip)."""
    index = json.loads((layout / "index.json").read_text(encoding="utf-8"))
    blobs = layout / "blobs/sha256"
    manifest = json.loads((blobs / index["manifests"][0]["digest"][7:]).read_text("utf-8"))
    return sum(int(layer["size"]) for layer in manifest["layers"])


@pytest.mark.skipif(not Path(MEMORY).is_dir(), reason=f"no {MEMORY} on this machine")
def test_the_work_folder_is_in_memory_and_removed(
    image: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun]
) -> None:
    layout, marker = image
    run = _check(run_check, layout, project)
    assert run.returncode == 0, run.stderr
    summary = run.report["interpreter"]["image"]
    assert summary["work"] == f"memory ({MEMORY})"
    folder = Path(summary["work_folder"])
    assert folder.parent == Path(MEMORY)
    assert folder.name.startswith("preflight-image-")
    assert not folder.exists()  # removed once judged
    assert not marker.exists()


@pytest.mark.skipif(not Path(MEMORY).is_dir(), reason=f"no {MEMORY} on this machine")
def test_an_image_past_its_memory_room_is_applied_again_on_disk(
    image: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun], tmp_path: Path
) -> None:
    """Room for the layers as stored, not for the files they hold: the files written in
    memory pass the budget, the folder is dropped and the image applied on disk, judged the
    same; and a hostile layer is refused there as in memory."""
    layout, marker = image
    room = str(_packed(layout) + 1)
    run = _check(run_check, layout, project, env={MEMORY_ENV: room, "TMPDIR": str(tmp_path)})
    assert run.returncode == 0, run.stderr
    summary = run.report["interpreter"]["image"]
    assert summary["work"].startswith(f"disk ({tmp_path}; not in memory: the files written")
    assert Path(summary["work_folder"]).parent == tmp_path
    assert not Path(summary["work_folder"]).exists()
    images.raw_layer(layout, [images.member("../../../../../../../../tmp/escaped", data=b"x")])
    refused = _check(run_check, layout, project, env={MEMORY_ENV: room})
    _refused(refused, "climbs out")
    assert not marker.exists()


def test_on_disk_when_asked_and_a_bad_memory_setting_is_a_clear_error(
    image: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun], tmp_path: Path
) -> None:
    layout, _ = image
    run = _check(run_check, layout, project, env={MEMORY_ENV: "0", "TMPDIR": str(tmp_path)})
    assert run.returncode == 0, run.stderr
    summary = run.report["interpreter"]["image"]
    assert summary["work"] == f"disk ({tmp_path}; not in memory: {MEMORY_ENV}=0)"
    assert not list(tmp_path.glob("preflight-image-*"))
    _refused(_check(run_check, layout, project, env={MEMORY_ENV: "lots"}), MEMORY_ENV)


# --- a manifest of one build of an image checked against the next ----------------------------


def _baseline(
    tmp_path: Path, what: tuple[str, Path], project: Path, output: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli_argv(*what, "--python", PY, "--project", project, command="baseline"),
         "--output", output, "--report-dir", tmp_path / f"r-{output.stem}"],
        capture_output=True, text=True, env=cli_env(), cwd=tmp_path, timeout=180, check=False,
    )  # fmt: skip


def test_a_baseline_of_one_build_is_checked_against_the_next(
    image: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun], tmp_path: Path
) -> None:
    """``baseline --image`` hashes the image's files before its work folder goes; its paths
    are the image's own, so the next build (another work folder, another format) compares
    with it, as does a manifest of the same image unpacked and written with ``--root``."""
    layout, marker = image
    manifest = tmp_path / "build1.json"
    written = _baseline(tmp_path, ("--image", layout), project, manifest)
    assert written.returncode == 0, written.stderr
    data = json.loads(manifest.read_text(encoding="utf-8"))
    assert data["interpreter"]["prefix"] == "/usr/local"
    assert data["roots"]["purelib"] == f"/{images.SITE}"
    assert "preflight-image-" not in manifest.read_text(encoding="utf-8")
    assert any(e["path"] == "alpha/__init__.py" for e in data["entries"])
    same = _check(run_check, images.docker_archive(layout, tmp_path / "build1.tar"), project,
                  "--baseline", manifest)  # fmt: skip
    assert same.returncode == 0, same.stderr
    assert same.check("baseline")["status"] == "pass"
    unpacked = tmp_path / "unpacked"
    images.run_tool(images.tool("umoci"), "raw", "unpack", "--image", f"{layout}:latest", unpacked)
    from_root = tmp_path / "root.json"
    assert _baseline(tmp_path, ("--root", unpacked), project, from_root).returncode == 0
    # the next build: a file of a distribution rewritten with its RECORD row, which the
    # integrity check cannot see; the baseline can
    record = f"{images.SITE}/alpha-1.0.dist-info/RECORD"

    def rewrite(root: Path) -> None:
        evil = b"evil = 1\n"
        (root / ALPHA).write_bytes(evil)
        digest = base64.urlsafe_b64encode(hashlib.sha256(evil).digest()).rstrip(b"=").decode()
        rows = (root / record).read_text(encoding="utf-8").splitlines()
        rows = [r for r in rows if not r.startswith("alpha/__init__.py,")]
        rows.append(f"alpha/__init__.py,sha256={digest},{len(evil)}")
        (root / record).write_text("\n".join(rows) + "\n", encoding="utf-8")

    images.upper_layer(layout, rewrite)
    for baseline in (manifest, from_root):
        run = _check(run_check, layout, project, "--baseline", baseline)
        assert run.returncode == 1, run.stderr
        assert run.check("baseline")["status"] == "fail"
        assert "alpha/__init__.py" in run.findings("baseline")
        assert run.check("integrity")["status"] == "pass"  # RECORD agrees with the file
    assert not marker.exists()


def test_a_baseline_of_another_interpreter_in_the_image_is_refused(
    image: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun], tmp_path: Path
) -> None:
    layout, _ = image
    manifest = tmp_path / "build1.json"
    assert _baseline(tmp_path, ("--image", layout), project, manifest).returncode == 0
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data["roots"]["purelib"] = "/opt/venv/lib/python3.12/site-packages"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data), encoding="utf-8")
    run = _check(run_check, layout, project, "--baseline", other)
    assert run.returncode == 3
    assert "roots.purelib" in run.stderr


def test_the_sbom_of_an_image_is_named_for_the_image(
    image: tuple[Path, Path], project: Path, run_check: Callable[..., CliRun], tmp_path: Path
) -> None:
    layout, _ = image
    archive = images.docker_archive(layout, tmp_path / "app.tar")  # tagged: a RepoTag
    sbom = tmp_path / "sbom.json"
    run = _check(run_check, archive, project, "--sbom", sbom)
    assert run.returncode == 0, run.stderr
    digest = run.report["interpreter"]["image"]["digest"]
    name = run.report["interpreter"]["image"]["name"]
    assert name  # skopeo's docker-archive names the image
    component = json.loads(sbom.read_text(encoding="utf-8"))["metadata"]["component"]
    assert component["name"] == name  # not "local", the name of the prefix folder
    assert f"{name}@{digest}:{PY}" in component["description"]
    properties = {p["name"]: p["value"] for p in component["properties"]}
    assert properties["preflight:image"] == f"{name}@{digest}"


def _layout_of(folder: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    """An OCI image layout written by hand with no layer, then ``members`` as its one layer
    (``images.raw_layer``): no umoci needed for what only the work folder is asked about."""
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    config = {"architecture": "amd64", "os": "linux", "config": {},
              "rootfs": {"type": "layers", "diff_ids": []}}  # fmt: skip
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           **put(json.dumps(config).encode())},
                "layers": []}  # fmt: skip
    index = {"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json",
         **put(json.dumps(manifest).encode())}]}  # fmt: skip
    (folder / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}', encoding="utf-8")
    (folder / "index.json").write_text(json.dumps(index), encoding="utf-8")
    return images.raw_layer(folder, members)


@pytest.mark.skipif(not Path(MEMORY).is_dir(), reason=f"no {MEMORY} on this machine")
@pytest.mark.parametrize("kind", ["links", "folders"])
def test_links_and_folders_count_against_the_memory_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """600 symbolic links with 300-character targets (a page each in a tmpfs), or 600
    folders, and no regular file: 2.4 MB in memory against a room of 1 MiB. They count, so
    the image goes on disk (on main only regular files counted: a layer of a million links
    filled /dev/shm past PREFLIGHT_IMAGE_MEMORY)."""
    if kind == "links":
        members = [images.member(f"l/{n}", tarfile.SYMTYPE, link="t" * 300) for n in range(600)]
    else:
        members = [images.member(f"d/{n}", tarfile.DIRTYPE) for n in range(600)]
    layout = _layout_of(tmp_path / "image", members)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    found, work = unpack_in_work(str(layout), environ={MEMORY_ENV: str(1 << 20)})
    try:
        assert found.work.startswith(f"disk ({tmp_path}; not in memory: the files written")
        assert Path(work).parent == tmp_path
    finally:
        shutil.rmtree(work)


_KILLED_RUN = """
import os, signal, sys
from preflight._facts.image import unpack_in_work
found, work = unpack_in_work(sys.argv[1])
print(work, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would: no cleanup runs
"""


@pytest.mark.skipif(not Path(MEMORY).is_dir(), reason=f"no {MEMORY} on this machine")
def test_a_work_folder_a_killed_run_left_in_memory_is_removed_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed by SIGKILL leaves its work folder in /dev/shm, memory held until the
    machine restarts (on main nothing removed it). The next run removes it; a folder whose run
    is alive (this process's) is kept."""
    layout = _layout_of(tmp_path / "image", [images.member("app/file.txt", data=b"x")])
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_RUN, str(layout)], capture_output=True, text=True,
        check=False, timeout=120,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    left = killed.stdout.strip()
    assert Path(left).parent == Path(MEMORY)
    assert Path(left).is_dir()  # the poison: left behind, in memory
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    mine: list[str] = []
    try:
        mine.append(unpack_in_work(str(layout))[1])
        assert not Path(left).exists(), "the killed run's folder is still in memory"
        assert not Path(left + ".lock").exists()
        mine.append(unpack_in_work(str(layout))[1])
        assert Path(mine[0]).is_dir(), "a live run's folder was removed"
    finally:
        for work in [*mine, left]:
            shutil.rmtree(work, ignore_errors=True)
            Path(work + ".lock").unlink(missing_ok=True)
