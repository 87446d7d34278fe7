"""A tiny typed-Dataset builder for feature tests (no loader involved)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from features.dataset import COLUMNS, Dataset, dtype_of


def frame(table: str, rows: Sequence[dict[str, Any]] = ()) -> pd.DataFrame:
    """A contract frame with exact dtypes; omitted optional columns take their defaults."""
    data: dict[str, pd.Series] = {}
    for col in COLUMNS[table]:
        values = [r.get(col.name, col.default) for r in rows]
        if col.name == "name":
            values = [r.get("name", r.get("partner_id")) for r in rows]
        data[col.name] = pd.Series(values, dtype=dtype_of(col))
        if col.kind == "date":
            data[col.name] = pd.to_datetime(pd.Series(values, dtype="object")).astype(
                "datetime64[ns]"
            )
    extra = sorted({k for r in rows for k in r} - {c.name for c in COLUMNS[table]})
    for name in extra:
        data[name] = pd.Series([r.get(name) for r in rows])
    return pd.DataFrame(data)


def dataset(
    partners: Sequence[dict[str, Any]],
    bookings: Sequence[dict[str, Any]] = (),
    opportunities: Sequence[dict[str, Any]] = (),
    activities: Sequence[dict[str, Any]] = (),
    incentives: Sequence[dict[str, Any]] = (),
) -> Dataset:
    """A Dataset from lists of row dicts (dates as ISO strings or None)."""
    return Dataset(
        partners=frame("partners", partners),
        bookings=frame("bookings", bookings),
        opportunities=frame("opportunities", opportunities),
        activities=frame("activities", activities),
        incentives=frame("incentives", incentives),
        present=frozenset({"partners", "bookings", "opportunities", "activities", "incentives"}),
    )
