"""The synthetic channel world: contract shape, contract rules, and the stated properties.

Small worlds keep the file fast; the seeds are fixed, so the statistical checks are
deterministic and their thresholds leave a wide margin around the values observed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from features.data.dataset import COLUMNS, TABLES, dtype_of
from features.world.simulate import (
    NONE,
    World,
    WorldParams,
    best_incentives,
    simulate_world,
    world_summary,
    write_world,
)

CAL = QuarterCalendar()


@pytest.fixture(scope="module")
def world() -> World:
    return simulate_world(partners=800, quarters=12, seed=7)


def _quarter(dates: pd.Series) -> pd.Series:
    return CAL.quarter_start(dates)


# -- determinism and shape ------------------------------------------------------------


def test_same_seed_gives_identical_world_and_other_seed_differs() -> None:
    a = simulate_world(partners=120, quarters=6, seed=3)
    b = simulate_world(partners=120, quarters=6, seed=3)
    c = simulate_world(partners=120, quarters=6, seed=4)
    for name in TABLES:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
    for name in a.truth:
        pd.testing.assert_frame_equal(a.truth[name], b.truth[name])
    assert a.as_of == b.as_of == pd.Timestamp("2022-06-30")
    assert not a.tables["bookings"].equals(c.tables["bookings"])
    assert not a.tables["partners"]["tier"].equals(c.tables["partners"]["tier"])


def test_every_table_has_the_contract_columns_and_dtypes(world: World) -> None:
    assert set(world.tables) == set(TABLES)
    for name in TABLES:
        frame = world.tables[name]
        names = [c.name for c in COLUMNS[name]]
        assert list(frame.columns[: len(names)]) == names, name
        for column in COLUMNS[name]:
            assert str(frame[column.name].dtype) == dtype_of(column), (name, column.name)
        assert len(frame) > 0, name
    extras = list(world.tables["partners"].columns[len(COLUMNS["partners"]) :])
    assert extras == ["employees", "vertical_focus"]


def test_contract_rules_hold(world: World) -> None:
    t = world.tables
    partners, bookings, opps = t["partners"], t["bookings"], t["opportunities"]
    activities, incentives = t["activities"], t["incentives"]
    ids = set(partners["partner_id"])
    assert partners["partner_id"].is_unique and opps["opportunity_id"].is_unique
    assert partners["partner_id"].str.fullmatch(r"P\d{5}").all()
    assert opps["opportunity_id"].str.fullmatch(r"O\d{7}").all()
    for name in ("bookings", "opportunities", "activities", "incentives"):
        assert set(t[name]["partner_id"]) <= ids, name
        assert t[name]["partner_id"].notna().all(), name
    assert set(bookings["opportunity_id"].dropna()) <= set(opps["opportunity_id"])

    closed = opps["closed_on"].notna()
    assert (opps.loc[closed, "closed_on"] >= opps.loc[closed, "created_on"]).all()
    assert ((opps["status"] == "open") == ~closed).all()
    assert set(opps["status"]) == {"open", "won", "lost"}
    assert (opps["amount"] >= 0).all()
    assert (incentives["ends_on"] >= incentives["starts_on"]).all()
    assert (incentives["cost"] >= 0).all()
    assert (activities["quantity"] >= 0).all() and (activities["amount"] >= 0).all()

    # Nothing is dated after the as-of date; every date is a whole day.
    for name, column in [
        ("bookings", "booked_on"),
        ("opportunities", "created_on"),
        ("opportunities", "closed_on"),
        ("activities", "occurred_on"),
        ("incentives", "starts_on"),
        ("partners", "joined_on"),
    ]:
        dates = t[name][column].dropna()
        assert (dates <= world.as_of).all(), (name, column)
        assert (dates == dates.dt.normalize()).all(), (name, column)
    # No row before the partner joined.
    joined = partners.set_index("partner_id")["joined_on"]
    for name, column in [
        ("bookings", "booked_on"),
        ("opportunities", "created_on"),
        ("activities", "occurred_on"),
        ("incentives", "starts_on"),
    ]:
        frame = t[name]
        assert (frame[column].to_numpy() >= joined.loc[frame["partner_id"]].to_numpy()).all()
    # At most one incentive per partner and quarter.
    per_quarter = incentives.groupby(["partner_id", _quarter(incentives["starts_on"])]).size()
    assert per_quarter.max() == 1


def test_won_opportunity_bookings_match_their_deal(world: World) -> None:
    bookings, opps = world.tables["bookings"], world.tables["opportunities"]
    booked = bookings[bookings["amount"] > 0].groupby("opportunity_id")["amount"].sum()
    won = opps[opps["status"] == "won"].set_index("opportunity_id")["amount"]
    assert set(booked.index) == set(won.index)
    np.testing.assert_allclose(booked.loc[won.index], won, atol=0.02)
    first = bookings[bookings["amount"] > 0].groupby("opportunity_id")["booked_on"].min()
    closed = opps.set_index("opportunity_id")["closed_on"]
    assert (first == closed.loc[first.index]).all()


# -- stated properties ----------------------------------------------------------------


def test_most_revenue_comes_from_won_opportunities(world: World) -> None:
    amount = world.tables["bookings"]["amount"]
    share = amount[world.tables["bookings"]["opportunity_id"].notna()].sum() / amount.sum()
    assert 0.65 <= share <= 0.85


def test_credit_notes_exist_and_follow_earlier_revenue(world: World) -> None:
    bookings = world.tables["bookings"]
    notes = bookings[bookings["amount"] < 0]
    assert 0.005 <= len(notes) / len(bookings) <= 0.06
    first_sale = bookings[bookings["amount"] > 0].groupby("partner_id")["booked_on"].min()
    assert (notes["booked_on"].to_numpy() > first_sale.loc[notes["partner_id"]].to_numpy()).all()


def test_partners_join_throughout_and_ramp_up(world: World) -> None:
    joined = world.tables["partners"]["joined_on"]
    quarters = pd.date_range("2021-01-01", periods=12, freq="QS")
    assert (joined < quarters[0]).mean() > 0.3
    for start in quarters[-2:]:  # cold starts in the last quarters
        assert ((joined >= start) & (joined < start + pd.offsets.QuarterBegin())).sum() >= 5
    # New partners book less in their first full quarter than a year later.
    revenue = world.truth["revenue"].merge(world.tables["partners"][["partner_id", "joined_on"]])
    age = revenue["quarter_start"].dt.to_period("Q").astype("int64") - revenue[
        "joined_on"
    ].dt.to_period("Q").astype("int64")
    new = revenue["joined_on"] >= quarters[0]
    assert (
        revenue.loc[new & (age == 1), "revenue"].median()
        < revenue.loc[new & (age == 5), "revenue"].median()
    )


def test_some_partners_churn_out(world: World) -> None:
    latent = world.truth["partners"]
    churned = latent.loc[latent["churn_quarter"] < pd.Timestamp("2022-01-01"), "partner_id"]
    assert len(churned) >= 10
    late = world.tables["bookings"]
    late = late[late["booked_on"] >= pd.Timestamp("2023-01-01")]
    assert not set(churned) & set(late["partner_id"])
    assert set(churned) <= set(world.tables["partners"]["partner_id"])


def test_seasonality_differs_by_region(world: World) -> None:
    revenue = world.truth["revenue"].merge(world.tables["partners"][["partner_id", "region"]])
    revenue = revenue[revenue["revenue"] > 0]
    revenue["relative"] = revenue["revenue"] / revenue.groupby("partner_id")["revenue"].transform(
        "mean"
    )
    revenue["q"] = revenue["quarter_start"].dt.quarter
    profile = revenue.groupby(["region", "q"])["relative"].median().unstack()
    assert profile.loc["NA"].idxmax() == 4
    assert profile.loc["EMEA"].idxmin() == 3
    assert (profile.loc["NA"] - profile.loc["APAC"]).abs().max() > 0.15


def test_open_pipeline_predicts_next_quarter_revenue(world: World) -> None:
    opps, revenue = world.tables["opportunities"], world.truth["revenue"]
    correlations = []
    for q_end in pd.date_range("2022-01-01", periods=6, freq="QS") - pd.Timedelta(days=1):
        open_at = (opps["created_on"] <= q_end) & (
            opps["closed_on"].isna() | (opps["closed_on"] > q_end)
        )
        pipeline = opps[open_at].groupby("partner_id")["amount"].sum()
        following = revenue[revenue["quarter_start"] == q_end + pd.Timedelta(days=1)]
        following = following.set_index("partner_id")["revenue"]
        pair = pd.DataFrame({"pipeline": pipeline, "next": following}).dropna(subset="next")
        correlations.append(pair.fillna(0.0).corr(method="spearman").iloc[0, 1])
    assert np.mean(correlations) > 0.5


def test_pipeline_open_at_as_of_is_as_complete_as_at_earlier_quarter_ends(world: World) -> None:
    opps, revenue = world.tables["opportunities"], world.truth["revenue"]

    def coverage(cut: pd.Timestamp) -> float:
        still_open = opps["closed_on"].isna() | (opps["closed_on"] > cut)
        open_at = (opps["created_on"] <= cut) & still_open
        trailing = revenue[
            (revenue["quarter_start"] <= cut)
            & (revenue["quarter_start"] > cut - pd.DateOffset(years=1))
        ]
        return opps.loc[open_at, "amount"].sum() / trailing["revenue"].sum()

    earlier = [coverage(world.as_of - pd.offsets.QuarterEnd(k)) for k in range(1, 7)]
    assert 0.75 < coverage(world.as_of) / np.mean(earlier) < 1.3


def test_win_rates_rise_with_lagged_engagement(world: World) -> None:
    acts = world.tables["activities"]
    skill = acts[acts["activity"].isin(["training_completed", "certification_earned"])]
    engaged = skill.groupby(["partner_id", _quarter(skill["occurred_on"])]).size()
    engaged = engaged.rename("events").rename_axis(["partner_id", "quarter_start"]).reset_index()
    opps = world.tables["opportunities"]
    closed = opps[opps["status"] != "open"].copy()
    closed["quarter_start"] = _quarter(closed["closed_on"]) - pd.offsets.QuarterBegin(
        1, startingMonth=1
    )  # engagement of the previous quarter
    closed = closed.merge(engaged, on=["partner_id", "quarter_start"], how="left")
    closed["events"] = closed["events"].fillna(0)
    won = closed["status"] == "won"
    assert won[closed["events"] >= 3].mean() > won[closed["events"] == 0].mean() + 0.05


def test_incentive_assignment_is_confounded_except_when_randomized(world: World) -> None:
    decisions = world.truth["assignments"].merge(world.truth["partners"][["partner_id", "size_z"]])
    treated = decisions["incentive"] != NONE
    policy, random = ~decisions["randomized"], decisions["randomized"]
    gap_policy = (
        decisions.loc[policy & treated, "size_z"].mean()
        - decisions.loc[policy & ~treated, "size_z"].mean()
    )
    gap_random = (
        decisions.loc[random & treated, "size_z"].mean()
        - decisions.loc[random & ~treated, "size_z"].mean()
    )
    assert gap_policy > 0.5
    assert abs(gap_random) < 0.25
    assert 0.08 <= random.mean() <= 0.16
    # Randomized grants are flagged in the contract table too.
    incentives = world.tables["incentives"]
    assert incentives["randomized"].any() and not incentives["randomized"].all()


def test_true_best_incentive_differs_across_partners(world: World) -> None:
    effects = world.truth["incentive_effects"]
    horizon = effects[effects["horizon"] == 1]
    assert (horizon["quarter_start"] == world.as_of + pd.Timedelta(days=1)).all()
    best = best_incentives(horizon)
    shares = best["incentive"].value_counts(normalize=True)
    assert NONE in shares.index and len(shares) >= 3
    assert shares.max() < 0.6
    usual = world.tables["incentives"].query("~randomized")["incentive"].mode().iloc[0]
    assert shares.get(usual, 0.0) < 0.5  # the historical favourite is not best for most
    # Some incentives harm some partners.
    assert (effects.loc[effects["incentive"] != NONE, "expected_uplift"] < 0).any()


def test_incentive_effects_truth_is_complete_and_consistent(world: World) -> None:
    effects = world.truth["incentive_effects"]
    options = {NONE, *WorldParams().incentive_names}
    per_key = effects.groupby(["partner_id", "quarter_start"])["incentive"].agg(frozenset)
    assert per_key.map(lambda found: found == options).all()
    assert sorted(effects["horizon"].unique()) == [-3, -2, -1, 0, 1]
    none = effects[effects["incentive"] == NONE]
    assert (none["expected_uplift"] == 0).all() and (none["expected_cost"] == 0).all()
    assert (effects["expected_cost"] >= 0).all() and (effects["expected_revenue"] >= 0).all()


def test_truth_revenue_equals_summed_bookings(world: World) -> None:
    bookings = world.tables["bookings"]
    summed = bookings.groupby(["partner_id", _quarter(bookings["booked_on"])])["amount"].sum()
    truth = world.truth["revenue"].set_index(["partner_id", "quarter_start"])["revenue"]
    summed = summed.reindex(truth.index, fill_value=0.0)
    np.testing.assert_allclose(truth.to_numpy(), summed.to_numpy(), atol=0.01)
    assert len(truth) > len(bookings.groupby(["partner_id", _quarter(bookings["booked_on"])]))
    # The structural expectation is unbiased for the realised revenue overall.
    ratio = (
        world.truth["revenue"]["revenue"].sum() / world.truth["revenue"]["expected_revenue"].sum()
    )
    assert 0.85 < ratio < 1.15


def test_mdf_grants_leave_claims(world: World) -> None:
    acts = world.tables["activities"]
    claims = acts[acts["activity"] == "mdf_claim"]
    assert len(claims) > 0 and (claims["amount"] > 0).all()
    mdf = set(world.tables["incentives"].query("incentive == 'mdf'")["partner_id"])
    assert set(claims["partner_id"]) <= mdf


# -- files and summary ----------------------------------------------------------------


def test_write_world_writes_tables_and_truth(tmp_path: Path) -> None:
    small = simulate_world(partners=80, quarters=6, seed=11)
    write_world(small, tmp_path)
    for name in TABLES:
        frame = pd.read_csv(tmp_path / f"{name}.csv")
        assert list(frame.columns) == list(small.tables[name].columns)
        assert len(frame) == len(small.tables[name])
    for name in small.truth:
        assert (tmp_path / "_truth" / f"{name}.csv").is_file()
    meta = json.loads((tmp_path / "_truth" / "world.json").read_text())
    assert meta["as_of"] == "2022-06-30" and meta["seed"] == 11
    assert not list(tmp_path.rglob("*.tmp"))
    line = (tmp_path / "opportunities.csv").read_text().splitlines()[1]
    assert "-" in line and ":" not in line  # ISO dates, no times


def test_written_world_loads_through_the_loader(tmp_path: Path) -> None:
    loader = pytest.importorskip("features.data.loader")
    small = simulate_world(partners=80, quarters=6, seed=11)
    write_world(small, tmp_path)
    dataset = loader.load_dataset(tmp_path)
    assert dataset.present == frozenset(TABLES)
    for name in TABLES:
        names = [c.name for c in COLUMNS[name]]
        pd.testing.assert_frame_equal(dataset.table(name)[names], small.tables[name][names])


def test_summary_of_a_world_is_json_ready(world: World) -> None:
    summary = world_summary(world)
    json.dumps(summary)
    assert summary["rows"]["partners"] == 800
    assert 0.65 <= summary["won_opportunity_revenue_share"] <= 0.85
    assert (
        summary["confounding_mean_size"]["policy_treated"]
        > summary["confounding_mean_size"]["policy_untreated"]
    )
    assert NONE in summary["best_incentive_share_horizon"]


def test_default_world_is_fast_and_plausible() -> None:
    began = time.perf_counter()
    default = simulate_world()
    assert time.perf_counter() - began < 30
    summary = world_summary(default)
    assert summary["rows"]["partners"] == 2000
    assert default.as_of == pd.Timestamp("2025-12-31")
    annual = summary["annual_revenue_last_year"]
    assert 20_000 < annual["median"] < 2_000_000 and annual["max"] > 5_000_000
    assert 0.4 < summary["top10pct_partner_revenue_share"] < 0.85


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="at least"):
        simulate_world(partners=0)
