"""QuantileForecaster: calibrated, non-crossing intervals on heavy-tailed data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.metrics import coverage
from training.forecast import QuantileForecaster


def _heavy_tailed(n_series: int, n_slices: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Revenue = size * lognormal noise, size heavy-tailed; a few credit notes."""
    rng = np.random.default_rng(seed)
    size = np.exp(rng.normal(9, 1.5, n_series))
    rows = []
    for t in range(n_slices):
        for h in (1, 2):
            noise = np.exp(rng.normal(0, 0.3 + 0.1 * h, n_series))
            y = size * noise
            y[rng.random(n_series) < 0.03] *= -0.2
            rows.append(
                pd.DataFrame(
                    {
                        "log_size": np.log(size) + rng.normal(0, 0.05, n_series),
                        "horizon": h,
                        "time": t,
                        "y": y,
                    }
                )
            )
    frame = pd.concat(rows, ignore_index=True)
    return frame, frame.pop("y").to_numpy()


@pytest.fixture(scope="module")
def fitted() -> tuple[QuantileForecaster, pd.DataFrame, np.ndarray]:
    X, y = _heavy_tailed(300, 6, seed=1)
    model = QuantileForecaster(n_estimators=60, random_state=3)
    model.fit(X[["log_size", "horizon"]], y, time=X["time"], horizon=X["horizon"])
    return model, X, y


def test_intervals_are_calibrated_and_never_cross(fitted) -> None:
    model, _, _ = fitted
    X_new, y_new = _heavy_tailed(300, 2, seed=2)
    q = model.predict_quantiles(X_new[["log_size", "horizon"]], horizon=X_new["horizon"])
    assert list(q.columns) == ["p10", "p50", "p90"]
    assert (q["p10"] <= q["p50"]).all() and (q["p50"] <= q["p90"]).all()
    assert 0.72 <= coverage(y_new, q["p10"], q["p90"]) <= 0.88
    assert set(model.corrections_) == {1, 2}


def test_seeded_fit_is_deterministic(fitted) -> None:
    model, X, y = fitted
    again = QuantileForecaster(n_estimators=60, random_state=3).fit(
        X[["log_size", "horizon"]], y, time=X["time"], horizon=X["horizon"]
    )
    pd.testing.assert_frame_equal(
        model.predict_quantiles(X[["log_size", "horizon"]], horizon=X["horizon"]),
        again.predict_quantiles(X[["log_size", "horizon"]], horizon=X["horizon"]),
    )


def test_contributions_add_up_to_the_median(fitted) -> None:
    model, X, _ = fitted
    contrib = model.contributions(X[["log_size", "horizon"]].head(20))
    assert list(contrib.columns) == ["log_size", "horizon", "bias"]
    np.testing.assert_allclose(
        np.sinh(contrib.sum(axis=1)) * model.scale,
        model.predict(X[["log_size", "horizon"]].head(20)),
        rtol=1e-6,
    )


def test_calibration_needs_time_and_holds_out_what_a_short_history_allows(caplog) -> None:
    X, y = _heavy_tailed(20, 2, seed=0)
    with pytest.raises(ValueError, match="time"):
        QuantileForecaster(n_estimators=5).fit(X[["log_size"]], y)
    # two target quarters: the last one calibrates (two are asked for)
    two = QuantileForecaster(n_estimators=5).fit(X[["log_size"]], y, time=X["time"])
    assert set(two.corrections_) == {0} and np.isfinite(two.corrections_[0])
    # one target quarter: a random share of its rows calibrates, and the log says so
    first = (X["time"] == X["time"].min()).to_numpy()
    with caplog.at_level("WARNING"):
        one = QuantileForecaster(n_estimators=5).fit(
            X.loc[first, ["log_size"]], y[first], time=X.loc[first, "time"]
        )
    assert "one target quarter" in caplog.text
    assert np.isfinite(one.corrections_[0])


def test_bundle_round_trips_through_files_with_categoricals(tmp_path) -> None:
    from features.scoring import QuantileBundle

    X, y = _heavy_tailed(80, 4, seed=5)
    X["tier"] = pd.Categorical(
        np.where(X["log_size"] > 9, "gold", "silver"), categories=["gold", "silver", "platinum"]
    )
    cols = ["log_size", "horizon", "tier"]
    model = QuantileForecaster(n_estimators=20).fit(
        X[cols], y, time=X["time"], horizon=X["horizon"]
    )
    loaded = QuantileBundle.load(model.bundle_.save(tmp_path / "bundle"))
    assert loaded.corrections == model.corrections_
    pd.testing.assert_frame_equal(
        loaded.predict_quantiles(X[cols], horizon=X["horizon"]),
        model.predict_quantiles(X[cols], horizon=X["horizon"]),
    )


def test_plain_target_is_available_for_comparison() -> None:
    X, y = _heavy_tailed(50, 4, seed=6)
    model = QuantileForecaster(transform="none", n_estimators=10).fit(
        X[["log_size", "horizon"]], y, time=X["time"]
    )
    assert model.predict_quantiles(X[["log_size", "horizon"]]).shape == (len(X), 3)
    with pytest.raises(ValueError, match="transform"):
        QuantileForecaster(transform="log").fit(X[["log_size"]], y, time=X["time"])


def test_tail_boosters_take_their_share_of_the_trees() -> None:
    X, y = _heavy_tailed(200, 4, seed=2)
    X["plan"] = np.exp(X["log_size"])  # from an offset the gradients differ in sign
    model = QuantileForecaster(n_estimators=20, tail_trees=0.5, offset_column="plan")
    model.fit(X[["log_size", "horizon", "plan"]], y, time=X["time"], horizon=X["horizon"])
    trees = {q: b.num_trees() for q, b in model.bundle_.boosters.items()}
    assert trees == {0.1: 10, 0.5: 20, 0.9: 10}
    assert model._params(0.1)["learning_rate"] == pytest.approx(2 * model.learning_rate)


def test_only_the_last_time_slices_are_learned_from() -> None:
    # slices 0-3 earn a thousand times slices 4-5: with a budget of 1,000 rows (400 a
    # slice: the last two, one to fit and one to calibrate) the median is of the recent
    # level; with all six it is not
    X, y = _heavy_tailed(200, 6, seed=2)
    y = np.where(X["time"] < 4, 1000 * y, y)
    X["plan"] = np.exp(X["log_size"])
    columns = ["log_size", "horizon", "plan"]
    settings = {"n_estimators": 60, "calibration_slices": 1, "offset_column": "plan"}
    recent = QuantileForecaster(max_rows=1000, **settings)
    everything = QuantileForecaster(**settings)
    last = (X["time"] == 5).to_numpy()
    for model in (recent, everything):
        model.fit(X[columns], y, time=X["time"], horizon=X["horizon"])
    ratio = np.median(recent.predict(X.loc[last, columns]) / np.abs(y[last]))
    assert 0.5 < ratio < 2
    assert np.median(everything.predict(X.loc[last, columns]) / np.abs(y[last])) > 10
