"""The fitted forecaster: forecasts, no look-ahead, cold start, drivers, groups, persistence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from features.scoring import PartnerForecaster, UnknownPartnersError
from tests.features.test_leakage import mutate_after
from training.forecast import fit_forecaster, prepare_training_data

CAL = QuarterCalendar()
AS_OF = pd.Timestamp("2023-06-30")  # the small world runs 2021-01-01 .. 2023-12-31


def _fit(ds, config, as_of=AS_OF) -> PartnerForecaster:
    data = prepare_training_data(ds, as_of=as_of, calendar=CAL)
    return fit_forecaster(ds, data, config, rho={1: 0.1, 2: 0.1, 3: 0.1, 4: 0.1})


@pytest.fixture(scope="module")
def forecaster(small_world, fast_config) -> PartnerForecaster:
    return _fit(small_world, fast_config)


def test_forecast_rows_quarters_and_quantiles(forecaster, small_world) -> None:
    out = forecaster.forecast(None, horizon=4)
    joined = (small_world.partners["joined_on"] <= AS_OF).sum()
    assert len(out) == joined * 4
    assert list(out.columns) == ["partner_id", "quarter_start", "horizon", "p10", "p50", "p90"]
    assert sorted(out["quarter_start"].unique()) == list(CAL.horizon_starts(AS_OF, 4))
    assert (out["p10"] <= out["p50"]).all() and (out["p50"] <= out["p90"]).all()
    assert out["p50"].sum() > 0


def test_forecast_ignores_everything_after_the_as_of_date(forecaster, small_world, fast_config):
    altered = mutate_after(small_world, AS_OF, seed=11)
    again = _fit(altered, fast_config)
    pd.testing.assert_frame_equal(forecaster.forecast(None, 4), again.forecast(None, 4))


def test_selected_partners_come_back_in_the_order_asked(forecaster) -> None:
    ids = list(forecaster.partner_ids[:3])[::-1]
    out = forecaster.forecast(ids, horizon=2)
    assert out["partner_id"].tolist() == [i for i in ids for _ in range(2)]
    assert out["horizon"].tolist() == [1, 2] * 3


def test_unknown_partners_are_listed(forecaster) -> None:
    with pytest.raises(UnknownPartnersError) as exc:
        forecaster.forecast([forecaster.partner_ids[0], "NOPE-1", "NOPE-2"], 4)
    assert exc.value.ids == ["NOPE-1", "NOPE-2"]


@pytest.mark.parametrize("horizon", [0, 5, 2.5, "3"])
def test_horizon_out_of_range_is_refused(forecaster, horizon) -> None:
    with pytest.raises(ValueError, match="horizon"):
        forecaster.forecast(None, horizon)


def test_cold_start_partner_gets_a_forecast(forecaster) -> None:
    out = forecaster.cold_start({"tier": "gold", "partner_type": "reseller", "region": "NA"}, 3)
    assert out["horizon"].tolist() == [1, 2, 3]
    assert (out["p10"] <= out["p50"]).all() and (out["p50"] <= out["p90"]).all()
    bigger = forecaster.cold_start(
        {
            "tier": "gold",
            "partner_type": "reseller",
            "region": "NA",
            "open_amount": 5e6,
            "open_amount_close_next_q": 5e6,
        },
        3,
    )
    assert bigger["p90"].iloc[0] >= out["p90"].iloc[0]
    unseen = forecaster.cold_start({"tier": "diamond", "region": "Mars"}, 1)
    assert len(unseen) == 1
    with pytest.raises(ValueError, match="after the model's as-of"):
        forecaster.cold_start({"joined_on": "2030-01-01"}, 1)


def test_drivers_add_up_to_the_move_from_the_average_partner(forecaster) -> None:
    rows = forecaster.snapshot_rows(list(forecaster.partner_ids[:4]), 1)
    drivers = forecaster.drivers(rows, top=200)
    contrib = forecaster.bundle.contributions(rows)
    base = np.sinh(contrib["bias"].to_numpy()) * forecaster.bundle.scale
    median = np.sinh(contrib.sum(axis=1).to_numpy()) * forecaster.bundle.scale
    for d, b, m in zip(drivers, base, median, strict=True):
        assert sum(x["contribution"] for x in d) == pytest.approx(m - b, rel=1e-6, abs=1e-6)
        assert all(" " in x["feature"] or x["feature"].isalpha() for x in d)
    top = forecaster.drivers(rows, top=3)
    assert all(len(d) <= 3 for d in top)


def test_group_p50s_add_up_to_the_total(forecaster) -> None:
    by_region = forecaster.aggregate("region", 2)
    total = forecaster.aggregate("total", 2)
    partners = forecaster.forecast(None, 2)
    for h in (1, 2):
        t = total[total["horizon"] == h].iloc[0]
        assert by_region[by_region["horizon"] == h]["p50"].sum() == pytest.approx(t["p50"])
        assert t["p10"] <= t["p50"] <= t["p90"]
        # the total's interval is narrower than the sum of the partners' intervals
        p = partners[partners["horizon"] == h]
        assert t["p90"] - t["p10"] < (p["p90"] - p["p10"]).sum()
        assert p["p10"].sum() < t["p50"] < p["p90"].sum()
    with pytest.raises(ValueError, match="group_by"):
        forecaster.aggregate("country", 1)


def test_save_and_load_give_the_same_forecasts(forecaster, tmp_path) -> None:
    loaded = PartnerForecaster.load(forecaster.save(tmp_path / "f"))
    pd.testing.assert_frame_equal(loaded.forecast(None, 4), forecaster.forecast(None, 4))
    assert loaded.as_of == forecaster.as_of and loaded.rho == forecaster.rho
    pd.testing.assert_frame_equal(
        loaded.cold_start({"tier": "gold"}, 2), forecaster.cold_start({"tier": "gold"}, 2)
    )
