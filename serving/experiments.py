"""``POST /experiments/plan`` and ``POST /experiments/report``: holdout tests over HTTP.

Request and answer models, and the endpoints' one library call each, the same as
``partnercast experiment-plan`` / ``experiment-report``:
:func:`features.reporting.experiment_plan.plan_experiment` on the champion recommender
(its logged tables, as of its training date, like ``/recommend``) and
:func:`features.reporting.experiments.read_experiment` on the service's dataset
(``PARTNERCAST_DATA_DIR``, loaded and reloaded as for ``/kpis``). Both only read: any
caller with a key may ask. Data or a request a test cannot be read from is a 422 whose
``error`` names the table, column and rows to fix.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from features.calendar import QuarterCalendar
from features.data import BadInput, Dataset
from features.names import RECOMMENDER_MODEL
from features.reporting.experiment_plan import plan_experiment
from features.reporting.experiments import read_experiment
from serving.answers import ApiError
from serving.champions import Loaded
from serving.schemas import _Request, number_or_none
from serving.settings import ServingSettings

MAX_CACHED_REPORTS = 16


class PlanRequest(_Request):
    """The share of partners to draw, optionally a budget for the drawn arms, and a seed."""

    model_config = ConfigDict(json_schema_extra={"example": {"share": 0.2, "seed": 7}})

    # ge, not gt: OpenAPI 3.0 has no numeric exclusiveMinimum; 0 is refused by the library (422)
    share: float = Field(ge=0, le=1, description="share of the scored partners drawn, in (0, 1]")
    budget: float | None = Field(
        default=None, ge=0, description="cost limit of the drawn arms (the draw shrinks)"
    )
    seed: int | None = Field(
        default=None, ge=0, le=2**63 - 1, description="the draw's seed; null: 0"
    )


class Assignment(BaseModel):
    partner_id: str
    arm: str = Field(description="an incentive or none")
    stratum: str = Field(description="partner type / size band")
    randomized: bool = Field(description="true: drawn; false: the recommender's choice")
    cost: float = Field(description="the recommender's expected cost of the arm")
    expected_net: float


class DetectableEffect(BaseModel):
    incentive: str
    segment: str
    mde: float | None = Field(description="relative to expected revenue; 80 % power, 5 %")
    n_treated: int
    n_control: int


class PlanResponse(BaseModel):
    as_of: dt.date
    model_version: str
    quarter_start: dt.date
    seed: int
    share: float
    drawn: int
    budget: float | None
    randomized_cost: float
    exploration_cost: float = Field(description="expected net given up against the recommender")
    assignments: list[Assignment]
    min_detectable_effect: list[DetectableEffect]


class ReportRequest(_Request):
    """One tested quarter (default: every one), or every quarter pooled."""

    model_config = ConfigDict(json_schema_extra={"example": {"quarter_start": "2025-10-01"}})

    quarter_start: dt.date | None = Field(default=None, description="a date in the quarter")
    pooled: bool = Field(default=False, description="one effect over all quarters read")


class Effect(BaseModel):
    quarter_start: dt.date
    incentive: str
    segment: str
    effect: float = Field(description="extra revenue per unit of expected revenue")
    ci_low: float
    ci_high: float
    n_treated: int
    n_control: int
    last_quarter_start: dt.date
    quarters: int


class CalibrationAnswer(BaseModel):
    slope: float | None = Field(description="null without a champion or enough partners")
    intercept: float | None
    slope_ci: list[float | None]
    intercept_ci: list[float | None]
    n_treated: int
    n_control: int


class ReportResponse(BaseModel):
    model_version: str | None
    floored: int
    effects: list[Effect]
    calibration: CalibrationAnswer


class ExperimentSource:
    """Answers both endpoints; ``dataset`` gives (signature, Dataset) of the data folder."""

    def __init__(
        self,
        settings: ServingSettings | None,
        dataset: Callable[[], tuple[tuple, Dataset]],
    ) -> None:
        self.settings = settings or ServingSettings()
        self.dataset = dataset
        self._lock = threading.Lock()
        self._reports: dict[tuple, ReportResponse] = {}

    @property
    def calendar(self) -> QuarterCalendar:
        return QuarterCalendar(self.settings.fy_start_month)

    def plan(self, loaded: Loaded, request: PlanRequest, *, max_batch: int) -> PlanResponse:
        champion = loaded.get(RECOMMENDER_MODEL)
        _, ds = self.dataset()
        try:
            plan = plan_experiment(
                champion.scorer,
                ds,
                share=request.share,
                budget=request.budget,
                seed=request.seed,
                calendar=self.calendar,
            )
        except BadInput as exc:
            raise ApiError(422, str(exc)) from exc
        rows = plan.assignments
        return PlanResponse(
            as_of=champion.as_of,
            model_version=champion.version,
            quarter_start=plan.quarter_start.date(),
            seed=plan.seed,
            share=plan.share,
            drawn=plan.drawn,
            budget=plan.budget,
            randomized_cost=plan.randomized_cost,
            exploration_cost=plan.exploration_cost,
            assignments=[
                Assignment(**{k: r[k] for k in Assignment.model_fields})
                for r in rows.to_dict("records")
            ],
            min_detectable_effect=[
                DetectableEffect(**{**r, "mde": number_or_none(r["mde"])})
                for r in plan.min_detectable_effect.to_dict("records")
            ],
        )

    def report(self, loaded: Loaded, request: ReportRequest, *, max_batch: int) -> ReportResponse:
        champion = loaded.models.get(RECOMMENDER_MODEL)
        signature, ds = self.dataset()
        version = None if champion is None else champion.version
        key = (signature, request.quarter_start, request.pooled, version)
        with self._lock:
            if key in self._reports:
                return self._reports[key]
        try:
            report = read_experiment(
                ds,
                calendar=self.calendar,
                options=None if champion is None else champion.scorer.options,
                quarter_start=request.quarter_start,
                pooled=request.pooled,
            )
        except BadInput as exc:
            raise ApiError(422, str(exc)) from exc
        effects = report.effects.assign(
            quarter_start=pd.to_datetime(report.effects["quarter_start"]).dt.date,
            last_quarter_start=pd.to_datetime(report.effects["last_quarter_start"]).dt.date,
        )
        c = report.calibration
        answer = ReportResponse(
            model_version=version,
            floored=report.floored,
            effects=[Effect(**r) for r in effects.to_dict("records")],
            calibration=CalibrationAnswer(
                slope=number_or_none(c.slope),
                intercept=number_or_none(c.intercept),
                slope_ci=[number_or_none(v) for v in c.slope_ci],
                intercept_ci=[number_or_none(v) for v in c.intercept_ci],
                n_treated=c.n_treated,
                n_control=c.n_control,
            ),
        )
        with self._lock:
            if len(self._reports) >= MAX_CACHED_REPORTS:
                self._reports.clear()
            self._reports[key] = answer
        return answer
