"""Import modules once, writing their bytecode: a share of an environment's first start.

Run by preflight as ``<env python> -I warm.py MODULE...`` (``-I``: ``PYTHONDONTWRITEBYTECODE``
cannot stop the cache from being written), one child per module, as many at once as there are
cores (``preflight/_facts/firststart.py`` schedules them): compiling pandas, numpy and the
rest from source is the costly part of a first start, and it is single-threaded per process.
A module that fails to import is left for the performance check to report. Standard library
only; nothing of preflight is imported.
"""

import importlib
import os
import sys


def main(modules):
    for module in modules:
        try:
            importlib.import_module(module)
        except BaseException:  # reported by the performance check, which imports it again
            pass
    return 0


if __name__ == "__main__":
    # This folder is not the application's: its files must not shadow a module it imports.
    if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    sys.exit(main(sys.argv[1:]))
