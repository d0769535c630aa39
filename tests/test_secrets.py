"""Secrets stay ours: code of the judged environment never sees the tool's credentials.

A ``.pth`` file in site-packages runs at every start of the environment's interpreter, even
under ``-I``: here one records which of the watched variables it was handed, for the probe, the
performance probe, the first start and the suite alike.

Nor can it read them where the kernel keeps them, ``/proc/<preflight's pid>/environ``, nor in
preflight's memory (``/proc/<pid>/mem``, ``process_vm_readv``): a driver process holding a
credential starts a reader (``tests/memory.py``) through ``preflight._process``, as root, as
``nobody``, and as a setuid-root program started by ``nobody``; the same reader started by
plain ``subprocess`` reads the secret, from memory even after preflight's concealing.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import memory
import pytest
import wheelhouse
from conftest import Wheels

import preflight
from preflight import _process

WATCHED = ("PREFLIGHT_WEBHOOK_URL", "PREFLIGHT_SMTP_PASSWORD", "SLACK_URL", "APP_MODE")
SECRETS = {
    "PREFLIGHT_WEBHOOK_URL": "https://hooks.invalid/secret-token",
    "PREFLIGHT_SMTP_PASSWORD": "hunter2",
    "SLACK_URL": "https://hooks.invalid/another-secret",  # named by the policy's url_env
    "APP_MODE": "production",  # the application's own: it must still get it
}


def _spy(python: Path, record: Path, project: Path, wheels: Wheels, pth: str = "") -> None:
    """A locked, installed distribution owning a start-up ``.pth`` (by default one that
    records which watched variables each start of the environment sees): verified code, so the
    check runs it (an unowned hook would stop the environment's code from running at all)."""
    watched = repr(WATCHED)
    pth = pth or (
        f"import os, json; open({str(record)!r}, 'a').write(json.dumps(sorted("
        f"k for k in {watched} if k in os.environ)) + '\\n')\n"
    )
    folder = record.parent / "spy-wheels"
    spy = wheelhouse.build_wheel(folder, "spy", "1.0", files={"zz_spy.pth": pth})
    wheelhouse.write_lock(
        project / "requirements" / "py3.12.txt", [*wheels.locked, spy], python="3.12"
    )
    wheelhouse.pip_install(python, ["--no-deps", "spy"], find_links=folder)


@pytest.mark.slow
def test_no_credential_reaches_the_judged_environment(
    make_project: Callable[..., Path], venv312_copy: Path, tmp_path: Path, wheels: Wheels
) -> None:
    record = tmp_path / "seen.jsonl"
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    project = make_project(
        extra=f'suite = "{suite}"\n\n[tool.preflight.alerts.webhook]\nurl_env = "SLACK_URL"\n'
    )
    _spy(venv312_copy, record, project, wheels)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SECRETS.items():
            patch.setenv(name, value)
        report = preflight.check(venv312_copy, project=project, first_start=True)
    starts = [json.loads(line) for line in record.read_text().splitlines()]
    # The spy ran in the first start's child and the performance probe (the probes run without
    # site, so it runs in none of them): the test can see a leak.
    assert next(c for c in report.checks if c.id == "performance").status.value != 1
    assert len(starts) >= 2, starts
    assert all(seen == ["APP_MODE"] for seen in starts), starts
    text = json.dumps(report.to_dict())
    assert not [value for name, value in SECRETS.items() if name != "APP_MODE" and value in text]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="reads Linux's /proc/<pid>/mem")
def test_the_judged_environment_cannot_read_preflights_memory(
    make_project: Callable[..., Path], venv312_copy: Path, tmp_path: Path, wheels: Wheels
) -> None:
    # At every start of the environment's interpreter (the first start's children, the
    # performance probe), its code (a .pth) runs the memory reader on each of its ancestors,
    # this process among them: preflight's, holding the password in os.environ.
    record, reader = tmp_path / "stolen.jsonl", tmp_path / "reader.py"
    reader.write_text(memory.READER)
    pth = (
        f"import subprocess, sys; subprocess.run([sys.executable, '-I', '-S', {str(reader)!r}, "
        f"{PREFIX!r}, 'ancestors'], stdout=open({str(record)!r}, 'a'), timeout=300)\n"
    )
    project = make_project(extra='\n[tool.preflight.alerts.webhook]\nurl_env = "SLACK_URL"\n')
    _spy(venv312_copy, record, project, wheels, pth)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PREFLIGHT_SMTP_PASSWORD", PASSWORD)
        patch.setenv("SLACK_URL", TOKEN)
        report = preflight.check(venv312_copy, project=project, first_start=True)
        assert os.environ["PREFLIGHT_SMTP_PASSWORD"] == PASSWORD  # held all along
    starts = [json.loads(line) for line in record.read_text().splitlines()]
    assert next(c for c in report.checks if c.id == "performance").status.value != 1
    assert len(starts) >= 2, starts  # the first start and the performance probe: the code ran
    for start in starts:
        ours = start[str(os.getpid())]
        assert ours["mem"] == "PermissionError", ours
        assert ours["environ"] == "PermissionError", ours
        assert PASSWORD not in json.dumps(start)
        assert "webhook-token" not in json.dumps(start)


@pytest.mark.parametrize("name", ["PREFLIGHT_WEBHOOK_URL", "SLACK_URL"])
def test_a_policy_cannot_ask_to_check_a_credential(
    make_project: Callable[..., Path], name: str
) -> None:
    project = make_project(
        env_vars=[name], extra='\n[tool.preflight.alerts.webhook]\nurl_env = "SLACK_URL"\n'
    )
    with pytest.raises(preflight.ConfigError, match=f"{name} holds a credential"):
        preflight.load_policy(project)


# --- /proc/<pid>/environ and preflight's memory ------------------------------------------

PASSWORD = "s3cret-smtp-password"
PREFIX = "s3cret-smtp-"  # all the memory reader is told: what it finds after it, it read
TOKEN = "https://hooks.invalid/s3cret-webhook-token"  # the policy's url_env, SLACK_URL
SYSTEM_PYTHON = Path("/usr/bin/python3")  # pyenv's lives under /root, closed to nobody
_MODULES = ("_process.py", "_secrets.py", "_reaper.py", "_tether.py")  # those that exist

# Prints what it can read of /proc/PID/environ, as JSON: the text, or the error.
_ENVIRON_READER = textwrap.dedent(
    """
    import json, sys
    try:
        with open(f"/proc/{sys.argv[1]}/environ", "rb") as f:
            print(json.dumps({"environ": f.read().decode("utf-8", "replace")}))
    except OSError as exc:
        print(json.dumps({"error": type(exc).__name__}))
    """
)

# Starts the memory reader (tests/memory.py) on its own pid and on where its os.environ keeps
# the password, through preflight (with the policy's credential withheld, as the checks do) or
# plain subprocess, after preflight's concealing or not; prints the reader's answer, what a
# plain child then reads of /proc/<pid>/environ, and what the driver itself and a child started
# through preflight with env=None still see.
_DRIVER = textwrap.dedent(
    """
    import ctypes, json, os, subprocess, sys
    sys.path.insert(0, sys.argv[1])
    from preflight import _process, _secrets
    memory_reader, environ_reader, reader_python, prefix, how = sys.argv[2:7]
    secret = os.environb[b"PREFLIGHT_SMTP_PASSWORD"]  # the bytes os.environ itself holds
    address = ctypes.cast(ctypes.c_char_p(secret), ctypes.c_void_p).value
    target = f"{os.getpid()}:{address}:{len(secret)}"
    argv = [reader_python, "-I", "-c", memory_reader, prefix, target]
    sealed = inherits = None
    if how == "preflight":
        # A first child before the policy's credential names are known, as the CLI may.
        assert _process.run(["true"], timeout=120).ok
        done = _process.run(argv, timeout=120, env=_process.clean_env(withhold=["SLACK_URL"]))
        assert done.ok, done
        out, sealed = done.stdout, getattr(done, "sealed", None)  # None: before the seal
        inherits = _process.run(
            ["sh", "-c", 'printf %s "$PREFLIGHT_SMTP_PASSWORD"'], timeout=120
        ).stdout
    else:
        if how == "concealed":
            _secrets.conceal(["SLACK_URL"])
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    environ = subprocess.run(
        [sys.executable, "-I", "-c", environ_reader, str(os.getpid())],
        check=True, capture_output=True, text=True,
    ).stdout
    print(json.dumps({
        "read": json.loads(out)[str(os.getpid())],
        "environ": json.loads(environ),
        "sealed": sealed,
        "ours": [os.environ["PREFLIGHT_SMTP_PASSWORD"], os.environ["SLACK_URL"]],
        "inherits": inherits,
    }))
    """
)


@pytest.fixture
def shared_package() -> Iterator[Path]:
    """The subprocess boundary's modules in a folder ``nobody`` can read (``tmp_path`` is
    under root's 0700 pytest folder), and ``python-setuid``: the system Python, setuid root."""
    folder = Path(tempfile.mkdtemp(prefix="preflight-secrets-"))
    try:
        folder.chmod(0o755)
        package = folder / "preflight"
        package.mkdir(mode=0o755)
        (package / "__init__.py").write_text("")
        source = Path(preflight.__file__).parent
        for name in [name for name in _MODULES if (source / name).exists()]:
            shutil.copyfile(source / name, package / name)
        for path in package.iterdir():
            path.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
        setuid = folder / "python-setuid"
        shutil.copyfile(SYSTEM_PYTHON.resolve(), setuid)
        setuid.chmod(stat.S_ISUID | 0o755)
        yield folder
    finally:
        shutil.rmtree(folder)


def _drive(folder: Path, how: str, user: str, reader: str = "system") -> dict[str, Any]:
    """Run the driver as ``user`` (root, or nobody through setpriv); ``reader`` is the memory
    reader's Python: the system's, or its setuid-root copy."""
    prefix = {
        "root": [],
        # Root in a container that withholds CAP_SETPCAP: the bounding set cannot be changed.
        "root-without-setpcap": ["setpriv", "--bounding-set", "-setpcap"],
        "nobody": ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"],
    }[user]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PREFLIGHT_SMTP_PASSWORD": PASSWORD,
        "SLACK_URL": TOKEN,
        "APP_MODE": "production",
    }
    python = SYSTEM_PYTHON if reader == "system" else folder / "python-setuid"
    argv = [*prefix, str(SYSTEM_PYTHON), "-I", "-c", _DRIVER, str(folder)]
    argv += [memory.READER, _ENVIRON_READER, str(python), PREFIX, how]
    done = subprocess.run(
        argv, check=False, capture_output=True, text=True, env=env, cwd=folder, timeout=300
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def _setuid_works(folder: Path) -> bool:
    """Whether nobody running ``python-setuid`` becomes root (no nosuid mount, no sandbox)."""
    nobody = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"]
    done = subprocess.run(
        [*nobody, str(folder / "python-setuid"), "-I", "-c", "import os; print(os.geteuid())"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout.strip() == "0"


needs_proc_environ = pytest.mark.skipif(
    not Path("/proc/self/environ").exists() or not SYSTEM_PYTHON.exists(),
    reason="needs Linux's /proc/<pid>/environ and a Python nobody can run",
)
CASES = [
    ("root", "system"),
    ("root-without-setpcap", "system"),
    ("nobody", "system"),
    ("nobody", "setuid"),
]


@needs_proc_environ
@pytest.mark.parametrize(("user", "reader"), CASES)
def test_a_plain_child_reads_its_parents_credentials_from_proc(
    shared_package: Path, user: str, reader: str
) -> None:
    # The attack works: without preflight, a child of the same user (or root) reads them,
    # from the environment the kernel shows and from the memory Python keeps them in.
    if reader == "setuid" and not _setuid_works(shared_package):
        pytest.skip("setuid programs do not run as their owner here")
    answer = _drive(shared_package, "plain", user, reader)
    assert PASSWORD in answer["environ"]["environ"]
    assert TOKEN in answer["environ"]["environ"]
    assert PASSWORD in answer["read"]["environ"]
    assert PASSWORD in answer["read"]["mem"]
    assert answer["read"]["vm_readv"] == PASSWORD
    assert answer["read"]["ptrace"] == "attached"


@needs_proc_environ
@pytest.mark.parametrize(
    ("user", "reader"),
    [("root", "system"), ("root-without-setpcap", "system"), ("nobody", "setuid")],
)
def test_concealing_leaves_the_memory_to_a_root_child(
    shared_package: Path, user: str, reader: str
) -> None:
    # What blanking the environment block and being non-dumpable leave open: a child that is
    # root with every capability (or a setuid-root program started by nobody's child) still
    # reads the password in the heap, through /proc/<pid>/mem and process_vm_readv.
    if reader == "setuid" and not _setuid_works(shared_package):
        pytest.skip("setuid programs do not run as their owner here")
    answer = _drive(shared_package, "concealed", user, reader)
    assert PASSWORD not in json.dumps(answer["read"]["environ"])
    assert PASSWORD in answer["read"]["mem"]
    assert answer["read"]["vm_readv"] == PASSWORD
    assert answer["read"]["ptrace"] == "attached"


@needs_proc_environ
@pytest.mark.parametrize(("user", "reader"), CASES)
def test_a_child_of_preflight_cannot_read_its_credentials_from_proc(
    shared_package: Path, user: str, reader: str
) -> None:
    if reader == "setuid" and not _setuid_works(shared_package):
        pytest.skip("setuid programs do not run as their owner here")
    answer = _drive(shared_package, "preflight", user, reader)
    # Neither its environment nor its memory: root's child lacks CAP_SYS_PTRACE, a setuid
    # program started by nobody's child does not become root (no new privileges).
    assert answer["read"]["mem"] == "PermissionError"
    assert answer["read"]["vm_readv"] == "EPERM"
    assert answer["read"]["ptrace"] == "EPERM"
    assert answer["read"]["environ"] == "PermissionError"
    assert answer["sealed"] is True
    environ = answer["environ"]
    if user.startswith("root"):
        # A root child with every capability (a plain one, not preflight's) may read the
        # environment: what it finds has the values blanked.
        assert "PREFLIGHT_SMTP_PASSWORD=\0" in environ["environ"]
        assert "SLACK_URL=\0" in environ["environ"]
        assert "APP_MODE=production\0" in environ["environ"]  # the application's own stays
    else:
        # Another process of the same user may not read it at all (non-dumpable).
        assert environ == {"error": "PermissionError"}
    assert "s3cret" not in json.dumps(environ)
    assert PASSWORD not in json.dumps(answer["read"])
    # preflight itself still has them, and a child it means to give them to gets them.
    assert answer["ours"] == [PASSWORD, TOKEN]
    assert answer["inherits"] == PASSWORD


@needs_proc_environ
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux's unshare")
def test_a_seal_the_reaper_cannot_confirm_is_reported_unsealed(tmp_path: Path) -> None:
    # With procfs hidden (a tmpfs over /proc, in a mount namespace of its own) the reaper
    # cannot read back what holds: the child still runs, and is said to be unsealed.
    script = (
        f"import sys; sys.path.insert(0, {str(Path(preflight.__file__).parent.parent)!r})\n"
        "from preflight import _process\n"
        "done = _process.run(['true'], timeout=120)\n"
        "print(done.ok, done.sealed, _process.run(['true'], timeout=120).sealed)\n"
    )
    shell = f'mount -t tmpfs none /proc && exec "$0" -I -c {shlex.quote(script)}'
    argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", shell]
    done = subprocess.run(
        [*argv, sys.executable], check=False, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0 and "mount" in done.stderr:
        pytest.skip(f"no mount namespace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False", "False"]
    # Where procfs is there, the same child is sealed.
    assert _process.run(["true"], timeout=120).sealed is True
