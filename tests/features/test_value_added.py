"""Forecast value added worked on paper: naive -> model -> final (with overrides)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.reporting.value_added import value_added_report, with_naive_and_final

Q = pd.Timestamp("2024-04-01")
LAST_YEAR = pd.Timestamp("2023-04-01")


def _realised():
    # A: actual 100, model 90; B: actual 50, model 70; C: actual 40, model 40 (no override)
    return pd.DataFrame(
        {
            "partner_id": ["A", "B", "C"],
            "quarter_start": [Q, Q, Q],
            "horizon": [1, 1, 2],
            "p50": [90.0, 70.0, 40.0],
            "actual": [100.0, 50.0, 40.0],
            "region": ["EU", "EU", "US"],
        }
    )


def _panel():
    return pd.DataFrame(
        {
            "partner_id": ["A", "B"],  # C had nothing a year earlier: naive 0
            "quarter_start": [LAST_YEAR, LAST_YEAR],
            "revenue": [80.0, 50.0],
        }
    )


def _overrides():
    t = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    return pd.DataFrame(
        [
            dict(level="partner", key="A", quarter_start=Q, p50=120.0, author="ana",
                 created_at=t, removed_at=None),  # replaced by the next one
            dict(level="partner", key="A", quarter_start=Q, p50=110.0, author="ana",
                 created_at=t + dt.timedelta(days=1), removed_at=None),
            dict(level="partner", key="B", quarter_start=Q, p50=55.0, author="bob",
                 created_at=t, removed_at=None),
            dict(level="partner", key="C", quarter_start=Q, p50=999.0, author="bob",
                 created_at=t, removed_at=t + dt.timedelta(days=2)),  # removed
        ]
    )  # fmt: skip


def test_naive_model_final_by_hand():
    scored = with_naive_and_final(_realised(), _panel(), _overrides())
    assert scored["naive"].tolist() == [80, 50, 0]
    assert scored["final"].tolist() == [110, 55, 40]
    assert scored["author"].tolist() == ["ana", "bob", None]
    report = value_added_report(scored)
    row = report[(report["horizon"] == "all") & (report["segment"] == "all")].iloc[0]
    # actual 190; naive errors 20 + 0 + 40 = 60; model 10 + 20 + 0 = 30; final 10 + 5 + 0 = 15
    assert row["wape_naive"] == pytest.approx(60 / 190)
    assert row["wape_model"] == pytest.approx(30 / 190)
    assert row["wape_final"] == pytest.approx(15 / 190)
    assert row["bias_naive"] == pytest.approx((130 - 190) / 190)
    assert row["bias_model"] == pytest.approx((200 - 190) / 190)
    assert row["bias_final"] == pytest.approx((205 - 190) / 190)
    assert row["fva_model"] == pytest.approx(30 / 190)
    assert row["fva_override"] == pytest.approx(15 / 190)
    # A's override is as far off as the model (10 vs 10): not an improvement; B's is
    assert (row["overridden"], row["improved_share"]) == (2, 0.5)
    by = report[(report["horizon"] == "all") & (report["segment"] == "author")].set_index("group")
    assert by.loc["ana", "wape_model"] == pytest.approx(0.1)  # 10 / 100
    assert by.loc["ana", "wape_final"] == pytest.approx(0.1)
    assert by.loc["bob", "wape_final"] == pytest.approx(0.1)  # 5 / 50
    assert by.loc["bob", "improved_share"] == 1.0
    h2 = report[(report["horizon"] == "2") & (report["segment"] == "all")].iloc[0]
    assert h2["forecasts"] == 1 and np.isnan(h2["improved_share"])  # none overridden
    eu = report[(report["horizon"] == "all") & (report["group"] == "EU")].iloc[0]
    assert eu["wape_final"] == pytest.approx(15 / 150)


def test_without_overrides_final_is_the_model():
    scored = with_naive_and_final(_realised(), _panel(), None)
    assert (scored["final"] == scored["p50"]).all()
    row = value_added_report(scored).iloc[0]
    assert row["fva_override"] == 0 and row["overridden"] == 0
