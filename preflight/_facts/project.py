"""The project's own files the checks judge: the mode bits of the lock in use and of the
policy's protected files (``security``), and the policy's config file (``environment_config``).

Read here, once, so that the checks stay pure functions of facts: no check stats or opens a
file. Mode bits are read directly (``os.access`` answers for the caller, and root may write
anything); the config file through the bounded reader (a FIFO, a device, a folder or a huge
file is a problem said, never a blocking read).
"""

from __future__ import annotations

import stat
from pathlib import Path

from preflight._facts.model import ConfigFile, FileMode
from preflight._policy.policy import Policy
from preflight._read import CONFIG_FILE_LIMIT, ReadError, read_text

__all__ = [
    "ConfigFile",
    "FileMode",
    "config_file",
    "file_mode",
    "protected_files",
    "read_config_file",
]


def file_mode(path: Path) -> FileMode:
    """The mode bits of ``path`` and of the folders above its name and its target."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return FileMode(path, present=False)
    except OSError as exc:
        return FileMode(path, present=False, problem=f"{path} cannot be examined: {exc}")
    folders = []
    for folder in dict.fromkeys((path.absolute().parent, path.resolve().parent)):
        try:
            folders.append((folder, stat.S_IMODE(folder.stat().st_mode)))
        except OSError:  # the file was there a moment ago: its folder is; nothing to judge
            continue
    return FileMode(path, present=True, mode=stat.S_IMODE(st.st_mode), folders=tuple(folders))


def protected_files(policy: Policy, lock_path: Path | None) -> tuple[FileMode, ...]:
    """The lock in use (first) and the policy's protected files, as ``security`` judges them."""
    paths = [policy.project_dir / name for name in policy.protected_files]
    if lock_path is not None and lock_path not in paths:
        paths.insert(0, lock_path)
    return tuple(file_mode(path) for path in paths)


def config_file(policy: Policy) -> ConfigFile | None:
    """The policy's config file (None: it names none), read through the bounded reader."""
    if policy.config_file is None:
        return None
    return read_config_file(policy.project_dir / policy.config_file)


def read_config_file(path: Path) -> ConfigFile:
    if not path.exists():
        return ConfigFile(path, present=False)
    try:
        text = read_text(path, what="a config file", limit=CONFIG_FILE_LIMIT)
    except ReadError as exc:  # a FIFO, /dev/zero, a folder, a huge or non-UTF-8 file
        return ConfigFile(path, present=True, problem=str(exc))
    return ConfigFile(path, present=True, text=text)
