"""The pooled seasonal index, worked by hand: mature partners only, per region, shrunk to 1."""

from __future__ import annotations

import numpy as np
import pytest

from features.families.seasonal_index import (
    PRIOR_PARTNERS,
    seasonal_indexes,
    target_quarter_index,
)


def _frame(lags: list[list[float]], regions: list[str], as_of: list[str] | None = None) -> dict:
    rows = np.array(lags, dtype=float)  # one row per partner, columns lag 1..8
    frame = {f"revenue_lag_{k + 1}": rows[:, k] for k in range(8)}
    frame["region"] = np.array(regions, dtype=object)
    frame["as_of"] = np.array(as_of or ["2024-12-31"] * len(lags))
    return frame


NAN4 = [np.nan] * 4


def test_index_is_the_pooled_quarter_over_the_year_mean_shrunk_by_partner_count():
    # NA: two mature partners, lags 1..4 = (200, 100, 100, 100) and three times that:
    # S = (800, 400, 400, 400), mean 500, raw (1.6, 0.8, 0.8, 0.8); weight 2 / (2 + 30).
    # A third NA partner is not mature (lag 4 missing) and counts for nothing.
    # EMEA: no mature partner, so every index is 1.
    frame = _frame(
        [
            [200, 100, 100, 100, *NAN4],
            [600, 300, 300, 300, *NAN4],
            [5000, 5000, 5000, np.nan, *NAN4],
            [100, 100, 100, np.nan, *NAN4],
        ],
        ["NA", "NA", "NA", "EMEA"],
    )
    index = seasonal_indexes(frame)
    w = 2 / (2 + PRIOR_PARTNERS)
    expected = 1 + w * (np.array([1.6, 0.8, 0.8, 0.8]) - 1)
    for row in range(3):
        assert index[row] == pytest.approx(expected)
    assert index[3] == pytest.approx(np.ones(4))


def test_growth_over_the_year_before_is_not_read_as_season():
    # no season, 10% growth a quarter: lag k is 100 / 1.1 ** (k - 1). Raw, lag 4 would be
    # 0.75 / 0.87 = 0.86 of the year's mean; divided by g ** (2.5 - L) with g = 1.1 (the
    # year over the year before, to the 1/4) it is 1 up to the mean of a geometric series
    # (0.994-1.004 raw, within 2e-4 once shrunk by 1 / 31)
    lags = [100 * 1.1 ** (-k) for k in range(8)]
    raw_lag_4 = (lags[3] / np.mean(lags[:4]) - 1) / (1 + PRIOR_PARTNERS) + 1
    index = seasonal_indexes(_frame([lags], ["NA"]))
    assert raw_lag_4 == pytest.approx(0.9956, abs=1e-4)
    assert index[0] == pytest.approx(np.ones(4), abs=2e-4)


def test_groups_are_per_as_of_date():
    frame = _frame(
        [[200, 100, 100, 100, *NAN4], [100, 100, 100, 100, *NAN4]],
        ["NA", "NA"],
        as_of=["2024-09-30", "2024-12-31"],
    )
    index = seasonal_indexes(frame)
    assert index[0, 0] > 1 and index[1] == pytest.approx(np.ones(4))


def test_target_quarter_is_the_same_quarter_one_year_back():
    indexes = np.array([[1.1, 1.2, 1.3, 1.4]])  # lags 1..4
    horizon = np.array([1, 2, 3, 4, 5, 8])
    got = target_quarter_index(indexes, horizon, np.zeros(6, dtype=int))
    # h1 -> lag 4, h2 -> lag 3, h3 -> lag 2, h4 -> lag 1, h5 -> lag 4, h8 -> lag 1
    assert got.tolist() == pytest.approx([1.4, 1.3, 1.2, 1.1, 1.4, 1.1])


def test_quarters_before_the_data_began_read_as_unknown_not_as_a_trough():
    # the export starts at lag 2: lags 3 and 4 are 0 for every partner of the region (they
    # signed up before the data began). Read as revenue, S = (400, 400, 0, 0) would give a
    # raw index (2, 2, 0.2 clipped, 0.2): with a quarter of no revenue at all nothing is known
    frame = _frame([[200, 200, 0, 0, *NAN4], [200, 200, 0, 0, *NAN4]], ["NA", "NA"])
    assert seasonal_indexes(frame)[0] == pytest.approx(np.ones(4))


def test_growth_needs_every_quarter_of_the_year_before():
    # a season (lag 1 twice the others) and a year before with lags 7-8 before the data
    # began (0): its sum would read as 2x growth; only the raw index, shrunk, is used
    lags = [200, 100, 100, 100, 100, 100, 0, 0]
    index = seasonal_indexes(_frame([lags], ["NA"]))
    w = 1 / (1 + PRIOR_PARTNERS)
    expected = 1 + w * (np.array([1.6, 0.8, 0.8, 0.8]) - 1)
    assert index[0] == pytest.approx(expected)
