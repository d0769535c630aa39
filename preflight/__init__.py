"""preflight: verify that a Python environment is exactly what its lock says, and fit to run."""

__version__ = "0.1.0"
