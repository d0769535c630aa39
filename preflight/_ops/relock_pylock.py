"""``pip lock``'s command line, the one compiler only a PEP 751 lock (``pylock.toml``) has.

``relock`` writes this format when the policy's ``lock`` names a PEP 751 file
(``pylock.toml``, ``pylock.py{major}{minor}.toml``); what is particular to the format (how it
is parsed, stamped with ``[tool.preflight]`` and compared) is the format's own
(``_lock/pylock.py``, ``PylockFormat``); everything that keeps a lock from being lost (the
work folder, the validation, the atomic replace, ``--check``) and uv's command line (the
same for both formats) are ``relock``'s own.

What the resolvers support (docs/nox.md, "relock"):

* **uv** (``uv pip compile -o pylock.toml``, the default): a lock per interpreter, or one
  lock for all of them (``--universal``, with one entry per marker range), when the policy's
  ``lock`` names one file for every interpreter; uv's own settings (``UV_INDEX_URL``,
  ``uv.toml``) resolve.
* **pip** (``pip lock``, pip >= 25.1, experimental in pip): a lock for one interpreter only,
  resolved in a venv of that interpreter; pip's settings resolve.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["PIP_LOCK", "pip_lock_argv"]

PIP_LOCK = "pip>=25.1"  # the first pip with `pip lock`


def pip_lock_argv(
    pip: Sequence[str], output: str, input_name: str, upgrade: Sequence[str]
) -> list[str]:
    """``pip lock`` of ``input_name`` into ``output``; ``pip`` runs pip (``python -m pip``).

    ``pip lock`` resolves from scratch: ``--upgrade`` changes nothing and is accepted; it has
    no ``--upgrade-package`` (a ValueError saying what to use instead)."""
    if upgrade and "*" not in upgrade:
        raise ValueError("pip lock has no --upgrade-package: use --upgrade, or --resolver uv")
    return [*pip, "lock", "--quiet", "--output", output, "-r", input_name]
