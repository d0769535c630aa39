"""The version of preflight, in one place (the distribution reads it too)."""

__version__ = "0.1.0"
