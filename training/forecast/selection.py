"""Pick the forecaster's settings per dataset from a few candidates, on the backtest.

No single setting wins on every channel (money-aware weights help where a few large
partners carry the revenue, and cost a little where sizes are even), so ``train`` backtests
a few candidates on the same folds and deploys the one with the lowest WAPE whose 80%
coverage is in range. Picking the best of several on the folds it is scored on flatters its
WAPE, so the selection is also replayed **forward**: each fold is forecast by the candidate
that was best on the folds before it (the first fold by the first candidate), which is what
a team re-selecting every quarter would have seen. That forward WAPE is the honest number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from features import metrics
from training.forecast.backtest import BacktestResult, metrics_table, models_in
from training.forecast.config import MODEL

CANDIDATES: dict[str, dict[str, Any]] = {
    "default": {},
    "money_weighted": {"size_weight": 0.5, "weight_column": "sales_ops_estimate"},
}
"""Candidate settings on top of the run's config (QuantileForecaster keyword arguments)."""

COVERAGE_RANGE = (0.77, 0.83)


@dataclass(frozen=True)
class Selection:
    """The chosen candidate, why, each candidate's WAPE, and the forward replay."""

    chosen: str
    reason: str
    wape: dict[str, float]
    forward: BacktestResult  # every fold by the candidate best on the folds before it
    forward_choices: dict[str, str]  # fold cutoff -> candidate


def _fold_wape(result: BacktestResult) -> pd.Series:
    p = result.predictions
    return p.groupby("as_of").apply(lambda g: metrics.wape(g["actual"], g[f"{MODEL}_p50"]))


def select_candidate(
    results: Mapping[str, BacktestResult],
    *,
    coverage_range: tuple[float, float] = COVERAGE_RANGE,
) -> Selection:
    """Choose among ``results`` (candidate name -> backtest on the same folds, the first one
    the fallback): lowest WAPE among those with 80% coverage in ``coverage_range``."""
    if not results:
        raise ValueError("select_candidate needs at least one backtest result")
    names = list(results)
    wape = {n: results[n].metric(MODEL, "wape") for n in names}
    lo, hi = coverage_range
    covered = [n for n in names if lo <= results[n].metric(MODEL, "coverage_80") <= hi]
    pool = covered or names[:1]
    chosen = min(pool, key=lambda n: (wape[n], names.index(n)))
    others = ", ".join(f"{n} {wape[n]:.4f}" for n in names if n != chosen)
    reason = f"lowest backtest WAPE with 80% coverage in {lo:.2f}-{hi:.2f}: {wape[chosen]:.4f}"
    reason += f" (vs {others})" if others else ""
    if not covered:
        reason = f"no candidate had coverage in {lo:.2f}-{hi:.2f}: kept {chosen}"
    forward, choices = _forward_replay(results, names)
    return Selection(chosen, reason, wape, forward, choices)


def _forward_replay(
    results: Mapping[str, BacktestResult], names: list[str]
) -> tuple[BacktestResult, dict[str, str]]:
    """Each fold forecast by the candidate with the lowest WAPE on the earlier folds."""
    per_fold = pd.DataFrame({n: _fold_wape(results[n]) for n in names}).sort_index()
    base = results[names[0]].predictions
    model_cols = [f"{MODEL}_{c}" for c in ("p10", "p50", "p90")]
    combined = base.copy()
    choices = {}
    for i, cutoff in enumerate(per_fold.index):
        earlier = per_fold.iloc[:i].sum()
        pick = names[0] if i == 0 else str(earlier.idxmin())
        choices[str(pd.Timestamp(cutoff).date())] = pick
        rows = (base["as_of"] == cutoff).to_numpy()
        source = results[pick].predictions
        combined.loc[rows, model_cols] = source.loc[rows, model_cols].to_numpy()
    result = BacktestResult(
        predictions=combined,
        metrics=metrics_table(combined, models_in(combined)),
        rho=results[names[0]].rho,
    )
    return result, choices
