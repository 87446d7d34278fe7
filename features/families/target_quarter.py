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
- **long-run growth**: where a partner's revenue grows or shrinks for years (subscription
  expansion and contraction), eight lags say little about the rate, because quarter-to-quarter
  shocks persist. ``long_growth`` compares the mean of the last eight quarters with the mean
  of every earlier quarter of the partner's history (from ``revenue_cum`` and
  ``quarters_since_first_booking``): ``log(m_recent / m_older) / d`` per quarter, with ``d``
  the distance between the two windows' centres, 0 with fewer than two earlier quarters,
  clipped to +-:data:`MAX_GROWTH`. ``trend_run_rate_plan`` is the sales-ops plan with last
  quarter's run-rate grown at half that rate (:data:`GROWTH_SHARE`: the estimate is noisy; on
  the subscription world's training rows before the first backtest fold, half the growth
  forecast with WAPE 0.300, all of it 0.317, none 0.303) to the target quarter:
  ``run_rate_last_q * exp(0.5 * long_growth * h) + expected deal revenue``: a start the forecaster
  may choose instead of the sales-ops estimate (``training.forecast.starts``), not a feature
  of its trees (as features, it and the growth moved WAPE by noise: subscription -0.0015,
  seasonal +0.009, the 200-partner world +0.016).
- **ramping partners' deals**: beyond the next quarter the plans count trailing won revenue
  per quarter (``won_amount_4q / 4``), which for a partner in its first two quarters since
  sign-up (``tenure_quarters`` <= :data:`RAMP_QUARTERS`) is diluted by the quarters before it
  existed and misses that it is still ramping up. There the trended plan's deal revenue at
  horizons 2+ is at least the next quarter's (pipeline due next quarter or overdue times the
  shrunk win rate): on the ``seasonal`` scenario (70% of partners joining late, ramping over
  1-4 quarters) the trees could not make up the 10-15x between these partners' run-rate
  plan and their revenue two to four quarters out (mean WAPE over LightGBM seeds 42/7/11/13
  0.6905 -> 0.6745; up to 2 quarters of tenure 0.6839, up to 0 0.6797; the deal revenue
  scaled by 4 / quarters since sign-up instead 0.6814).

Every input is a point-in-time column of the same row, so nothing here can see past as_of.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from features.families.pipeline_signals import CLOSE_QUARTERS_AHEAD

LOG_SCALE = 1000.0  # money unit of the log-ratios (asinh is linear below it, log above)
RECENT_QUARTERS = 8  # the recent window of long_growth (revenue_lag_1..8)
MIN_OLDER_QUARTERS = 2  # earlier quarters long_growth needs
MAX_GROWTH = 0.3  # per quarter, either way
GROWTH_SHARE = 0.5  # of long_growth the trended plan extrapolates (the estimate is noisy)
RAMP_QUARTERS = 1  # up to this tenure a partner's next-quarter pipeline plans its later deals
RATIO_INPUTS: tuple[str, ...] = ("revenue_lag_1", "revenue_lag_2", "revenue_mean_4q")
TARGET_QUARTER_FEATURES: tuple[str, ...] = (
    "open_amount_close_target_q",
    "expected_deal_revenue_target_q",
    "log_ratio_pipeline_plan",
    "log_ratio_last_year",
    "run_rate_last_q",
    "log_ratio_run_rate_last_q",
    *(f"log_ratio_{c.removeprefix('revenue_')}" for c in RATIO_INPUTS),
    "trend_run_rate_plan",
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
    deals: np.ndarray | None = None,
    rows: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The :data:`TARGET_QUARTER_FEATURES` per row.

    ``frame`` maps partner feature columns to arrays (``rows`` picks one per entry of
    ``horizon``); ``plan``, ``run_rate`` and ``last_year`` are the row's sales-ops estimate,
    its run-rate part and the target quarter's revenue one year earlier; ``deals`` its
    expected deal revenue (default: ``plan - run_rate``).
    """
    h = np.asarray(horizon)
    due = np.nan_to_num(_col(frame, "open_amount_close_next_q", rows)) + np.nan_to_num(
        _col(frame, "open_amount_overdue", rows)
    )
    due_next = due
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
    growth = long_growth(frame, rows)
    deals = np.asarray(plan, dtype=np.float64) - run_rate if deals is None else deals
    deals = np.where(ramping(frame, rows) & (h >= 2), np.maximum(deals, due_next * win), deals)
    trend_plan = last_q * np.exp(GROWTH_SHARE * growth * h) + deals
    out["trend_run_rate_plan"] = trend_plan
    return out


def ramping(frame: Mapping[str, np.ndarray], rows: np.ndarray | None = None) -> np.ndarray:
    """Partners within :data:`RAMP_QUARTERS` quarters of sign-up (``tenure_quarters``; none
    where the column is missing or unknown)."""
    if "tenure_quarters" not in frame:
        n = len(np.asarray(frame["revenue_lag_1"])) if rows is None else len(rows)
        return np.zeros(n, dtype=bool)
    tenure = np.nan_to_num(_col(frame, "tenure_quarters", rows), nan=np.inf)
    return tenure <= RAMP_QUARTERS


def long_growth(frame: Mapping[str, np.ndarray], rows: np.ndarray | None = None) -> np.ndarray:
    """Per-quarter log growth from the older history to the last eight quarters (0 where the
    history has fewer than two quarters before them, or a window's mean is not positive).

    >>> lags = {f"revenue_lag_{k}": np.array([200.0]) for k in range(1, 9)}
    >>> frame = {**lags, "revenue_cum": np.array([1600.0 + 2 * 100.0]),
    ...          "quarters_since_first_booking": np.array([9.0])}
    >>> round(float(long_growth(frame)[0] * 5.0), 4) == round(float(np.log(2.0)), 4)
    True
    """
    recent = np.column_stack(
        [_col(frame, f"revenue_lag_{k}", rows) for k in range(1, RECENT_QUARTERS + 1)]
    )
    quarters = _col(frame, "quarters_since_first_booking", rows) + 1  # the first one included
    older_n = quarters - RECENT_QUARTERS
    recent_sum = np.nansum(recent, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        older_mean = (_col(frame, "revenue_cum", rows) - recent_sum) / older_n
        recent_mean = recent_sum / RECENT_QUARTERS
        distance = (older_n - 1) / 2 + RECENT_QUARTERS - (RECENT_QUARTERS - 1) / 2
        ok = (older_n >= MIN_OLDER_QUARTERS) & (older_mean > 0) & (recent_mean > 0)
        growth = np.where(ok, np.log(recent_mean / older_mean) / distance, 0.0)
    return np.clip(np.nan_to_num(growth, nan=0.0, posinf=0.0, neginf=0.0), -MAX_GROWTH, MAX_GROWTH)
