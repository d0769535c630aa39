"""A reader of other processes' memory, for the tests that try to steal preflight's credentials.

:data:`READER` is a stdlib-only script (run with ``python -c READER PREFIX TARGET...``) that
tries every way a child has to read another process's memory, and prints as JSON, for each
target pid, what it found. ``PREFIX`` is the start of the secret only: the reader is never
handed the secret itself, so whatever it reports after the prefix it read from the target.
A target is ``PID``, ``PID:ADDRESS:LENGTH`` (also ``process_vm_readv`` those bytes) or
``ancestors`` (every process above the reader, up to pid 1).

Per target: ``environ`` and ``mem`` (``/proc/<pid>/maps`` walked, each readable mapping read
through ``/proc/<pid>/mem``) are the strings found after the prefix (printable ASCII), or the
name of the error; ``vm_readv`` is what ``process_vm_readv`` read, or the errno's name, and
``ptrace`` whether ``PTRACE_SEIZE`` attached (``PID:ADDRESS:LENGTH`` targets only);
``command`` is the target's command line, to tell the targets apart.
"""

from __future__ import annotations

READER = r"""
import ctypes, errno, json, os, re, sys

prefix = sys.argv[1].encode()
pattern = re.compile(re.escape(prefix) + rb"[!-~]{0,64}")


def found_in(data):
    return sorted({m.group().decode() for m in pattern.finditer(data)})


def environ(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return found_in(f.read())
    except OSError as exc:
        return type(exc).__name__


def mem(pid):
    found = set()
    try:
        with open(f"/proc/{pid}/maps") as f:
            maps = f.read().splitlines()
        with open(f"/proc/{pid}/mem", "rb", buffering=0) as f:
            for line in maps:
                bounds, perms = line.split()[:2]
                start, end = (int(x, 16) for x in bounds.split("-"))
                if "r" not in perms or end - start > 1 << 30:
                    continue
                try:
                    f.seek(start)
                    found.update(found_in(f.read(end - start)))
                except (OSError, OverflowError, ValueError):
                    continue  # [vvar] and the like
    except OSError as exc:
        return type(exc).__name__
    return sorted(found)


class IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]


def vm_readv(pid, address, length):
    libc = ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(length)
    local, remote = IOVec(ctypes.addressof(buffer), length), IOVec(address, length)
    read = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    if read < 0:
        return errno.errorcode.get(ctypes.get_errno(), "unknown")
    return buffer.raw[:read].decode("ascii", "replace")


def attach(pid):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    if libc.ptrace(0x4206, pid, None, None) < 0:  # PTRACE_SEIZE: attach, without a stop
        return errno.errorcode.get(ctypes.get_errno(), "unknown")
    libc.ptrace(17, pid, None, None)  # PTRACE_DETACH (our exit detaches it anyway)
    return "attached"


def ancestors():
    pid, found = os.getppid(), []
    while pid > 1:
        found.append(pid)
        with open(f"/proc/{pid}/stat", "rb") as f:
            pid = int(f.read().rsplit(b")", 1)[1].split()[1])
    return found


def command(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError as exc:
        return type(exc).__name__


targets = []
for target in sys.argv[2:]:
    if target == "ancestors":
        targets += [(pid, None) for pid in ancestors()]
    else:
        pid, *where = (int(part) for part in target.split(":"))
        targets.append((pid, where or None))
answer = {}
for pid, where in targets:
    answer[str(pid)] = {"command": command(pid), "environ": environ(pid), "mem": mem(pid)}
    if where:
        answer[str(pid)]["vm_readv"] = vm_readv(pid, *where)
        answer[str(pid)]["ptrace"] = attach(pid)
print(json.dumps(answer))
"""
