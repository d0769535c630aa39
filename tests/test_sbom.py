"""``preflight check --sbom``: a CycloneDX 1.6 document, validated against the schema."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import factories
import wheelhouse
from conftest import CliRun, write_project
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from preflight._facts.model import AnchoredWheel, AnchorFacts
from preflight._facts.sboms import sbom_facts
from preflight._render.sbom import sbom_text


def valid(text: str) -> dict[str, Any]:
    """The document, after the library's strict validator found no error in it."""
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, error
    data: dict[str, Any] = json.loads(text)
    return data


def by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in document["components"]}


def _add_header(dist_info: Path, header: str) -> None:
    metadata = dist_info / "METADATA"
    lines = metadata.read_text(encoding="utf-8").split("\n")
    lines.insert(2, header)
    metadata.write_text("\n".join(lines), encoding="utf-8")


def test_sbom_of_a_real_env_is_valid_cyclonedx(
    tmp_path: Path, venv312_copy: Path, wheels: Any, run_check: Callable[..., CliRun]
) -> None:
    site = next((venv312_copy.parent.parent / "lib").glob("python3.*/site-packages"))
    alpha_info = site / "alpha-1.0.dist-info"
    _add_header(alpha_info, "License-Expression: MIT OR Apache-2.0")
    _add_header(site / "beta_pkg-2.0.dist-info", "License: a licence of our own")
    shipped = alpha_info / "sboms" / "vendored.cdx.json"
    shipped.parent.mkdir()
    shipped.write_text('{"bomFormat": "CycloneDX", "specVersion": "1.6"}', encoding="utf-8")
    project = write_project(tmp_path / "p", wheels)
    out = tmp_path / "out" / "env.cdx.json"
    run = run_check(
        "--python", venv312_copy, "--project", project, "--skip", "performance",
        "--skip", "integrity", "--sbom", out,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert f"sbom: {out} (" in run.stderr
    document = valid(out.read_text(encoding="utf-8"))
    assert document["specVersion"] == "1.6"
    components = by_name(document)
    alpha, beta = components["alpha"], components["beta-pkg"]
    assert alpha["version"] == "1.0"
    assert alpha["purl"] == "pkg:pypi/alpha@1.0"
    assert beta["purl"] == "pkg:pypi/beta-pkg@2.0"
    # The lock pins one artifact per package here: its hash is the component's.
    lock = (project / "requirements" / "py3.12.txt").read_text(encoding="utf-8")
    assert alpha["hashes"] == [
        {"alg": "SHA-256", "content": wheelhouse.file_hash(wheels.alpha)[7:]}
    ]
    assert alpha["hashes"][0]["content"] in lock
    assert alpha["licenses"] == [{"expression": "MIT OR Apache-2.0", "acknowledgement": "declared"}]
    assert beta["licenses"] == [
        {"license": {"name": "a licence of our own", "acknowledgement": "declared"}}
    ]
    (reference,) = [r for r in alpha["externalReferences"] if r["type"] == "bom"]
    assert reference["url"] == shipped.as_uri()
    digest = hashlib.sha256(shipped.read_bytes()).hexdigest()
    assert reference["hashes"] == [{"alg": "SHA-256", "content": digest}]
    properties = {p["name"]: p["value"] for p in document["metadata"]["component"]["properties"]}
    assert properties["preflight:status"] == "READY"
    assert {"pip", "alpha", "beta-pkg"} <= set(components)
    # Every component hangs off the environment.
    (root,) = [d for d in document["dependencies"] if d["ref"] == "environment"]
    assert len(root["dependsOn"]) == len(document["components"])
    assert sorted(p.name for p in out.parent.iterdir()) == ["env.cdx.json"]  # no temp file


def test_several_lock_hashes_go_on_a_distribution_reference(tmp_path: Path) -> None:
    hashes = ("sha256:" + "a" * 64, "sha256:" + "b" * 64)
    ctx = factories.context(
        lock=factories.lock(factories.entry("numpy", "2.2.6", hashes=hashes)),
        interpreter=factories.interpreter(
            dists=(
                factories.dist("numpy", "2.2.6", license="BSD-3-Clause"),
                factories.dist("pandas", "2.3.3", license="x" * 500),
            )
        ),
    )
    document = valid(sbom_text(factories.report(), sbom_facts(ctx)))
    numpy, pandas = by_name(document)["numpy"], by_name(document)["pandas"]
    assert "hashes" not in numpy  # which of the two was installed is not known
    (reference,) = numpy["externalReferences"]
    assert reference["type"] == "distribution"
    assert [h["content"] for h in reference["hashes"]] == ["a" * 64, "b" * 64]
    assert numpy["licenses"] == [{"license": {"id": "BSD-3-Clause", "acknowledgement": "declared"}}]
    # A License field holding a whole text: a short name, the text beside it.
    (license_,) = pandas["licenses"]
    assert len(license_["license"]["name"]) < 210
    assert license_["license"]["text"]["content"] == "x" * 500
    assert {p["name"]: p["value"] for p in pandas["properties"]}["preflight:locked"] == "false"


def test_the_wheel_found_by_the_wheelhouse_gives_the_component_its_hash() -> None:
    hashes = ("sha256:" + "a" * 64, "sha256:" + "b" * 64)
    wheel = AnchoredWheel(
        "numpy", "2.2.6", "/wh/numpy-2.2.6-cp312-cp312-linux_x86_64.whl", "sha256:" + "b" * 64
    )
    anchor = AnchorFacts("/wh", (wheel,), (), 10, 0, 2, 1000)
    ctx = factories.context(
        lock=factories.lock(factories.entry("numpy", "2.2.6", hashes=hashes)),
        interpreter=factories.interpreter(dists=(factories.dist("numpy", "2.2.6"),)),
        integrity=factories.integrity(anchor=anchor),
    )
    numpy = by_name(valid(sbom_text(factories.report(), sbom_facts(ctx))))["numpy"]
    assert numpy["hashes"] == [{"alg": "SHA-256", "content": "b" * 64}]
    (reference,) = numpy["externalReferences"]  # the lock's artifacts, still listed
    assert "numpy-2.2.6-cp312-cp312-linux_x86_64.whl" in reference["comment"]
    properties = {p["name"]: p["value"] for p in numpy["properties"]}
    assert properties["preflight:artifact"] == "numpy-2.2.6-cp312-cp312-linux_x86_64.whl"


def test_sbom_without_the_library_is_a_clear_usage_error(
    tmp_path: Path, venv312: Path, wheels: Any, run_check: Callable[..., CliRun]
) -> None:
    shadow = tmp_path / "shadow" / "cyclonedx"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ImportError('No module named cyclonedx (hidden by the test)')\n", encoding="utf-8"
    )
    project = write_project(tmp_path / "p", wheels)
    out = tmp_path / "env.cdx.json"
    run = run_check(
        "--python", venv312, "--project", project, "--sbom", out,
        env={"PYTHONPATH": str(shadow.parent)},
    )  # fmt: skip
    assert run.returncode == 3, run.stderr
    assert "needs cyclonedx-python-lib" in run.stderr
    assert "pip install 'preflight-env[sbom]'" in run.stderr
    assert not out.exists()
    assert not run.report_path.exists()  # refused before anything ran


def test_sbom_to_a_folder_is_refused(
    tmp_path: Path, venv312: Path, wheels: Any, run_check: Callable[..., CliRun]
) -> None:
    project = write_project(tmp_path / "p", wheels)
    run = run_check("--python", venv312, "--project", project, "--sbom", tmp_path)
    assert run.returncode == 3
    assert "is a folder" in run.stderr
