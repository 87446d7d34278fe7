"""Request and answer bodies of the HTTP API (../shared/API_CONTRACT.md fixes the names).

Requests validate everything that can be checked without the model (types, ranges,
empty lists, unknown fields); what needs the model (unknown partner ids, batch limits,
feature names of a new partner) is checked by :mod:`serving.answers`. The examples
appear in the OpenAPI document served at ``/docs.json`` (BentoML's OpenAPI 3.0 schema
objects take one ``example`` per model, not a list of ``examples``).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(2199, 12, 31)  # dates a model can work at
MAX_HORIZON = 4  # features.scoring.forecaster.MAX_HORIZON, fixed by the contract

PartnerId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Horizon = Annotated[
    int,
    Field(
        ge=1,
        le=MAX_HORIZON,
        strict=True,
        description="quarters ahead, 1 to 4: every quarter up to this one is answered",
    ),
]
GroupBy = Literal["region", "tier", "partner_type", "total"]


def number_or_none(value: Any) -> float | None:
    """A float for an answer's field, None where the estimate is NaN (not computable)."""
    value = float(value)
    return None if math.isnan(value) else value


class _Request(BaseModel):
    """Requests refuse unknown fields, so a misspelt field is an error, not a default, and
    take JSON's types as the schema says (strict: ``false`` is not a budget of 0, ``0`` is
    not a date; NaN and Infinity are not numbers); integers are still accepted where a
    number is asked."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


# -- requests ----------------------------------------------------------------------
class ForecastRequest(_Request):
    """Forecasts of known partners, as of the model's training date."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {"partner_ids": ["P00001", "P00002"], "horizon": 2, "explain": True}
        }
    )

    partner_ids: list[PartnerId] = Field(
        min_length=1, description="partner ids the model was trained on (duplicates ignored)"
    )
    horizon: Horizon = MAX_HORIZON
    explain: Annotated[bool, Field(strict=True)] = Field(
        default=False, description="add each forecast's top drivers of the P50, in money"
    )


class AggregateRequest(_Request):
    """Group totals that add up, with intervals right for the sum."""

    model_config = ConfigDict(json_schema_extra={"example": {"group_by": "region", "horizon": 4}})

    group_by: GroupBy
    horizon: Horizon = MAX_HORIZON


class NewPartner(BaseModel):
    """A partner the model has never seen: attributes, plus optional figures by feature name.

    Extra fields are numbers for the model's feature columns (e.g. ``open_amount``,
    ``activities_4q``): ``GET /model-info`` lists them under ``feature_columns``.
    """

    model_config = ConfigDict(
        extra="allow",
        strict=True,  # an ISO date for joined_on, numbers for the extra figures
        allow_inf_nan=False,
        json_schema_extra={
            "example": {
                "joined_on": "2023-10-01",
                "tier": "gold",
                "partner_type": "reseller",
                "region": "EMEA",
                "country": "DE",
                "industry": "software",
            }
        },
    )
    __pydantic_extra__: dict[str, float]

    joined_on: dt.date | None = Field(
        default=None,
        ge=EARLIEST,
        le=LATEST,
        description="default: the model's as-of date; never after it",
    )
    tier: str | None = None
    partner_type: str | None = None
    region: str | None = None
    country: str | None = None
    industry: str | None = None


class NewPartnerRequest(_Request):
    """Cold-start forecast of a new partner."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {"partner": {"tier": "gold", "region": "EMEA", "joined_on": "2023-10-01"}}
        }
    )

    partner: NewPartner
    horizon: Horizon = MAX_HORIZON


class RecommendRequest(_Request):
    """Next-best incentive per partner, optionally within a budget."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {"partner_ids": ["P00001"], "budget": 50000, "incentives": None}
        }
    )

    partner_ids: list[PartnerId] | None = Field(
        default=None, min_length=1, description="null for every partner"
    )
    budget: float | None = Field(default=None, ge=0, description="total cost limit; null: none")
    incentives: list[str] | None = Field(
        default=None, min_length=1, description="incentives allowed; null for all"
    )
    costs: dict[str, Annotated[float, Field(ge=0)]] | None = Field(
        default=None, description="cost per partner of an incentive, replacing the model's"
    )


class RankRequest(_Request):
    """Partners ranked by the value of investing in them next quarter."""

    model_config = ConfigDict(json_schema_extra={"example": {"top_k": 10, "region": "EMEA"}})

    top_k: int = Field(default=50, ge=1, strict=True)
    region: str | None = None
    tier: str | None = None
    partner_type: str | None = None


KpiGroupBy = Literal["region", "tier", "partner_type"]


class KpiRequest(_Request):
    """Channel KPIs per partner (all, or the ones listed) or per group, as of a date."""

    model_config = ConfigDict(
        json_schema_extra={"example": {"partner_ids": ["P00001", "P00002"], "group_by": None}}
    )
    # given together they are refused (422); serving.openapi writes it into the schema
    exclusive_fields: ClassVar[tuple[str, ...]] = ("partner_ids", "group_by")

    partner_ids: list[PartnerId] | None = Field(
        default=None, min_length=1, description="null for every partner; not with group_by"
    )
    group_by: KpiGroupBy | None = Field(
        default=None, description="null: one row per partner; else one row per group"
    )
    as_of: dt.date | None = Field(
        default=None,
        ge=EARLIEST,
        le=LATEST,
        description="null: the latest date in the service's dataset",
    )


class AttainmentRequest(_Request):
    """Quota odds of the partners (all with a target, or the ones listed) or groups."""

    model_config = ConfigDict(
        json_schema_extra={"example": {"partner_ids": None, "group_by": "region"}}
    )
    exclusive_fields: ClassVar[tuple[str, ...]] = ("partner_ids", "group_by")

    partner_ids: list[PartnerId] | None = Field(
        default=None, min_length=1, description="null for every partner with a target"
    )
    group_by: GroupBy | None = Field(
        default=None, description="null: partner targets; else the targets of that level"
    )
    quarter_start: dt.date | None = Field(
        default=None,
        ge=EARLIEST,
        le=LATEST,
        description="first day of the quarter; null: the quarter holding as_of",
    )
    as_of: dt.date | None = Field(
        default=None,
        ge=EARLIEST,
        le=LATEST,
        description="null: the latest date in the service's dataset",
    )


class ChangesRequest(_Request):
    """What moved in the forecast of a quarter since a date, and why."""

    model_config = ConfigDict(
        json_schema_extra={"example": {"since": "2025-11-30", "group_by": "region", "top_k": 5}}
    )

    since: dt.date = Field(ge=EARLIEST, le=LATEST, description="compare with the forecast then")
    group_by: GroupBy | None = Field(default=None, description="null: partner rows")
    top_k: int = Field(default=20, ge=1, strict=True, description="the biggest moves first")
    quarter_start: dt.date | None = Field(
        default=None, ge=EARLIEST, le=LATEST, description="null: the quarter after as_of"
    )
    as_of: dt.date | None = Field(
        default=None, ge=EARLIEST, le=LATEST, description="null: the dataset's latest date"
    )


class OverrideRequest(_Request):
    """A planner's P50 for a partner or a group in one quarter, and why."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "partner_id": "P00001",
                "quarter_start": "2026-01-01",
                "p50": 120000,
                "reason": "the Q1 renewal slipped to Q2 (call with the partner, 3 Dec)",
            }
        }
    )

    partner_id: PartnerId | None = Field(default=None, description="a partner; or group_by")
    group_by: GroupBy | None = Field(default=None, description="the group's level")
    group: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        default=None, description="the group's value (not needed for total)"
    )
    quarter_start: dt.date = Field(ge=EARLIEST, le=LATEST)
    p50: float = Field(description="the planner's P50 for the quarter")
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
    ] = Field(description="why the model is wrong: required")


# -- answers -----------------------------------------------------------------------
class Driver(BaseModel):
    """One feature's share of the move from the average partner's P50, in money."""

    feature: str
    contribution: float
    column: str | None = None


class QuarterForecast(BaseModel):
    quarter_start: dt.date
    horizon: int
    p10: float
    p50: float
    p90: float


class Override(BaseModel):
    """A stored override: the planner's P50 beside the model's P50 when it was made."""

    override_id: str
    author: str
    created_at: dt.datetime
    partner_id: str | None = None
    group_by: GroupBy | None = None
    group: str | None = None
    quarter_start: dt.date
    p50: float
    p50_model: float = Field(description="the model's P50 when the override was made")
    reason: str
    model_version: str | None = None
    removed_at: dt.datetime | None = None
    removed_by: str | None = None


class OverrideList(BaseModel):
    overrides: list[Override]


class PartnerForecast(QuarterForecast):
    partner_id: str
    drivers: list[Driver] | None = None
    p50_final: float | None = Field(
        default=None, description="the override's P50 where one applies, else p50"
    )
    override: Override | None = None


class ForecastResponse(BaseModel):
    as_of: dt.date
    model_version: str
    method: str = Field(
        "lightgbm",
        description="how the forecasts are made: 'lightgbm' (the model), or "
        "'sales_ops_estimate' (run-rate plus due pipeline times win rate, for a program too "
        "young to backtest; see GET /model-info)",
    )
    forecasts: list[PartnerForecast]


class GroupForecast(QuarterForecast):
    group: str
    p50_final: float | None = Field(
        default=None,
        description="the group's override, else p50 plus its partners' overrides",
    )
    partner_adjustment: float | None = Field(
        default=None, description="sum of (override - model P50) of the group's partners"
    )
    override_gap_to_partners: float | None = Field(
        default=None, description="group override - (p50 + partner_adjustment)"
    )
    override: Override | None = None


class AggregateResponse(BaseModel):
    as_of: dt.date
    model_version: str
    method: str = Field(
        "lightgbm",
        description="how the forecasts are made: 'lightgbm' (the model), or "
        "'sales_ops_estimate' (run-rate plus due pipeline times win rate, for a program too "
        "young to backtest; see GET /model-info)",
    )
    group_by: GroupBy
    forecasts: list[GroupForecast]


class NewPartnerResponse(BaseModel):
    cold_start: Literal[True] = True
    as_of: dt.date
    model_version: str
    forecasts: list[QuarterForecast]


class IncentiveOption(BaseModel):
    incentive: str
    expected_uplift: float
    cost: float
    expected_net: float
    expected_uplift_low: float | None = Field(
        default=None, description="10th percentile of the partner's uplift (80 % interval)"
    )
    expected_uplift_high: float | None = Field(
        default=None, description="90th percentile of the partner's uplift (80 % interval)"
    )
    expected_net_low: float | None = Field(default=None, description="uplift low - cost")
    expected_net_high: float | None = Field(default=None, description="uplift high - cost")


class Recommendation(IncentiveOption):
    partner_id: str
    options: list[IncentiveOption]


class RecommendResponse(BaseModel):
    as_of: dt.date
    model_version: str
    recommendations: list[Recommendation]
    total_cost: float
    total_expected_net: float


class RankedPartner(BaseModel):
    partner_id: str
    rank: int
    score: float
    reasons: list[str]


class RankResponse(BaseModel):
    as_of: dt.date
    model_version: str
    partners: list[RankedPartner]


class _Kpis(BaseModel):
    """The contract's KPI fields (money in the dataset's currency), then the extras."""

    open_pipeline: float
    pipeline_created_qtd: float
    pipeline_created_ytd: float
    revenue_qtd: float
    revenue_ytd: float
    forecast_p50_quarter: float | None = Field(
        description="the champion's P50 for this quarter as it stood at the quarter's start"
    )
    attainment_vs_forecast: float | None = Field(description="revenue_qtd / forecast_p50_quarter")
    leaderboard_rank: int = Field(description="1 = highest revenue_ytd; ties by growth_ytd")
    mdf_spend_4q: float
    mdf_roi: float | None = Field(
        description="the recommender's estimated incremental revenue per MDF dollar"
    )
    mdf_revenue_per_dollar_naive: float | None = Field(
        description="revenue of the last 4 quarters / MDF spend: not a return (credits MDF "
        "with every sale)"
    )
    open_opportunities: float
    revenue_ytd_prior: float
    growth_ytd: float
    revenue_4q: float
    forecast_source: str | None = Field(
        description="ledger (recorded at the time), rescored, or rescored_in_sample (the "
        "model has seen the quarter's outcome)"
    )


class _Targets(BaseModel):
    """Quota odds of this quarter and the next, where the dataset has a target."""

    target: float | None = None
    gap_p50: float | None = Field(default=None, description="target - P50 of the quarter")
    prob_reach_target: float | None = None
    pipeline_coverage: float | None = Field(
        default=None, description="open pipeline due in the quarter / (target - booked)"
    )
    target_next: float | None = None
    gap_p50_next: float | None = None
    prob_reach_target_next: float | None = None
    pipeline_coverage_next: float | None = None


class PartnerKpis(_Targets, _Kpis):
    partner_id: str
    name: str | None = None
    region: str | None = None
    tier: str | None = None
    partner_type: str | None = None
    forecast_as_of: dt.date | None = None
    forecast_model_version: str | None = None


class GroupKpis(_Targets, _Kpis):
    group: str
    partners: int


class KpiResponse(BaseModel):
    as_of: dt.date
    quarter_start: dt.date
    group_by: KpiGroupBy | None
    kpis: list[PartnerKpis] | list[GroupKpis]


class _Attainment(BaseModel):
    """One quota: the quarter's revenue as booked plus the forecast of the rest."""

    quarter_start: dt.date
    target: float
    booked_to_date: float
    quarter_elapsed: float = Field(description="share of the quarter's days up to as_of")
    p10: float | None
    p50: float | None = Field(description="P50 of the quarter: booked + the rest's forecast")
    p90: float | None
    gap_p50: float | None = Field(description="target - p50 (positive: short of target)")
    prob_reach_target: float | None = Field(description="P(quarter revenue >= target)")
    remaining_gap: float = Field(description="target - booked_to_date")
    pipeline_due: float = Field(description="open pipeline expected to close in the quarter")
    pipeline_coverage: float | None = Field(
        description="pipeline_due / remaining_gap; null once the target is reached"
    )
    forecast_as_of: dt.date = Field(description="the forecast used is as of this date")


class PartnerAttainment(_Attainment):
    partner_id: str


class GroupAttainment(_Attainment):
    group: str


class AttainmentResponse(BaseModel):
    as_of: dt.date
    quarter_start: dt.date
    group_by: GroupBy | None
    attainment: list[PartnerAttainment] | list[GroupAttainment]


class Reason(BaseModel):
    cause: str = Field(
        description="model_version, bookings, pipeline_*, engagement, time, "
        "new_partner, override or other"
    )
    amount: float = Field(description="its part of the move, in money")


class Change(BaseModel):
    partner_id: str | None = None
    group: str | None = None
    quarter_start: dt.date
    p50_then: float
    p50_now: float
    delta: float = Field(description="p50_now - p50_then = the sum of the reasons' amounts")
    reasons: list[Reason]


class WeekSnapshot(BaseModel):
    week_end: dt.date
    group: str
    p50: float = Field(description="sum of the partners' latest recorded P50 by week_end")
    partners: int


class ChangesResponse(BaseModel):
    as_of: dt.date
    since: dt.date
    quarter_start: dt.date | None
    model_version: str
    changes: list[Change]
    snapshots: list[WeekSnapshot] = Field(
        default=[], description="the forecast as it stood each week, from the ledger"
    )


class ModelInfo(BaseModel):
    name: str
    version: str
    run_id: str
    as_of: dt.date | None
    metrics: dict[str, float]
    source: str = Field(description="where it was loaded from: the registry URI or 'bentoml'")
    loaded_at: dt.datetime
    feature_columns: list[str] = []
    method: str | None = Field(
        None, description="the forecaster's: 'lightgbm' or 'sales_ops_estimate'"
    )
    backtested: bool | None = Field(
        None,
        description="false for a forecaster promoted without a backtest (a history too "
        "short for one fold, or trained with --no-backtest)",
    )


class ModelProblem(BaseModel):
    name: str
    reason: str


class ModelInfoResponse(BaseModel):
    models: list[ModelInfo]
    unavailable: list[ModelProblem] = []


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer: ``error`` says what to fix; more fields when useful."""

    error: str
    unknown_partner_ids: list[str] | None = None
