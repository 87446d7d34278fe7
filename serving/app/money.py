"""How the app writes numbers: money with the dataset's currency symbol, shares, odds.

Money is shown rounded to whole units with thousands separators below a million and in
``k``/``M`` beyond (``$1.2M``): a planner compares magnitudes, and the exact figure is one
hover away in the charts. The symbol is ``PARTNERCAST_CURRENCY_SYMBOL`` (``$`` by default).
"""

from __future__ import annotations

import math
from typing import Any

MISSING = "–"


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def money(value: Any, symbol: str = "$", *, short: bool = True) -> str:
    """``1234.5`` -> ``$1,235``; ``2_500_000`` -> ``$2.50M`` (``short``); None -> a dash."""
    number = _number(value)
    if number is None:
        return MISSING
    sign = "-" if number < 0 else ""
    size = abs(number)
    if short and size >= 1e9:
        return f"{sign}{symbol}{size / 1e9:.2f}B"
    if short and size >= 1e6:
        return f"{sign}{symbol}{size / 1e6:.2f}M"
    return f"{sign}{symbol}{size:,.0f}"


def share(value: Any, digits: int = 0) -> str:
    """``0.4567`` -> ``46%``; None -> a dash."""
    number = _number(value)
    return MISSING if number is None else f"{number * 100:.{digits}f}%"


def ratio(value: Any) -> str:
    """``1.234`` -> ``1.23x`` (pipeline coverage); None -> a dash."""
    number = _number(value)
    return MISSING if number is None else f"{number:.2f}x"


def plain(value: Any, digits: int = 3) -> str:
    """A metric as it is (WAPE, coverage), ``digits`` after the point."""
    number = _number(value)
    return MISSING if number is None else f"{number:.{digits}f}"
