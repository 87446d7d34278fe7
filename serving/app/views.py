"""What each page shows, asked of the service the way its endpoints ask.

Every number comes from the same calls the API makes (:mod:`serving.answers`, the
service's :class:`~serving.kpis.KpiSource` and :class:`~serving.what_if.WhatIfSource`,
the override desk), through :meth:`ServiceState.answer` like an endpoint: the same
champions snapshot, the same ledger record, the same overrides applied. What is added
here is only arrangement: which answers a page needs, sorted and filtered for reading,
and the quarters of actual revenue behind the fan charts (the feature code's revenue
panel summed by group).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
from starlette.responses import Response

from features.calendar import QuarterCalendar
from features.families.panel import build_revenue_panel
from features.reporting.attainment import partner_groups
from serving import answers
from serving.answers import ApiError
from serving.http import ServiceState
from serving.kpis import KpiSource
from serving.schemas import (
    AggregateRequest,
    AttainmentRequest,
    ChangesRequest,
    ForecastRequest,
    KpiRequest,
    RankRequest,
    RecommendRequest,
)
from serving.what_if import WhatIfRequest, WhatIfSource

HISTORY_QUARTERS = 8  # actual quarters drawn behind a fan chart
LEVELS = ("region", "tier", "partner_type")
LEADERBOARD_TTL = 30.0  # seconds a leaderboard is reused while the champions stay the same
SORTABLE = {
    "leaderboard_rank": "rank by revenue YTD",
    "revenue_ytd": "revenue YTD",
    "growth_ytd": "growth YTD",
    "forecast_p50_quarter": "forecast this quarter (P50)",
    "attainment_vs_forecast": "attainment vs forecast",
    "prob_reach_target": "quota odds",
    "score": "ranking score",
}


class Unanswered(Exception):
    """The service answered with an error (the API's status and message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Soft:
    """An answer a page can do without: the value, or why there is none."""

    value: Any = None
    error: str | None = None


class Desk:
    """The service as the pages see it (filled in when the service starts)."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self.kpis: KpiSource | None = None
        self.what_if: WhatIfSource | None = None
        self._lock = threading.Lock()
        self._leaderboard: tuple[tuple, float, pd.DataFrame] | None = None
        self._actuals: dict[tuple, dict[str, list[tuple[dt.date, float]]]] = {}

    def attach(self, kpis: KpiSource, what_if: WhatIfSource) -> None:
        self.kpis, self.what_if = kpis, what_if

    @property
    def symbol(self) -> str:
        settings = self.state.settings
        return settings.currency_symbol if settings is not None else "$"

    @property
    def calendar(self) -> QuarterCalendar:
        settings = self.state.settings
        return QuarterCalendar(settings.fy_start_month if settings is not None else 1)

    # -- asking ----------------------------------------------------------------------
    def ask(self, call: Any, request: Any) -> Any:
        """One endpoint's answer, or :class:`Unanswered` with the API's status and error."""
        if self.kpis is None or self.what_if is None:
            raise Unanswered(503, "the service is still starting")
        answer = self.state.answer(call, request)
        if isinstance(answer, Response):
            body = json.loads(bytes(answer.body) or b"{}")
            raise Unanswered(answer.status_code, str(body.get("error", "request failed")))
        return answer

    def soft(self, call: Any, request: Any) -> Soft:
        try:
            return Soft(self.ask(call, request))
        except Unanswered as exc:
            return Soft(error=exc.message)

    def model_info(self) -> Any:
        return answers.model_info(self.state.loaded)

    # -- actual revenue ----------------------------------------------------------------
    def actuals(self, level: str | None) -> dict[str, list[tuple[dt.date, float]]]:
        """The last quarters' revenue per partner (``level`` None) or group, the current
        quarter to date last (made once per dataset version and level)."""
        assert self.kpis is not None
        signature, ds = self.kpis.dataset()
        key = (signature, level)
        with self._lock:
            found = self._actuals.get(key)
        if found is not None:
            return found
        panel = build_revenue_panel(ds, as_of=ds.as_of(None), calendar=self.calendar)
        last = panel["quarter_start"].drop_duplicates().nlargest(HISTORY_QUARTERS)
        panel = panel[panel["quarter_start"].isin(last)]
        groups = partner_groups(ds, level)
        panel = panel.assign(group=panel["partner_id"].astype(str).map(groups))
        frame = panel.groupby(["group", "quarter_start"], as_index=False)["revenue"].sum()
        found = {}
        for group, quarter, revenue in zip(
            frame["group"].astype(str), frame["quarter_start"], frame["revenue"], strict=True
        ):
            found.setdefault(group, []).append((quarter.date(), float(revenue)))
        with self._lock:
            self._actuals = {k: v for k, v in self._actuals.items() if k[0] == signature}
            self._actuals[key] = found
        return found

    # -- pages -------------------------------------------------------------------------
    def quarter(self, level: str) -> dict[str, Any]:
        """Forecasts, actuals and targets of every group at ``level`` (or the total)."""
        forecast = self.ask(answers.aggregate, AggregateRequest(group_by=level, horizon=4))
        quarters = sorted({f.quarter_start for f in forecast.forecasts})
        now = self.soft(self.kpis.attainment, AttainmentRequest(group_by=level))
        later = self.soft(
            self.kpis.attainment, AttainmentRequest(group_by=level, quarter_start=quarters[0])
        )
        targets: dict[str, dict[str, float]] = {}
        odds: dict[str, list[Any]] = {}
        for soft in (now, later):
            for row in soft.value.attainment if soft.value is not None else []:
                targets.setdefault(row.group, {})[row.quarter_start.isoformat()] = row.target
                if all(r.quarter_start != row.quarter_start for r in odds.get(row.group, [])):
                    odds.setdefault(row.group, []).append(row)
        rows = {}
        for f in forecast.forecasts:
            rows.setdefault(f.group, []).append(f.model_dump())
        try:
            actuals, actuals_error = self.actuals(level), None
        except ApiError as exc:  # no dataset: the forecasts still stand, without actuals
            actuals, actuals_error = {}, str(exc.body["error"])
        return {
            "as_of": forecast.as_of,
            "model_version": forecast.model_version,
            "groups": rows,
            "actuals": actuals,
            "actuals_error": actuals_error,
            "targets": targets,
            "odds": odds,
            "targets_error": now.error,
        }

    def changes(self, level: str | None, top_k: int = 10) -> Soft:
        """The biggest moves of the forecast in the seven days to the data's last date."""
        if self.kpis is None:
            return Soft(error="the service is still starting")
        since = self.kpis.dataset()[1].as_of(None).date() - dt.timedelta(days=7)
        return self.soft(
            self.kpis.changes, ChangesRequest(since=since, group_by=level, top_k=top_k)
        )

    def leaderboard(self) -> pd.DataFrame:
        """Every partner's KPIs with the ranking score (kept a while: typing in the search
        box asks again on each key)."""
        loaded = self.state.loaded
        key = tuple(sorted((m.name, m.version) for m in loaded.models.values()))
        now = time.monotonic()
        with self._lock:
            cached = self._leaderboard
        if cached is not None and cached[0] == key and now - cached[1] < LEADERBOARD_TTL:
            return cached[2]
        kpis = self.ask(self.kpis.answer, KpiRequest())
        frame = pd.DataFrame([k.model_dump() for k in kpis.kpis])
        rank = self.soft(answers.rank, RankRequest(top_k=max(len(frame), 1)))
        if rank.value is not None:
            scores = pd.DataFrame(
                [
                    {"partner_id": p.partner_id, "score": p.score, "score_rank": p.rank}
                    for p in rank.value.partners
                ]
            )
            frame = frame.merge(scores, on="partner_id", how="left")
        else:
            frame = frame.assign(score=float("nan"), score_rank=float("nan"))
        frame.attrs["rank_error"] = rank.error
        frame.attrs["as_of"] = kpis.as_of
        with self._lock:
            self._leaderboard = (key, now, frame)
        return frame

    def partner(self, partner_id: str) -> dict[str, Any]:
        forecast = self.ask(
            answers.forecast, ForecastRequest(partner_ids=[partner_id], horizon=4, explain=True)
        )
        rows = [f.model_dump() for f in forecast.forecasts]
        kpi = self.soft(self.kpis.answer, KpiRequest(partner_ids=[partner_id]))
        odds = self.soft(self.kpis.attainment, AttainmentRequest(partner_ids=[partner_id]))
        options = self.soft(answers.recommend, RecommendRequest(partner_ids=[partner_id]))
        overrides = (
            self.state.overrides.listing(partner_id, None).overrides
            if self.state.overrides is not None
            else []
        )
        return {
            "forecast": forecast,
            "rows": rows,
            "drivers": next((r["drivers"] for r in rows if r.get("drivers")), []),
            "drivers_quarter": next((r["quarter_start"] for r in rows if r.get("drivers")), None),
            "actuals": self.actuals(None).get(partner_id, []),
            "kpi": kpi.value.kpis[0] if kpi.value is not None and kpi.value.kpis else None,
            "kpi_error": kpi.error,
            "odds": odds.value.attainment if odds.value is not None else [],
            "recommendation": options.value.recommendations[0]
            if options.value is not None and options.value.recommendations
            else None,
            "recommend_error": options.error,
            "overrides": overrides,
        }

    def recommended(self, budget: float | None) -> tuple[Any, list[Any]]:
        """The recommender's plan within ``budget``: the answer, and the partners given an
        incentive, best expected net first."""
        answer = self.ask(answers.recommend, RecommendRequest(budget=budget))
        given = sorted(
            (r for r in answer.recommendations if r.incentive != "none"),
            key=lambda r: -r.expected_net,
        )
        return answer, given

    def what_if_of(self, budget: float | None) -> Soft:
        """What that plan does to next quarter's group forecasts (``POST /what-if``)."""
        return self.soft(self.what_if.answer, WhatIfRequest(plan=None, budget=budget))
