"""Candidate selection worked by hand: two candidates, two folds of two rows each."""

from __future__ import annotations

import pandas as pd
import pytest

from training.forecast import MODEL
from training.forecast.backtest import BacktestResult, metrics_table
from training.forecast.selection import select_candidate


def _result(p50: list[float], width: float = 1000.0) -> BacktestResult:
    """Folds 2024-03-31 and 2024-06-30, two partners each, every actual 100."""
    p = pd.DataFrame(
        {
            "partner_id": ["A", "B", "A", "B"],
            "as_of": pd.to_datetime(["2024-03-31"] * 2 + ["2024-06-30"] * 2),
            "horizon": 1,
            "quarter_start": pd.to_datetime(["2024-04-01"] * 2 + ["2024-07-01"] * 2),
            "actual": 100.0,
            "mase_scale": 10.0,
            "mean_4q_p10": 0.0,
            "mean_4q_p50": 50.0,  # WAPE 0.5
            "mean_4q_p90": 200.0,
        }
    )
    p[f"{MODEL}_p50"] = p50
    p[f"{MODEL}_p10"] = p[f"{MODEL}_p50"] - width
    p[f"{MODEL}_p90"] = p[f"{MODEL}_p50"] + width
    return BacktestResult(p, metrics_table(p, [MODEL, "mean_4q"]), rho={1: 0.0})


def test_lowest_wape_wins_and_the_forward_replay_uses_only_earlier_folds():
    # a: fold 1 misses 40+40 of 200 (0.4), fold 2 10+10 (0.1): WAPE 100/400 = 0.25
    # b: fold 1 0.2, fold 2 0.5: WAPE 0.35
    a, b = _result([60, 60, 90, 90]), _result([80, 80, 50, 50])
    s = select_candidate({"a": a, "b": b}, coverage_range=(0.0, 1.0))
    assert s.chosen == "a"
    assert s.wape == pytest.approx({"a": 0.25, "b": 0.35})
    assert "0.2500" in s.reason and "b 0.3500" in s.reason
    # fold 1 by the first candidate; fold 2 by the best on fold 1 (b): 0.4 then 0.5 -> 0.45
    assert s.forward_choices == {"2024-03-31": "a", "2024-06-30": "b"}
    assert s.forward.metric(MODEL, "wape") == pytest.approx(0.45)
    assert s.forward.metric(MODEL, "wape_ratio_vs_mean_4q") == pytest.approx(0.9)


def test_coverage_out_of_range_rules_a_candidate_out():
    narrow = _result([100, 100, 100, 100], width=0.0)  # perfect points, coverage 1.0 (ties)
    wide_miss = _result([60, 60, 90, 90])
    s = select_candidate({"first": wide_miss, "narrow": narrow}, coverage_range=(0.77, 0.83))
    assert s.chosen == "first" and s.reason.startswith("no candidate")


def test_a_candidate_backtested_without_baselines_borrows_them():
    from training.forecast import borrow_baselines

    source = _result([60, 60, 90, 90])
    p = source.predictions.drop(columns=[c for c in source.predictions if "mean_4q" in c])
    p[f"{MODEL}_p50"] = [80.0, 80.0, 50.0, 50.0]  # WAPE 0.35, against mean_4q's 0.5
    own = BacktestResult(p, metrics_table(p, [MODEL]), rho={1: 0.0})
    got = borrow_baselines(own, source)
    assert got.metric(MODEL, "wape") == pytest.approx(0.35)
    assert got.metric("mean_4q", "wape") == pytest.approx(0.5)
    assert got.metric(MODEL, "wape_ratio_vs_mean_4q") == pytest.approx(0.7)
    with pytest.raises(ValueError, match="same folds"):
        borrow_baselines(own, BacktestResult(p.iloc[:2], source.metrics, rho={1: 0.0}))
