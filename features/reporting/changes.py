"""What moved in the forecast of a quarter since a date, and why, in money.

For the quarter ``Q`` (default: the first quarter after the as-of date), each partner's
P50 of ``Q`` is compared as it stood on ``since`` and as it stands now (the as-of date).
The move ``delta = p50_now - p50_then`` is split into causes that add up to it exactly:

- ``model_version``: the forecast recorded in the ledger on ``since`` by another model
  version, against the current model scored on the data as of ``since`` (0 when nothing
  was recorded then, or by the same version: the same model on the same data gives the
  same number);
- the data's move, the current model on the data as of now against as of ``since``,
  split as a waterfall: the model's feature columns take their new values one cause at
  a time, in the order ``time`` (tenure, calendar, horizon), ``bookings`` (revenue
  history), ``pipeline_created``, ``pipeline_open`` (open deals, their age and expected
  close), ``pipeline_won``, ``pipeline_lost``, ``engagement`` (activities and
  incentives), ``other`` (partner attributes), and each step's change of the P50 is that
  cause's part. The last step scores today's features, so the parts add up exactly; the
  order matters where causes interact (a deal won moves both ``pipeline_open`` and
  ``pipeline_won``), and is fixed so that numbers are comparable week to week;
- ``new_partner``: the whole P50 of a partner who had no forecast on ``since``;
- ``override``: the change in planners' overrides (``p50_final - p50``) between those in
  force on ``since`` (made by its end, not removed by then) and those in force now
  (:mod:`features.reporting.overrides`; partner overrides: a group's own override is
  shown by the forecast answers, not here).

Groups sum their partners' rows (their P50s and each cause). :func:`weekly_snapshots`
gives the forecast as it stood at the end of each week, from the ledger.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.calendar import QuarterCalendar
from features.data import BadInput, Dataset
from features.reporting.attainment import partner_groups

WATERFALL: tuple[str, ...] = (
    "time",
    "bookings",
    "pipeline_created",
    "pipeline_open",
    "pipeline_won",
    "pipeline_lost",
    "engagement",
    "other",
)
"""The order in which the features' values move from ``since`` to now (``_data_moves``)."""
CAUSES: tuple[str, ...] = ("model_version", *WATERFALL[:-1], "new_partner", "override", "other")
_PREFIXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("pipeline_won", ("opps_won", "won_amount", "avg_won", "win_rate", "segment_win_rate")),
    ("pipeline_lost", ("opps_lost",)),
    ("pipeline_created", ("opps_created", "created_amount")),
    (
        "pipeline_open",
        (
            "open_",
            "expected_deal",
            "log_ratio_pipeline",
            "sales_ops",
            "median_sales_cycle",
        ),
    ),
    (
        "bookings",
        (
            "revenue",
            "quarters_since_first_booking",
            "quarters_since_last_booking",
            "credit_note",
            "run_rate",
            "log_ratio",
        ),
    ),
    (
        "engagement",
        ("activity_", "days_since_last_activity", "incentive_", "quarters_since_last_inc"),
    ),
    ("time", ("tenure", "asof_", "quarter_elapsed", "horizon", "target_fiscal")),
)


def cause_of(column: str) -> str:
    """The cause a feature column's contribution is reported under."""
    for cause, prefixes in _PREFIXES:
        if column.startswith(prefixes):
            return cause
    return "other"


def _data_moves(
    forecaster: Any, rows_then: pd.DataFrame, rows_now: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The current model's move from ``rows_then`` to ``rows_now`` (same partners, same
    order), split by cause: the feature columns of each cause take their new values one
    cause after another (:data:`WATERFALL`), and each step's change of the P50 is that
    cause's part. Exact: the last step scores ``rows_now``'s features. Also the P50s then
    and now."""
    columns: dict[str, list[str]] = {c: [] for c in WATERFALL}
    for column in forecaster.spec.feature_columns:
        columns[cause_of(column)].append(column)
    current = rows_then.reset_index(drop=True).copy()
    now = rows_now.reset_index(drop=True)
    previous = forecaster.score(current, num_threads=1)["p50"].to_numpy(float)
    first = previous
    parts = pd.DataFrame(0.0, index=range(len(current)), columns=list(CAUSES))
    for cause in WATERFALL:
        if not columns[cause]:
            continue
        for column in columns[cause]:
            current[column] = now[column]  # aligned: both indexed 0..n-1; dtypes kept
        step = forecaster.score(current, num_threads=1)["p50"].to_numpy(float)
        parts[cause] = step - previous
        previous = step
    return parts, first, previous


def _quarter_rows(
    forecaster: Any, ds: Dataset, as_of: pd.Timestamp, quarter: pd.Timestamp, horizon: int
) -> pd.DataFrame:
    rows = forecaster.scoring_rows(ds, as_of=as_of, horizon=horizon)
    rows = rows[pd.to_datetime(rows["quarter_start"]) == quarter]
    return rows.drop_duplicates("partner_id").reset_index(drop=True)


def _override_effect(
    overrides: pd.DataFrame | None,
    quarter: pd.Timestamp,
    on: pd.Timestamp | None,
    model_p50: pd.Series,
) -> pd.Series:
    """``p50_final - p50`` per partner from the partner overrides active at the end of
    day ``on`` (made by then, not removed by then; None: those in force now)."""
    if overrides is None or overrides.empty:
        return pd.Series(0.0, index=model_p50.index)
    o = overrides[overrides["level"] == "partner"]
    removed = pd.to_datetime(o["removed_at"], utc=True).dt.tz_localize(None)
    if on is None:  # now: the overrides in force
        alive = removed.isna()
    else:
        end = pd.Timestamp(on).normalize() + pd.Timedelta(days=1)
        made = pd.to_datetime(o["created_at"], utc=True).dt.tz_localize(None) < end
        alive = made & (removed.isna() | (removed >= end))
    o = o[alive.to_numpy() & (pd.to_datetime(o["quarter_start"]) == quarter).to_numpy()]
    latest = o.sort_values("created_at").drop_duplicates("key", keep="last")
    value = pd.Series(latest["p50"].to_numpy(float), index=latest["key"].astype(str).to_numpy())
    return (value.reindex(model_p50.index) - model_p50).fillna(0.0)


def forecast_changes(
    ds: Dataset,
    forecaster: Any,
    *,
    since: Any,
    as_of: Any,
    calendar: QuarterCalendar,
    model_version: str,
    quarter_start: Any = None,
    group_by: str | None = None,
    recorded: pd.DataFrame | None = None,
    overrides: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per partner (or group) of the quarter's forecast: ``key, quarter_start,
    p50_then, p50_now, delta`` and one column per cause (:data:`CAUSES`) that add up to
    ``delta``; sorted by the size of the move.

    ``recorded``: ledger rows (``key, quarter_start, as_of, model_version, p50``) of
    partner forecasts; ``overrides``: every override ever made (removed ones included).
    """
    as_of, since = pd.Timestamp(as_of).normalize(), pd.Timestamp(since).normalize()
    if since >= as_of:
        raise BadInput(f"since ({since.date()}) must be before the as-of date ({as_of.date()})")
    now_index = calendar.quarter_index(as_of)
    quarter = (
        pd.Timestamp(calendar.index_to_start(now_index + 1))
        if quarter_start is None
        else pd.Timestamp(quarter_start)
    )
    if pd.Timestamp(calendar.quarter_start(quarter)) != quarter:
        raise BadInput(f"quarter_start {quarter.date()} is not the first day of a quarter")
    h_now = int(calendar.quarter_index(quarter) - now_index)
    h_then = int(calendar.quarter_index(quarter) - calendar.quarter_index(since))
    if h_now < 1:
        raise BadInput(f"the quarter starting {quarter.date()} has begun by {as_of.date()}")
    if h_then > 4:
        raise BadInput(
            f"since ({since.date()}) is more than 4 quarters before the quarter starting "
            f"{quarter.date()}: there was no forecast of it then"
        )
    rows_now = _quarter_rows(forecaster, ds, as_of, quarter, h_now)
    rows_then = _quarter_rows(forecaster, ds, since, quarter, h_then)
    ids = rows_now["partner_id"].astype(str)
    then_ids = rows_then["partner_id"].astype(str)
    p50_now = pd.Series(
        forecaster.score(rows_now, num_threads=1)["p50"].to_numpy(float), index=ids.to_numpy()
    )
    parts = pd.DataFrame(0.0, index=ids.to_numpy(), columns=list(CAUSES))
    p50_then = pd.Series(0.0, index=ids.to_numpy())
    both = ids[ids.isin(set(then_ids))].to_numpy()
    if len(both):
        then = rows_then.set_index(then_ids.to_numpy()).loc[both]
        nowr = rows_now.set_index(ids.to_numpy()).loc[both]
        moves, first, last = _data_moves(forecaster, then, nowr)
        parts.loc[both] = moves.to_numpy()
        p50_then.loc[both] = first
        p50_now.loc[both] = last  # the same features as rows_now: the same numbers
    new = ids[~ids.isin(set(then_ids))].to_numpy()
    parts.loc[new, "new_partner"] = p50_now.loc[new]
    model_then = p50_then.copy()
    if recorded is not None and len(recorded):
        r = recorded[
            (pd.to_datetime(recorded["quarter_start"]) == quarter)
            & (pd.to_datetime(recorded["as_of"]) <= since)
        ]
        r = r.sort_values("as_of").drop_duplicates("key", keep="last")
        r = r[r["model_version"].astype(str) != str(model_version)]
        stood = pd.Series(r["p50"].to_numpy(float), index=r["key"].astype(str).to_numpy())
        stood = stood[stood.index.isin(both)]
        parts.loc[stood.index, "model_version"] = model_then.loc[stood.index] - stood
        model_then.loc[stood.index] = stood
    effect_now = _override_effect(overrides, quarter, None, p50_now)
    effect_then = _override_effect(overrides, quarter, since, model_then)
    parts["override"] = (effect_now - effect_then).to_numpy()
    out = pd.DataFrame(
        {
            "key": ids.to_numpy(),
            "quarter_start": quarter,
            "p50_then": (model_then + effect_then).to_numpy(),
            "p50_now": (p50_now + effect_now).to_numpy(),
        }
    )
    out = pd.concat([out, parts.reset_index(drop=True)], axis=1)
    if group_by is not None:
        out["key"] = partner_groups(ds, group_by).reindex(out["key"]).to_numpy()
        numbers = ["p50_then", "p50_now", *CAUSES]
        out = out.groupby("key", as_index=False)[numbers].sum()
        out.insert(1, "quarter_start", quarter)
    out.insert(4, "delta", out["p50_now"] - out["p50_then"])
    order = np.argsort(-out["delta"].abs().to_numpy(), kind="stable")
    return out.iloc[order].reset_index(drop=True)


def weekly_snapshots(
    recorded: pd.DataFrame,
    *,
    quarter_start: Any,
    since: Any,
    until: Any,
    groups: pd.Series | None = None,
) -> pd.DataFrame:
    """The forecast of a quarter as it stood at the end of each week, from the ledger.

    ``recorded``: ledger partner rows (``key, quarter_start, as_of, p50``). For each
    Sunday from ``since`` to ``until`` (and ``until`` itself): each partner's latest
    recorded P50 with ``as_of`` on or before it, summed per group of ``groups`` (a
    partner -> group map; None: the total). Columns ``week_end, group, p50, partners``.
    """
    quarter = pd.Timestamp(quarter_start)
    rows = recorded[pd.to_datetime(recorded["quarter_start"]) == quarter].copy()
    rows["as_of"] = pd.to_datetime(rows["as_of"])
    rows["group"] = (
        "total"
        if groups is None
        else groups.reindex(rows["key"].astype(str)).fillna("unknown").to_numpy()
    )
    ends = list(pd.date_range(pd.Timestamp(since), pd.Timestamp(until), freq="W-SUN"))
    if not ends or ends[-1] != pd.Timestamp(until):
        ends.append(pd.Timestamp(until))
    out = []
    for end in ends:
        known = rows[rows["as_of"] <= end].sort_values("as_of").drop_duplicates("key", keep="last")
        for group, part in known.groupby("group"):
            out.append(
                {
                    "week_end": end,
                    "group": str(group),
                    "p50": float(part["p50"].sum()),
                    "partners": int(len(part)),
                }  # fmt: skip
            )
    return pd.DataFrame(out, columns=["week_end", "group", "p50", "partners"])


def ledger_changes(
    ds: Dataset,
    forecaster: Any,
    *,
    ledger_url: str,
    since: Any,
    as_of: Any,
    calendar: QuarterCalendar,
    model_name: str,
    model_version: str,
    quarter_start: Any = None,
    group_by: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`forecast_changes` and :func:`weekly_snapshots` with what the ledger at
    ``ledger_url`` recorded (production partner forecasts of ``model_name``) and every
    override ever made there; the one call behind ``partnercast changes`` and ``POST
    /forecast/changes``. Reading never creates a ledger."""
    from features.reporting.ledger import PRODUCTION_SOURCES, ForecastLedger
    from features.reporting.overrides import read_overrides

    with ForecastLedger(ledger_url, create=False) as ledger:
        recorded = ledger.forecasts(
            model_name=model_name, level="partner", source=PRODUCTION_SOURCES
        )
    overrides = read_overrides(ledger_url)
    changes = forecast_changes(
        ds,
        forecaster,
        since=since,
        as_of=as_of,
        calendar=calendar,
        model_version=model_version,
        quarter_start=quarter_start,
        group_by=group_by,
        recorded=recorded,
        overrides=overrides,
    )
    groups = None if group_by is None else partner_groups(ds, group_by)
    quarter = changes["quarter_start"].iloc[0] if len(changes) else quarter_start
    snapshots = weekly_snapshots(
        recorded, quarter_start=quarter, since=since, until=as_of, groups=groups
    )
    return changes, snapshots
