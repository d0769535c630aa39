"""Report facts about this interpreter and its environment as one JSON object on stdout.

Run by preflight inside the *target* interpreter as ``python -I -S -B _probe.py``: without
``site``, so no ``.pth`` line and no ``sitecustomize`` of the judged environment runs in it and
none can change what it reports. It reports only what must come from the running interpreter
(its version, ``sys.executable``, its base prefix, what its ``sysconfig`` scheme says for the
environment's prefix and for the base, the marker environment, the standard library's part of
``sys.path``). Everything the environment's *files* say (``pyvenv.cfg``, the site folders, the
``.pth`` files, the distributions) preflight reads itself (``preflight/_facts/site.py``), by
the rules ``site.py`` applies. This file is a stand-alone script, not part of the package at
run time:

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

PROBE_VERSION = 2
MIN_VERSION = (3, 8)


def _emit(payload):
    """Write one JSON object on its own line (nothing should print before it: no ``site``)."""
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
import sysconfig  # noqa: E402

_PATH_KEYS = ("stdlib", "platstdlib", "purelib", "platlib", "include", "scripts", "data")


def _venv_prefix():
    """The folder ``site.venv()`` would make ``sys.prefix``: the executable's folder's parent,
    when a ``pyvenv.cfg`` is beside the executable or one folder up; else None.

    Only the file's existence is looked at here; preflight reads its content itself."""
    exe_dir = os.path.dirname(os.path.abspath(sys.executable))
    for folder in (exe_dir, os.path.dirname(exe_dir)):
        if os.path.isfile(os.path.join(folder, "pyvenv.cfg")):
            return os.path.dirname(exe_dir)
    return None


def _scheme_paths(prefix):
    """``sysconfig``'s install paths for ``prefix`` (None: the interpreter's own, the base).

    For a virtual environment, the scheme a normal start-up would pick there: ``venv`` where
    the interpreter has one (3.11+), else the default scheme."""
    try:
        if prefix is None:
            paths = sysconfig.get_paths()
        else:
            names = sysconfig.get_scheme_names()
            default = getattr(sysconfig, "get_default_scheme", None)
            if default is None:  # 3.8 and 3.9 have only the private one
                default = getattr(sysconfig, "_get_default_scheme")
            scheme = "venv" if "venv" in names else default()
            paths = sysconfig.get_paths(scheme, vars={"base": prefix, "platbase": prefix})
    except Exception:  # a vendor-patched sysconfig must not kill the probe
        return {}
    result = {}
    for key in _PATH_KEYS:
        value = paths.get(key)
        if isinstance(value, str) and value:
            result[key] = os.path.abspath(value)
    return result


def _vendor_site_dirs():
    """``site.getsitepackages()`` for the base prefixes: a distribution may patch it (Debian's
    ``dist-packages``). Importing ``site`` under ``-S`` runs no ``.pth``: its ``main()`` is
    skipped; this is the interpreter's own standard library, not the environment."""
    try:
        import site  # noqa: PLC0415  (under -S, importing site processes nothing)

        return [p for p in site.getsitepackages() if isinstance(p, str)]
    except Exception:  # a vendor-patched site.py must not kill the probe
        return []


def _user_site():
    """``(USER_SITE, allowed)``: the user site folder and whether a normal start-up (without
    ``-I``/``-s``, with the venv's answer still to apply) may add it."""
    try:
        import site  # noqa: PLC0415

        user_site = site.getusersitepackages()
    except Exception:  # some platforms have no user site at all
        user_site = None
    allowed = not os.environ.get("PYTHONNOUSERSITE")
    if hasattr(os, "getuid") and hasattr(os, "geteuid"):
        if os.getuid() != os.geteuid() or os.getgid() != os.getegid():
            allowed = False
    return user_site, allowed and user_site is not None


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


def collect():
    """All the facts, as a JSON-ready dict."""
    venv_prefix = _venv_prefix()
    user_site, user_site_allowed = _user_site()
    base_executable = getattr(sys, "_base_executable", None)
    return {
        "ok": True,
        "probe_version": PROBE_VERSION,
        "executable": sys.executable,
        "base_executable": base_executable if isinstance(base_executable, str) else None,
        "version": _version_text(sys.version_info),
        "release_level": sys.version_info.releaselevel,
        "implementation": sys.implementation.name,
        "base_prefix": sys.base_prefix,
        "base_exec_prefix": sys.base_exec_prefix,
        "platlibdir": getattr(sys, "platlibdir", "lib"),
        "abiflags": getattr(sys, "abiflags", ""),
        "venv_prefix": venv_prefix,
        "venv_paths": _scheme_paths(venv_prefix) if venv_prefix is not None else {},
        "base_paths": _scheme_paths(None),
        "vendor_site": _vendor_site_dirs(),
        "user_site": user_site,
        "user_site_allowed": user_site_allowed,
        "marker_env": _marker_env(),
        "stdlib_path": list(sys.path),
    }


if __name__ == "__main__":
    # This folder is the probe's, not the application's: leave it out of the reported path.
    if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    _emit(collect())
