"""Group forecasts: P50s add up, intervals right for the sum, rho recovered from errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.scoring.aggregation import (
    Z90,
    aggregate_forecast_levels,
    aggregate_forecasts,
    estimate_rho,
    split_normal_scores,
    split_normal_values,
)


def test_split_normal_passes_through_the_quantiles_and_inverts() -> None:
    p10, p50, p90 = np.array([50.0, 0.0]), np.array([100.0, 10.0]), np.array([300.0, 10.0])
    z = np.array([[-Z90, 0.0, Z90]] * 2)
    values = split_normal_values(p10, p50, p90, z)
    np.testing.assert_allclose(values[0], [50, 100, 300])
    np.testing.assert_allclose(values[1], [0, 10, 10])
    scores = split_normal_scores(np.array([50.0, 300.0]), p10[[0, 0]], p50[[0, 0]], p90[[0, 0]])
    np.testing.assert_allclose(scores, [-Z90, Z90])


def _forecasts(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "partner_id": [f"P{i}" for i in range(n)],
            "quarter_start": pd.Timestamp("2026-01-01"),
            "horizon": 1,
            "p10": 80.0,
            "p50": 100.0,
            "p90": 120.0,
        }
    )


def test_comonotonic_total_is_the_sum_of_quantiles() -> None:
    f = _forecasts(10)
    total = aggregate_forecasts(f, pd.Series("all", index=f["partner_id"]), rho=1.0, n_samples=4000)
    row = total.iloc[0]
    assert row["p50"] == pytest.approx(1000.0, rel=0.01)
    assert row["p10"] == pytest.approx(800.0, rel=0.01)
    assert row["p90"] == pytest.approx(1200.0, rel=0.01)


def test_independent_partners_shrink_the_relative_interval() -> None:
    f = _forecasts(100)
    groups = pd.Series(["a"] * 50 + ["b"] * 50, index=f["partner_id"])
    out = aggregate_forecasts(f, groups, rho=0.0, n_samples=4000)
    assert out["group"].tolist() == ["a", "b"]
    np.testing.assert_allclose(out["p50"], [5000.0, 5000.0], rtol=0.005)
    # 50 independent partners: the half-width is sqrt(50) * 20, not 50 * 20
    np.testing.assert_allclose(out["p90"] - out["p50"], np.sqrt(50) * 20, rtol=0.1)


def test_estimated_rho_gives_calibrated_totals() -> None:
    rng = np.random.default_rng(0)
    true_rho, n, cutoffs = 0.3, 200, 60
    rows, totals = [], []
    for c in range(cutoffs):
        z = np.sqrt(true_rho) * rng.standard_normal() + np.sqrt(1 - true_rho) * rng.standard_normal(
            n
        )
        actual = split_normal_values(
            np.full(n, 80.0), np.full(n, 100.0), np.full(n, 130.0), z[:, None]
        )[:, 0]
        rows.append(
            pd.DataFrame(
                {
                    "as_of": c,
                    "horizon": 1,
                    "z": split_normal_scores(
                        actual, np.full(n, 80.0), np.full(n, 100.0), np.full(n, 130.0)
                    ),
                }
            )
        )
        totals.append(actual.sum())
    rho = estimate_rho(pd.concat(rows))
    assert rho == pytest.approx(true_rho, abs=0.1)
    f = _forecasts(n).assign(p90=130.0)
    agg = aggregate_forecasts(f, pd.Series("all", index=f["partner_id"]), rho=rho).iloc[0]
    inside = np.mean([(agg["p10"] <= t <= agg["p90"]) for t in totals])
    assert 0.65 <= inside <= 0.95


def test_partner_without_group_is_refused() -> None:
    f = _forecasts(2)
    with pytest.raises(ValueError, match="P1"):
        aggregate_forecasts(f, pd.Series(["x"], index=["P0"]), rho=0.0)


def test_groups_cut_from_the_same_draws_add_up_to_the_total() -> None:
    f = _forecasts(30).assign(p90=np.linspace(110, 400, 30))
    ids = f["partner_id"]
    halves = aggregate_forecasts(f, pd.Series(["a"] * 10 + ["b"] * 20, index=ids), rho=0.2)
    total = aggregate_forecasts(f, pd.Series("all", index=ids), rho=0.2)
    assert halves["p50"].sum() == pytest.approx(total["p50"].iloc[0], rel=1e-12)


def test_skewed_partners_sampled_in_asinh_space_centre_the_total_above_the_medians() -> None:
    # every partner: median 1,000 with a long right tail (P90 = 20,000)
    f = _forecasts(200).assign(p10=300.0, p50=1000.0, p90=20000.0)
    total = aggregate_forecasts(
        f, pd.Series("all", index=f["partner_id"]), rho=0.0, transform="asinh", scale=1000.0
    ).iloc[0]
    rng = np.random.default_rng(1)
    z = rng.standard_normal((200, 4000))
    q = np.arcsinh(np.array([300.0, 1000.0, 20000.0]) / 1000.0)
    draws = (
        np.sinh(split_normal_values(np.full(200, q[0]), np.full(200, q[1]), np.full(200, q[2]), z))
        * 1000.0
    )
    assert total["p50"] == pytest.approx(draws.sum(axis=0).mean(), rel=0.1)  # MC, heavy tail
    assert total["p50"] > 200 * 1000.0 * 2  # the sum of medians would be 200,000
    assert total["p10"] < total["p50"] < total["p90"]


def _aggregate_with_add_at(
    forecasts: pd.DataFrame, groups: pd.Series, *, rho: dict[int, float], chunk: int
) -> pd.DataFrame:
    """The session-8 implementation (``np.add.at`` into the sums), kept as the reference."""
    rng = np.random.default_rng(42)
    frame = forecasts.assign(_group=groups.reindex(forecasts["partner_id"].to_numpy()).to_numpy())
    out = []
    for (quarter_start, horizon), rows in frame.groupby(["quarter_start", "horizon"], sort=True):
        r = rho.get(int(horizon), 0.0)
        codes, names = pd.factorize(rows["_group"], sort=True)
        common = rng.standard_normal(2000)
        sums = np.zeros((len(names), 2000))
        q = np.arcsinh(rows[["p10", "p50", "p90"]].to_numpy(dtype=float) / 1000.0)
        for start in range(0, len(rows), chunk):
            sl = slice(start, start + chunk)
            idio = rng.standard_normal((len(q[sl]), 2000))
            z = np.sqrt(r) * common[None, :] + np.sqrt(1.0 - r) * idio
            values = split_normal_values(q[sl, 0], q[sl, 1], q[sl, 2], z)
            np.add.at(sums, codes[sl], np.sinh(values) * 1000.0)
        p50 = sums.mean(axis=1)
        out.append(
            pd.DataFrame(
                {
                    "group": names.astype(str),
                    "quarter_start": quarter_start,
                    "horizon": int(horizon),
                    "p10": np.minimum(np.quantile(sums, 0.1, axis=1), p50),
                    "p50": p50,
                    "p90": np.maximum(np.quantile(sums, 0.9, axis=1), p50),
                }
            )
        )
    return pd.concat(out, ignore_index=True).sort_values(["group", "horizon"], ignore_index=True)


def test_levels_give_the_add_at_sums_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    n = 60
    p50 = rng.gamma(2.0, 5000.0, n)
    f = (
        pd.DataFrame(
            {
                "partner_id": np.repeat([f"P{i}" for i in range(n)], 2),
                "quarter_start": np.tile(pd.to_datetime(["2026-01-01", "2026-04-01"]), n),
                "horizon": np.tile([1, 2], n),
                "p10": np.repeat(p50 * 0.5, 2),
                "p50": np.repeat(p50, 2),
                "p90": np.repeat(p50 * 1.8, 2),
            }
        )
        .sample(frac=1.0, random_state=0)  # rows of a cell scattered, as from a backtest
        .reset_index(drop=True)
    )
    ids = pd.Index([f"P{i}" for i in range(n)])
    levels = {
        "region": pd.Series(rng.choice(["east", "north", "west"], n), index=ids).astype("string"),
        "total": pd.Series("total", index=ids),
        "pairs": pd.Series(np.arange(n) // 2, index=ids),  # many groups of two
    }
    rho = {1: 0.2, 2: 0.5}
    # chunks of 7 rows: sums carried across chunks, where the order of additions matters
    out = aggregate_forecast_levels(f, levels, rho=rho, transform="asinh", scale=1000.0, chunk=7)
    for level, groups in levels.items():
        expected = _aggregate_with_add_at(f, groups, rho=rho, chunk=7)
        pd.testing.assert_frame_equal(out[level], expected, check_exact=True)
        alone = aggregate_forecasts(f, groups, rho=rho, transform="asinh", scale=1000.0, chunk=7)
        pd.testing.assert_frame_equal(alone, expected, check_exact=True)
