"""The sales-ops planning heuristic, used both as a baseline and as a model feature.

How a channel sales-ops team plans a partner's quarter: the run-rate business
(revenue not from won deals) plus, for the next quarter, the open pipeline due
then (or already overdue) times the partner's trailing win rate; for later
quarters, whose pipeline does not exist yet, the trailing won-deal revenue per
quarter. Trees find products of features hard to learn, so the forecaster gets
this estimate as a feature, and the backtest scores it as a baseline.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

INPUTS: tuple[str, ...] = (
    "revenue_mean_4q",
    "won_amount_4q",
    "open_amount_close_next_q",
    "open_amount_overdue",
    "win_rate_shrunk_8q",
)


def _col(frame: Mapping[str, np.ndarray], name: str, rows: np.ndarray | None) -> np.ndarray:
    values = np.asarray(frame[name], dtype=np.float64)
    values = values if rows is None else values[rows]
    return np.nan_to_num(values, nan=0.0)


def sales_ops_estimate(
    frame: Mapping[str, np.ndarray], horizon: np.ndarray, rows: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """``run_rate_non_deal``, ``expected_deal_revenue`` and ``sales_ops_estimate`` per row.

    ``frame`` maps the :data:`INPUTS` columns to arrays (a DataFrame works);
    ``rows`` optionally picks rows of them (one per entry of ``horizon``).
    """
    won_per_q = _col(frame, "won_amount_4q", rows) / 4
    run_rate = np.maximum(_col(frame, "revenue_mean_4q", rows) - won_per_q, 0.0)
    due = _col(frame, "open_amount_close_next_q", rows) + _col(frame, "open_amount_overdue", rows)
    win = np.clip(_col(frame, "win_rate_shrunk_8q", rows), 0.0, 1.0)
    deals = np.where(np.asarray(horizon) == 1, due * win, won_per_q)
    return {
        "run_rate_non_deal": run_rate,
        "expected_deal_revenue": deals,
        "sales_ops_estimate": run_rate + deals,
    }
