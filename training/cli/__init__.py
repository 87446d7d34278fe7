"""The ``partnercast`` command (../shared/CLI_CONTRACT.md): the only code that parses
flags and prints results.

``main`` builds the parser and maps errors to exit codes (2 for input the user can fix);
each command module holds a family of handlers (``forecast_commands``,
``incentive_commands``, ``kpi_commands``, ``accuracy_commands``, ``scorecard_command``),
imported only when its command runs. ``serve`` hands over to :mod:`serving.run`, the
one edge from training into serving.
"""

from training.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
