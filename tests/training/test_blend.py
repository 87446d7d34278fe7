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


def test_anchor_scale_is_chosen_with_the_share_on_the_calibration_slice():
    # plain transform (money). Horizon 1: the trees move 100 -> 200 and the truth is 200:
    # keep all of the move, whatever the anchor (a tie goes to the factor nearest 1).
    # Horizon 2: the trees move 100 -> 200 but the truth is 60 (the plan is a mean, the
    # quarter booked less): with the start as the anchor the best is keep 0 (error 40); with
    # half the start as the anchor keep 0.1 gives 0.1 * 200 + 0.9 * 50 = 65 (error 5), keep 0
    # gives 50 (error 10), keep 0.2 gives 80 (error 20).
    keep, anchors = fit_blend(
        np.array([200.0, 60.0]),
        offset=np.array([100.0, 100.0]),
        trees=np.array([100.0, 100.0]),
        horizon=np.array([1, 2]),
        transform="none",
        scale=1.0,
        anchors=(0.5, 1.0),
    )
    assert keep == pytest.approx({1: 1.0, 2: 0.1})
    assert anchors == {1: 1.0, 2: 0.5}


def test_bundle_pulls_the_blend_towards_its_horizons_anchor(tmp_path):
    """Plain transform: the anchor shift is (scale - 1) x the start in money; horizon 4 takes
    horizon 2's factor (the nearest); with an asinh transform it is taken in money and
    brought back (3,000 at half: asinh(1.5) - asinh(3))."""
    from features.scoring import QuantileBundle

    plain = QuantileBundle(
        boosters={}, feature_names=(), transform="none", anchor_scale={1: 1.0, 2: 0.6}
    )
    shift = plain._anchor_shift(np.array([100.0, 100.0, 50.0]), np.array([1, 2, 4]))
    assert shift.tolist() == pytest.approx([0.0, -40.0, -20.0])
    asinh = QuantileBundle(boosters={}, feature_names=(), scale=1000.0, anchor_scale={2: 0.5})
    got = asinh._anchor_shift(np.arcsinh([3.0]), np.array([2]))
    assert got == pytest.approx([np.arcsinh(1.5) - np.arcsinh(3.0)])
    assert QuantileBundle(boosters={}, feature_names=())._anchor_shift(
        np.ones(2), np.array([1, 2])
    ).tolist() == [0.0, 0.0]
    loaded = QuantileBundle.load(plain.save(tmp_path / "b"))
    assert loaded.anchor_scale == {1: 1.0, 2: 0.6}


@pytest.mark.parametrize("quarters", [4, 8])
def test_only_a_short_history_pulls_horizons_two_and_up_towards_an_anchor(tmp_path, quarters):
    """Below 8 target quarters the calibration slice chooses an anchor for horizons 2+
    (horizon 1 keeps the start); with 8 there is none. The anchored bundle saves, loads and
    predicts the same quantiles."""
    import pandas as pd

    from features.scoring import QuantileBundle
    from training.forecast import QuantileForecaster
    from training.forecast.quantile_model import ANCHOR_SCALES

    rng = np.random.default_rng(1)
    n = 800
    horizon = np.tile([1, 2], n // 2)
    X = pd.DataFrame(
        {"plan": rng.uniform(1e3, 1e5, n), "noise": rng.normal(size=n), "horizon": horizon}
    )
    # lumpy revenue: a quarter books 0.3 or 1.7 times the plan, so the median is well below
    y = X["plan"].to_numpy() * rng.choice([0.3, 1.7], n, p=[0.55, 0.45])
    time = np.arange(n) % quarters
    model = QuantileForecaster(
        n_estimators=20, offset_column="plan", blend_offset=True, min_child_samples=5
    ).fit(X, y, time=time, horizon=horizon)
    anchors = model.bundle_.anchor_scale
    if quarters == 8:
        assert anchors == {}
    else:
        # the median quarter books 0.3 x the plan: the least factor on the grid (0.4)
        assert anchors == {1: 1.0, 2: min(ANCHOR_SCALES)}
    q = model.predict_quantiles(X, horizon=horizon)
    loaded = QuantileBundle.load(model.bundle_.save(tmp_path / "b"))
    pd.testing.assert_frame_equal(loaded.predict_quantiles(X, horizon=horizon), q)
