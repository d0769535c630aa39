"""The alert state file: what was last delivered, one entry per environment, under a lock.

The monitors of one project share the file (one entry per interpreter path), so each saves its
own entry under an exclusive ``flock``, reading the file again first. A missing file is no
state; a damaged one is logged and treated as none (the worst outcome is one alert too many),
and so is a damaged entry, alone: a flag that is not a boolean, a time without a time zone
(it cannot be compared with now), or one in the future (year 9999 would suppress every alert,
and adding the cooldown to it overflow). The next save replaces them.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from preflight import _json
from preflight._alerts.log import say
from preflight._alerts.model import AlertState, python_of
from preflight._atomic import write_atomic
from preflight._read import STATE_LIMIT, ReadError, read_text
from preflight._report.model import Report

STATE_SCHEMA = 1


def state_key(report: Report) -> str:
    """One entry per environment: two monitors of one project keep separate dedup state."""
    return python_of(report)


def load_states(path: Path, log: TextIO, now: datetime | None = None) -> dict[str, AlertState]:
    """The saved states; a missing file is none, a damaged one is logged and treated as none,
    and so is each damaged entry (``now``, default the clock, tells a time in the future)."""
    try:
        data = _json.loads(read_text(path, what="an alert state file", limit=STATE_LIMIT))
    except ReadError as exc:
        if exc.kind == "missing":
            return {}
        say(log, f"ignoring the unreadable state file {path}: {exc.problem}")
        return {}
    except ValueError as exc:  # not JSON, or over a limit of _json (a 5000-digit number)
        say(log, f"ignoring the unreadable state file {path}: {exc}")
        return {}
    environments = data.get("environments") if isinstance(data, dict) else None
    if not isinstance(environments, dict):
        say(log, f"ignoring the state file {path}: it has no 'environments' object")
        return {}
    latest = (now if now is not None else datetime.now(UTC)) + FUTURE_SLACK
    states: dict[str, AlertState] = {}
    for key, entry in environments.items():
        try:
            states[key] = _state_from_json(entry, latest)
        except ValueError as exc:
            say(
                log,
                f"ignoring the entry {_short(key)} of the state file {path}: {exc}; "
                "it counts as no state and is replaced on the next save",
            )
    return states


FUTURE_SLACK = timedelta(days=1)  # monitors on hosts whose clocks differ share the file


def _state_from_json(entry: object, latest: datetime) -> AlertState:
    """One entry, or ValueError saying what is wrong with it."""
    if not isinstance(entry, dict):
        raise ValueError("it is not an object")
    alerting = entry.get("alerting")
    if not isinstance(alerting, bool):
        raise ValueError(f"'alerting' is {_short(alerting)}, not true or false")
    attempts = entry.get("attempts", 0)
    if type(attempts) is not int or not 0 <= attempts <= 1_000_000:
        raise ValueError(f"'attempts' is {_short(attempts)}, not a count")
    return AlertState(
        alerting=alerting,
        fingerprint=_text(entry, "fingerprint"),
        last_sent=_moment(entry.get("last_sent"), latest, "last_sent"),
        subject=_text(entry, "subject"),
        undelivered=_text(entry, "undelivered"),
        attempts=attempts,
        failing_since=_moment(entry.get("failing_since"), latest, "failing_since"),
    )


def _text(entry: Mapping[str, Any], key: str) -> str | None:
    value = entry.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key!r} is {_short(value)}, not a string")
    return value


def _moment(value: object, latest: datetime, key: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key!r} is {_short(value)}, not a date and time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{key!r} is {_short(value)}, not a date and time") from None
    if moment.utcoffset() is None:
        raise ValueError(f"{key!r} is {_short(value)}, without a time zone")
    try:
        moment.astimezone(UTC)  # what the alert's text shows
    except OverflowError:  # its UTC time is before year 1 or after year 9999
        raise ValueError(f"{key!r} is {_short(value)}, out of range") from None
    if moment > latest:
        raise ValueError(f"{key!r} is {_short(value)}, in the future")
    return moment


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def states_json(states: Mapping[str, AlertState]) -> str:
    return (
        json.dumps(
            {
                "schema_version": STATE_SCHEMA,
                "environments": {
                    key: {
                        "alerting": s.alerting,
                        "fingerprint": s.fingerprint,
                        "last_sent": s.last_sent.isoformat() if s.last_sent else None,
                        "subject": s.subject,
                        "undelivered": s.undelivered,
                        "attempts": s.attempts,
                        "failing_since": s.failing_since.isoformat() if s.failing_since else None,
                    }
                    for key, s in sorted(states.items())
                },
            },
            indent=2,
        )
        + "\n"
    )


def save_state(path: Path, key: str, state: AlertState, log: TextIO) -> None:
    """Record ``state`` for ``key``, keeping the entries other monitors saved meanwhile.

    The file is read again under the lock: what was loaded before the delivery (seconds ago,
    with retries) may be out of date, and writing it back would drop another monitor's entry.
    """
    try:
        with locked(path):
            # Quietly: what is wrong with the file was said when it was loaded.
            write_atomic(path, states_json({**load_states(path, io.StringIO()), key: state}))
    except OSError as exc:
        say(log, f"could not save {path}: {exc.strerror or exc}; the next run may alert again")


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock``, which stays: deleting it would race a waiter."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
