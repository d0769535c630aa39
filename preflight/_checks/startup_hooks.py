"""startup_hooks: what the environment runs at every start, read as data and judged.

A ``.pth`` line that runs code and a ``sitecustomize`` / ``usercustomize`` run in every process
the environment starts, before the application. Each is listed (path, kind, its code lines);
one that no installed distribution owns is critical (it was put there by hand, or by an
attacker). With the policy key ``startup_hooks`` (allowed file names), any other hook is
critical even when a distribution owns it; setuptools' ``distutils-precedence.pth`` and
coverage's ``a1_coverage.pth`` are allowed by default when their own distribution owns them,
and so is the ``.pth`` virtualenv (and uv) place in every environment they create.

A hook whose owner's RECORD gives it no hash (a ``sitecustomize.pyc`` listed ``,,``) runs
unverified: critical. A hook owned by tooling the policy ignores and the lock does not pin is
never passed silently: its verdict says that its RECORD alone vouches for it (under
``--wheelhouse`` the integrity check refuses it: nothing anchors it in the lock).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from packaging.utils import canonicalize_name

from preflight._checks.base import Check, Context
from preflight._checks.result import CheckResult, Finding, Severity
from preflight._facts.model import StartupHook
from preflight._lock.requirements import Lock

C, W = Severity.CRITICAL, Severity.WARNING
TITLE = "Start-up hooks"

# file name -> the distribution that ships it: allowed whatever the policy lists, when owned
# by that distribution.
KNOWN_HOOKS: dict[str, str] = {
    "distutils-precedence.pth": "setuptools",
    "a1_coverage.pth": "coverage",
}


def hook_name(hook: StartupHook) -> str:
    """The file name the policy's ``startup_hooks`` lists for ``hook``."""
    return os.path.basename(os.path.normpath(hook.path))


def _known(hook: StartupHook) -> bool:
    wanted = KNOWN_HOOKS.get(hook_name(hook))
    return (
        wanted is not None
        and hook.owner is not None
        and canonicalize_name(hook.owner) == canonicalize_name(wanted)
    )


def _what(hook: StartupHook) -> str:
    if hook.kind == "pth":
        lines = len(hook.code)
        return f"a start-up .pth file ({lines} line{'s' if lines != 1 else ''} of code)"
    return f"a {hook.kind} ({hook.form}) Python runs at every start"


def _verdict(
    hook: StartupHook,
    placed_by: str | None,
    unowned: bool,
    allowed: tuple[str, ...] | None,
) -> tuple[Finding | None, str]:
    """The finding for one hook (None: it passes) and the word the details give it."""
    name = hook_name(hook)
    code = f": {hook.code[0]}" if hook.code else ""
    if hook.problem is not None:
        return Finding(
            C,
            f"{hook.path} is {_what(hook)}, but it cannot be read ({hook.problem}): what it "
            "runs is unknown",
            "remove it, or install what it belongs to from the lock",
        ), "unreadable"
    owner = placed_by or hook.owner
    if allowed is not None and name not in allowed and not _known(hook):
        return Finding(
            C,
            f"{hook.path} is {_what(hook)} ({'owned by ' + owner if owner else 'unowned'}), "
            f"and the policy's startup_hooks does not list {name}{code}",
            f"remove it (uninstall what ships it), or add {name!r} to startup_hooks in "
            "[tool.preflight]",
        ), "not allowed"
    if placed_by is not None:
        return None, f"placed by {placed_by}"
    if unowned or hook.owner is None:  # wherever it lies: a folder a .pth adds included
        return Finding(
            C,
            f"{hook.path} is {_what(hook)} that no installed distribution owns{code}",
            "remove it, or install what it belongs to from the lock",
        ), "unowned"
    if not hook.own_site:
        return Finding(
            W,
            f"{hook.path} is {_what(hook)}, from {hook.site}, outside the environment's own "
            f"site-packages: no RECORD of it is checked, so the environment's code is not "
            f"run{code}",
            "use a virtual environment without the system or user site-packages",
        ), "outside the environment"
    return None, f"owned by {hook.owner}"


def _judge(
    hook: StartupHook,
    placed_by: str | None,
    unowned: bool,
    allowed: tuple[str, ...] | None,
    *,
    unverified: str | None,
    unpinned: frozenset[str],
) -> tuple[Finding | None, str]:
    """:func:`_verdict`, after what RECORD says of the hook: one it lists without a hash is
    unverifiable; one of tooling the lock does not pin is never passed silently."""
    if unverified is not None:
        return _unverifiable(hook, unverified), "unverifiable"
    finding, verdict = _verdict(hook, placed_by, unowned, allowed)
    if finding is None and hook.owner is not None and canonicalize_name(hook.owner) in unpinned:
        # under --wheelhouse, integrity refuses it: nothing anchors it in the lock
        verdict += ", tooling the lock does not pin: its RECORD alone vouches for it"
    return finding, verdict


def _unverifiable(hook: StartupHook, why: str) -> Finding:
    """A hook its owner's RECORD lists without a hash: it runs unverified."""
    return Finding(
        C,
        f"{hook.path} is {_what(hook)}, owned by {hook.owner}, but it cannot be verified "
        f"({why}): what it runs at every start is unknown",
        f"reinstall {hook.owner} from the lock (its RECORD then hashes the file), or remove it",
    )


def _unverified(hook: StartupHook, problems: Mapping[tuple[str, str], str]) -> str | None:
    """Why the owner's RECORD cannot vouch for the hook (it gives no hash), if it cannot."""
    if hook.owner is None:
        return None
    written = os.path.relpath(os.path.normpath(hook.path), os.path.normpath(hook.site))
    return problems.get((canonicalize_name(hook.owner), written))


def _unpinned_tooling(ctx: Context) -> frozenset[str]:
    """The tooling the policy ignores that the lock does not pin (canonical names)."""
    lock = ctx.lock
    pinned = {canonicalize_name(e.name) for e in lock.entries} if isinstance(lock, Lock) else set()
    return frozenset(n for n in ctx.policy.ignore if n not in pinned)


def startup_hooks(ctx: Context) -> CheckResult:
    facts = ctx.facts
    scan = ctx.integrity
    assert scan is not None
    unowned = {os.path.normpath(u.path): u for u in scan.unowned}
    allowed = ctx.policy.startup_hooks
    findings: list[Finding] = []
    listed: list[dict[str, object]] = []
    passed: list[str] = []
    unverifiable: dict[tuple[str, str], str] = {
        (canonicalize_name(p.dist), p.path): p.detail
        for p in scan.problems
        if p.kind == "unverifiable"
    }
    unpinned = _unpinned_tooling(ctx)
    for hook in facts.startup_hooks:
        entry = unowned.get(os.path.normpath(hook.path))
        placed_by = entry.known_tool if entry is not None else None
        finding, verdict = _judge(
            hook,
            placed_by,
            entry is not None,
            allowed,
            unverified=_unverified(hook, unverifiable),
            unpinned=unpinned,
        )
        if finding is not None:
            findings.append(finding)
        else:
            passed.append(f"{hook_name(hook)} ({verdict})")
        listed.append(
            {
                "path": hook.path,
                "kind": hook.kind,
                "form": hook.form,
                "site": hook.site,
                "owner": placed_by or hook.owner,
                "code": list(hook.code),
                "problem": hook.problem,
                "verdict": verdict,
            }
        )
    hooks = {os.path.normpath(h.path) for h in facts.startup_hooks}
    for pth in facts.pth_files:  # the .pth files that run nothing still put folders on sys.path
        entry = unowned.get(os.path.normpath(pth.path))
        if os.path.normpath(pth.path) in hooks or entry is None or entry.known_tool:
            continue
        adds = ", ".join(pth.paths) or "nothing that exists"
        findings.append(
            Finding(
                C,
                f"{pth.path} is a start-up .pth file that no installed distribution owns "
                f"(it adds {adds} to sys.path)",
                "remove it, or install what it belongs to from the lock",
            )
        )
    for pth in facts.pth_files:  # a file (a zip) where a folder is named: zipimport reads it
        for entry_path in pth.not_folders:
            findings.append(
                Finding(
                    C,
                    f"{pth.path} puts {entry_path} on sys.path, which is not a folder: "
                    "Python imports from it as a zip archive, and nothing in it is checked",
                    "remove it, or reinstall what the .pth belongs to from the lock",
                )
            )
    unverified = [
        entry["path"] for entry in listed if entry["verdict"] == "outside the environment"
    ]
    details: dict[str, object] = {
        "hooks": listed,
        # a hook no RECORD vouches for runs at every start: the environment's code is held
        # back (verify, then run), as for a probe that could not finish
        "incomplete": bool(unverified),
        "allowed": list(allowed) if allowed is not None else None,
        "pth_path_entries": [
            {"pth": pth.path, "adds": list(pth.paths), "missing": list(pth.missing)}
            for pth in facts.pth_files
            if pth.paths or pth.missing
        ],
    }
    if not facts.startup_hooks:
        ok = "no start-up hook: no .pth line runs code, no sitecustomize or usercustomize"
    else:
        count = len(facts.startup_hooks)
        ok = f"{count} start-up hook{'s' if count != 1 else ''}: {', '.join(passed)}"
    return CheckResult.from_findings("startup_hooks", TITLE, findings, ok=ok, details=details)


CHECK = Check(
    "startup_hooks",
    TITLE,
    "Every .pth line that runs code, every sitecustomize/usercustomize is listed; none unowned "
    "or outside the policy's startup_hooks.",
    ("interpreter", "integrity"),
    startup_hooks,
)
