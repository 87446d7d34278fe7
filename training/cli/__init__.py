"""The ``partnercast`` command."""

from training.cli.main import main

__all__ = ["main"]
