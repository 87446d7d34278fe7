"""The trained forecaster as scoring sees it: boosters, feature spec and feature snapshot.

``training`` builds one of these after fitting and logs its folder inside the
MLflow model; the CLI's ``forecast`` and the HTTP API load it back from the
registry. Everything a request needs is here: partner forecasts from the
snapshot of features as of the training date (or from fresh features), top
drivers in plain words, coherent group totals, and cold-start forecasts for
partners the model has never seen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.data.dataset import COLUMNS, Dataset, empty_frame
from features.frames import build_scoring_frame
from features.scoring.aggregation import aggregate_forecast_levels
from features.scoring.feature_labels import describe_feature
from features.scoring.quantiles import QuantileBundle, inverse_transform
from features.spec import FeatureSpec

GROUP_LEVELS: tuple[str, ...] = ("region", "tier", "partner_type", "total")
OUTPUT_COLUMNS = ["partner_id", "quarter_start", "horizon", "p10", "p50", "p90"]
MAX_HORIZON = 4


class UnknownPartnersError(KeyError):
    """Partner ids the model has no features for; ``ids`` lists them."""

    def __init__(self, ids: list[str]) -> None:
        super().__init__(
            f"unknown partner ids: {', '.join(ids[:20])}"
            + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")
        )
        self.ids = ids


@dataclass(frozen=True)
class PartnerForecaster:
    """Scoring side of the forecaster; see the module docstring."""

    bundle: QuantileBundle
    spec: FeatureSpec
    snapshot: pd.DataFrame  # build_scoring_frame rows as of ``as_of``, horizons 1..4
    as_of: pd.Timestamp
    rho: dict[int, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    # -- partner forecasts ---------------------------------------------------------
    @property
    def method(self) -> str:
        """How the forecasts are made: ``lightgbm`` (the quantile boosters), or
        ``sales_ops_estimate`` (run-rate plus due pipeline times win rate, with intervals
        from its errors: a program too young to backtest)."""
        return "sales_ops_estimate" if self.bundle.is_heuristic else "lightgbm"

    def ledger_version(self, version: str) -> str:
        """The registry version as the forecast ledger records it: flagged with the method
        when the forecasts are the sales-ops estimate, so accuracy keeps them apart."""
        return version if not self.bundle.is_heuristic else f"{version} ({self.method})"

    @property
    def partner_ids(self) -> pd.Index:
        return pd.Index(self.snapshot["partner_id"].unique())

    def score(self, rows: pd.DataFrame, *, num_threads: int = 0) -> pd.DataFrame:
        """Quantiles for feature rows (a scoring frame): the contract's forecast columns."""
        q = self.bundle.predict_quantiles(rows, horizon=rows["horizon"], num_threads=num_threads)
        out = rows[["partner_id", "quarter_start", "horizon"]].reset_index(drop=True)
        return pd.concat([out, q.reset_index(drop=True)], axis=1)[OUTPUT_COLUMNS]

    def snapshot_rows(self, partner_ids: list[str] | None, horizon: int) -> pd.DataFrame:
        """Snapshot rows of the given partners (all when None) up to ``horizon``."""
        _check_horizon(horizon)
        snap = self.snapshot
        rows = snap[snap["horizon"] <= horizon]
        if partner_ids is None:
            return rows
        unknown = sorted(set(partner_ids) - set(snap["partner_id"]))
        if unknown:
            raise UnknownPartnersError(unknown)
        wanted = pd.Index(pd.unique(pd.Series(partner_ids, dtype="string")))
        picked = rows[rows["partner_id"].isin(wanted)]
        order = pd.Series(np.arange(len(wanted)), index=wanted)
        return picked.iloc[np.argsort(order[picked["partner_id"]].to_numpy(), kind="stable")]

    def forecast(
        self,
        partner_ids: list[str] | None = None,
        horizon: int = MAX_HORIZON,
        *,
        num_threads: int = 0,
    ) -> pd.DataFrame:
        """Forecasts as of the training date for known partners (all when None)."""
        return self.score(self.snapshot_rows(partner_ids, horizon), num_threads=num_threads)

    # -- explanations ------------------------------------------------------------
    def drivers(
        self, rows: pd.DataFrame, *, top: int = 5, num_threads: int = 0
    ) -> list[list[dict[str, Any]]]:
        """Top feature contributions to each row's P50, in money and plain words.

        LightGBM's ``pred_contrib`` works in the model's (asinh) space; each
        feature's share of the move from the average partner's forecast to this
        one is expressed in money, so the contributions add up to that move.
        """
        contrib = self.bundle.contributions(rows, num_threads=num_threads)
        bias = contrib.pop("bias").to_numpy()
        z = contrib.sum(axis=1).to_numpy() + bias
        money_move = inverse_transform(
            z, self.bundle.transform, self.bundle.scale
        ) - inverse_transform(bias, self.bundle.transform, self.bundle.scale)
        total = contrib.sum(axis=1).to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(total[:, None] != 0, contrib.to_numpy() / total[:, None], 0.0)
        money = share * money_move[:, None]
        names = contrib.columns.to_numpy()
        out = []
        for i in range(len(rows)):
            order = np.argsort(-np.abs(money[i]))[:top]
            out.append(
                [
                    {
                        "feature": describe_feature(names[j]),
                        "column": names[j],
                        "contribution": float(money[i, j]),
                    }
                    for j in order
                    if money[i, j] != 0
                ]
            )
        return out

    def scoring_rows(self, ds: Dataset, *, as_of: pd.Timestamp, horizon: int) -> pd.DataFrame:
        """Fresh feature rows of every partner in ``ds`` as of ``as_of`` (the model's spec)."""
        _check_horizon(horizon)
        return build_scoring_frame(ds, as_of=as_of, spec=self.spec, horizon=horizon)

    # -- groups ------------------------------------------------------------------
    def aggregate(
        self,
        group_by: str,
        horizon: int = MAX_HORIZON,
        *,
        rows: pd.DataFrame | None = None,
        n_samples: int = 2000,
        seed: int = 42,
        num_threads: int = 0,
    ) -> pd.DataFrame:
        """Group forecasts (region, tier, partner_type or total) that add up, with intervals.

        ``rows`` are scoring rows (default: the snapshot as of the training date).
        ``num_threads`` goes to LightGBM (1 in the HTTP service: no OpenMP spin).
        """
        return self.aggregate_levels(
            [group_by], horizon, rows=rows, n_samples=n_samples, seed=seed, num_threads=num_threads
        )[group_by]

    def aggregate_levels(
        self,
        group_bys: list[str],
        horizon: int = MAX_HORIZON,
        *,
        rows: pd.DataFrame | None = None,
        n_samples: int = 2000,
        seed: int = 42,
        num_threads: int = 0,
    ) -> dict[str, pd.DataFrame]:
        """:meth:`aggregate` of several levels, each exactly what it gives alone, with the
        partners scored and their joint samples drawn once for all of them."""
        unknown = [g for g in group_bys if g not in GROUP_LEVELS]
        if unknown:
            raise ValueError(
                f"group_by must be one of {', '.join(GROUP_LEVELS)}, got {unknown[0]!r}"
            )
        rows = self.snapshot_rows(None, horizon) if rows is None else rows
        forecasts = self.score(rows[rows["horizon"] <= horizon], num_threads=num_threads)
        first = rows.drop_duplicates("partner_id").set_index("partner_id")
        levels = {
            g: (
                pd.Series("total", index=first.index)
                if g == "total"
                else first[g].astype("string").fillna("unknown")
            )
            for g in group_bys
        }
        return aggregate_forecast_levels(
            forecasts,
            levels,
            rho=self.rho,
            transform=self.bundle.transform,
            scale=self.bundle.scale,
            n_samples=n_samples,
            seed=seed,
        )

    # -- cold start --------------------------------------------------------------
    def cold_start_rows(self, partner: dict[str, Any], horizon: int = MAX_HORIZON) -> pd.DataFrame:
        """Feature rows of a partner the model has never seen, as of the training date.

        The partner's attributes (and ``joined_on``, default the as-of date) go
        through the same feature builders as everyone else; figures given for
        feature columns (e.g. ``open_amount``) then replace the empty defaults.
        """
        _check_horizon(horizon)
        joined = pd.Timestamp(partner.get("joined_on") or self.as_of).normalize()
        if joined > self.as_of:
            raise ValueError(
                f"joined_on {joined.date()} is after the model's as-of date {self.as_of.date()}"
            )
        attributes = {
            k: v
            for k, v in partner.items()
            if k not in self.spec.feature_columns and k not in ("partner_id", "joined_on")
        }
        row: dict[str, Any] = {}
        for column in COLUMNS["partners"]:
            row[column.name] = attributes.pop(column.name, None) or column.default
        row.update(partner_id="__new__", joined_on=joined, name="new partner", **attributes)
        partners = pd.DataFrame([row])
        for column in partners.columns.difference(["joined_on"]):
            partners[column] = partners[column].astype("string")
        partners["joined_on"] = partners["joined_on"].astype("datetime64[ns]")
        ds = Dataset(partners=partners, bookings=empty_frame("bookings"))
        rows = build_scoring_frame(ds, as_of=self.as_of, spec=self.spec, horizon=horizon)
        for column, value in partner.items():
            if column in self.spec.feature_columns and column not in self.spec.categorical_columns:
                rows[column] = np.float32(value)
        return rows

    def cold_start(
        self, partner: dict[str, Any], horizon: int = MAX_HORIZON, *, num_threads: int = 0
    ) -> pd.DataFrame:
        """Forecast for a new partner: ``quarter_start, horizon, p10, p50, p90``."""
        rows = self.cold_start_rows(partner, horizon)
        return self.score(rows, num_threads=num_threads).drop(columns="partner_id")

    # -- persistence -------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        self.bundle.save(folder / "bundle")
        self.snapshot.to_parquet(folder / "snapshot.parquet", index=False)
        meta = {
            "spec": self.spec.to_dict(),
            "as_of": str(self.as_of.date()),
            "rho": {str(k): v for k, v in self.rho.items()},
            "info": self.info,
        }
        (folder / "forecaster.json").write_text(
            json.dumps(meta, indent=2, default=str), encoding="utf-8"
        )
        return folder

    @classmethod
    def load(cls, folder: Path) -> PartnerForecaster:
        folder = Path(folder)
        meta = json.loads((folder / "forecaster.json").read_text(encoding="utf-8"))
        spec = FeatureSpec.from_dict(meta["spec"])
        snapshot = pd.read_parquet(folder / "snapshot.parquet")
        return cls(
            bundle=QuantileBundle.load(folder / "bundle"),
            spec=spec,
            snapshot=_restore_categoricals(snapshot, spec),
            as_of=pd.Timestamp(meta["as_of"]),
            rho={int(k): float(v) for k, v in meta["rho"].items()},
            info=meta.get("info", {}),
        )


def _check_horizon(horizon: int) -> None:
    if not isinstance(horizon, int | np.integer) or not 1 <= horizon <= MAX_HORIZON:
        raise ValueError(f"horizon must be a whole number from 1 to {MAX_HORIZON}, got {horizon!r}")


def _restore_categoricals(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Parquet keeps categories, but pin them to the spec's levels in the spec's order."""
    from features.families.partner_attributes import attribute_column

    out = frame.copy()
    for source, levels in spec.categorical_levels.items():
        column = attribute_column(source)
        if column in out:
            out[column] = pd.Categorical(out[column].astype("string"), categories=list(levels))
    return out
