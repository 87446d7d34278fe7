"""Per-horizon features that line history and pipeline up with each row's target quarter.

Two gaps the other families leave, both measured on contrasting simulated channels:

- **pipeline by expected close quarter**: the sales-ops estimate counts open pipeline only for
  the next quarter and uses trailing won revenue beyond it. With sales cycles of three
  quarters most of the deals that will close two to four quarters out are already open, so
  each horizon gets the open amount expected to close in its own target quarter
  (``open_amount_close_target_q``), that amount times the shrunk win rate, and the plan that
  uses it (``log_ratio_pipeline_plan``: run-rate plus that expected deal revenue, against the
  sales-ops estimate).
- **ratios, not money**: the boosters start from the sales-ops estimate in asinh space, so
  what they must learn is a log-ratio to it (momentum, the partner's seasonal shape, deal
  share). Trees split one column at a time and cannot form ``lag / plan`` from two money
  columns, so the ratios are given: ``asinh(x / 1000) - asinh(plan / 1000)``.
- **last quarter's run-rate**: the sales-ops run-rate is the 4-quarter mean less won deals,
  stale where a recurring business grows or churns; ``run_rate_last_q`` is the last quarter's
  revenue less the deals won in it (at least 0), and ``log_ratio_run_rate_last_q`` its
  log-ratio to the plan.

Every input is a point-in-time column of the same row, so nothing here can see past as_of.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from features.families.pipeline_signals import CLOSE_QUARTERS_AHEAD

LOG_SCALE = 1000.0  # money unit of the log-ratios (asinh is linear below it, log above)
RATIO_INPUTS: tuple[str, ...] = ("revenue_lag_1", "revenue_lag_2", "revenue_mean_4q")
TARGET_QUARTER_FEATURES: tuple[str, ...] = (
    "open_amount_close_target_q",
    "expected_deal_revenue_target_q",
    "log_ratio_pipeline_plan",
    "log_ratio_last_year",
    "run_rate_last_q",
    "log_ratio_run_rate_last_q",
    *(f"log_ratio_{c.removeprefix('revenue_')}" for c in RATIO_INPUTS),
)


def _z(values: np.ndarray) -> np.ndarray:
    return np.arcsinh(np.asarray(values, dtype=np.float64) / LOG_SCALE)


def _col(frame: Mapping[str, np.ndarray], name: str, rows: np.ndarray | None) -> np.ndarray:
    values = np.asarray(frame[name], dtype=np.float64)
    return values if rows is None else values[rows]


def target_quarter_signals(
    frame: Mapping[str, np.ndarray],
    horizon: np.ndarray,
    *,
    plan: np.ndarray,
    run_rate: np.ndarray,
    last_year: np.ndarray,
    rows: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The :data:`TARGET_QUARTER_FEATURES` per row.

    ``frame`` maps partner feature columns to arrays (``rows`` picks one per entry of
    ``horizon``); ``plan``, ``run_rate`` and ``last_year`` are the row's sales-ops estimate,
    its run-rate part and the target quarter's revenue one year earlier.
    """
    h = np.asarray(horizon)
    due = np.nan_to_num(_col(frame, "open_amount_close_next_q", rows)) + np.nan_to_num(
        _col(frame, "open_amount_overdue", rows)
    )
    for k in CLOSE_QUARTERS_AHEAD:
        due = np.where(h == k, np.nan_to_num(_col(frame, f"open_amount_close_q{k}", rows)), due)
    win = np.clip(np.nan_to_num(_col(frame, "win_rate_shrunk_8q", rows)), 0.0, 1.0)
    z_plan = _z(plan)
    last_q = np.maximum(
        np.nan_to_num(_col(frame, "revenue_lag_1", rows))
        - np.nan_to_num(_col(frame, "won_amount_1q", rows)),
        0.0,
    )
    out = {
        "open_amount_close_target_q": due,
        "expected_deal_revenue_target_q": due * win,
        "log_ratio_pipeline_plan": _z(run_rate + due * win) - z_plan,
        "log_ratio_last_year": _z(last_year) - z_plan,
        "run_rate_last_q": last_q,
        "log_ratio_run_rate_last_q": _z(last_q) - z_plan,
    }
    for c in RATIO_INPUTS:
        out[f"log_ratio_{c.removeprefix('revenue_')}"] = _z(_col(frame, c, rows)) - z_plan
    return out
