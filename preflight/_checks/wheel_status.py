"""wheel_status: the lock itself is sound — present, parseable, pinned, hashed, current."""

from __future__ import annotations

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion

from preflight._checks._selection import lock_entries
from preflight._checks.base import Check, Context, owner_of
from preflight._checks.result import CheckResult, Finding, Severity, Status
from preflight._errors import LockError
from preflight._facts.model import InterpreterFacts, ProbeFailure
from preflight._lock.meta import compiled_at, inputs_digest
from preflight._lock.requirements import Lock, LockEntry, is_digest
from preflight._lock.select import Ambiguity, applies
from preflight._policy.spec import parse_version, same_minor
from preflight._text import plural, shown

C, W = Severity.CRITICAL, Severity.WARNING


def wheel_status(ctx: Context) -> CheckResult:
    title = "Lock and wheel status"
    if ctx.lock is None:
        if isinstance(ctx.interpreter, ProbeFailure):
            # The lock is chosen by the interpreter's X.Y: point at the root cause, once.
            owner = owner_of(ctx, "interpreter")
            return CheckResult(
                "wheel_status",
                title,
                Status.SKIP,
                "skipped: the lock is chosen by the interpreter's version, which is unavailable "
                f"(see {owner})",
                details={"blocked_by": owner},
            )
        return CheckResult("wheel_status", title, Status.SKIP, "no lock to check")
    if isinstance(ctx.lock, LockError):
        finding = Finding(
            C,
            ctx.lock.message,
            ctx.lock.hint or ctx.remedies.relock,
            file=str(ctx.lock.path),
            line=ctx.lock.line,
        )
        return CheckResult(
            "wheel_status",
            title,
            Status.FAIL,
            ctx.lock.message,
            (finding,),
            {"lock": str(ctx.lock.path)},
        )
    lock = ctx.lock
    selected = lock_entries(ctx)
    findings = _pins(lock, ctx.remedies.relock) + _notes(lock)
    if isinstance(selected, Ambiguity):
        findings.append(
            Finding(
                C,
                f"{lock.path}: the lock is ambiguous for this interpreter: {selected.describe()}",
                f"{ctx.remedies.relock}: each name needs exactly one pin per interpreter",
            )
        )
    else:
        findings += _coverage(ctx, lock, selected)
    findings += _header(ctx, lock) + _scope(ctx, lock)
    age_finding, age = _age(ctx, lock)
    findings += age_finding
    details: dict[str, object] = {
        "lock": str(lock.path),
        "packages": len(lock.entries),
        "compiled_with": lock.header.python,
        **age,
        **lock.format_details(),
    }
    here = ""
    if lock.universal or lock.header.universal:
        details["universal"] = True
        if not isinstance(selected, Ambiguity):
            details["selected"] = len(selected)
            here = f" ({len(selected)} for this interpreter)"
    ok = (
        f"{lock.path.name}: {len(lock.entries)} packages pinned with hashes{here}, "
        f"{age['age_text']}"
    )
    return CheckResult.from_findings("wheel_status", title, findings, ok=ok, details=details)


def _pins(lock: Lock, relock: str) -> list[Finding]:
    findings = []
    for e in lock.entries:
        where = f"{lock.path}, line {e.line}"
        path = str(lock.path)
        if e.legacy_url:
            findings.append(
                Finding(
                    C,
                    f"{where}: {e.raw_name} comes from {e.url} (a URL line named by its "
                    "#egg= fragment or wheel filename), not an index pin",
                    relock,
                    file=path,
                    line=e.line,
                )
            )
        elif e.editable or e.url:
            findings.append(
                Finding(
                    C,
                    f"{where}: {e.raw_name} comes from {e.url or 'an editable path'}, "
                    "not an index pin",
                    relock,
                    file=path,
                    line=e.line,
                )
            )
        elif not e.pinned:
            findings.append(
                Finding(
                    C,
                    f"{where}: {e.raw_name}{e.specifier} is not pinned with ==",
                    relock,
                    file=path,
                    line=e.line,
                )
            )
        findings += [
            Finding(
                C,
                f"{where}: --hash {shown(value, limit=120)} of {e.raw_name} is not a digest "
                "(hex of the algorithm's length): no file can match it, so the install fails",
                relock,
                file=path,
                line=e.line,
            )
            for value in e.hashes
            if not is_digest(value)
        ]
        if not e.hashes:
            findings.append(
                Finding(
                    C,
                    f"{where}: {e.raw_name} {lock.format.no_hash}, so the install cannot be "
                    "hash-checked",
                    relock + lock.format.hash_remedy,
                    file=path,
                    line=e.line,
                )
            )
    return findings


def _notes(lock: Lock) -> list[Finding]:
    """What pip reads but does not count: a repeated line, an option it ignores."""
    return [
        Finding(W, f"{lock.path}, line {note.line}: {note.message}", "tidy the lock by hand")
        for note in lock.notes
    ]


def _coverage(ctx: Context, lock: Lock, selected: tuple[LockEntry, ...]) -> list[Finding]:
    """Every requirement of the policy is pinned, for this interpreter, at a version it allows."""
    findings = []
    relock = ctx.remedies.relock
    by_name = {e.name: e for e in selected}
    env = ctx.interpreter.marker_env if isinstance(ctx.interpreter, InterpreterFacts) else None
    for req in ctx.policy.requires:
        if env is not None and not applies(str(req.marker) if req.marker else None, env):
            continue  # the policy does not require it for this interpreter
        entry = by_name.get(canonicalize_name(req.name))
        if entry is None and canonicalize_name(req.name) in lock.by_name:
            findings.append(
                Finding(
                    C,
                    f"{lock.path} pins {req.name} only for other interpreters (by its markers), "
                    "but the policy requires it for this one",
                    relock,
                )
            )
            continue
        if entry is None:
            findings.append(
                Finding(
                    C, f"{lock.path} does not pin {req.name}, which the policy requires", relock
                )
            )
            continue
        if entry.version is None:
            continue
        try:
            allowed = req.specifier.contains(parse_version(entry.version), prereleases=True)
        except InvalidVersion:
            allowed = False
        if not allowed:
            findings.append(
                Finding(
                    C,
                    f"{lock.path} pins {req.name}=={entry.version} but the policy requires {req}",
                    relock,
                )
            )
    return findings


def _scope(ctx: Context, lock: Lock) -> list[Finding]:
    """What the lock says of its format's version and of the interpreters it is for (a PEP
    751 lock's ``lock-version``, ``requires-python``, ``environments``), judged for the
    target; a lock that says nothing of them passes."""
    relock = ctx.remedies.relock
    findings = []
    if lock.version_warning is not None:
        message, remedy = lock.version_warning
        findings.append(Finding(W, f"{lock.path}: {message}", remedy))
    if not isinstance(ctx.interpreter, InterpreterFacts):
        return findings
    facts = ctx.interpreter
    python = facts.marker_env.get("python_full_version") or facts.version
    use = f"use an interpreter the lock is for, or {relock} for this one"
    if lock.requires_python and not _contains(lock.requires_python, python):
        findings.append(
            Finding(
                C,
                f"{lock.path} requires-python {lock.requires_python}, but the interpreter "
                f"is Python {python}",
                use,
            )
        )
    if lock.environments and not any(_holds(m, facts.marker_env) for m in lock.environments):
        findings.append(
            Finding(
                C,
                f"{lock.path} is for the environments {' or '.join(lock.environments)}; "
                f"none holds for the interpreter (Python {python}, "
                f"{facts.marker_env.get('sys_platform', '?')} "
                f"{facts.marker_env.get('platform_machine', '?')})",
                use,
            )
        )
    return findings


def _contains(specifier: str, version: str) -> bool:
    try:
        return SpecifierSet(specifier).contains(parse_version(version), prereleases=True)
    except ValueError:  # InvalidSpecifier, InvalidVersion; a 5000-digit bound of a specifier
        return False


def _holds(marker: str, env: dict[str, str]) -> bool:
    try:
        return Marker(marker).evaluate(env)
    except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName, InvalidVersion):
        return False


def _header(ctx: Context, lock: Lock) -> list[Finding]:
    findings = []
    relock = ctx.remedies.relock
    meta = lock.header.preflight
    if meta.get("inputs") and meta["inputs"] != inputs_digest(ctx.policy.requires):
        findings.append(
            Finding(
                W,
                f"{lock.path} was compiled from other requirements than the policy's requires now",
                relock,
            )
        )
    compiled_with = lock.header.python
    universal = lock.universal or lock.header.universal  # made for every interpreter
    if compiled_with and not universal and isinstance(ctx.interpreter, InterpreterFacts):
        target = ctx.interpreter.version
        if not same_minor(target, compiled_with):
            findings.append(
                Finding(
                    W,
                    f"{lock.path} was compiled with Python {compiled_with}, "
                    f"the interpreter is {target}",
                    relock,
                )
            )
    return findings


def _age(ctx: Context, lock: Lock) -> tuple[list[Finding], dict[str, object]]:
    compiled = compiled_at(lock.header.preflight)
    source = "lock header"
    if compiled is None and ctx.lock_committed is not None:
        compiled, source = ctx.lock_committed, "last git commit"
    if compiled is None:
        return [], {
            "compiled_at": None,
            "age_source": None,
            "age_text": "age unknown (no preflight-lock header, not in git)",
        }
    age_days = (ctx.now - compiled).total_seconds() / 86400
    info: dict[str, object] = {
        "compiled_at": compiled.isoformat(timespec="seconds"),
        "age_source": source,
        "age_days": round(age_days, 2),
        "max_age_days": ctx.policy.lock_max_age_days,
        "age_text": f"compiled {_human(age_days)} ago ({source})",
    }
    if age_days > ctx.policy.lock_max_age_days:
        return [
            Finding(
                W,
                # The date, not the age: the message stays the same from run to run (a
                # monitor's alerts are deduplicated on it); the age is in the details.
                f"{lock.path} is stale: compiled on {compiled:%Y-%m-%d} ({source}), older "
                f"than the policy's {ctx.policy.lock_max_age_days:g}-day limit",
                ctx.remedies.relock,
            )
        ], info
    return [], info


def _human(days: float) -> str:
    """``"12 minutes"``, ``"5.5 hours"``, ``"3 days"``."""
    if days < 1 / 24:
        return plural(round(max(days * 1440, 0)), "minute")
    if days < 1:
        return f"{days * 24:.1f} hours"
    return plural(round(days), "day")


CHECK = Check(
    "wheel_status",
    "Lock and wheel status",
    "The lock exists, parses, pins every package with == and hashes, and is current.",
    ("lock",),  # it reports a missing or broken lock itself (its owner)
    wheel_status,
)
