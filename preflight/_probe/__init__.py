"""The probes: stand-alone, stdlib-only scripts that run *inside* the judged interpreter.

Nothing here is imported by preflight; ``preflight._facts.probes`` runs these files as
``python -I -B <file>`` and judges what they print. Each script keeps to old syntax (the
interpreter probe parses under Python 2.7, so that its version gate can answer).
"""
