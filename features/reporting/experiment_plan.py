"""Designing the next randomized test: who gets which arm next quarter, what it costs, what
it can detect.

A share ``S`` of the partners the recommender scores is drawn for the test and each drawn
partner gets one arm at random: every incentive the recommender knows, or ``none`` (the
holdout). Everyone else gets the recommender's own choice, ``randomized = false``.

- **Strata.** Partner type by size band (``reseller/large``): size is the expected revenue
  of the quarter (:func:`features.reporting.experiments.expected_revenue`, the outcome's
  own denominator), in terciles ``small``, ``mid``, ``large`` (``no_estimate`` when it is
  not above 0: such partners cannot be read and are never drawn). Each stratum's partners
  are shuffled and given a key ``(position + u) / n`` (``u`` uniform per stratum); the
  ``round(S * N)`` smallest keys are drawn, so every stratum gets its share to within one
  partner and a smaller draw is a prefix of a larger one. Arms go round a shuffled order
  within each stratum, so a stratum's arms differ by at most one partner.
- **Budget** caps the drawn arms' cost (the recommender's expected cost of each arm): the
  draw is cut to the longest prefix that fits, which keeps the strata proportional.
- **Exploration cost**: the expected net the drawn partners give up against the
  recommender's plan, sum of (net of its choice - net of the drawn arm); ``none`` nets 0.
- **Minimum detectable effect** per incentive and segment (``all``, ``partner_type=...``,
  ``tier=...``, ``region=...``): 80 % power, 5 % two-sided, for the report's estimator
  (:func:`features.reporting.clustered.minimum_detectable_effect`), with the variance a
  randomly drawn partner adds to the report's weighted mean, measured on the partners
  without an incentive in the four complete quarters before the as-of date (the segment's
  own when it has :data:`MIN_VARIANCE_ROWS` rows, else all of them).
- **Deterministic**: the same data, champion, share, budget and seed give the same plan
  (seed None means 0). The plan's rows carry ``incentive, starts_on, ends_on, cost`` so
  :func:`incentive_rows` turns it into next quarter's ``incentives`` rows as the data
  contract wants them, which is how the report finds the test afterwards. ``partnercast
  experiment-plan`` also logs the plan as an MLflow run (``training.jobs.experiment_record``:
  share, budget, seed, strata, files) that ``experiment-report --quarter`` looks up;
  ``POST /experiments/plan`` only reads and records nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.calendar import QuarterCalendar
from features.data import BadInput, Dataset, incentive_grants
from features.families.panel import quarter_revenue, sorted_partner_ids
from features.names import NONE
from features.reporting.clustered import minimum_detectable_effect, unit_variance
from features.reporting.experiments import SEGMENT_COLUMNS, expected_revenue, floor_expected
from features.scoring import PartnerRecommender

log = logging.getLogger(__name__)

PLAN_COLUMNS = ["partner_id", "arm", "stratum", "randomized"]
ROW_COLUMNS = [
    *PLAN_COLUMNS,
    "incentive",
    "starts_on",
    "ends_on",
    "cost",
    "expected_uplift",
    "expected_net",
    "expected_revenue",
]
MDE_COLUMNS = ["incentive", "segment", "mde", "n_treated", "n_control"]
SIZE_BANDS = ("small", "mid", "large")
NO_ESTIMATE = "no_estimate"
MIN_VARIANCE_ROWS = 30
HISTORY_QUARTERS = 4


@dataclass(frozen=True)
class ExperimentPlan:
    """Next quarter's arms for every partner, with the test's cost and power."""

    quarter_start: pd.Timestamp
    assignments: pd.DataFrame  # ROW_COLUMNS, one row per partner
    exploration_cost: float
    randomized_cost: float  # the drawn arms' expected cost (what the budget caps)
    share: float  # asked
    drawn: int  # partners drawn (after the budget)
    seed: int
    budget: float | None
    min_detectable_effect: pd.DataFrame  # MDE_COLUMNS


def _size_bands(expected: np.ndarray) -> np.ndarray:
    bands = np.full(len(expected), NO_ESTIMATE, dtype=object)
    positive = np.isfinite(expected) & (expected > 0)
    if positive.any():
        cuts = np.quantile(expected[positive], [1 / 3, 2 / 3])
        bands[positive] = np.asarray(SIZE_BANDS, dtype=object)[
            np.searchsorted(cuts, expected[positive], side="right")
        ]
    return bands


def outcome_variance(
    ds: Dataset, *, as_of: pd.Timestamp, calendar: QuarterCalendar
) -> pd.DataFrame:
    """Untreated partner-quarters of the complete quarters before ``as_of``: ``partner_id,
    outcome, expected_revenue`` (the report's outcome and weight), for the MDE's variance."""
    ids = sorted_partner_ids(ds)
    q_now = int(calendar.quarter_index(as_of))
    last = q_now if as_of >= calendar.quarter_end(as_of) else q_now - 1
    grants = incentive_grants(ds.incentives)
    granted_q = np.asarray(calendar.quarter_index(grants["starts_on"]))
    frames = []
    for q in range(last - HISTORY_QUARTERS + 1, last + 1):
        start = pd.Timestamp(calendar.index_to_start(q))
        expected = expected_revenue(
            ds, ids.to_numpy(), as_of=start - pd.Timedelta(days=1), calendar=calendar
        )
        revenue = quarter_revenue(ds, ids, calendar, q, q)[:, 0]
        treated = set(grants["partner_id"].astype(str)[granted_q == q])
        joined = ds.partners.set_index("partner_id")["joined_on"].reindex(ids)
        keep = (joined.to_numpy() < start) & ~np.isin(ids.to_numpy(), list(treated))
        expected = floor_expected(expected[keep])
        revenue = revenue[keep]
        frames.append(
            pd.DataFrame(
                {
                    "partner_id": ids.to_numpy()[keep].astype(str),
                    "outcome": revenue / expected - 1.0,
                    "expected_revenue": expected,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _mde_table(
    rows: pd.DataFrame, history: pd.DataFrame, attributes: pd.DataFrame, incentives: list[str]
) -> pd.DataFrame:
    history = history.merge(attributes, on="partner_id", how="left")
    overall = (
        unit_variance(history["outcome"], history["expected_revenue"])
        if len(history)
        else float("nan")
    )
    drawn = rows[rows["randomized"]]
    segments = [("all", drawn, overall)]
    for column in SEGMENT_COLUMNS:
        for value, part in drawn.groupby(column, sort=True):
            past = history[history[column] == value]
            variance = (
                unit_variance(past["outcome"], past["expected_revenue"])
                if len(past) >= MIN_VARIANCE_ROWS
                else overall
            )
            segments.append((f"{column}={value}", part, variance))
    records = []
    for name in incentives:
        for segment, part, variance in segments:
            n_treated = int((part["arm"] == name).sum())
            n_control = int((part["arm"] == NONE).sum())
            if n_treated < 2 or n_control < 2:
                continue
            records.append(
                {
                    "incentive": name,
                    "segment": segment,
                    "mde": minimum_detectable_effect(variance, n_treated, n_control),
                    "n_treated": n_treated,
                    "n_control": n_control,
                }
            )
    return pd.DataFrame.from_records(records, columns=MDE_COLUMNS)


def _draw_order(strata: np.ndarray, arms: list[str], rng: np.random.Generator) -> tuple:
    """Global draw order (positions into ``strata``) and the arm each partner would get."""
    key = np.empty(len(strata))
    arm = np.empty(len(strata), dtype=object)
    for stratum in sorted(set(strata)):
        members = np.flatnonzero(strata == stratum)
        shuffled = members[rng.permutation(len(members))]
        offset = rng.random()
        key[shuffled] = (np.arange(len(members)) + offset) / len(members)
        order = np.asarray(arms, dtype=object)[rng.permutation(len(arms))]
        arm[shuffled] = order[np.arange(len(members)) % len(arms)]
    return np.argsort(key, kind="stable"), arm


def plan_experiment(
    recommender: PartnerRecommender,
    ds: Dataset,
    *,
    share: float,
    calendar: QuarterCalendar,
    budget: float | None = None,
    seed: int | None = None,
) -> ExperimentPlan:
    """Next quarter's randomized arms and the recommender's choice for everyone else."""
    if not 0 < share <= 1:
        raise BadInput(f"share must be in (0, 1], got {share}")
    if budget is not None and not budget >= 0:
        raise BadInput(f"budget must be a number of at least 0, got {budget}")
    if seed is not None and seed < 0:
        raise BadInput(f"seed must be a whole number of at least 0, got {seed}")
    incentives = list(recommender.incentives)
    if not incentives:
        raise BadInput("the recommender knows no incentive: there is nothing to test")
    seed = 0 if seed is None else int(seed)
    as_of = pd.Timestamp(recommender.as_of)
    start = pd.Timestamp(calendar.horizon_starts(as_of, 1)[0])
    end = pd.Timestamp(calendar.quarter_end(start))
    chosen = recommender.recommend(None).sort_values("partner_id", ignore_index=True)
    chosen["partner_id"] = chosen["partner_id"].astype(str)
    options = recommender.options.assign(partner_id=recommender.options["partner_id"].astype(str))
    options = options.set_index("partner_id").loc[chosen["partner_id"]]
    attributes = recommender.attributes.astype(object).assign(
        partner_id=recommender.attributes["partner_id"].astype(str)
    )
    attrs = attributes.set_index("partner_id").reindex(chosen["partner_id"])
    ids = chosen["partner_id"].to_numpy()
    expected = expected_revenue(ds, ids, as_of=as_of, calendar=calendar)
    kind = attrs["partner_type"].where(attrs["partner_type"].notna(), "unknown").astype(str)
    strata = (kind + "/" + _size_bands(expected)).to_numpy()
    readable = np.isfinite(expected) & (expected > 0)
    arms = [*incentives, NONE]
    rng = np.random.default_rng(seed)
    order, would_get = _draw_order(strata, arms, rng)
    order = order[readable[order]]
    wanted = min(int(round(share * len(ids))), len(order))
    arm_cost = np.array(
        [0.0 if a == NONE else float(options[f"cost_{a}"].iat[i]) for i, a in enumerate(would_get)]
    )
    spent = np.cumsum(arm_cost[order[:wanted]])
    drawn_n = wanted if budget is None else int(np.searchsorted(spent, budget, side="right"))
    drawn = np.zeros(len(ids), dtype=bool)
    drawn[order[:drawn_n]] = True
    arm = np.where(drawn, would_get, chosen["incentive"].to_numpy(dtype=object))
    uplift = np.array(
        [0.0 if a == NONE else float(options[f"uplift_{a}"].iat[i]) for i, a in enumerate(arm)]
    )
    cost = np.array(
        [0.0 if a == NONE else float(options[f"cost_{a}"].iat[i]) for i, a in enumerate(arm)]
    )
    net = uplift - cost
    rows = pd.DataFrame(
        {
            "partner_id": ids,
            "arm": arm.astype(str),
            "stratum": strata,
            "randomized": drawn,
            "incentive": arm.astype(str),
            "starts_on": start,
            "ends_on": end,
            "cost": cost,
            "expected_uplift": uplift,
            "expected_net": net,
            "expected_revenue": expected,
        }
    )
    gave_up = chosen["expected_net"].to_numpy(float) - net
    history = outcome_variance(ds, as_of=as_of, calendar=calendar)
    with_attrs = rows.join(attrs[list(SEGMENT_COLUMNS)], on="partner_id")
    mde = _mde_table(with_attrs, history, attributes, incentives)
    log.info("experiment plan for %s: %d of %d partners drawn", start.date(), drawn_n, len(ids))
    return ExperimentPlan(
        quarter_start=start,
        assignments=rows,
        exploration_cost=float(gave_up[drawn].sum()),
        randomized_cost=float(cost[drawn].sum()),
        share=float(share),
        drawn=drawn_n,
        seed=seed,
        budget=budget,
        min_detectable_effect=mde,
    )


def incentive_rows(plan: ExperimentPlan) -> pd.DataFrame:
    """The plan as next quarter's ``incentives`` rows (DATA_CONTRACT.md): every drawn
    partner (``none`` rows included, cost 0) and every recommended incentive; partners the
    recommender leaves at ``none`` get no row (a ``none`` row must be randomized)."""
    rows = plan.assignments
    keep = rows["randomized"] | (rows["arm"] != NONE)
    columns = ["partner_id", "incentive", "starts_on", "ends_on", "cost", "randomized"]
    out = rows.loc[keep, columns].reset_index(drop=True)
    out["cost"] = out["cost"].round(2)
    return out
