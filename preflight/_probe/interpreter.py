"""Report facts about this interpreter and its environment as one JSON object on stdout.

Run by preflight inside the *target* interpreter as ``python -I -B _probe.py``. This file is
a stand-alone script, not part of the package at run time:

* stdlib only, and nothing from ``preflight`` (the target must not import our code);
* writes nothing (no bytecode, no files) -- ``-B`` plus care here;
* the whole file must parse under Python 2.7, so that the version gate below can report an
  interpreter that is too old instead of dying with a SyntaxError: no f-strings, no
  annotations, no keyword-only arguments, no ``print``;
* output is pure ASCII JSON (``ensure_ascii``), because ``-I`` ignores ``PYTHONIOENCODING``
  and the target's stdout encoding may be anything.

Judging happens in preflight's own process (``preflight/_facts/probes.py``).
"""

import json
import sys

PROBE_VERSION = 1
MIN_VERSION = (3, 8)


def _emit(payload):
    """Write one JSON object on its own line (a chatty ``.pth`` may have printed before us)."""
    sys.stdout.write("\n" + json.dumps(payload, ensure_ascii=True) + "\n")
    sys.stdout.flush()


def _version_text(info):
    """``major.minor.micro`` of a ``sys.version_info``-like tuple."""
    return "%d.%d.%d" % (info[0], info[1], info[2])


if sys.version_info[:2] < MIN_VERSION:
    _emit({"ok": False, "reason": "too_old", "version": _version_text(sys.version_info)})
    sys.exit(0)


import os  # noqa: E402  (after the version gate on purpose)
import platform  # noqa: E402
import site  # noqa: E402
import stat  # noqa: E402
import sysconfig  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Small readers. Every one of them tolerates missing files and bad encodings, and none of them
# can hang or balloon: the environment is untrusted, and a FIFO or /dev/zero where a file
# should be is a file we refuse (reported as unreadable), never one we wait on or read whole.
# ---------------------------------------------------------------------------------------------

KIB = 1024
MIB = 1024 * KIB
METADATA_LIMIT = MIB  # the headers of METADATA / PKG-INFO (the body is never read)
INSTALLER_LIMIT = 4 * KIB
DIRECT_URL_LIMIT = MIB
PYVENV_CFG_LIMIT = 64 * KIB
LICENSE_LIMIT = 8 * KIB  # a License field may hold a whole license text: its start is enough
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def _open_regular(path):
    """``(binary file object, None)`` for a regular file, or ``(None, why not)``.

    ``O_NONBLOCK``: opening a FIFO without a writer would otherwise wait for ever. The path
    is ``stat``-ed before (a device is never opened) and the descriptor ``fstat``-ed after
    (a file swapped in between is caught)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None, "not a regular file"
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if not os.path.lexists(path):
            return None, "missing"
        return None, "cannot be read (%s)" % (exc.strerror or exc,)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None, "not a regular file"
        return os.fdopen(fd, "rb"), None
    except (OSError, ValueError) as exc:
        try:
            os.close(fd)
        except OSError:
            pass
        return None, "cannot be read (%s)" % (exc,)


def _read_bounded(path, limit):
    """``(bytes, None)`` for a regular file of at most ``limit`` bytes, else ``(None, why)``.

    At most ``limit + 1`` bytes are read, whatever the file claims its size is."""
    handle, why = _open_regular(path)
    if handle is None:
        return None, why
    try:
        with handle:
            data = handle.read(limit + 1)
    except (OSError, ValueError) as exc:
        return None, "cannot be read (%s)" % (exc,)
    if len(data) > limit:
        return None, "larger than %d bytes" % (limit,)
    return data, None


def _read_text(path, limit):
    """The file's text decoded as UTF-8 (bad bytes replaced), or None if unreadable."""
    data, _why = _read_bounded(path, limit)
    return None if data is None else data.decode("utf-8", "replace")


def _read_headers(path, wanted):
    """Read RFC 822 style headers (METADATA / PKG-INFO) up to the first blank line.

    Returns ``{lower-cased name: value}`` for the names in ``wanted`` (first occurrence wins),
    or None if the file cannot be read or its headers are over ``METADATA_LIMIT``.
    Continuation lines are joined; the body (often a long description) is never read.
    """
    found = {}
    last = None
    handle, _why = _open_regular(path)
    if handle is None:
        return None
    left = METADATA_LIMIT
    try:
        with handle:
            while True:
                raw = handle.readline(left + 1)
                if not raw:
                    break
                left -= len(raw)
                if left < 0:
                    return None
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not line.strip():
                    break
                if line[0] in " \t":
                    if last is not None and last in found:
                        found[last] = found[last] + " " + line.strip()
                    continue
                key, sep, value = line.partition(":")
                last = None
                if not sep:
                    continue
                key = key.strip().lower()
                if key in wanted and key not in found:
                    found[key] = value.strip()
                    last = key
    except (OSError, ValueError):
        return None
    return found


def _read_pyvenv_cfg():
    """Parse ``pyvenv.cfg`` where ``site.py`` looks for it: next to or above the executable."""
    exe_dir = os.path.dirname(os.path.abspath(sys.executable))
    for folder in (exe_dir, os.path.dirname(exe_dir)):
        candidate = os.path.join(folder, "pyvenv.cfg")
        if os.path.isfile(candidate):
            text = _read_text(candidate, PYVENV_CFG_LIMIT)
            if text is None:
                return {}
            config = {}
            for line in text.splitlines():
                if "=" in line:
                    key, _, value = line.partition("=")
                    config[key.strip().lower()] = value.strip()
            return config
    return {}


def _existing_unique(paths, exclude=()):
    """Existing folders from ``paths``, first occurrence kept, none of ``exclude``.

    Folders are compared by their real path: a venv's ``lib64`` is a symlink to ``lib``, and
    where ``sys.platlibdir`` is ``lib64`` (Fedora, RHEL) purelib and platlib name one folder.
    """
    seen = set(os.path.normcase(os.path.realpath(p)) for p in exclude)
    result = []
    for path in paths:
        if not path:
            continue
        key = os.path.normcase(os.path.realpath(path))
        if key in seen or not os.path.isdir(path):
            continue
        seen.add(key)
        result.append(os.path.abspath(path))
    return result


def _sysconfig_site_dirs(config_vars=None):
    """purelib and platlib of the default install scheme (optionally for another base)."""
    if config_vars is None:
        paths = sysconfig.get_paths()
    else:
        paths = sysconfig.get_paths(vars=config_vars)
    return [paths.get("purelib"), paths.get("platlib")]


def _install_paths():
    """Where the default install scheme puts pure and platform modules and scripts.

    ``preflight baseline`` records every file under these folders (the ones that exist).
    """
    try:
        paths = sysconfig.get_paths()
    except Exception:  # a vendor-patched sysconfig must not kill the probe
        return {}
    result = {}
    for key in ("purelib", "platlib", "scripts"):
        value = paths.get(key)
        if isinstance(value, str) and value:
            result[key] = os.path.abspath(value)
    return result


def _getsitepackages():
    """``site.getsitepackages()``: distributions patch it (Debian's ``dist-packages``)."""
    getter = getattr(site, "getsitepackages", None)
    if getter is None:
        return []
    try:
        return list(getter())
    except Exception:  # a vendor-patched site.py must not kill the probe
        return []


def _site_dirs(in_venv, system_site):
    """The environment's own site folders and the base interpreter's visible ones.

    sysconfig gives the install scheme; ``site.getsitepackages()`` adds folders a distribution
    patched in (``/usr/lib/python3/dist-packages`` on Debian), which are on ``sys.path`` too.
    In a venv, the extra folders from ``site`` belong to the base interpreter.
    """
    own = _existing_unique(_sysconfig_site_dirs())
    from_site = _getsitepackages()
    if not in_venv:
        return own + _existing_unique(from_site, exclude=own), []
    if not system_site:
        return own, []
    base = _sysconfig_site_dirs({"base": sys.base_prefix, "platbase": sys.base_exec_prefix})
    return own, _existing_unique(base + from_site, exclude=own)


def _user_site(in_venv, system_site):
    """``(USER_SITE, enabled)`` as a normal start-up (without ``-I``) would decide them."""
    try:
        user_site = site.getusersitepackages()
    except Exception:  # some platforms have no user site at all
        user_site = None
    if in_venv and not system_site:
        return user_site, False
    if os.environ.get("PYTHONNOUSERSITE"):
        return user_site, False
    if hasattr(os, "getuid") and hasattr(os, "geteuid"):
        if os.getuid() != os.geteuid() or os.getgid() != os.getegid():
            return user_site, False
    return user_site, user_site is not None


def _format_full_version(info):
    """PEP 508 ``implementation_version``: ``3.13.0`` or ``3.13.0rc1``."""
    version = _version_text(info)
    if info.releaselevel != "final":
        version = version + info.releaselevel[0] + str(info.serial)
    return version


def _marker_env():
    """The PEP 508 marker environment, the same keys as packaging's default_environment()."""
    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": _format_full_version(sys.implementation.version),
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


# ---------------------------------------------------------------------------------------------
# Distributions
# ---------------------------------------------------------------------------------------------


def _name_version_from_folder(entry, suffix):
    """``foo_bar-1.2.dist-info`` -> ``("foo_bar", "1.2")``; missing parts are ``""``."""
    stem = entry[: -len(suffix)]
    parts = stem.split("-")
    return parts[0], (parts[1] if len(parts) > 1 else "")


def _read_direct_url(path):
    """Parsed ``direct_url.json`` (PEP 610), ``{"_error": ...}`` if broken, None if absent."""
    if not os.path.lexists(path):
        return None
    raw, why = _read_bounded(path, DIRECT_URL_LIMIT)
    if raw is None:
        if why == "missing":  # a dangling symlink: as absent as before
            return None
        return {"_error": "direct_url.json could not be read: %s" % (why,)}
    try:
        data = json.loads(raw.decode("utf-8", "replace"))
    except ValueError as exc:
        return {"_error": "direct_url.json is not valid JSON: %s" % (exc,)}
    if not isinstance(data, dict):
        return {"_error": "direct_url.json is not a JSON object"}
    return data


def _license(value):
    """A license header as reported: None when empty or UNKNOWN (old setuptools wrote that)."""
    if not value or value.strip().upper() == "UNKNOWN":
        return None
    return value.strip()[:LICENSE_LIMIT]


def _dist_facts(site_dir, entry):
    """DistFacts fields for one ``*.dist-info`` / ``*.egg-info`` entry, or None if not one."""
    path = os.path.join(site_dir, entry)
    if entry.endswith(".dist-info") and os.path.isdir(path):
        kind, suffix, metadata = "dist-info", ".dist-info", os.path.join(path, "METADATA")
    elif entry.endswith(".egg-info"):
        kind, suffix = "egg-info", ".egg-info"
        metadata = os.path.join(path, "PKG-INFO") if os.path.isdir(path) else path
    else:
        return None
    wanted = ("name", "version", "license-expression", "license")
    headers = _read_headers(metadata, wanted) or {}
    folder_name, folder_version = _name_version_from_folder(entry, suffix)
    facts = {
        "name": headers.get("name") or folder_name,
        "version": headers.get("version") or folder_version,
        "path": path,
        "site": site_dir,
        "kind": kind,
        "installer": None,
        "direct_url": None,
        "requested": False,
        "license_expression": _license(headers.get("license-expression")),
        "license": _license(headers.get("license")),
    }
    if os.path.isdir(path):
        installer = _read_text(os.path.join(path, "INSTALLER"), INSTALLER_LIMIT)
        facts["installer"] = None if installer is None else installer.strip()
        facts["direct_url"] = _read_direct_url(os.path.join(path, "direct_url.json"))
        # Never opened: only a regular file (no FIFO, no device) counts as the marker.
        facts["requested"] = os.path.isfile(os.path.join(path, "REQUESTED"))
    return facts


def _distributions(site_dirs):
    """Every distribution in ``site_dirs``, in folder order, then by entry name."""
    result = []
    for site_dir in site_dirs:
        try:
            entries = sorted(os.listdir(site_dir))
        except OSError:
            continue
        for entry in entries:
            facts = _dist_facts(site_dir, entry)
            if facts is not None:
                result.append(facts)
    return result


# ---------------------------------------------------------------------------------------------


def collect():
    """All the facts, as a JSON-ready dict (the ``InterpreterFacts`` fields plus a header)."""
    pyvenv_cfg = _read_pyvenv_cfg()
    in_venv = sys.prefix != sys.base_prefix
    system_site = pyvenv_cfg.get("include-system-site-packages", "").lower() == "true"
    site_packages, system_site_packages = _site_dirs(in_venv, system_site)
    user_site, user_site_enabled = _user_site(in_venv, system_site)
    return {
        "ok": True,
        "probe_version": PROBE_VERSION,
        "executable": sys.executable,
        "version": _version_text(sys.version_info),
        "release_level": sys.version_info.releaselevel,
        "implementation": sys.implementation.name,
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "in_venv": in_venv,
        "pyvenv_cfg": pyvenv_cfg,
        "site_packages": site_packages,
        "install_paths": _install_paths(),
        "system_site_packages": system_site_packages,
        "user_site": user_site,
        "user_site_enabled": user_site_enabled,
        "marker_env": _marker_env(),
        "distributions": _distributions(site_packages + system_site_packages),
        "path": list(sys.path),
    }


if __name__ == "__main__":
    # This folder is the probe's, not the application's: leave it out of the reported path.
    if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    _emit(collect())
