"""Forecast value added: did the model beat a naive forecast, and did overrides beat the model?

For every matured partner forecast in the ledger (:func:`features.reporting.accuracy.
join_actuals`), three forecasts of the same partner and quarter are judged against what
happened:

- ``naive``: seasonal naive, the partner's revenue in the same quarter a year earlier (0
  when it had none);
- ``model``: the recorded P50;
- ``final``: the P50 the planners stood behind, the partner's last override of that
  quarter that was not removed (replaced ones are history), else the model's.

WAPE and bias of each (the backtest's metric functions), per horizon (1..4, ``all``),
segment (``all``, region, tier, partner type) and override author (``segment`` =
``author``: only the forecasts that author overrode). ``fva_model = wape_naive -
wape_model`` and ``fva_override = wape_model - wape_final`` (positive: the step helped).
``overridden`` counts forecasts with an override and ``improved_share`` is the share of
them whose final error is smaller than the model's (ties do not count as improved).
Group-level overrides are not scored here (their actuals are sums of partners; the
partner rows carry the roll-up).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import metrics

SEGMENTS: tuple[str, ...] = ("region", "tier", "partner_type")
FVA_COLUMNS = [
    "horizon",
    "segment",
    "group",
    "forecasts",
    "actual",
    "wape_naive",
    "wape_model",
    "wape_final",
    "bias_naive",
    "bias_model",
    "bias_final",
    "fva_model",
    "fva_override",
    "overridden",
    "improved_share",
]


def with_naive_and_final(
    realised: pd.DataFrame, panel: pd.DataFrame, overrides: pd.DataFrame | None
) -> pd.DataFrame:
    """``realised`` (``partner_id, quarter_start, p50, actual``, ...) with ``naive``,
    ``final`` and the override's ``author`` (None where the model's P50 stood)."""
    revenue = panel.assign(partner_id=panel["partner_id"].astype(str)).set_index(
        ["partner_id", "quarter_start"]
    )["revenue"]
    year_before = pd.to_datetime(realised["quarter_start"]) - pd.DateOffset(years=1)
    position = pd.MultiIndex.from_arrays([realised["partner_id"].astype(str), year_before])
    out = realised.copy()
    out["naive"] = revenue.reindex(position).fillna(0.0).to_numpy(dtype=float)
    out["final"] = out["p50"].astype(float)
    out["author"] = None
    if overrides is None or overrides.empty:
        return out
    o = overrides[(overrides["level"] == "partner") & overrides["removed_at"].isna()]
    o = o.sort_values("created_at").drop_duplicates(["key", "quarter_start"], keep="last")
    keyed = o.set_index([o["key"].astype(str), pd.to_datetime(o["quarter_start"])])
    where = pd.MultiIndex.from_arrays(
        [out["partner_id"].astype(str), pd.to_datetime(out["quarter_start"])]
    )
    hit = keyed.reindex(where)
    has = hit["p50"].notna().to_numpy()
    out.loc[has, "final"] = hit["p50"].to_numpy(dtype=float)[has]
    authors = hit["author"].astype(object).to_numpy()
    out["author"] = pd.Series(
        [a if h else None for a, h in zip(authors, has, strict=True)], index=out.index, dtype=object
    )
    return out


def _scores(rows: pd.DataFrame) -> dict[str, float | int]:
    y = rows["actual"].to_numpy(dtype=float)
    found: dict[str, float | int] = {"forecasts": len(rows), "actual": float(y.sum())}
    for name, column in (("naive", "naive"), ("model", "p50"), ("final", "final")):
        p = rows[column].to_numpy(dtype=float)
        found[f"wape_{name}"] = metrics.wape(y, p)
        found[f"bias_{name}"] = metrics.bias(y, p)
    found["fva_model"] = found["wape_naive"] - found["wape_model"]
    found["fva_override"] = found["wape_model"] - found["wape_final"]
    touched = rows[rows["author"].notna()]
    found["overridden"] = len(touched)
    if len(touched):
        model_error = np.abs(touched["actual"] - touched["p50"])
        final_error = np.abs(touched["actual"] - touched["final"])
        found["improved_share"] = float((final_error < model_error).mean())
    else:
        found["improved_share"] = float("nan")
    return found


def value_added_report(scored: pd.DataFrame) -> pd.DataFrame:
    """The FVA table (:data:`FVA_COLUMNS`) of :func:`with_naive_and_final`'s frame."""
    rows = []
    horizons = [(str(int(h)), g) for h, g in scored.groupby("horizon", sort=True)]
    for horizon, by_horizon in [*horizons, ("all", scored)]:
        cuts = [("all", "all", by_horizon)]
        cuts += [
            (segment, str(group), g)
            for segment in SEGMENTS
            if segment in by_horizon.columns
            for group, g in by_horizon.groupby(segment, sort=True)
        ]
        touched = by_horizon[by_horizon["author"].notna()]
        cuts += [("author", str(a), g) for a, g in touched.groupby("author", sort=True)]
        for segment, group, g in cuts:
            rows.append({"horizon": horizon, "segment": segment, "group": group, **_scores(g)})
    return pd.DataFrame(rows, columns=FVA_COLUMNS)


def format_value_added(report: pd.DataFrame) -> str:
    """The FVA table for a terminal (horizon ``all``, every cut)."""
    shown = report[report["horizon"] == "all"].drop(columns=["horizon"]).copy()
    shown["actual"] = shown["actual"].map(lambda v: f"{v:,.0f}")
    for column in FVA_COLUMNS[5:13] + ["improved_share"]:
        shown[column] = shown[column].map(lambda v: "n/a" if np.isnan(v) else f"{v:.4f}")
    return shown.to_string(index=False)
