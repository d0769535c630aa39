"""The reaper: one tiny process between preflight and each child, that ends all the child started.

Run as ``python -I -S -B _reaper.py CONTROL STATUS -- PROGRAM ARGS...`` by
:mod:`preflight._process` (preflight's own interpreter; stdlib only, it imports nothing of ours
and nothing of the judged environment). It makes itself a *child subreaper*
(``prctl(PR_SET_CHILD_SUBREAPER)``, Linux): every process the child starts, in a session of its
own (``setsid``), double-forked, daemonised, is re-parented to the reaper when its parent dies,
never to init. It seals itself (:func:`seal`: no new privileges, none of the capabilities that
read another process's memory), which PROGRAM inherits. Then it starts PROGRAM (in a process
group of its own, with the reaper's stdio, environment and folder) and waits for one of three
things:

- PROGRAM ends: what it left behind is killed, and its status reported;
- end-of-file on CONTROL, the read end of a pipe whose write end only preflight holds: preflight
  asks for the kill (a timeout, Ctrl-C) by closing it, and the kernel closes it when preflight
  dies, however it dies (SIGKILL, the OOM killer);
- SIGTERM, SIGINT or SIGHUP sent to the reaper itself: the same kill.

Ending means SIGKILL to PROGRAM's process group, then to every child of the reaper (read from
``/proc/self/task/*/children``), reaping each, until ``waitpid`` says there is none left: a
process whose parent is killed becomes the reaper's child, and is killed next round. The status
of PROGRAM (the raw wait status, or the error that kept it from starting) is written to STATUS
as one line (``status N reaper|group sealed|unsealed``, or ``error TEXT``); the reaper exits 0
after it.

Where ``prctl`` is missing (not Linux) the reaper still kills PROGRAM's process group and its
direct children; a grandchild in a session of its own may then outlive the check.
"""

from __future__ import annotations

import os
import select
import sys

# The reaper's start-up is paid for every child: no module it can do without (``signal``
# imports ``enum``, ``contextlib`` and ``typing`` more), only what Python has loaded anyway.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Sequence
else:
    import _signal as signal  # signal's functions and numbers, without its enums

_PR_SET_DUMPABLE = 4
_PR_CAPBSET_DROP = 24
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
# The capabilities that read another process's memory, or run code in the kernel that can:
# CAP_SYS_MODULE (16: a module), CAP_SYS_RAWIO (17: /dev/mem, /proc/kcore), CAP_SYS_PTRACE (19:
# ptrace, /proc/<pid>/mem, process_vm_readv of a process that is not dumpable or holds more
# capabilities), CAP_SYS_ADMIN (21: BPF and perf tracing, mounting tracefs for uprobes),
# CAP_SYS_BOOT (22: kexec_load, a kernel of its choosing), CAP_PERFMON (38) and CAP_BPF (39).
DROPPED = (16, 17, 19, 21, 22, 38, 39)
_DROPPED_MASK = sum(1 << cap for cap in DROPPED)
_ENDING = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# Signals Python or the reaper ignore or handle: the program gets their default action.
_DEFAULTED = {*_ENDING, signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ}


def become_subreaper() -> bool:
    """``prctl(PR_SET_CHILD_SUBREAPER, 1)``; False where the system has no such call."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        # _ctypes, not ctypes: the same call without the ~10 ms (more on a loaded machine)
        # that ctypes' own module takes to set up types the reaper never uses.
        import _ctypes  # noqa: PLC0415 (only on Linux)

        program = _ctypes.dlopen(None)  # type: ignore[arg-type] # NULL: us, with libc's symbols
        prctl = _ctypes.dlsym(program, "prctl")
        return int(_ctypes.call_function(prctl, (_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))) == 0
    except (ImportError, OSError, AttributeError):
        return False


def seal() -> bool:
    """Keep the program from reading preflight's memory (Linux): no new privileges on exec
    (``PR_SET_NO_NEW_PRIVS``: a setuid-root program or one with file capabilities gains
    nothing), the :data:`DROPPED` capabilities gone from the bounding set (where
    CAP_SETPCAP allows), the ambient set cleared and the effective, permitted and inheritable
    sets without them (``capset``), which the program inherits. The reaper itself is made
    non-dumpable, so the program cannot ``ptrace`` it either (``exec`` makes the program
    dumpable again). True when ``/proc/self/status`` then shows that no ``exec`` can give the
    program one of them back: none in the permitted, inheritable or ambient set, and either
    no new privileges or none in the bounding set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import _ctypes  # noqa: PLC0415 (only on Linux; see become_subreaper)

        program = _ctypes.dlopen(None)  # type: ignore[arg-type] # NULL: us, with libc's symbols
        prctl, capset = _ctypes.dlsym(program, "prctl"), _ctypes.dlsym(program, "capset")
    except (ImportError, OSError, AttributeError):
        return False
    call = _ctypes.call_function
    # Each may fail (a kernel without CAP_BPF, no CAP_SETPCAP): what holds is read back below.
    call(prctl, (_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
    for cap in DROPPED:
        call(prctl, (_PR_CAPBSET_DROP, cap, 0, 0, 0))
    call(prctl, (_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0))
    sets = _capabilities()
    if sets is not None and any(sets[name] & _DROPPED_MASK for name in ("CapEff", "CapPrm")):
        order = sys.byteorder
        header = _LINUX_CAPABILITY_VERSION_3.to_bytes(4, order) + bytes(4)  # pid 0: us
        kept = [sets[name] & ~_DROPPED_MASK for name in ("CapEff", "CapPrm", "CapInh")]
        # struct __user_cap_data_struct[2]: the low 32 bits of each set, then the high.
        data = b"".join(
            (value >> shift & 0xFFFFFFFF).to_bytes(4, order) for shift in (0, 32) for value in kept
        )
        call(capset, (header, data))  # the kernel only reads both
    call(prctl, (_PR_SET_DUMPABLE, 0, 0, 0, 0))
    sets = _capabilities()
    if sets is None or any(sets[name] & _DROPPED_MASK for name in ("CapPrm", "CapInh", "CapAmb")):
        return False
    return sets["NoNewPrivs"] == 1 or not sets["CapBnd"] & _DROPPED_MASK


def _capabilities() -> dict[str, int] | None:
    """The capability sets (and NoNewPrivs) ``/proc/self/status`` shows; None if unreadable."""
    found = {"CapAmb": 0, "NoNewPrivs": 0}  # lines older kernels do not have (4.3, 4.10)
    try:
        with open("/proc/self/status", "rb") as handle:
            lines = handle.read(65536).decode("ascii", "replace").splitlines()
        for key, _, value in (line.partition(":") for line in lines):
            if key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
                found[key] = int(value.strip(), 16)
            elif key == "NoNewPrivs":
                found[key] = int(value.strip())
    except (OSError, ValueError):
        return None
    return found if len(found) == 6 else None


def children() -> list[int]:
    """This process's children (zombies included): from procfs, else none known."""
    found: list[int] = []
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/children", "rb") as handle:
                found += [int(pid) for pid in handle.read().split()]
        except (OSError, ValueError):
            continue
    return found


def spawn(command: Sequence[str]) -> int:
    """Start ``command`` as ``execvp`` would (PATH searched in our environment, which is the
    program's), in a process group of its own, with the reaper's handled and ignored signals
    back to their defaults. (``posix_spawnp`` searches in one new process, not one a folder.)"""
    return os.posix_spawnp(command[0], list(command), os.environ, setpgroup=0, setsigdef=_DEFAULTED)


def exited(pid: int) -> tuple[bool, int | None]:
    """Whether ``pid`` (our child) has ended, and its wait status if it had to be reaped to
    tell. Where the system allows it is left unreaped, so that its pid, and so its process
    group's id, cannot be reused before the group is killed."""
    if hasattr(os, "waitid"):
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None, None
    reaped, status = os.waitpid(pid, os.WNOHANG)
    return reaped == pid, (status if reaped == pid else None)


def end_all(program: int, status: int | None) -> int | None:
    """SIGKILL ``program``'s group and every child of ours until none is left; its status
    (``status`` when it was reaped already)."""
    if status is None:
        try:  # noqa: SIM105 (no contextlib here: see the imports)
            os.killpg(program, signal.SIGKILL)
        except OSError:  # the group is empty but for the unreaped leader, or not ours
            pass
    while True:
        left, refused = children(), 0
        for child in left:
            try:
                os.kill(child, signal.SIGKILL)
            except PermissionError:  # a setuid program's: not ours to kill, nor to wait for
                refused += 1
            except OSError:  # already reaped
                pass
        if left and refused == len(left):
            return status
        try:
            pid, wait_status = os.waitpid(-1, 0)
        except ChildProcessError:
            return status
        if pid == program:
            status = wait_status


def reap_orphans(program: int) -> None:
    """Reap re-parented processes that have ended while the program runs (no zombies pile up)."""
    for child in children():
        if child != program:
            try:  # noqa: SIM105 (no contextlib here: see the imports)
                os.waitpid(child, os.WNOHANG)
            except ChildProcessError:
                pass


def main(argv: Sequence[str]) -> int:
    if len(argv) < 5 or argv[3] != "--":
        print("usage: _reaper.py CONTROL STATUS -- PROGRAM [ARGS...]", file=sys.stderr)
        return 2
    control, status_fd = int(argv[1]), int(argv[2])
    # Ours alone: the program must hold neither end, or our death would go unnoticed.
    os.set_inheritable(control, False)
    os.set_inheritable(status_fd, False)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    for signum in (*_ENDING, signal.SIGCHLD):
        signal.signal(signum, lambda signum, frame: None)  # seen through the wakeup pipe
    subreaper = become_subreaper()
    sealed = seal()
    try:
        program = spawn(argv[4:])
    except OSError as exc:
        return report(status_fd, f"error {exc}")
    ended, status = exited(program)
    while not ended:
        ready = select.select([control, wake_read], [], [])[0]
        if control in ready and not os.read(control, 4096):
            break  # end-of-file: preflight asks for the kill, or is gone
        if wake_read in ready:
            woken_by = os.read(wake_read, 4096)
            if any(signum in woken_by for signum in _ENDING):
                break
            reap_orphans(program)
        ended, status = exited(program)
    status = end_all(program, status)
    how = f"{'reaper' if subreaper else 'group'} {'sealed' if sealed else 'unsealed'}"
    return report(status_fd, f"status {status} {how}")


def report(status_fd: int, line: str) -> int:
    """Tell preflight how the program ended; a preflight that is gone is told nothing."""
    try:  # noqa: SIM105 (no contextlib here: see the imports)
        os.write(status_fd, f"{line}\n".encode(errors="replace"))
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
