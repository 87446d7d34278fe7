"""One partner's scorecard: the numbers, as a pure function of the dataset and the date.

:func:`scorecard_data` gathers, for one partner as of a date, small frames a channel manager
reads at a glance: revenue per quarter (with credit notes), the pipeline as it stood at each
quarter end, activities and incentives per quarter, a few headline numbers and, given a
forecaster, the forecast fan for the next four quarters. It uses the features' own
point-in-time code (``features.families.windows``, ``features.families.panel``,
``features.families.pipeline_signals``, ``features.families.engagement``), so nothing
dated after the as-of date can reach it and the numbers
agree with what the models see. ``training.reports.scorecard_figure`` draws them.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.calendar import QuarterCalendar
from features.data import BadInput, Dataset, incentive_grants
from features.families import build_engagement, build_pipeline_signals, revenue_events
from features.families.vocabulary import learn_vocabulary, slugs
from features.families.windows import CutoffGrid, to_days, window_sums

if TYPE_CHECKING:
    from features.scoring import PartnerForecaster

log = logging.getLogger(__name__)

FORECAST_QUARTERS = 4
HEADLINE_QUARTERS = 8  # trailing four complete quarters and the four before them
PARTNER_FIELDS = ("partner_id", "name", "tier", "partner_type", "region", "joined_on")
ACTIVITY_DTYPES = {"quarter_start": "datetime64[ns]", "activity": "string", "quantity": "float64"}
QUARTER_COLUMNS = [
    "quarter_start",
    "label",
    "complete",
    "revenue",
    "positive",
    "credit",
    "open_amount",
    "created_amount",
    "won_amount",
    "opps_created",
    "opps_won",
]


@dataclass(frozen=True)
class Headline:
    """The numbers in the scorecard's header (money in the dataset's currency)."""

    last_complete_label: str | None  # None when no quarter has completed since joining
    revenue_last_complete: float
    trailing_4q: float
    prior_4q: float
    change_4q: float | None  # trailing vs prior four quarters; None when the prior is 0
    open_pipeline: float
    trailing_quarters_joined: int  # how many of the trailing four the partner was one in


@dataclass(frozen=True)
class ScorecardData:
    """Everything the scorecard shows, as small frames; quarters run oldest first.

    ``quarters``: one row per quarter shown (from the later of the join quarter and N-1
    quarters before as-of, to the quarter containing as-of, ``complete`` False when as-of
    falls inside it): revenue and its positive / credit-note parts, the open pipeline at the
    quarter's end (at as-of for the last), pipeline created and won in the quarter.
    ``activities``: ``quarter_start, activity, quantity`` for non-zero quantities.
    ``incentives``: ``quarter_start, starts_on, incentive, cost``, one row per grant.
    ``forecast``: ``quarter_start, label, horizon, p10, p50, p90`` or None.
    """

    partner: dict[str, Any]
    as_of: pd.Timestamp
    calendar: QuarterCalendar
    history_slots: int  # quarters of history asked for (``quarters`` may hold fewer)
    quarters: pd.DataFrame
    activities: pd.DataFrame
    incentives: pd.DataFrame
    headline: Headline
    forecast: pd.DataFrame | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def check_partner(ds: Dataset, partner_id: str, as_of: pd.Timestamp) -> pd.Series:
    """The partner's row; unknown ids and partners that joined after as-of are bad input."""
    ids = ds.partners["partner_id"].astype(str)
    match = ds.partners[ids == partner_id]
    if match.empty:
        close = difflib.get_close_matches(partner_id, ids.tolist(), n=5, cutoff=0.6)
        hint = (
            f"close matches: {', '.join(close)}"
            if close
            else f"ids look like {', '.join(sorted(ids)[:3])}"
        )
        raise BadInput(f"unknown partner {partner_id!r} ({hint})")
    row = match.iloc[0]
    if row["joined_on"] > as_of:
        raise BadInput(
            f"partner {partner_id} joined on {row['joined_on'].date()}, after the as-of date "
            f"{as_of.date()}: it has no scorecard then"
        )
    return row


def partner_slice(ds: Dataset, partner_id: str) -> Dataset:
    """The dataset cut down to one partner's rows (its features never depend on others')."""

    def own(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["partner_id"].astype(str) == partner_id].reset_index(drop=True)

    return replace(
        ds,
        partners=own(ds.partners),
        bookings=own(ds.bookings),
        opportunities=own(ds.opportunities),
        activities=own(ds.activities),
        incentives=own(ds.incentives),
    )


def scorecard_data(
    ds: Dataset,
    partner_id: str,
    *,
    as_of: pd.Timestamp | str | None = None,
    calendar: QuarterCalendar,
    quarters: int = 8,
    forecaster: PartnerForecaster | None = None,
) -> ScorecardData:
    """The scorecard of ``partner_id`` as of ``as_of`` (default: the data's last date)."""
    as_of = ds.as_of(as_of)
    row = check_partner(ds, partner_id, as_of)
    own = partner_slice(ds, partner_id)
    ids = pd.Index([partner_id], dtype="string")
    as_of_day = to_days(np.array([as_of]))[0]
    q0 = int(calendar.quarter_index_days(as_of_day))
    join_q = int(calendar.quarter_index_days(to_days(np.array([row["joined_on"]]))[0]))
    shown = np.arange(max(join_q, q0 - quarters + 1), q0 + 1)
    complete = calendar.end_days(shown) <= as_of_day

    frame = _revenue(own, ids, calendar, as_of_day, q0, shown)
    frame.insert(0, "quarter_start", calendar.start_days(shown).astype("datetime64[ns]"))
    frame.insert(1, "label", list(calendar.label(frame["quarter_start"])))
    frame.insert(2, "complete", complete)

    cutoffs = np.minimum(calendar.end_days(shown), as_of_day)
    grid = CutoffGrid.build(calendar, ids, np.zeros(len(shown), dtype=np.int64), cutoffs)
    pipe = build_pipeline_signals(own, grid, win_rate_prior_strength=0.0)
    frame["open_amount"] = pipe["open_amount"].to_numpy()
    frame["created_amount"] = pipe["created_amount_1q"].to_numpy()
    frame["won_amount"] = pipe["won_amount_1q"].to_numpy()
    frame["opps_created"] = pipe["opps_created_1q"].to_numpy()
    frame["opps_won"] = pipe["opps_won_1q"].to_numpy()

    forecast = None
    if forecaster is not None:
        model_month = forecaster.spec.fy_start_month
        if model_month != calendar.fy_start_month:
            raise ValueError(
                f"the forecaster's quarters start with fiscal month {model_month}, "
                f"the scorecard's with {calendar.fy_start_month}"
            )
        forecast = partner_forecast(forecaster, ds, partner_id, as_of=as_of)
        forecast.insert(1, "label", list(calendar.label(forecast["quarter_start"])))
    return ScorecardData(
        partner={k: row.get(k) for k in PARTNER_FIELDS},
        as_of=as_of,
        calendar=calendar,
        history_slots=quarters,
        quarters=frame[QUARTER_COLUMNS],
        activities=_activities(own, grid, shown, calendar),
        incentives=_incentives(own, calendar, as_of, shown),
        headline=_headline(own, ids, calendar, as_of_day, q0, join_q, frame),
        forecast=forecast,
    )


def partner_forecast(
    forecaster: PartnerForecaster, ds: Dataset, partner_id: str, *, as_of: pd.Timestamp
) -> pd.DataFrame:
    """The forecaster's P10/P50/P90 for the partner's next four quarters, from fresh features.

    Features are built for every partner (segment win rates need them all), then the
    partner's rows are scored single-threaded.
    """
    rows = forecaster.scoring_rows(ds, as_of=as_of, horizon=FORECAST_QUARTERS)
    rows = rows[rows["partner_id"].astype(str) == partner_id]
    scored = forecaster.score(rows, num_threads=1)
    return scored.drop(columns="partner_id").reset_index(drop=True)


# -- the pieces ---------------------------------------------------------------------------
def _quarter_sums(
    own: Dataset, ids: pd.Index, calendar: QuarterCalendar, as_of_day: np.datetime64, n: int
) -> dict[str, np.ndarray]:
    """Revenue sums of quarters q0, q0-1, ..., q0-n+1 (q0 up to as-of), as the features do."""
    grid = CutoffGrid.build(calendar, ids, np.zeros(1, dtype=np.int64), np.array([as_of_day]))
    return {k: v[0] for k, v in window_sums(grid, revenue_events(own, ids), n).items()}


def _revenue(own, ids, calendar, as_of_day, q0, shown) -> pd.DataFrame:
    sums = _quarter_sums(own, ids, calendar, as_of_day, q0 - int(shown[0]) + 1)
    back = q0 - shown  # window column of each shown quarter
    return pd.DataFrame(
        {
            "revenue": sums["revenue"][back],
            "positive": sums["positive"][back],
            "credit": -sums["credit"][back],  # drawn below zero
        }
    )


def _headline(own, ids, calendar, as_of_day, q0, join_q, frame) -> Headline:
    last_complete = q0 if calendar.end_days(q0) <= as_of_day else q0 - 1
    n = q0 - (last_complete - HEADLINE_QUARTERS + 1) + 1
    revenue = _quarter_sums(own, ids, calendar, as_of_day, n)["revenue"]
    quarter = q0 - np.arange(n)
    revenue = np.where(quarter >= join_q, revenue, 0.0)  # a partner has no revenue before joining
    first = q0 - last_complete  # window column of the last complete quarter
    trailing = float(revenue[first : first + 4].sum())
    prior = float(revenue[first + 4 : first + 8].sum())
    has_complete = last_complete >= join_q
    return Headline(
        last_complete_label=(
            calendar.label(calendar.index_to_start(last_complete)) if has_complete else None
        ),
        revenue_last_complete=float(revenue[first]) if has_complete else 0.0,
        trailing_4q=trailing,
        prior_4q=prior,
        change_4q=(trailing - prior) / abs(prior) if prior != 0 else None,
        open_pipeline=float(frame["open_amount"].iloc[-1]),
        trailing_quarters_joined=int(np.clip(last_complete - join_q + 1, 0, 4)),
    )


def _activities(own: Dataset, grid: CutoffGrid, shown: np.ndarray, calendar) -> pd.DataFrame:
    """Activity quantity per quarter and type; only types seen on or before as-of."""
    acts = own.activities
    known = acts[acts["occurred_on"] <= pd.Timestamp(grid.as_of.max())]
    vocabulary = learn_vocabulary(known["activity"])
    if not vocabulary:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in ACTIVITY_DTYPES.items()})
    eng = build_engagement(own, grid, activity_types=vocabulary, amount_types=())
    starts = calendar.start_days(shown).astype("datetime64[ns]")
    parts = [
        pd.DataFrame(
            {
                "quarter_start": starts,
                "activity": kind,
                "quantity": eng[f"activity_{slug}_qty_1q"].to_numpy(),
            }
        )
        for kind, slug in slugs(vocabulary).items()
    ]
    out = pd.concat(parts, ignore_index=True)
    out = out[out["quantity"] != 0].sort_values(["quarter_start", "activity"], ignore_index=True)
    return out.astype(ACTIVITY_DTYPES)


def _incentives(own: Dataset, calendar, as_of: pd.Timestamp, shown: np.ndarray) -> pd.DataFrame:
    """Incentives granted (started) on or before as-of in the quarters shown (a `none`
    holdout row grants nothing)."""
    inc = incentive_grants(own.incentives)
    inc = inc[inc["starts_on"] <= as_of]
    q = calendar.quarter_index_days(to_days(inc["starts_on"]))
    keep = (q >= shown[0]) & (q <= shown[-1])
    inc, q = inc[keep], q[keep]
    out = pd.DataFrame(
        {
            "quarter_start": calendar.start_days(q).astype("datetime64[ns]"),
            "starts_on": inc["starts_on"].to_numpy(),
            "incentive": inc["incentive"].astype("string").to_numpy(),
            "cost": inc["cost"].to_numpy(dtype=np.float64),
        }
    )
    return out.sort_values(["starts_on", "incentive"], ignore_index=True)
