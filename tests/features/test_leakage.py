"""Leakage as a property: rows dated after t, deleted or altered, never move features as of t.

"After t" covers bookings, activities and incentives dated after t, opportunities created
after t (deleted), opportunities open at t that close later (status and closed_on altered,
or reopened), and partners that join after t (deleted with their rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from features.calendar import QuarterCalendar
from features.data import Dataset
from features.frames import build_features, build_forecast_frame, fit_feature_spec
from tests.features.builders import random_dataset

FIRST, LAST = pd.Timestamp("2022-01-01"), pd.Timestamp("2024-12-31")


def mutate_after(ds: Dataset, t: pd.Timestamp, seed: int) -> Dataset:
    """A copy where every row dated after ``t`` is deleted or altered at random."""
    rng = np.random.default_rng(seed)
    partners = ds.partners.loc[ds.partners["joined_on"] <= t]
    known = set(partners["partner_id"])

    def later(frame: pd.DataFrame, date: str) -> tuple[pd.DataFrame, np.ndarray]:
        frame = frame.loc[frame["partner_id"].isin(known)].reset_index(drop=True)
        after = (frame[date] > t).to_numpy()
        drop = after & (rng.random(len(frame)) < 0.5)
        frame = frame.loc[~drop].reset_index(drop=True)
        return frame, (frame[date] > t).to_numpy()

    bookings, after = later(ds.bookings, "booked_on")
    bookings.loc[after, "amount"] = bookings.loc[after, "amount"] * -3 + 7
    acts, after = later(ds.activities, "occurred_on")
    acts.loc[after, "activity"] = "brand_new"
    acts.loc[after, "quantity"] = 99.0
    incs, after = later(ds.incentives, "starts_on")
    incs.loc[after, "cost"] = 1e6
    incs.loc[after, "incentive"] = "mdf"

    opps = ds.opportunities
    opps = opps.loc[opps["partner_id"].isin(known) & (opps["created_on"] <= t)].copy()
    closes_later = (opps["closed_on"] > t).to_numpy()
    flip = closes_later & (rng.random(len(opps)) < 0.5)
    reopen = closes_later & ~flip
    status = opps["status"].to_numpy(dtype=object)
    status[flip] = np.where(status[flip] == "won", "lost", "won")
    status[reopen] = "open"
    opps["status"] = pd.array(status, dtype="string")
    opps.loc[flip, "closed_on"] = opps.loc[flip, "closed_on"] + pd.Timedelta(days=40)
    opps.loc[reopen, "closed_on"] = pd.NaT
    extra = bookings.head(1).assign(booked_on=t + pd.Timedelta(days=1), amount=123.0)
    return Dataset(
        partners=partners.reset_index(drop=True),
        bookings=pd.concat([bookings, extra], ignore_index=True),
        opportunities=opps.reset_index(drop=True),
        activities=acts,
        incentives=incs,
        present=ds.present,
    )


cutoffs = st.builds(
    lambda days, quarter_end: (
        QuarterCalendar().quarter_end(FIRST + pd.Timedelta(days=days))
        if quarter_end
        else FIRST + pd.Timedelta(days=days)
    ),
    st.integers(0, (LAST - FIRST).days - 100),
    st.booleans(),
)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), t=cutoffs, fy=st.sampled_from([1, 2]))
def test_features_ignore_everything_after_the_cutoff(seed, t, fy):
    ds = random_dataset(seed)
    spec = fit_feature_spec(ds, as_of=LAST, calendar=QuarterCalendar(fy))
    before = build_features(ds, as_of=t, spec=spec)
    after = build_features(mutate_after(ds, t, seed), as_of=t, spec=spec)
    pd.testing.assert_frame_equal(before, after)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), pick=st.integers(0, 100))
def test_forecast_frame_rows_only_see_their_past(seed, pick):
    """Rebuild the training frame on data altered after one cutoff c: every row with
    as_of <= c keeps its features (its target may change, it is in the future)."""
    ds = random_dataset(seed)
    spec = fit_feature_spec(ds, as_of=LAST, calendar=QuarterCalendar())
    full = build_forecast_frame(ds, spec=spec, data_end=LAST)
    cut = np.sort(full["as_of"].unique())
    c = pd.Timestamp(cut[pick % len(cut)])
    again = build_forecast_frame(
        mutate_after(ds, c, seed), spec=spec, cutoffs=list(cut), data_end=LAST
    )
    features = [col for col in full.columns if col != "target"]
    old = full.loc[full["as_of"] <= c, features].reset_index(drop=True)
    new = again.loc[again["as_of"] <= c, features].reset_index(drop=True)
    pd.testing.assert_frame_equal(old, new)


def test_closed_after_cutoff_counts_as_open():
    ds = random_dataset(11, n_rows=80)
    spec = fit_feature_spec(ds, as_of=LAST, calendar=QuarterCalendar())
    opps = ds.opportunities
    t = pd.Timestamp("2023-06-30")
    later = opps.loc[(opps["created_on"] <= t) & (opps["closed_on"] > t)]
    assert len(later)
    f = build_features(ds, as_of=t, spec=spec).set_index("partner_id")
    for pid, group in later.groupby("partner_id"):
        assert f.loc[pid, "open_count"] >= len(group)
