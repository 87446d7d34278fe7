"""Revenue history features: lags, rolling statistics, growth, recency, credit notes.

Lag k is the revenue of quarter q0 - (k - 1), where q0 is the quarter containing the row's
as_of and is counted only up to as_of (so ``revenue_lag_1`` is complete at quarter-end
cutoffs and partial inside a quarter; ``quarter_elapsed_share`` tells the model how much).
Quarters before the partner's join quarter are missing (NaN), not zero; rolling statistics
use the quarters that exist. Standard deviations are population (ddof=0); the trend is the
least-squares slope of revenue per quarter (positive = growing).

Growth is also given as a log-ratio (``asinh(x / 1000)``, log-like above 1000 and linear
through credit notes), per quarter: ``revenue_log_growth_1q`` (last quarter against the one
before) and ``revenue_log_growth_4q`` (last quarter against three quarters earlier, divided
by 3). Where revenue is a persistent run-rate with its own growth or a churn fade
(subscription worlds), the next quarters are the last one times that growth, a product the
trees cannot form from money columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.data import Dataset
from features.families.panel import join_quarters, revenue_events
from features.families.target_quarter import LOG_SCALE
from features.families.windows import (
    CutoffGrid,
    cumulative_sums,
    first_event_day,
    last_event_day,
    quarters_between,
    safe_div,
    window_sums,
)

N_LAGS = 8
ROLLING_WINDOWS = (2, 4, 8)
ZERO_TOLERANCE = 0.005  # half a cent: a quarter whose bookings net to less is a zero quarter


def rolling_stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, std (ddof=0) and slope per row over non-NaN columns (column 0 = most recent)."""
    mask = ~np.isnan(values)
    n = mask.sum(axis=1).astype(np.float64)
    y = np.where(mask, values, 0.0)
    x = -np.arange(values.shape[1], dtype=np.float64)[None, :]  # time runs towards column 0
    mean_y = safe_div(y.sum(axis=1), n)
    mean_x = safe_div((mask * x).sum(axis=1), n)
    dy = np.where(mask, y - np.nan_to_num(mean_y)[:, None], 0.0)
    dx = np.where(mask, x - np.nan_to_num(mean_x)[:, None], 0.0)
    std = np.sqrt(safe_div((dy**2).sum(axis=1), n))
    slope = safe_div((dx * dy).sum(axis=1), (dx**2).sum(axis=1))
    std[n < 2] = np.nan
    slope[n < 2] = np.nan
    return mean_y, std, slope


def build_revenue_history(ds: Dataset, grid: CutoffGrid) -> pd.DataFrame:
    """Revenue history features for every grid row (rows aligned with the grid)."""
    events = revenue_events(ds, grid.partner_ids)
    sums = window_sums(grid, events, N_LAGS)
    join_q = join_quarters(ds, grid.partner_ids, grid.calendar)[grid.code]
    quarter = grid.q0[:, None] - np.arange(N_LAGS)[None, :]
    exists = quarter >= join_q[:, None]
    revenue = np.where(exists, sums["revenue"], np.nan)

    cols: dict[str, np.ndarray] = {}
    for k in range(N_LAGS):
        cols[f"revenue_lag_{k + 1}"] = revenue[:, k]
    for w in ROLLING_WINDOWS:
        mean, std, slope = rolling_stats(revenue[:, :w])
        cols[f"revenue_mean_{w}q"] = mean
        cols[f"revenue_std_{w}q"] = std
        cols[f"revenue_trend_{w}q"] = slope
    z = np.arcsinh(revenue[:, :4] / LOG_SCALE)
    cols["revenue_log_growth_1q"] = z[:, 0] - z[:, 1]
    cols["revenue_log_growth_4q"] = (z[:, 0] - z[:, 3]) / 3
    recent, year_before = revenue[:, :4].sum(axis=1), revenue[:, 4:8].sum(axis=1)
    cols["revenue_yoy_growth_1q"] = safe_div(revenue[:, 0] - revenue[:, 4], np.abs(revenue[:, 4]))
    cols["revenue_yoy_growth_4q"] = safe_div(recent - year_before, np.abs(year_before))
    for w in (4, 8):
        zero = (np.abs(revenue[:, :w]) < ZERO_TOLERANCE) & exists[:, :w]
        cols[f"revenue_zero_share_{w}q"] = safe_div(zero.sum(axis=1), exists[:, :w].sum(axis=1))
    cols["revenue_cum"] = cumulative_sums(grid, events)["revenue"]

    sales = events.subset(events.values["revenue"] > 0)
    cols["quarters_since_first_booking"] = quarters_between(
        grid.calendar, grid.q0, first_event_day(grid, sales)
    )
    cols["quarters_since_last_booking"] = quarters_between(
        grid.calendar, grid.q0, last_event_day(grid, sales)
    )
    positive = sums["positive"][:, :4].sum(axis=1)
    cols["credit_note_share_4q"] = safe_div(sums["credit"][:, :4].sum(axis=1), positive)
    return pd.DataFrame(cols)
