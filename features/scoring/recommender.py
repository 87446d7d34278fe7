"""The trained incentive recommender as scoring sees it: per-partner options, policy, ranking.

Training estimates, for every partner as of the training date, the expected uplift
and cost of every incentive (``training.incentives.recommender``) and the forecaster's growth
outlook; this object carries those tables inside the logged MLflow model. At request
time only the business rules run (``features.scoring.policy``,
``features.scoring.ranking``): allowed incentives, cost overrides, the budget, ranking filters.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.scoring.forecaster import UnknownPartnersError
from features.scoring.policy import recommend_incentives
from features.scoring.ranking import rank_partners

FILTERS: tuple[str, ...] = ("region", "tier", "partner_type")


@dataclass(frozen=True)
class PartnerRecommender:
    """Uplift and cost per partner and incentive, partner attributes, growth outlook."""

    options: pd.DataFrame  # partner_id, uplift_<i>..., cost_<i>..., [p10_, p90_uplift_<i>...]
    attributes: pd.DataFrame  # partner_id, region, tier, partner_type
    growth: pd.Series  # forecast P50 next quarter minus last quarter's revenue, by partner_id
    as_of: pd.Timestamp
    growth_weight: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def incentives(self) -> list[str]:
        return [c[len("cost_") :] for c in self.options.columns if c.startswith("cost_")]

    @property
    def has_intervals(self) -> bool:
        """Whether the tables carry 80 % uplift intervals (models trained before issue 16
        do not)."""
        return all(f"p10_uplift_{n}" in self.options.columns for n in self.incentives)

    def _rows(self, partner_ids: list[str] | None) -> pd.DataFrame:
        if partner_ids is None:
            return self.options
        if len(partner_ids) == 0:
            raise ValueError("partner_ids is empty: give at least one id, or null for all")
        known = set(self.options["partner_id"])
        unknown = sorted({p for p in partner_ids if p not in known})
        if unknown:
            raise UnknownPartnersError(unknown)
        order = pd.Series(np.arange(len(self.options)), index=self.options["partner_id"])
        picked = order.loc[list(dict.fromkeys(partner_ids))].to_numpy()
        return self.options.iloc[picked].reset_index(drop=True)

    def recommend(
        self,
        partner_ids: list[str] | None = None,
        *,
        budget: float | None = None,
        allowed: Collection[str] | None = None,
        cost_overrides: Mapping[str, float] | None = None,
    ) -> pd.DataFrame:
        """The recommend frame of the CLI contract for the given partners (all when None)."""
        if budget is not None and not budget >= 0:
            raise ValueError(f"budget must be a number of at least 0, got {budget}")
        for name, cost in (cost_overrides or {}).items():
            if not cost >= 0:
                raise ValueError(f"cost of {name!r} must be at least 0, got {cost}")
        rows = self._rows(partner_ids)
        names = self.incentives
        uplift = rows[[f"uplift_{n}" for n in names]].set_axis(names, axis=1)
        costs = rows[[f"cost_{n}" for n in names]].set_axis(names, axis=1).copy()
        for name, cost in (cost_overrides or {}).items():
            if name in costs.columns:
                costs[name] = float(cost)
        interval = None
        if self.has_intervals:
            interval = tuple(
                rows[[f"{p}_uplift_{n}" for n in names]].set_axis(names, axis=1)
                for p in ("p10", "p90")
            )
        return recommend_incentives(
            uplift,
            costs,
            rows["partner_id"].to_numpy(),
            budget=budget,
            allowed=allowed,
            interval=interval,
        )

    def rank(
        self,
        *,
        top_k: int | None = None,
        region: str | None = None,
        tier: str | None = None,
        partner_type: str | None = None,
    ) -> pd.DataFrame:
        """Partners by the value of investing in them next quarter, optionally filtered."""
        wanted = {"region": region, "tier": tier, "partner_type": partner_type}
        attrs = self.attributes
        keep = np.ones(len(attrs), dtype=bool)
        for column, value in wanted.items():
            if value is not None:
                keep &= (attrs[column].astype("string") == value).to_numpy()
        ids = attrs.loc[keep, "partner_id"].astype(str).tolist()
        if not ids:
            return pd.DataFrame(columns=["partner_id", "rank", "score", "reasons"])
        recommendations = self.recommend(ids)
        return rank_partners(
            recommendations,
            growth=self.growth,
            growth_weight=self.growth_weight,
            top=top_k,
            scales=self.info.get("effect_scales"),
        )

    # -- persistence -------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        self.options.to_parquet(folder / "options.parquet", index=False)
        self.attributes.to_parquet(folder / "attributes.parquet", index=False)
        self.growth.rename("growth").rename_axis("partner_id").reset_index().to_parquet(
            folder / "growth.parquet", index=False
        )
        meta = {
            "as_of": str(self.as_of.date()),
            "growth_weight": self.growth_weight,
            "info": self.info,
        }
        (folder / "recommender.json").write_text(
            json.dumps(meta, indent=2, default=str), encoding="utf-8"
        )
        return folder

    @classmethod
    def load(cls, folder: Path) -> PartnerRecommender:
        folder = Path(folder)
        meta = json.loads((folder / "recommender.json").read_text(encoding="utf-8"))
        growth = pd.read_parquet(folder / "growth.parquet")
        return cls(
            options=pd.read_parquet(folder / "options.parquet"),
            attributes=pd.read_parquet(folder / "attributes.parquet"),
            growth=pd.Series(growth["growth"].to_numpy(), index=growth["partner_id"].astype(str)),
            as_of=pd.Timestamp(meta["as_of"]),
            growth_weight=float(meta["growth_weight"]),
            info=meta.get("info", {}),
        )
