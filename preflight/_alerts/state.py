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
from typing import TextIO

from preflight import _json
from preflight._alerts.log import say
from preflight._alerts.model import AlertState, python_of
from preflight._atomic import write_atomic
from preflight._read import STATE_LIMIT, ReadError, read_text
from preflight._report.model import Report
from preflight._strict import Node, Table, shown

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
                f"ignoring the entry {shown(key)} of the state file {path}: {exc}; "
                "it counts as no state and is replaced on the next save",
            )
    return states


FUTURE_SLACK = timedelta(days=1)  # monitors on hosts whose clocks differ share the file


def _state_from_json(entry: object, latest: datetime) -> AlertState:
    """One entry, or ValueError (a :class:`ShapeError` naming the key) saying what is wrong."""
    if not isinstance(entry, dict):
        raise ValueError("it is not an object")
    table = Node(entry).table()
    attempts = table.get("attempts")
    return AlertState(
        alerting=table["alerting"].boolean(),
        fingerprint=_text(table, "fingerprint"),
        last_sent=_moment(table, "last_sent", latest),
        subject=_text(table, "subject"),
        undelivered=_text(table, "undelivered"),
        attempts=0 if attempts is None else attempts.integer(minimum=0, maximum=1_000_000),
        failing_since=_moment(table, "failing_since", latest),
    )


def _text(table: Table, key: str) -> str | None:
    node = table.get(key)
    return None if node is None or node.value is None else node.string(empty=True)


def _moment(table: Table, key: str, latest: datetime) -> datetime | None:
    node = table.get(key)
    if node is None or node.value in (None, ""):
        return None
    value = node.value
    try:
        moment = datetime.fromisoformat(node.string(max_length=64))
    except ValueError:
        raise node.error(f"must be a date and time, not {shown(value)}") from None
    if moment.utcoffset() is None:
        raise node.error(f"must be a date and time with a time zone, not {shown(value)}")
    try:
        moment.astimezone(UTC)  # what the alert's text shows
    except OverflowError:  # its UTC time is before year 1 or after year 9999
        raise node.error(f"{shown(value)} is out of range") from None
    if moment > latest:
        raise node.error(f"{shown(value)} is in the future")
    return moment


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
