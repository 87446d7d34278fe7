"""The partnercast HTTP API: a BentoML service over the champion models.

Each endpoint is a request model in, one call into :mod:`serving.answers`, an answer
model out. The champions are loaded when BentoML starts the service (never trained
here) and refreshed by polling or ``POST /reload``; see :mod:`serving.champions`.
Run it with ``partnercast serve`` (or ``python -m serving.run``); the OpenAPI document
with examples is at ``/docs.json``, the Swagger UI at ``/``, the planners' web app
(:mod:`serving.app`) at ``/app``.
"""

from __future__ import annotations

from typing import get_type_hints

import bentoml

from serving import answers, traffic
from serving.app import PlannerApp
from serving.experiments import (
    ExperimentSource,
    PlanRequest,
    PlanResponse,
    ReportRequest,
    ReportResponse,
)
from serving.http import THREADS, ApiMiddleware, ServiceState, extra_routes
from serving.kpis import KpiSource
from serving.openapi import document
from serving.schemas import (
    AggregateRequest,
    AggregateResponse,
    AttainmentRequest,
    AttainmentResponse,
    ChangesRequest,
    ChangesResponse,
    ForecastRequest,
    ForecastResponse,
    KpiRequest,
    KpiResponse,
    NewPartnerRequest,
    NewPartnerResponse,
    RankRequest,
    RankResponse,
    RecommendRequest,
    RecommendResponse,
)
from serving.settings import ServingSettings
from serving.what_if import WhatIfRequest, WhatIfResponse, WhatIfSource

traffic.install()  # BentoML's request timeout, its timers cancelled (serving.traffic)
state = ServiceState()  # filled in by PartnerCast.__init__ in each worker
pages = PlannerApp(state)  # the planners' web app, mounted at /app


@bentoml.service(
    name="partnercast",
    workers=1,
    threads=THREADS,  # two requests scored at once on 2 cores; LightGBM single-threaded
    traffic={"timeout": 60},
    logging={"access": {"enabled": False}},
)
@bentoml.asgi_app(extra_routes(state), path="/")
@bentoml.asgi_app(pages.asgi, path="/app")
class PartnerCast:
    """Partner revenue forecasts, next-best incentives and partner ranking."""

    def __init__(self) -> None:
        settings = ServingSettings()
        state.start(settings)
        self.kpi_source = KpiSource(settings)
        self.what_if_source = WhatIfSource(settings)
        self.experiment_source = ExperimentSource(settings, self.kpi_source.dataset)
        pages.attach(self.kpi_source, self.what_if_source)

    def __is_ready__(self) -> bool:
        return state.ready

    @bentoml.on_shutdown
    def _stop_polling(self) -> None:
        state.stop()

    @bentoml.api(route="/forecast")
    async def forecast(self, request: ForecastRequest, /) -> ForecastResponse:
        """P10/P50/P90 per partner and quarter ahead; top drivers of the P50 when asked."""
        return await state.respond(answers.forecast, request)

    @bentoml.api(route="/forecast/aggregate")
    async def forecast_aggregate(self, request: AggregateRequest, /) -> AggregateResponse:
        """Totals by region, tier, partner type or overall, with intervals for the sum."""
        return await state.respond(answers.aggregate, request)

    @bentoml.api(route="/forecast/attainment")
    def forecast_attainment(self, request: AttainmentRequest, /) -> AttainmentResponse:
        """Odds of reaching each target this quarter, gap at P50, pipeline coverage."""
        return state.answer(self.kpi_source.attainment, request)

    @bentoml.api(route="/forecast/changes")
    def forecast_changes(self, request: ChangesRequest, /) -> ChangesResponse:
        """What moved in the forecast since a date, and why, in money."""
        return state.answer(self.kpi_source.changes, request)

    @bentoml.api(route="/forecast/new-partner")
    def forecast_new_partner(self, request: NewPartnerRequest, /) -> NewPartnerResponse:
        """Cold-start forecast of a partner the model has never seen."""
        return state.answer(answers.new_partner, request)

    @bentoml.api(route="/recommend")
    async def recommend(self, request: RecommendRequest, /) -> RecommendResponse:
        """Next-best incentive per partner, with uplift, cost and net of every option."""
        return await state.respond(answers.recommend, request)

    @bentoml.api(route="/rank")
    async def rank(self, request: RankRequest, /) -> RankResponse:
        """Top partners by the value of investing in them next quarter, with reasons."""
        return await state.respond(answers.rank, request)

    @bentoml.api(route="/kpis")
    def kpis(self, request: KpiRequest, /) -> KpiResponse:
        """Channel KPIs per partner or group from the dataset (PARTNERCAST_DATA_DIR)."""
        return state.answer(self.kpi_source.answer, request)

    @bentoml.api(route="/what-if")
    def what_if(self, request: WhatIfRequest, /) -> WhatIfResponse:
        """Expected change of next quarter's group forecasts, cost and net of a plan."""
        return state.answer(self.what_if_source.answer, request)

    @bentoml.api(route="/experiments/plan")
    def experiments_plan(self, request: PlanRequest, /) -> PlanResponse:
        """Randomized arms for next quarter, the exploration cost, detectable effects."""
        return state.answer(self.experiment_source.plan, request)

    @bentoml.api(route="/experiments/report")
    def experiments_report(self, request: ReportRequest, /) -> ReportResponse:
        """Effects measured on randomized rows against the none arm, and the calibration."""
        return state.answer(self.experiment_source.report, request)


ENDPOINTS = {
    api.route: (get_type_hints(api.func)["request"], get_type_hints(api.func)["return"])
    for api in PartnerCast.apis.values()
}
PartnerCast.add_asgi_middleware(
    ApiMiddleware,
    state=state,
    openapi=lambda: document(PartnerCast.openapi_spec.asdict(), ENDPOINTS),
)
