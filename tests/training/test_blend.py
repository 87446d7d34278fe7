"""The blend of the trees' move with the offset, worked by hand (plain transform: money)."""

from __future__ import annotations

import numpy as np
import pytest

from training.forecast.blend import fit_blend


def test_keep_share_minimises_money_error_per_horizon():
    # horizon 1: the trees move 100 -> 200 and the truth is 200: keep all of it.
    # horizon 2: the trees move 100 -> 200 but the truth is 130: keep 0.3 of the move.
    # horizon 3: the trees move the wrong way (100 -> 50, truth 100): keep none.
    y = np.array([200.0, 130.0, 100.0])
    out = fit_blend(
        y,
        offset=np.array([100.0, 100.0, 100.0]),
        trees=np.array([100.0, 100.0, -50.0]),
        horizon=np.array([1, 2, 3]),
        transform="none",
        scale=1.0,
    )
    assert out == pytest.approx({1: 1.0, 2: 0.3, 3: 0.0})


def test_blended_bundle_moves_the_whole_interval_with_the_median(tmp_path):
    import pandas as pd

    from features.scoring import QuantileBundle
    from training.forecast import QuantileForecaster

    rng = np.random.default_rng(0)
    n = 600
    X = pd.DataFrame(
        {"plan": rng.uniform(1e3, 1e5, n), "noise": rng.normal(size=n), "t": np.arange(n) % 6}
    )
    y = X["plan"].to_numpy() * np.exp(rng.normal(0, 0.2, n))
    model = QuantileForecaster(
        n_estimators=20, offset_column="plan", blend_offset=True, min_child_samples=5
    ).fit(X[["plan", "noise"]], y, time=X["t"], horizon=np.ones(n, dtype=int))
    assert set(model.bundle_.blend) == {1}
    q = model.predict_quantiles(X[["plan", "noise"]], horizon=np.ones(n, dtype=int))
    assert (q["p10"] <= q["p50"]).all() and (q["p50"] <= q["p90"]).all()
    loaded = QuantileBundle.load(model.bundle_.save(tmp_path / "b"))
    assert loaded.blend == model.bundle_.blend
    pd.testing.assert_frame_equal(
        loaded.predict_quantiles(X[["plan", "noise"]], horizon=np.ones(n, dtype=int)), q
    )


def test_a_horizon_without_a_share_takes_the_nearest_ones():
    """Shares for horizons 1 and 3 only (a short history's calibration slice): horizon 2 is
    as near to both and takes the larger's, 4 and beyond take horizon 3's."""
    from features.scoring import QuantileBundle

    bundle = QuantileBundle(boosters={}, feature_names=(), blend={1: 0.2, 3: 0.7})
    got = bundle._blend_share(np.array([1, 2, 3, 4, 6]), 5)
    assert got.tolist() == pytest.approx([0.2, 0.7, 0.7, 0.7, 0.7])
