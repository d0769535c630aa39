"""The alert state file: what was last delivered, one entry per environment, under a lock.

The monitors of one project share the file (one entry per interpreter path), so each saves its
own entry under an exclusive ``flock``, reading the file again first. A missing file is no
state; a damaged one is logged and treated as none (the worst outcome is one alert too many).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from preflight._alerts.log import say
from preflight._alerts.model import AlertState, python_of
from preflight._atomic import write_atomic
from preflight._read import STATE_LIMIT, ReadError, read_text
from preflight._report.model import Report

STATE_SCHEMA = 1


def state_key(report: Report) -> str:
    """One entry per environment: two monitors of one project keep separate dedup state."""
    return python_of(report)


def load_states(path: Path, log: TextIO) -> dict[str, AlertState]:
    """The saved states; a missing file is none, a damaged one is logged and treated as none."""
    try:
        data = json.loads(read_text(path, what="an alert state file", limit=STATE_LIMIT))
    except ReadError as exc:
        if exc.kind == "missing":
            return {}
        say(log, f"ignoring the unreadable state file {path}: {exc.problem}")
        return {}
    except json.JSONDecodeError as exc:
        say(log, f"ignoring the unreadable state file {path}: {exc}")
        return {}
    try:
        return {key: _state_from_json(entry) for key, entry in data["environments"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        say(log, f"ignoring the state file {path}: unexpected content ({exc!r})")
        return {}


def _state_from_json(entry: Mapping[str, Any]) -> AlertState:
    last = entry.get("last_sent")
    return AlertState(
        alerting=bool(entry["alerting"]),
        fingerprint=entry.get("fingerprint"),
        last_sent=datetime.fromisoformat(last) if last else None,
        subject=entry.get("subject"),
    )


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
            write_atomic(path, states_json({**load_states(path, log), key: state}))
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
