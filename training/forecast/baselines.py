"""Simple forecasts every model is measured against, in the same run.

Each baseline gives a point forecast per row of a forecast frame (one row per
partner, cutoff ``as_of`` and horizon) from the revenue panel alone:

- ``seasonal_naive``: the same quarter one year earlier;
- ``last_value``: the cutoff's quarter;
- ``mean_4q``: the mean of the last four quarters the partner existed in.

The sales-ops heuristic, which needs pipeline signals, lives in
``features.families.heuristics`` (shared with the forecaster, which gets it as a feature).
Partners with no revenue history get 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.calendar import QuarterCalendar

BASELINES: tuple[str, ...] = ("seasonal_naive", "last_value", "mean_4q")


def _lookup(panel: pd.DataFrame, calendar: QuarterCalendar) -> pd.Series:
    """Revenue indexed by (partner_id, quarter_index)."""
    q = calendar.quarter_index(panel["quarter_start"])
    return pd.Series(
        panel["revenue"].to_numpy(dtype=float),
        index=pd.MultiIndex.from_arrays([panel["partner_id"].to_numpy(dtype=object), q]),
    )


def _revenue_at(lookup: pd.Series, partner_ids: np.ndarray, quarters: np.ndarray) -> np.ndarray:
    """Revenue of each (partner, quarter index) pair; NaN where the partner did not exist."""
    keys = pd.MultiIndex.from_arrays([partner_ids, quarters])
    return lookup.reindex(keys).to_numpy(dtype=float)


def baseline_forecasts(
    panel: pd.DataFrame, rows: pd.DataFrame, calendar: QuarterCalendar
) -> pd.DataFrame:
    """Point forecasts of each baseline for ``rows`` (``partner_id, as_of, horizon``).

    ``panel`` is the revenue panel (``partner_id, quarter_start, revenue``) of
    complete quarters up to at least each row's cutoff. Returns one column per
    name in :data:`BASELINES`, aligned with ``rows``.
    """
    lookup = _lookup(panel, calendar)
    ids = rows["partner_id"].to_numpy(dtype=object)
    q0 = calendar.quarter_index(rows["as_of"])
    horizon = rows["horizon"].to_numpy(dtype=np.int64)
    years_back = -(-horizon // 4)  # the latest same quarter that is not after the cutoff
    seasonal = _revenue_at(lookup, ids, q0 + horizon - 4 * years_back)
    last = _revenue_at(lookup, ids, q0)
    recent = np.column_stack([_revenue_at(lookup, ids, q0 - k) for k in range(4)])
    mean4 = pd.DataFrame(recent).mean(axis=1, skipna=True).to_numpy()  # NaN if none
    out = pd.DataFrame(
        {"seasonal_naive": seasonal, "last_value": last, "mean_4q": mean4}, index=rows.index
    )
    return out.fillna(0.0)
