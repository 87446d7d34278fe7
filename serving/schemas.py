"""Request and answer bodies of the HTTP API (../shared/API_CONTRACT.md fixes the names).

Requests validate everything that can be checked without the model (types, ranges,
empty lists, unknown fields); what needs the model (unknown partner ids, batch limits,
feature names of a new partner) is checked by :mod:`serving.answers`. The examples
appear in the OpenAPI document served at ``/docs.json`` (BentoML's OpenAPI 3.0 schema
objects take one ``example`` per model, not a list of ``examples``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, ClassVar, Literal

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


class PartnerForecast(QuarterForecast):
    partner_id: str
    drivers: list[Driver] | None = None


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


class PartnerKpis(_Kpis):
    partner_id: str
    name: str | None = None
    region: str | None = None
    tier: str | None = None
    partner_type: str | None = None
    forecast_as_of: dt.date | None = None
    forecast_model_version: str | None = None


class GroupKpis(_Kpis):
    group: str
    partners: int


class KpiResponse(BaseModel):
    as_of: dt.date
    quarter_start: dt.date
    group_by: KpiGroupBy | None
    kpis: list[PartnerKpis] | list[GroupKpis]


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
