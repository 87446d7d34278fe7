"""``POST /what-if``: what an incentive plan is expected to add to next quarter's forecasts.

Request and answer models, and the endpoint's one library call,
:func:`features.reporting.what_if` (the same as ``partnercast what-if``), on the champion
recommender's logged tables (as of its training date, like ``/recommend``). A plan that
cannot be applied as written is a 4xx naming what to fix: unknown partner ids 404 (listed
in ``unknown_partner_ids``), everything else 422 (``rows`` names the plan rows, as
``plan[i]``, 0-based). The forecasts themselves are never changed.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from features.calendar import QuarterCalendar
from features.names import RECOMMENDER_MODEL
from features.reporting.what_if import PlanError, evaluate_plan
from serving.answers import ApiError
from serving.champions import Loaded
from serving.schemas import GroupBy, PartnerId, _Request, number_or_none
from serving.settings import ServingSettings

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class PlanRow(_Request):
    """One row of a plan: a partner, or a segment (any of region, tier, partner_type)."""

    partner_id: PartnerId | None = Field(default=None, description="a partner; or a segment")
    region: Name | None = None
    tier: Name | None = None
    partner_type: Name | None = None
    incentive: Name = Field(description="an incentive the recommender knows, or none")


class WhatIfRequest(_Request):
    """A plan (or null: the recommender's), optionally within a budget."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "plan": [
                    {"region": "EMEA", "incentive": "mdf"},
                    {"partner_id": "P00001", "incentive": "none"},
                ],
                "budget": 250000,
            }
        }
    )

    plan: list[PlanRow] | None = Field(
        default=None,
        description="incentive per partner or segment: a partner row beats a segment row, "
        "a segment row naming more columns beats one naming fewer; null: the recommender's "
        "plan",
    )
    budget: float | None = Field(
        default=None,
        ge=0,
        description="total cost limit: the plan's highest-net rows that fit are kept (the "
        "recommender's plan: its best within the budget); null: none",
    )


class GroupDelta(BaseModel):
    group_by: GroupBy
    group: str
    quarter_start: dt.date
    delta_p10: float | None = Field(description="null when the model has no intervals")
    delta_p50: float = Field(description="expected change of the group's forecast")
    delta_p90: float | None
    partners_treated: int
    cost: float
    expected_net: float


class PlanRowResult(BaseModel):
    row: int = Field(description="index in the plan, from 0")
    incentive: str
    partners: int = Field(description="partners this row governs after precedence")
    expected_uplift: float
    cost: float
    expected_net: float
    kept: bool = Field(description="false: dropped by the budget (its partners get none)")


class WhatIfResponse(BaseModel):
    as_of: dt.date | None
    model_version: str
    quarter_start: dt.date
    budget: float | None
    cost: float
    expected_uplift: float
    expected_net: float
    expected_net_p10: float | None
    expected_net_p90: float | None
    has_intervals: bool
    partners_treated: int
    dropped_rows: list[int] = Field(description="plan rows the budget dropped, from 0")
    rows: list[PlanRowResult] = Field(description="one per plan row; empty for null plans")
    groups: list[GroupDelta]


class WhatIfSource:
    """Answers ``POST /what-if`` with the service's fiscal calendar."""

    def __init__(self, settings: ServingSettings | None = None) -> None:
        self.settings = settings or ServingSettings()

    def answer(self, loaded: Loaded, request: WhatIfRequest, *, max_batch: int) -> WhatIfResponse:
        champion = loaded.get(RECOMMENDER_MODEL)
        plan = None
        if request.plan is not None:
            if len(request.plan) > max_batch:
                raise ApiError(
                    413,
                    f"{len(request.plan)} plan rows in one request; at most {max_batch} are "
                    "allowed (PARTNERCAST_MAX_BATCH): use segment rows",
                )
            plan = [row.model_dump() for row in request.plan]
        try:
            result = evaluate_plan(
                champion.scorer,
                plan,
                budget=request.budget,
                calendar=QuarterCalendar(self.settings.fy_start_month),
                labels=None if plan is None else [f"plan[{i}]" for i in range(len(plan))],
            )
        except PlanError as exc:
            status = 404 if "unknown_partner_ids" in exc.details else 422
            raise ApiError(status, str(exc), **exc.details) from exc
        groups = [
            GroupDelta(
                **{k: v for k, v in record.items() if k not in ("delta_p10", "delta_p90")},
                delta_p10=number_or_none(record["delta_p10"]),
                delta_p90=number_or_none(record["delta_p90"]),
            )
            for record in result.groups.assign(
                quarter_start=result.groups["quarter_start"].dt.date
            ).to_dict("records")
        ]
        rows = [
            PlanRowResult(**{k: record[k] for k in PlanRowResult.model_fields})
            for record in result.rows.to_dict("records")
        ]
        return WhatIfResponse(
            as_of=champion.as_of,
            model_version=champion.version,
            quarter_start=result.quarter_start.date(),
            budget=request.budget,
            cost=result.cost,
            expected_uplift=result.expected_uplift,
            expected_net=result.expected_net,
            expected_net_p10=number_or_none(result.expected_net_p10),
            expected_net_p90=number_or_none(result.expected_net_p90),
            has_intervals=result.has_intervals,
            partners_treated=result.partners_treated,
            dropped_rows=result.dropped_rows,
            rows=rows,
            groups=groups,
        )
