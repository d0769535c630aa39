"""The one way the alerts code talks: ``alert: ...`` lines on a stream that may be gone."""

from __future__ import annotations

from typing import TextIO


def say(log: TextIO, message: str) -> None:
    try:
        log.write(f"alert: {message}\n")
        log.flush()
    except (OSError, ValueError):
        pass  # a closed stderr must not turn a delivered alert into a crash
