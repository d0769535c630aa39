"""Import modules once in a fresh environment, writing their bytecode: its first start.

Run by the ``preflight-<spec>`` nox sessions as ``<env python> -I _warm.py MODULE...`` right
after the install. Each module is imported in a child process of its own (``-I``: so
``PYTHONDONTWRITEBYTECODE`` cannot stop the cache from being written), as many at once as
there are cores: compiling pandas, numpy and the rest from source is the costly part of a
first start, and it is single-threaded per process. A module that fails to import is left for
the performance check to report. Standard library only; nothing of preflight is imported.
"""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

TIMEOUT = 300  # seconds for one first import; a hanging one is left to the check to report
_IMPORT = "import importlib, sys; importlib.import_module(sys.argv[1])"


def _first_import(module):
    try:
        subprocess.run(
            [sys.executable, "-I", "-c", _IMPORT, module],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired:  # run() has killed it
        sys.stderr.write("first start: `import %s` did not finish in %d s\n" % (module, TIMEOUT))


def main(modules):
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        list(pool.map(_first_import, modules))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
