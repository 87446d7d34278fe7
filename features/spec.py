"""The fitted feature specification that travels with a model.

A :class:`FeatureSpec` is learned once from training data (``features.frames.fit_feature_spec``)
and logged with the model as JSON (``to_dict`` / ``from_dict``). Every frame built with it has
exactly its columns in its order, whatever the scoring data holds: activity and incentive
types outside its vocabularies add no column, categorical levels outside its levels become
missing, and vocabulary columns with no rows are 0. Serving therefore cannot drift from
training.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from features.calendar import QuarterCalendar
from features.families.seasonal_index import SEASONAL_FEATURES
from features.families.target_quarter import TARGET_QUARTER_FEATURES

SPEC_VERSION = 1
HORIZON_FEATURES: tuple[str, ...] = (
    "horizon",
    "target_fiscal_quarter",
    "revenue_target_q_last_year",
    "run_rate_non_deal",
    "expected_deal_revenue",
    "sales_ops_estimate",
    *TARGET_QUARTER_FEATURES,
    *SEASONAL_FEATURES,
)


@dataclass(frozen=True)
class FeatureSpec:
    """Vocabularies, categorical levels, settings and the ordered feature columns."""

    fy_start_month: int
    fitted_as_of: str
    activity_types: tuple[str, ...] = ()
    activity_amount_types: tuple[str, ...] = ()
    incentive_types: tuple[str, ...] = ()
    categorical_levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    numeric_partner_columns: tuple[str, ...] = ()
    win_rate_prior_strength: float = 10.0
    max_category_levels: int = 100
    partner_feature_columns: tuple[str, ...] = ()
    horizon_feature_columns: tuple[str, ...] = HORIZON_FEATURES
    version: int = SPEC_VERSION

    def __post_init__(self) -> None:
        if self.win_rate_prior_strength < 0:
            raise ValueError("win_rate_prior_strength must be at least 0")
        if self.version != SPEC_VERSION:
            raise ValueError(f"feature spec version {self.version} is not {SPEC_VERSION}")

    @property
    def calendar(self) -> QuarterCalendar:
        """The quarter calendar the features were fitted with."""
        return QuarterCalendar(self.fy_start_month)

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """The model's input columns, in order: per-partner features, then per-horizon ones."""
        return self.partner_feature_columns + self.horizon_feature_columns

    @property
    def categorical_columns(self) -> tuple[str, ...]:
        """Feature columns that are pandas categoricals (pass these to LightGBM as such)."""
        from features.families.partner_attributes import attribute_column

        return tuple(attribute_column(c) for c in self.categorical_levels)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (lists and strings only)."""
        return {
            "version": self.version,
            "fy_start_month": self.fy_start_month,
            "fitted_as_of": self.fitted_as_of,
            "activity_types": list(self.activity_types),
            "activity_amount_types": list(self.activity_amount_types),
            "incentive_types": list(self.incentive_types),
            "categorical_levels": {k: list(v) for k, v in self.categorical_levels.items()},
            "numeric_partner_columns": list(self.numeric_partner_columns),
            "win_rate_prior_strength": self.win_rate_prior_strength,
            "max_category_levels": self.max_category_levels,
            "partner_feature_columns": list(self.partner_feature_columns),
            "horizon_feature_columns": list(self.horizon_feature_columns),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(
            version=int(data["version"]),
            fy_start_month=int(data["fy_start_month"]),
            fitted_as_of=str(data["fitted_as_of"]),
            activity_types=tuple(data["activity_types"]),
            activity_amount_types=tuple(data["activity_amount_types"]),
            incentive_types=tuple(data["incentive_types"]),
            categorical_levels={k: tuple(v) for k, v in data["categorical_levels"].items()},
            numeric_partner_columns=tuple(data["numeric_partner_columns"]),
            win_rate_prior_strength=float(data["win_rate_prior_strength"]),
            max_category_levels=int(data["max_category_levels"]),
            partner_feature_columns=tuple(data["partner_feature_columns"]),
            horizon_feature_columns=tuple(data["horizon_feature_columns"]),
        )
