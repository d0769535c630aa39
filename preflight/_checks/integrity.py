"""integrity: every installed file matches the hash its RECORD gives, and nothing unowned runs.

With a wheelhouse (anchored mode), the reference is the locked wheel, not RECORD: a file is
judged against the wheel whose sha256 the lock lists, and the message says how many files are
anchored that way, how many the installer derived from the wheel, and how many rest on RECORD
alone.
"""

from __future__ import annotations

import os

from packaging.utils import canonicalize_name

from preflight._checks.base import Check, Context
from preflight._checks.result import CheckResult, Finding, Severity
from preflight._facts.model import AnchorFacts, Exposure

C, W = Severity.CRITICAL, Severity.WARNING


def integrity(ctx: Context) -> CheckResult:
    scan = ctx.integrity
    assert scan is not None
    if scan.unfinished is not None:
        return CheckResult.from_findings(
            "integrity", "Installed files vs RECORD",
            [Finding(C, scan.unfinished, "fix what the message names, then check again")],
            ok="", details={"unfinished": scan.unfinished},
        )  # fmt: skip
    reinstall = f"{ctx.remedies.fresh(ctx.lock_path)}, or reinstall the distribution"
    findings: list[Finding] = []
    for p in scan.problems:
        if p.kind == "unverifiable":
            findings.append(Finding(W, f"{p.dist}: {p.path} cannot be verified: {p.detail}", None))
        else:
            kind = _KIND_WORDS.get(p.kind, p.kind)
            findings.append(Finding(C, f"{p.dist}: {p.path} is {kind} ({p.detail})", reinstall))
    for e in scan.exposed:
        findings.append(Finding(C, f"{e.path} {_EXPOSED_WORDS[e.kind]}: {e.detail}", _fix(e)))
    known = []
    # Start-up hooks (.pth files, sitecustomize/usercustomize) are startup_hooks' to judge.
    facts = ctx.facts
    hooks = {os.path.normpath(p) for p in (*(h.path for h in facts.startup_hooks),
                                           *(p.path for p in facts.pth_files))}  # fmt: skip
    for entry in scan.unowned:
        if os.path.normpath(entry.path) in hooks:
            continue
        if entry.known_tool:
            known.append({"path": entry.path, "placed_by": entry.known_tool})
            continue
        what = _UNOWNED_WORDS.get(entry.kind, f"an importable {entry.kind}")
        findings.append(
            Finding(
                C,
                f"{entry.path} is {what} that no installed distribution owns"
                + (f" ({entry.note})" if entry.note else ""),
                "remove it, or install what it belongs to from the lock",
            )
        )
    for name in scan.without_record:
        findings.append(
            Finding(W, f"{name} has no RECORD, so its files cannot be verified", reinstall)
        )
    details = {
        "files_checked": scan.files_checked,
        "bytes_checked": scan.bytes_checked,
        "problems": [
            {"dist": p.dist, "path": p.path, "kind": p.kind, "detail": p.detail}
            for p in scan.problems
        ],
        "unowned": [
            {"path": u.path, "kind": u.kind}
            for u in scan.unowned
            if not u.known_tool and os.path.normpath(u.path) not in hooks
        ],
        "placed_by_venv_tool": known,
        "without_record": list(scan.without_record),
        "exposed": [{"path": e.path, "kind": e.kind, "detail": e.detail} for e in scan.exposed],
    }
    mb = scan.bytes_checked / 1e6
    ok = f"{scan.files_checked} files ({mb:.1f} MB) match their RECORD hashes"
    if scan.anchor is not None:
        findings.extend(_anchor_findings(ctx, scan.anchor))
        details["anchor"] = _anchor_details(scan.anchor)
        ok = _anchor_message(scan.anchor, mb)
    result = CheckResult.from_findings(
        "integrity", "Installed files vs RECORD", findings, ok=ok, details=details
    )
    if scan.anchor is not None and findings:  # the counts, whatever the worst finding says
        counts = _anchor_counts(scan.anchor)
        result = CheckResult(
            result.id, result.title, result.status, f"{result.message}; {counts}",
            result.findings, result.details,
        )  # fmt: skip
    return result


_KIND_WORDS = {"foreign": "not from the locked wheel", "symlink": "a symlink"}
_UNOWNED_WORDS = {
    "pth": "a start-up .pth file",
    "startup_module": "a start-up module (site imports it at every start)",
}
_EXPOSED_WORDS = {
    "link_outside": "is a symlink leaving the environment",
    "linked_folder": "is a symlinked folder import would enter",
    "writable": "is writable by others than its owner",
    "foreign_owner": "is owned by someone other than root or the environment's owner",
    "unjudged": "is on sys.path and cannot be judged",
}


def _fix(exposure: Exposure) -> str:
    if exposure.kind == "foreign_owner":
        return (
            f"give it to root or to the environment's owner (`chown` '{exposure.path}'), then "
            "check the environment again: its owner may have changed what it holds"
        )
    if exposure.kind == "unjudged":
        return (
            "put only the code to import on sys.path (a src/ folder, a wheel installed from "
            "the lock), not a folder that holds everything"
        )
    if exposure.kind == "writable":
        return (
            f"remove the write permission (`chmod go-w '{exposure.path}'`), then check the "
            "environment again: what others could write may have been changed"
        )
    return (
        "replace the link with what the distribution installs (reinstall it), or remove it; "
        "a link's target can change after the check"
    )


def _anchor_counts(anchor: AnchorFacts) -> str:
    return (
        f"{anchor.files_anchored} files anchored in the lock's hashes, "
        f"{anchor.files_derived} derived by the installer, "
        f"{anchor.files_record_only} on RECORD alone"
    )


def _anchor_message(anchor: AnchorFacts, mb: float) -> str:
    wheels = len(anchor.wheels)
    return (
        f"{_anchor_counts(anchor)} ({wheels} wheel{'s' if wheels != 1 else ''} of "
        f"{anchor.wheelhouse}; {mb:.1f} MB checked)"
    )


def _anchor_findings(ctx: Context, anchor: AnchorFacts) -> list[Finding]:
    lock = ctx.lock_path or "LOCK"
    download = (
        f"download the locked artifacts: `pip download --require-hashes --no-deps -r {lock} "
        f"-d {anchor.wheelhouse}`"
    )
    if anchor.unavailable is not None:
        return [
            Finding(C, f"--wheelhouse: {anchor.unavailable}", "fix the lock (see wheel_status)")
        ]
    findings = []
    for item in anchor.unanchored:
        if item.kind == "ignored":
            hooks = _start_up_code(ctx, item.dist)
            if hooks:
                findings.append(
                    Finding(
                        C,
                        f"{item.dist} {item.version} is tooling the lock does not pin, but it "
                        f"owns code run at every start ({', '.join(hooks)}): nothing anchors "
                        "it in the lock, only its own RECORD vouches for it",
                        f"pin {item.dist} in the lock (with its hash) and {download}; or "
                        f"uninstall {item.dist}",
                    )
                )
            continue  # tooling: lock_sync names it; its files rest on RECORD (counted)
        what = f"{item.dist} {item.version} is not anchored in the lock: {item.detail}"
        if item.kind == "not_locked":
            findings.append(Finding(W, f"{what}; its files rest on RECORD alone (see lock_sync)"))
        elif item.kind == "untrusted":
            findings.append(
                Finding(C, what, f"remove that file from the wheelhouse, then {download}")
            )
        else:
            findings.append(Finding(C, what, download))
    return findings


def _start_up_code(ctx: Context, dist: str) -> list[str]:
    """The start-up hooks (a ``.pth`` that runs code, a ``sitecustomize``) ``dist`` owns."""
    name = canonicalize_name(dist)
    return [
        os.path.basename(os.path.normpath(h.path))
        for h in ctx.facts.startup_hooks
        if h.owner is not None and canonicalize_name(h.owner) == name
    ]


def _anchor_details(anchor: AnchorFacts) -> dict[str, object]:
    return {
        "wheelhouse": anchor.wheelhouse,
        "files_anchored": anchor.files_anchored,
        "files_derived": anchor.files_derived,
        "files_record_only": anchor.files_record_only,
        "wheel_bytes_hashed": anchor.wheel_bytes_hashed,
        "wheels": [
            {"dist": w.dist, "version": w.version, "wheel": w.wheel, "sha256": w.sha256}
            for w in anchor.wheels
        ],
        "unanchored": [
            {"dist": u.dist, "version": u.version, "kind": u.kind, "detail": u.detail}
            for u in anchor.unanchored
        ],
        "unavailable": anchor.unavailable,
    }


CHECK = Check(
    "integrity",
    "Installed files vs RECORD",
    "Every installed file matches its RECORD hash; no unowned module in site-packages "
    "(start-up hooks: see startup_hooks).",
    ("interpreter", "integrity"),
    integrity,
)
