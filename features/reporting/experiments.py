"""Reading a past randomized test: what each incentive did, and how well the model knew it.

The units are the ``incentives`` rows with ``randomized = true``: partners drawn at random
for an incentive or for the ``none`` holdout (the control arm, DATA_CONTRACT.md), each in
the quarter that contains its ``starts_on``. Only those rows are used, so the answer holds
whatever confounds the rest of the history; the test's quarter must be complete (its end
on or before the data's last date).

**Outcome.** Revenue relative to expected revenue, ``revenue / expected - 1``, where the
expected revenue is the sales-ops planning estimate as of the day before the tested
quarter starts (run-rate revenue plus the open pipeline due in the quarter times the
partner's win rate, :mod:`features.families.heuristics`, the forecaster's own baseline):
point in time, and the same rule for every arm. It is a control variate: randomization
makes any baseline unbiased, and one that tracks each partner's quarter removes most of
the spread (on the heterogeneous world, 887 holdout partner-quarters: weighted SD of the
outcome 0.99 with it, 1.64 with the trailing four-quarter mean, 0.90 with the world's own
true expectation). The estimate is floored at a tenth of the quarter's median estimate
(:func:`floor_expected`; no estimate at all counts as 0): a partner expected to sell 6
against a median of 30,000 would otherwise turn one deal into an outcome of +2,500 and
swamp every interval. Any floor keeps the estimate unbiased (the same rule in every arm);
``floored`` counts the units it lifted.

**Effect.** Per quarter, incentive and segment: weighted least squares of the outcome on
an indicator of the incentive, over its partners and the ``none`` partners, weights the
expected revenue. The coefficient is ``sum(revenue - expected) / sum(expected)`` of the
treated minus the same of the control: the extra revenue per unit of expected revenue.
95 % intervals are partner-clustered (:func:`features.reporting.clustered.clustered_wls`).
Segments are ``all`` and ``partner_type=...``, ``tier=...``, ``region=...``; a segment
row needs :data:`MIN_SEGMENT_ARM` partners in each arm (``all`` rows need 2).

**Calibration.** Among randomized partners, per incentive, the outcome on quarter effects,
the predicted uplift ``p`` of that incentive relative to the same expected revenue (for
treated and control partners alike), the treatment indicator D and D * p
(:func:`experiment_calibration`): ``slope`` (1 when the predictions are right in scale) and
``intercept`` (0 when nothing is left unexplained at zero predicted uplift), partner-
clustered 95 % intervals. The predictions are whatever the caller passes: the CLI and the
API pass the champion's scoring tables (as of its training date), the training job
passes its new model's predictions as of the tested quarter's start.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.calendar import QuarterCalendar
from features.data import BadInput, Dataset, is_holdout
from features.families.heuristics import sales_ops_estimate
from features.families.panel import quarter_revenue, sorted_partner_ids
from features.families.pipeline_signals import build_pipeline_signals
from features.families.revenue_history import build_revenue_history
from features.families.windows import CutoffGrid, to_days
from features.names import NONE
from features.reporting.clustered import clustered_wls

log = logging.getLogger(__name__)

REPORT_COLUMNS = [
    "quarter_start",
    "incentive",
    "segment",
    "effect",
    "ci_low",
    "ci_high",
    "n_treated",
    "n_control",
]
SEGMENT_COLUMNS: tuple[str, ...] = ("partner_type", "tier", "region")
MIN_SEGMENT_ARM = 20  # partners per arm before a segment gets its own row
FLOOR_SHARE = 0.1  # expected revenue floor: this share of the quarter's median estimate
WIN_RATE_PRIOR = 10.0  # the feature spec's default shrinkage of win rates


class ExperimentError(BadInput):
    """Data or a request a test cannot be read from; the message names what to fix."""


@dataclass(frozen=True)
class Calibration:
    """Predicted uplift against measured effect among randomized partners."""

    slope: float
    intercept: float
    slope_ci: tuple[float, float]
    intercept_ci: tuple[float, float]
    n_treated: int
    n_control: int

    @classmethod
    def empty(cls, n_treated: int = 0, n_control: int = 0) -> Calibration:
        nan = float("nan")
        return cls(nan, nan, (nan, nan), (nan, nan), n_treated, n_control)

    def metrics(self, prefix: str = "experiment_calibration_") -> dict[str, float]:
        """Flat numbers for MLflow (NaN left out by the caller)."""
        return {
            f"{prefix}slope": self.slope,
            f"{prefix}slope_ci_low": self.slope_ci[0],
            f"{prefix}slope_ci_high": self.slope_ci[1],
            f"{prefix}intercept": self.intercept,
            f"{prefix}intercept_ci_low": self.intercept_ci[0],
            f"{prefix}intercept_ci_high": self.intercept_ci[1],
            f"{prefix}n_treated": float(self.n_treated),
        }


@dataclass(frozen=True)
class ExperimentReport:
    effects: pd.DataFrame  # REPORT_COLUMNS
    calibration: Calibration
    units: pd.DataFrame  # one row per randomized partner, arm and quarter
    floored: int  # randomized units whose expected revenue was lifted to the floor


def expected_revenue(
    ds: Dataset, partner_ids: np.ndarray, *, as_of: pd.Timestamp, calendar: QuarterCalendar
) -> np.ndarray:
    """The sales-ops estimate of each partner's revenue in the quarter after ``as_of``
    (:func:`features.families.heuristics.sales_ops_estimate`), from data dated on or
    before ``as_of``; aligned with ``partner_ids`` (ids not in ``partners`` get NaN)."""
    ids = sorted_partner_ids(ds)
    code = ids.get_indexer(pd.Index(np.asarray(partner_ids, dtype=object)))
    out = np.full(len(code), np.nan)
    known = np.flatnonzero(code >= 0)
    if len(known) == 0:
        return out
    day = to_days(np.array([pd.Timestamp(as_of)]))[0]
    grid = CutoffGrid.build(calendar, ids, code[known], np.full(len(known), day))
    frame = pd.concat(
        [
            build_revenue_history(ds, grid).reset_index(drop=True),
            build_pipeline_signals(ds, grid, win_rate_prior_strength=WIN_RATE_PRIOR),
        ],
        axis=1,
    )
    estimate = sales_ops_estimate(frame, np.ones(len(grid), dtype=np.int64))["sales_ops_estimate"]
    rows = grid.row_lookup(code[known], np.zeros(len(known), dtype=np.int64))
    out[known] = estimate[rows]
    return out


def floor_expected(expected: np.ndarray) -> np.ndarray:
    """Expected revenues lifted to :data:`FLOOR_SHARE` of their median positive value
    (NaN and values below the floor get the floor; 1.0 when nothing is positive)."""
    values = np.nan_to_num(np.asarray(expected, dtype=np.float64), nan=0.0)
    positive = values[values > 0]
    floor = FLOOR_SHARE * float(np.median(positive)) if len(positive) else 1.0
    return np.maximum(values, floor)


def _example_lines(frame: pd.DataFrame, limit: int = 5) -> str:
    return ", ".join(f"line {int(i) + 2}" for i in frame.index[:limit])


def randomized_units(ds: Dataset, calendar: QuarterCalendar) -> tuple[pd.DataFrame, int]:
    """Randomized partner-quarter-arm units of complete quarters with outcome and weight."""
    if "incentives" not in ds.present or ds.incentives.empty:
        raise ExperimentError(
            "incentives: the table is missing or empty; a test is read from its rows with "
            "randomized = true (incentives.csv, see the data contract)"
        )
    inc = ds.incentives
    rows = inc[inc["randomized"].fillna(False).astype(bool)]
    if rows.empty:
        raise ExperimentError(
            f"incentives, column randomized: none of the {len(inc)} rows is true; a test "
            "needs randomized rows, including incentive = none rows for the control arm"
        )
    last_q = calendar.quarter_index(ds.last_date)
    complete_last = last_q if ds.last_date >= calendar.quarter_end(ds.last_date) else last_q - 1
    q = np.asarray(calendar.quarter_index(rows["starts_on"]))
    arm = np.where(is_holdout(rows), NONE, rows["incentive"].astype(str).str.strip())
    units = pd.DataFrame(
        {"partner_id": rows["partner_id"].astype(str).to_numpy(), "q": q, "arm": arm},
        index=rows.index,
    )
    units = units[units["q"] <= complete_last]
    if units.empty:
        raise ExperimentError(
            f"incentives: the {len(rows)} randomized rows ({_example_lines(rows)}) all start "
            f"in a quarter not complete by the data's last date {ds.last_date.date()}"
        )
    units = units.drop_duplicates(["partner_id", "q", "arm"])
    ids = sorted_partner_ids(ds)
    frames = []
    for quarter, part in units.groupby("q", sort=True):
        revenue = quarter_revenue(ds, ids, calendar, int(quarter), int(quarter))[:, 0]
        start = pd.Timestamp(calendar.index_to_start(int(quarter)))
        expected = expected_revenue(
            ds, part["partner_id"].to_numpy(), as_of=start - pd.Timedelta(days=1), calendar=calendar
        )
        at = ids.get_indexer(part["partner_id"])
        frames.append(part.assign(revenue=revenue[at], expected_revenue=expected))
    units = pd.concat(frames)
    attrs = ds.partners.set_index(ds.partners["partner_id"].astype(str))
    for column in SEGMENT_COLUMNS:
        if column in attrs.columns:
            units[column] = attrs[column].reindex(units["partner_id"]).astype(object).to_numpy()
        else:
            units[column] = None
    units["quarter_start"] = pd.DatetimeIndex(calendar.index_to_start(units["q"].to_numpy()))
    units["floored"] = False
    for _, part in units.groupby("quarter_start"):
        lifted = floor_expected(part["expected_revenue"].to_numpy())
        units.loc[part.index, "floored"] = lifted != part["expected_revenue"].to_numpy()
        units.loc[part.index, "expected_revenue"] = lifted
    units["outcome"] = units["revenue"] / units["expected_revenue"] - 1.0
    return units.drop(columns="q").reset_index(drop=True), int(units["floored"].sum())


def _effect_row(part: pd.DataFrame, arm: str, minimum: int) -> dict | None:
    treated = part["arm"].eq(arm).to_numpy()
    control = part["arm"].eq(NONE).to_numpy()
    n_t, n_c = int(treated.sum()), int(control.sum())
    if n_t < minimum or n_c < minimum:
        return None
    rows = part[treated | control]
    quarters = pd.get_dummies(rows["quarter_start"]).to_numpy(float)  # one column per quarter
    x = np.column_stack([quarters, rows["arm"].eq(arm).to_numpy(float)])
    try:
        fit = clustered_wls(
            rows["outcome"].to_numpy(), x, rows["expected_revenue"].to_numpy(), rows["partner_id"]
        )
    except ValueError:  # an arm only in quarters without the other: nothing to compare
        return None
    return {
        "effect": float(fit.coef[-1]),
        "ci_low": float(fit.ci_low[-1]),
        "ci_high": float(fit.ci_high[-1]),
        "n_treated": n_t,
        "n_control": n_c,
    }


def experiment_effects(
    units: pd.DataFrame, *, min_segment: int = MIN_SEGMENT_ARM, pooled: bool = False
) -> pd.DataFrame:
    """One row per quarter (or, ``pooled``, for all quarters at once, with quarter
    effects), incentive and segment with enough partners: REPORT_COLUMNS plus
    ``last_quarter_start`` and ``quarters`` (how many quarters the row pools)."""
    records = []
    arms = sorted(a for a in units["arm"].unique() if a != NONE)
    periods = [units] if pooled else [g for _, g in units.groupby("quarter_start", sort=True)]
    for period in periods:
        first, last = period["quarter_start"].min(), period["quarter_start"].max()
        segments = [("all", period, 2)]
        for column in SEGMENT_COLUMNS:
            for value, part in period.groupby(column, sort=True):
                segments.append((f"{column}={value}", part, max(min_segment, 2)))
        for arm in arms:
            for segment, part, minimum in segments:
                row = _effect_row(part, arm, minimum)
                if row is not None:
                    records.append(
                        {
                            "quarter_start": first,
                            "incentive": arm,
                            "segment": segment,
                            **row,
                            "last_quarter_start": last,
                            "quarters": int(period["quarter_start"].nunique()),
                        }
                    )
    columns = [*REPORT_COLUMNS, "last_quarter_start", "quarters"]
    return pd.DataFrame.from_records(records, columns=columns)


def predicted_uplifts(units: pd.DataFrame, options: pd.DataFrame) -> pd.DataFrame:
    """Each unit's predicted uplift of every incentive (columns named by incentive; NaN
    where the model has none), from a frame with ``partner_id``, ``uplift_<incentive>``
    and optionally ``quarter_start`` (then matched per quarter)."""
    keys = ["partner_id"] + (["quarter_start"] if "quarter_start" in options.columns else [])
    columns = [c for c in options.columns if c.startswith("uplift_")]
    table = options[[*keys, *columns]].assign(partner_id=options["partner_id"].astype(str))
    table = table.drop_duplicates(keys)
    merged = units[keys].merge(table, on=keys, how="left")
    return merged[columns].set_axis([c[len("uplift_") :] for c in columns], axis=1)


def experiment_calibration(units: pd.DataFrame, options: pd.DataFrame | None) -> Calibration:
    """Slope and intercept of the measured effect on the predicted relative uplift.

    One block per incentive (its treated partners and every control, controls shared
    between blocks and clustered by partner): the outcome on block-by-quarter effects,
    the predicted relative uplift ``p`` of that incentive for every partner in the block
    (a main effect per block, which absorbs any link between ``p`` and the partner's
    untreated outcome), D and D * p. ``intercept`` is D's coefficient, ``slope`` D * p's.
    """
    n_control = int(units["arm"].eq(NONE).sum())
    if options is None or units.empty:
        return Calibration.empty(0, n_control)
    predicted = predicted_uplifts(units, options).div(units["expected_revenue"].to_numpy(), axis=0)
    blocks = []
    for name in predicted.columns:
        in_block = units["arm"].isin([name, NONE]).to_numpy()
        p = predicted[name].to_numpy()
        keep = in_block & np.isfinite(p)
        if not (units["arm"].to_numpy()[keep] == name).any():
            continue
        block = units[keep].assign(p=p[keep], block=name)
        blocks.append(block.assign(cell=block["block"] + "|" + block["quarter_start"].astype(str)))
    if not blocks:
        return Calibration.empty(0, n_control)
    rows = pd.concat(blocks, ignore_index=True)
    treated = rows["arm"].ne(NONE).to_numpy(float)
    n_treated = int(treated.sum())
    cells = pd.get_dummies(rows["cell"]).to_numpy(float)
    mains = pd.get_dummies(rows["block"]).to_numpy(float) * rows["p"].to_numpy()[:, None]
    mains = mains[:, np.abs(mains).sum(axis=0) > 0]  # an incentive predicted at 0 for all
    x = np.column_stack([cells, mains, treated, treated * rows["p"].to_numpy()])
    try:
        fit = clustered_wls(
            rows["outcome"].to_numpy(), x, rows["expected_revenue"].to_numpy(), rows["partner_id"]
        )
    except ValueError as exc:
        log.info("no calibration: %s", exc)
        return Calibration.empty(n_treated, n_control)
    return Calibration(
        slope=float(fit.coef[-1]),
        intercept=float(fit.coef[-2]),
        slope_ci=(float(fit.ci_low[-1]), float(fit.ci_high[-1])),
        intercept_ci=(float(fit.ci_low[-2]), float(fit.ci_high[-2])),
        n_treated=n_treated,
        n_control=n_control,
    )


def read_experiment(
    ds: Dataset,
    *,
    calendar: QuarterCalendar,
    options: pd.DataFrame | None = None,
    quarter_start: pd.Timestamp | str | None = None,
    min_segment: int = MIN_SEGMENT_ARM,
    pooled: bool = False,
) -> ExperimentReport:
    """Effects and calibration of every randomized quarter, or of ``quarter_start``'s;
    ``pooled``: one set of effects over all of them (quarter effects, partners clustered
    across quarters)."""
    units, _ = randomized_units(ds, calendar)
    with_control = units.groupby("quarter_start")["arm"].agg(lambda a: (a == NONE).any())
    if quarter_start is not None:
        try:
            start = pd.Timestamp(calendar.quarter_start(pd.Timestamp(quarter_start)))
        except (ValueError, OverflowError) as exc:  # out of pandas' range (years 1677-2262)
            raise ExperimentError(
                f"quarter_start {quarter_start}: not a usable date: {exc}"
            ) from exc
        if start not in with_control.index:
            found = ", ".join(str(q.date()) for q in with_control.index) or "none"
            raise ExperimentError(
                f"incentives: no randomized rows starting in the quarter of {start.date()} "
                f"(complete quarters with randomized rows: {found})"
            )
        units = units[units["quarter_start"] == start]
    usable = with_control[with_control].index
    if not units["quarter_start"].isin(usable).any():
        raise ExperimentError(
            "incentives, column incentive: no randomized row has incentive = none in the "
            "quarter(s) read, so there is no control arm to compare with; add the partners "
            "drawn for the holdout as none rows (randomized = true, cost = 0)"
        )
    units = units[units["quarter_start"].isin(usable)].reset_index(drop=True)
    return ExperimentReport(
        effects=experiment_effects(units, min_segment=min_segment, pooled=pooled),
        calibration=experiment_calibration(units, options),
        units=units,
        floored=int(units["floored"].sum()),
    )
