"""What-if: what an incentive plan is expected to add to next quarter's group forecasts.

A plan gives an incentive per partner or per segment (``region``, ``tier``,
``partner_type``, alone or combined), or is the recommender's own plan (best expected net
per partner, within a budget when one is given). Its effect is read from the champion
recommender's corrected uplifts (``uplift_<i>``: the extra revenue expected next quarter
against ``none``), learned costs and 80 % uplift intervals (``p10_uplift_<i>``,
``p90_uplift_<i>``, when the model has them). The forecasts themselves are not changed: the
answer is the change a plan is expected to make, per group and in total.

Rules (``docs/planner.md`` has a worked example):

- **Precedence.** Each partner follows the most specific row that matches it: a
  ``partner_id`` row beats every segment row, a segment row naming three columns beats one
  naming two, which beats one naming one. Partners no row matches get ``none`` (zero
  uplift, zero cost: the forecast as it is). ``none`` is a valid incentive, e.g. to keep a
  partner out of its region's row. Two rows of the same specificity that both match a
  partner with different incentives (``region=EMEA: mdf`` and ``tier=Gold: rebate`` for an
  EMEA Gold partner) are a conflict and an error: add the combined row or partner rows.
  With the same incentive, the first row counts the partner.
- **Budget on a planner's plan.** Rows are kept or dropped whole, with the partners they
  govern after precedence (so a row's cost is what it is in the answer): by expected net,
  highest first (ties: cheaper first, then plan order), each row is kept when its cost
  still fits in what is left of the budget. Rows that cost nothing always fit; a row with
  a negative net is kept if it fits (the plan is the planner's; the budget only cuts). A
  dropped row's partners get ``none``, not the next row's incentive, so the kept rows'
  costs are the ones shown. The answer lists the dropped rows. A rule the planner can
  check by hand, not the optimum: for the best plan within a budget, send no plan (the
  recommender's exact knapsack, :mod:`features.scoring.policy`).
- **Intervals of a group.** A partner's interval is its own uplift's 80 % interval (a
  shared estimate of each incentive's effect, times the partner's base revenue, plus the
  segment-level spread the effect model leaves unexplained). Those errors are shared by
  every partner given the same incentive, and within a segment, rather than independent:
  the group's P10 and P90 are the sums of its partners' P10 and P90 (the comonotone sum,
  exact when the errors move together, and never narrower than any other correlation of
  normal errors, since the standard deviation of a sum is at most the sum of the standard
  deviations). Independent errors would add variances and shrink a 500-partner group's
  interval about 22-fold around an effect level that is itself uncertain. The net's
  interval is the uplift's minus the cost (costs treated as known, as in ``recommend``).
  Without intervals in the model, the P10 and P90 are empty (NaN), never made up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from features.calendar import QuarterCalendar
from features.data import BadInput
from features.names import NONE
from features.scoring import GROUP_LEVELS, PartnerRecommender
from features.scoring.recommender import FILTERS

SEGMENTS: tuple[str, ...] = FILTERS  # region, tier, partner_type
PLAN_COLUMNS: tuple[str, ...] = ("partner_id", *SEGMENTS, "incentive")
GROUP_COLUMNS: tuple[str, ...] = (
    "group_by",
    "group",
    "quarter_start",
    "delta_p10",
    "delta_p50",
    "delta_p90",
    "partners_treated",
    "cost",
    "expected_net",
)
PARTNER_COLUMNS: tuple[str, ...] = (
    "partner_id",
    *SEGMENTS,
    "row",
    "planned_incentive",
    "incentive",
    "expected_uplift",
    "uplift_p10",
    "uplift_p90",
    "cost",
    "expected_net",
)
ROW_COLUMNS: tuple[str, ...] = (
    "row",
    "label",
    *PLAN_COLUMNS,
    "partners",
    "expected_uplift",
    "cost",
    "expected_net",
    "kept",
)
PARTNER_ROW = len(SEGMENTS) + 1  # a partner row is more specific than any segment row
MAX_LISTED = 10


class PlanError(BadInput):
    """A plan that cannot be applied as written; the message says what to fix and
    ``details`` carries lists a caller can act on (``unknown_partner_ids``, ...)."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


@dataclass(frozen=True)
class WhatIf:
    """A plan's expected effect on next quarter: per group, per partner, per plan row."""

    quarter_start: pd.Timestamp
    groups: pd.DataFrame  # GROUP_COLUMNS, levels region, tier, partner_type, total
    partners: pd.DataFrame  # PARTNER_COLUMNS, one row per partner the recommender knows
    rows: pd.DataFrame  # ROW_COLUMNS, one per plan row (empty for the recommender's plan)
    has_intervals: bool
    budget: float | None

    @property
    def cost(self) -> float:
        return math.fsum(self.partners["cost"])

    @property
    def expected_uplift(self) -> float:
        return math.fsum(self.partners["expected_uplift"])

    @property
    def expected_net(self) -> float:
        return self.expected_uplift - self.cost

    @property
    def expected_net_p10(self) -> float:
        return _total(self.partners["uplift_p10"]) - self.cost

    @property
    def expected_net_p90(self) -> float:
        return _total(self.partners["uplift_p90"]) - self.cost

    @property
    def partners_treated(self) -> int:
        """Partners the plan gives an incentive (after the budget)."""
        return int((self.partners["incentive"] != NONE).sum())

    @property
    def dropped_rows(self) -> list[int]:
        """Plan rows (0-based) the budget dropped."""
        return [int(r) for r in self.rows.loc[~self.rows["kept"].astype(bool), "row"]]


def _total(values: pd.Series) -> float:
    """Exact sum; NaN when any value is (no intervals)."""
    array = values.to_numpy(dtype=np.float64)
    return float("nan") if np.isnan(array).any() else math.fsum(array)


def _text(value: Any) -> str | None:
    """A plan cell as text; empty, blank and missing cells are None."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def _listed(labels: Sequence[str]) -> str:
    shown = ", ".join(labels[:MAX_LISTED])
    return shown + (f" and {len(labels) - MAX_LISTED} more" if len(labels) > MAX_LISTED else "")


def plan_frame(
    records: pd.DataFrame | Sequence[Mapping[str, Any]],
) -> pd.DataFrame:
    """A plan as a frame of :data:`PLAN_COLUMNS` (text, None where empty), checked for its
    shape only (columns, at least one row); :func:`evaluate_plan` checks it against the model."""
    frame = records.copy() if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))
    unknown = [str(c) for c in frame.columns if c not in PLAN_COLUMNS]
    if unknown:
        raise PlanError(
            f"unknown plan column(s) {unknown}: a plan row has partner_id, or segment "
            f"columns ({', '.join(SEGMENTS)}), and incentive"
        )
    if frame.empty:
        raise PlanError(
            "the plan has no rows: give at least one (partner_id or segment, incentive), or "
            "no plan for the recommender's"
        )
    if "incentive" not in frame.columns:
        raise PlanError("the plan has no incentive column: every row needs an incentive")
    return pd.DataFrame(
        {
            c: [_text(v) for v in frame[c]] if c in frame else [None] * len(frame)
            for c in PLAN_COLUMNS
        },  # fmt: skip
        dtype=object,
    ).reset_index(drop=True)


def _check_rows(plan: pd.DataFrame, labels: list[str], recommender: PartnerRecommender) -> None:
    """Every row has an incentive the model knows and names known partners or segments."""
    has_segment = plan[list(SEGMENTS)].notna().any(axis=1)
    has_partner = plan["partner_id"].notna()
    problems = [
        (plan["incentive"].isna(), "no incentive (use none for no incentive)"),
        (~has_partner & ~has_segment, f"neither partner_id nor a segment ({', '.join(SEGMENTS)})"),
        (has_partner & has_segment, "both partner_id and a segment: give one or the other"),
    ]
    for mask, what in problems:
        bad = [labels[i] for i in np.flatnonzero(mask.to_numpy())]
        if bad:
            raise PlanError(f"plan row(s) {_listed(bad)}: {what}", rows=bad)
    known = [*recommender.incentives, NONE]
    unknown = sorted(set(plan["incentive"]) - set(known))
    if unknown:
        rows = [labels[i] for i in np.flatnonzero(plan["incentive"].isin(unknown).to_numpy())]
        raise PlanError(
            f"unknown incentive(s) {unknown} in plan row(s) {_listed(rows)}: the recommender "
            f"knows {known}",
            unknown_incentives=unknown,
        )
    ids = set(recommender.options["partner_id"].astype(str))
    missing = sorted({p for p in plan["partner_id"].dropna() if p not in ids})
    if missing:
        raise PlanError(
            f"{len(missing)} partner id(s) unknown to the recommender (as of "
            f"{recommender.as_of.date()}): remove them, or fix the ids",
            unknown_partner_ids=missing,
        )
    attributes = recommender.attributes
    for column in SEGMENTS:
        values = set(attributes[column].dropna().astype(str))
        wrong = sorted({v for v in plan[column].dropna() if v not in values})
        if wrong:
            raise PlanError(
                f"{column} {wrong} matches no partner: known values are {sorted(values)}",
                **{f"unknown_{column}": wrong},
            )
    key = plan[["partner_id", *SEGMENTS]].fillna("").apply(tuple, axis=1)
    repeated = np.flatnonzero(key.duplicated(keep=False).to_numpy())
    if repeated.size:
        first = repeated[0]
        same = [labels[i] for i in repeated if key.iloc[i] == key.iloc[first]]
        raise PlanError(
            f"plan rows {_listed(same)} set {_describe(plan.iloc[first])} twice: keep one row",
            rows=same,
        )


def _describe(row: pd.Series) -> str:
    """A row's partner or segment, as a planner wrote it."""
    if row["partner_id"] is not None:
        return f"partner {row['partner_id']}"
    return "segment " + ", ".join(f"{c}={row[c]}" for c in SEGMENTS if row[c] is not None)


def _owners(plan: pd.DataFrame, labels: list[str], attributes: pd.DataFrame) -> np.ndarray:
    """Per partner (rows of ``attributes``), the plan row it follows (-1: none matches)."""
    n, m = len(attributes), len(plan)
    match = np.zeros((n, m), dtype=bool)
    specificity = np.zeros(m, dtype=np.int64)
    ids = attributes["partner_id"].to_numpy()
    position = {pid: i for i, pid in enumerate(ids)}
    for j, row in enumerate(plan.itertuples(index=False)):
        if row.partner_id is not None:
            match[position[row.partner_id], j] = True
            specificity[j] = PARTNER_ROW
            continue
        hit = np.ones(n, dtype=bool)
        for column in SEGMENTS:
            value = getattr(row, column)
            if value is not None:
                hit &= (attributes[column] == value).to_numpy()
                specificity[j] += 1
        match[:, j] = hit
    best = np.where(match, specificity[None, :], -1).max(axis=1, initial=-1)
    winners = match & (specificity[None, :] == best[:, None])
    incentives = plan["incentive"].to_numpy()
    clashes: dict[tuple[int, ...], list[str]] = {}
    for i in np.flatnonzero(winners.sum(axis=1) > 1):
        rows = tuple(np.flatnonzero(winners[i]).tolist())
        if len({incentives[j] for j in rows}) > 1:
            clashes.setdefault(rows, []).append(str(ids[i]))
    if clashes:
        rows, partners = next(iter(clashes.items()))
        named = "; ".join(f"{labels[j]} ({_describe(plan.iloc[j])}: {incentives[j]})" for j in rows)
        raise PlanError(
            f"conflicting plan rows {named} both apply to {len(partners)} partner(s) (e.g. "
            f"{partners[0]}) with different incentives: add a row for the combined segment, or "
            "partner rows, to say which",
            rows=[labels[j] for j in rows],
            conflicting_partner_ids=partners[:MAX_LISTED],
        )
    return np.where(best >= 0, np.argmax(winners, axis=1), -1)


def _keep_within(net: np.ndarray, cost: list[Fraction], budget: float) -> np.ndarray:
    """Plan rows kept under ``budget``: highest net first (ties: cheaper, then plan order),
    each kept while its cost fits. Costs are exact sums of the partners' float costs, so
    the answer's rounded total never exceeds the budget, not even by a rounding error."""
    order = np.lexsort((np.arange(len(net)), np.array([float(c) for c in cost]), -net))
    kept = np.zeros(len(net), dtype=bool)
    left = Fraction(budget)
    for j in order:
        if cost[j] <= left:
            kept[j] = True
            left -= cost[j]
    return kept


def _values(recommender: PartnerRecommender, incentive: np.ndarray) -> dict[str, np.ndarray]:
    """Uplift, its 80 % bounds and cost of each partner's incentive (0 for none)."""
    options = recommender.options
    n = len(options)
    out = {k: np.zeros(n) for k in ("expected_uplift", "uplift_p10", "uplift_p90", "cost")}
    for name in sorted(set(incentive) - {NONE}):
        pick = incentive == name
        columns = {"expected_uplift": f"uplift_{name}", "cost": f"cost_{name}"}
        if recommender.has_intervals:
            columns |= {"uplift_p10": f"p10_uplift_{name}", "uplift_p90": f"p90_uplift_{name}"}
        for key, column in columns.items():
            out[key][pick] = options[column].to_numpy(dtype=np.float64)[pick]
    if not recommender.has_intervals:
        treated = incentive != NONE
        out["uplift_p10"][treated] = np.nan
        out["uplift_p90"][treated] = np.nan
    return out


def _attributes(recommender: PartnerRecommender) -> pd.DataFrame:
    """Partner id and segments, in the order of the recommender's options."""
    ids = recommender.options[["partner_id"]].astype({"partner_id": str})
    attrs = recommender.attributes.astype({"partner_id": str})
    out = ids.merge(attrs[["partner_id", *SEGMENTS]], on="partner_id", how="left")
    for column in SEGMENTS:
        out[column] = out[column].astype(object).where(out[column].notna(), None)
        out[column] = [None if v is None else str(v) for v in out[column]]
    return out


def _groups(partners: pd.DataFrame, quarter_start: pd.Timestamp, intervals: bool) -> pd.DataFrame:
    """Sums by region, tier, partner type and in total; every group, touched or not."""
    frame = partners.assign(
        treated=(partners["incentive"] != NONE).astype(np.int64),
        net=partners["expected_uplift"] - partners["cost"],
    )
    parts = []
    for level in GROUP_LEVELS:
        key = pd.Series("total", index=frame.index) if level == "total" else frame[level]
        sums = frame.groupby(key.fillna("unknown").astype(str).to_numpy(), sort=True).agg(
            delta_p10=("uplift_p10", "sum"),
            delta_p50=("expected_uplift", "sum"),
            delta_p90=("uplift_p90", "sum"),
            partners_treated=("treated", "sum"),
            cost=("cost", "sum"),
            expected_net=("net", "sum"),
        )
        parts.append(sums.rename_axis("group").reset_index().assign(group_by=level))
    out = pd.concat(parts, ignore_index=True).assign(quarter_start=quarter_start)
    if not intervals:
        treated = out["partners_treated"] > 0
        out.loc[treated, ["delta_p10", "delta_p90"]] = np.nan
    return out[list(GROUP_COLUMNS)]


def evaluate_plan(
    recommender: PartnerRecommender,
    plan: pd.DataFrame | Sequence[Mapping[str, Any]] | None,
    *,
    budget: float | None = None,
    calendar: QuarterCalendar,
    labels: Sequence[str] | None = None,
) -> WhatIf:
    """A plan's expected change of next quarter's group forecasts, cost and net.

    ``plan`` rows have ``partner_id`` or segment columns and ``incentive`` (see the module's
    rules); None is the recommender's own plan (within ``budget`` when given). ``labels``
    name the rows in errors (``line 2``, ``plan[0]``; default ``row 1``, ...). Raises
    :class:`PlanError` (a :class:`BadInput`) for a plan that cannot be applied as written.
    """
    if budget is not None and not (math.isfinite(budget) and budget >= 0):
        raise PlanError(f"budget must be a finite number of at least 0, got {budget}")
    quarter_start = pd.Timestamp(calendar.horizon_starts(recommender.as_of, 1)[0])
    attributes = _attributes(recommender)
    n = len(attributes)
    if plan is None:
        chosen = recommender.recommend(None, budget=budget)
        incentive = chosen["incentive"].astype(str).to_numpy(dtype=object)
        planned, owner = incentive, np.full(n, -1)
        values = _values(recommender, incentive)
        rows = pd.DataFrame({c: pd.Series(dtype=object) for c in ROW_COLUMNS})
    else:
        frame = plan_frame(plan)
        names = list(labels) if labels is not None else [f"row {i + 1}" for i in range(len(frame))]
        if len(names) != len(frame):
            raise ValueError(f"{len(names)} labels for {len(frame)} plan rows")
        _check_rows(frame, names, recommender)
        owner = _owners(frame, names, attributes)
        planned = np.where(owner >= 0, frame["incentive"].to_numpy()[owner], NONE).astype(object)
        values = _values(recommender, planned)
        m = len(frame)
        rows = frame.assign(row=np.arange(m), label=names)
        order = np.argsort(owner, kind="stable")
        starts = np.searchsorted(owner[order], np.arange(m + 1))
        for key in ("expected_uplift", "cost"):
            ranked = values[key][order]
            rows[key] = [math.fsum(ranked[starts[j] : starts[j + 1]]) for j in range(m)]
        rows["partners"] = np.bincount(owner[owner >= 0], minlength=m)
        rows["expected_net"] = rows["expected_uplift"] - rows["cost"]
        if budget is None:
            rows["kept"] = np.ones(m, dtype=bool)
        else:
            exact = [Fraction(0)] * m
            for j, c in zip(owner, values["cost"], strict=True):
                if j >= 0:
                    exact[j] += Fraction(float(c))
            rows["kept"] = _keep_within(rows["expected_net"].to_numpy(dtype=float), exact, budget)
        rows = rows[list(ROW_COLUMNS)]
        dropped = (owner >= 0) & ~rows["kept"].to_numpy()[np.maximum(owner, 0)]
        incentive = np.where(dropped, NONE, planned).astype(object)
        values = {k: np.where(dropped, 0.0, v) for k, v in values.items()}  # dropped: none
    partners = attributes.assign(
        row=pd.array(np.where(owner >= 0, owner, pd.NA), dtype="Int64"),
        planned_incentive=planned,
        incentive=incentive,
        **values,
    )
    partners["expected_net"] = partners["expected_uplift"] - partners["cost"]
    partners = partners[list(PARTNER_COLUMNS)]
    return WhatIf(
        quarter_start=quarter_start,
        groups=_groups(partners, quarter_start, recommender.has_intervals),
        partners=partners,
        rows=rows.reset_index(drop=True),
        has_intervals=recommender.has_intervals,
        budget=budget,
    )
