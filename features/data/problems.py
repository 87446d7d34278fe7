"""What validation finds: one :class:`Problem` per broken rule, gathered in a report.

A problem names the table and column, a short machine name for the rule
(``check``), what to fix (``message``), how many rows break it (``count``) and
up to :data:`MAX_EXAMPLES` example rows. Row numbers count data rows from 1, in
file order, the header not counted: in a CSV file row ``n`` is on line ``n + 1``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.data.dataset import Dataset

MAX_EXAMPLES = 5
ROW_CONVENTION = "row numbers count data rows from 1 in file order (the header is not counted)"


@dataclass(frozen=True)
class Problem:
    """One broken contract rule.

    ``table`` is None for problems with the folder itself; ``column`` is None for
    problems with a whole table or file; ``count`` is the number of offending rows,
    None when the problem is not about rows (a missing table or column).
    ``examples`` holds dicts with ``row`` and the offending values by column.
    """

    table: str | None
    column: str | None
    check: str
    message: str
    count: int | None = None
    examples: tuple[dict[str, Any], ...] = ()

    @property
    def where(self) -> str:
        """``table.column``, ``table`` or ``data folder``."""
        if self.table is None:
            return "data folder"
        return f"{self.table}.{self.column}" if self.column else self.table

    def format(self) -> str:
        """The problem on one line, its examples on a second, indented line."""
        rows = "" if self.count is None else f" ({self.count} row{'s' if self.count != 1 else ''})"
        line = f"{self.where}: {self.message}{rows}"
        if not self.examples:
            return line
        shown = "; ".join(_format_example(e) for e in self.examples)
        more = ", ..." if self.count is not None and self.count > len(self.examples) else ""
        return f"{line}\n    e.g. {shown}{more}"

    def to_dict(self) -> dict[str, Any]:
        """The problem as plain JSON-able values."""
        out = asdict(self)
        out["examples"] = [dict(e) for e in self.examples]
        return out


def _format_example(example: dict[str, Any]) -> str:
    values = {k: _format_value(v) for k, v in example.items() if k != "row"}
    if len(values) == 1:
        (shown,) = values.values()
    else:
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
    return f"row {example['row']}: {shown}"


def _format_value(value: object) -> str:
    if value is None:
        return "(empty)"
    return repr(value) if isinstance(value, str) else str(value)


def plain(value: object) -> object:
    """A cell as a JSON-able value: dates as ISO strings, missing as None, numpy as Python."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp | datetime):
        stamp = pd.Timestamp(value)
        return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


@dataclass(frozen=True)
class ValidationReport:
    """Every problem found in a data folder; ``dataset`` is the loaded data when there are none."""

    problems: tuple[Problem, ...]
    dataset: Dataset | None = None
    source: Path | None = None

    @property
    def ok(self) -> bool:
        """True when the data follows the contract."""
        return not self.problems

    def format(self) -> str:
        """A readable report: a headline, then each problem on its own lines."""
        where = f" in {self.source}" if self.source is not None else ""
        if self.ok:
            return f"data{where} follows the contract"
        n = len(self.problems)
        lines = [f"{n} problem{'s' if n != 1 else ''}{where}:"]
        lines += [p.format() for p in self.problems]
        if any(p.examples for p in self.problems):
            lines.append(f"({ROW_CONVENTION})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-able values."""
        return {
            "ok": self.ok,
            "source": None if self.source is None else str(self.source),
            "row_numbers": ROW_CONVENTION,
            "problems": [p.to_dict() for p in self.problems],
        }


class BadInput(Exception):
    """Input the user can fix (data, flag values): the CLI reports it on stderr, exit 2."""


class ShortHistory(BadInput, ValueError):
    """Valid data too short or too sparse for a step (a young program, few incentives): the
    message says what the step needs. Exit 2 in the CLI, like other input the user can fix."""


class DataContractError(ValueError):
    """The data does not follow the contract; ``report`` lists every problem."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(report.format())
        self.report = report
