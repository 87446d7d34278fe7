"""The app's routes: pages from Jinja2 templates, fragments for htmx, its own assets.

Mounted by the service at ``/app`` (:mod:`serving.service`); the API's middleware lets
``/app`` through and the pages sign their users in themselves (:mod:`serving.app.auth`).
Every script, style sheet and font is served from here: htmx from ``static/vendor`` (a
pinned copy, see ``docs/app.md``), plotly.js from the installed ``plotly`` wheel, the
system's own fonts. Blocking work (scoring, the dataset) runs in the thread pool.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from serving.answers import ApiError
from serving.app import charts
from serving.app.accuracy import AccuracyReports
from serving.app.auth import COOKIE, SessionBook
from serving.app.money import money, plain, ratio, share
from serving.app.views import LEVELS, SORTABLE, Desk, Unanswered
from serving.http import ServiceState
from serving.identity import WRITERS, Identity
from serving.schemas import OverrideRequest

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
PREFIX = "/app"
LEADERBOARD_ROWS = 100  # rows shown at once; the search narrows the rest
PLAN_ROWS = 200

Handler = Callable[[Request, Identity], Awaitable[Response]]


def plotly_js() -> Path:
    """plotly.min.js as shipped inside the installed ``plotly`` wheel."""
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


class PlannerApp:
    """The planners' pages over one service state; :attr:`asgi` is what gets mounted."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self.desk = Desk(state)
        self.sessions = SessionBook(state)
        self.reports = AccuracyReports()
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        env = self.templates.env
        env.filters.update(
            money=lambda v, short=True: money(v, self.desk.symbol, short=short),
            share=share,
            ratio=ratio,
            plain=plain,
        )
        env.globals.update(prefix=PREFIX, levels=LEVELS, sortable=SORTABLE)
        env.globals["quote"] = quote
        self.asgi = Starlette(routes=self._routes())

    def attach(self, kpis: Any, what_if: Any) -> None:
        """Called by the service once its KPI and what-if sources exist."""
        self.desk.attach(kpis, what_if)

    # -- plumbing --------------------------------------------------------------------
    def _routes(self) -> list[Any]:
        page = self._page
        return [
            Route("/", self.home),
            Route("/sign-in", self.sign_in, methods=["GET", "POST"]),
            Route("/sign-out", self.sign_out, methods=["POST"]),
            Route("/quarter", page(self.quarter)),
            Route("/quarter/groups", page(self.quarter_groups)),
            Route("/quarter/changes", page(self.quarter_changes)),
            Route("/partners", page(self.partners)),
            Route("/partners/{partner_id}", page(self.partner)),
            Route("/partners/{partner_id}/overrides", page(self.add_override), methods=["POST"]),
            Route("/incentives", page(self.incentives)),
            Route("/incentives/plan", page(self.plan), methods=["GET", "POST"]),
            Route("/incentives.csv", page(self.plan_csv)),
            Route("/accuracy", page(self.accuracy)),
            Route("/accuracy/realised", page(self.realised)),
            Route("/static/vendor/plotly.min.js", self.plotly),
            Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
        ]

    def _page(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Only signed-in callers: the others get the sign-in page (htmx: a redirect)."""

        async def guarded(request: Request) -> Response:
            who = self.sessions.caller(request.cookies.get(COOKIE))
            if who is None:
                target = f"{PREFIX}/sign-in?next={quote(request.url.path)}"
                if request.headers.get("HX-Request"):
                    return Response(status_code=401, headers={"HX-Redirect": target})
                return RedirectResponse(target, status_code=303)
            if request.method == "POST" and not request.headers.get("HX-Request"):
                return self._error(request, who, 403, "writes come from the app's own pages")
            try:
                return await handler(request, who)
            except Unanswered as exc:
                return self._error(request, who, exc.status, exc.message)
            except ApiError as exc:  # the dataset behind KPIs and actuals is missing or invalid
                return self._error(request, who, exc.status, str(exc.body["error"]))

        return guarded

    def _render(
        self, request: Request, who: Identity | None, name: str, **context: Any
    ) -> Response:
        status = context.pop("status_code", 200)
        context.update(
            who=who,
            open_service=self.sessions.open,
            can_write=who is not None and who.role in WRITERS,
            symbol=self.desk.symbol,
            path=request.url.path,
        )
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    def _error(self, request: Request, who: Identity, status: int, message: str) -> Response:
        name = "error_fragment.html" if request.headers.get("HX-Request") else "error.html"
        return self._render(request, who, name, message=message, status_code=status)

    async def plotly(self, request: Request) -> Response:
        return FileResponse(plotly_js(), media_type="text/javascript")

    # -- signing in ------------------------------------------------------------------
    async def home(self, request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/quarter", status_code=303)

    async def sign_in(self, request: Request) -> Response:
        target = request.query_params.get("next", "")
        if not target.startswith(PREFIX + "/") or target.startswith(PREFIX + "//"):
            target = f"{PREFIX}/quarter"  # only the app's own pages, never another site
        if self.sessions.open:
            return RedirectResponse(target, status_code=303)
        if request.method == "GET":
            return self._render(request, None, "sign_in.html", next=target, failed=False)
        form = await request.form()
        signed = self.sessions.sign_in(str(form.get("key", "")))
        if signed is None:
            return self._render(
                request, None, "sign_in.html", next=target, failed=True, status_code=401
            )
        session, who = signed
        log.info("app: %s (%s) signed in", who.name, who.role)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, session, path=PREFIX, httponly=True, samesite="strict")
        return response

    async def sign_out(self, request: Request) -> Response:
        self.sessions.sign_out(request.cookies.get(COOKIE))
        response = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    # -- Quarter -----------------------------------------------------------------------
    async def quarter(self, request: Request, who: Identity) -> Response:
        total = await run_in_threadpool(self.desk.quarter, "total")
        forecasts = total["groups"].get("total", [])
        odds = total["odds"].get("total", [])
        figure = charts.fan_chart(
            forecasts,
            total["actuals"].get("total", []),
            symbol=self.desk.symbol,
            targets=total["targets"].get("total"),
            height=360,
        )
        return self._render(
            request,
            who,
            "quarter.html",
            total=total,
            forecasts=forecasts,
            odds=odds,
            figure=figure,
        )

    async def quarter_groups(self, request: Request, who: Identity) -> Response:
        level = request.query_params.get("level", "region")
        if level not in LEVELS:
            raise Unanswered(400, f"level must be one of {', '.join(LEVELS)}, got {level!r}")
        data = await run_in_threadpool(self.desk.quarter, level)
        figures = {
            group: charts.fan_chart(
                rows,
                data["actuals"].get(group, []),
                symbol=self.desk.symbol,
                targets=data["targets"].get(group),
                title=group,
                height=260,
                legend=False,
            )
            for group, rows in sorted(data["groups"].items())
        }
        return self._render(
            request, who, "quarter_groups.html", data=data, figures=figures, level=level
        )

    async def quarter_changes(self, request: Request, who: Identity) -> Response:
        """What moved in the last seven days (loaded after the page: it rescores)."""
        level = request.query_params.get("level") or None
        if level is not None and level not in LEVELS:
            raise Unanswered(400, f"level must be one of {', '.join(LEVELS)}, got {level!r}")
        changes = await run_in_threadpool(self.desk.changes, level)
        return self._render(request, who, "changes_fragment.html", changes=changes)

    # -- Partners ----------------------------------------------------------------------
    async def partners(self, request: Request, who: Identity) -> Response:
        params = request.query_params
        sort = params.get("sort", "leaderboard_rank")
        if sort not in SORTABLE:
            sort = "leaderboard_rank"
        ascending = params.get("dir", "asc" if sort == "leaderboard_rank" else "desc") == "asc"
        query = params.get("q", "").strip()
        frame = await run_in_threadpool(self.desk.leaderboard)
        shown = frame
        if query:
            text = query.casefold()
            hit = frame["partner_id"].str.casefold().str.contains(text, regex=False)
            if "name" in frame:
                hit |= frame["name"].fillna("").str.casefold().str.contains(text, regex=False)
            shown = frame[hit]
        shown = shown.sort_values(sort, ascending=ascending, na_position="last", kind="stable")
        context = {
            "rows": shown.head(LEADERBOARD_ROWS).to_dict("records"),
            "matched": len(shown),
            "total": len(frame),
            "sort": sort,
            "ascending": ascending,
            "query": query,
            "rank_error": frame.attrs.get("rank_error"),
            "no_quota_odds": bool(len(frame)) and bool(frame["prob_reach_target"].isna().all()),
            "as_of": frame.attrs.get("as_of"),
        }
        partial = request.headers.get("HX-Request") and params.get("partial") == "table"
        return self._render(
            request, who, "leaderboard.html" if partial else "partners.html", **context
        )

    async def partner(self, request: Request, who: Identity, **extra: Any) -> Response:
        partner_id = request.path_params["partner_id"]
        data = await run_in_threadpool(self.desk.partner, partner_id)
        symbol = self.desk.symbol
        targets = {o.quarter_start.isoformat(): o.target for o in data["odds"]}
        figure = charts.fan_chart(data["rows"], data["actuals"], symbol=symbol, targets=targets)
        options = None
        rec = data["recommendation"]
        if rec is not None:
            options = charts.interval_bars(
                [o.incentive for o in rec.options],
                [o.expected_net for o in rec.options],
                [o.expected_net_low for o in rec.options],
                [o.expected_net_high for o in rec.options],
                symbol=symbol,
                name="expected net",
                highlight=rec.incentive,
            )
        drivers = charts.driver_bars(data["drivers"], symbol=symbol) if data["drivers"] else None
        name = "partner_forecast.html" if extra.get("fragment") else "partner.html"
        return self._render(
            request,
            who,
            name,
            partner_id=partner_id,
            data=data,
            figure=figure,
            options=options,
            drivers=drivers,
            **extra,
        )

    async def add_override(self, request: Request, who: Identity) -> Response:
        if who.role not in WRITERS:
            raise Unanswered(403, "overrides need the role planner or admin")
        form = await request.form()
        partner_id = request.path_params["partner_id"]
        raw = str(form.get("p50", "")).replace(",", "").strip()
        fields: dict[str, Any] = {
            "partner_id": partner_id,
            "quarter_start": str(form.get("quarter_start", "")),
            "p50": _number_or_text(raw),
            "reason": str(form.get("reason", "")),
        }
        try:  # as the API reads its JSON body (strict: a date as text, a number as a number)
            body = OverrideRequest.model_validate_json(json.dumps(fields))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            return await self.partner(request, who, fragment=True, problem=problems)
        desk = self.state.overrides
        if desk is None:
            raise Unanswered(503, "the service is still starting")
        try:
            made = await run_in_threadpool(desk.create, self.state.loaded, body, who)
        except ApiError as exc:
            return await self.partner(request, who, fragment=True, problem=exc.body["error"])
        return await self.partner(request, who, fragment=True, made=made)

    # -- Incentives --------------------------------------------------------------------
    async def incentives(self, request: Request, who: Identity) -> Response:
        return self._render(
            request, who, "incentives.html", budget=request.query_params.get("budget", "")
        )

    @staticmethod
    def _budget(raw: str | None) -> float | None:
        text = (raw or "").replace(",", "").strip()
        if not text:
            return None
        try:
            budget = float(text)
        except ValueError as exc:
            raise Unanswered(400, f"budget must be a number, got {raw!r}") from exc
        if budget < 0 or budget != budget:
            raise Unanswered(400, f"budget must be 0 or more, got {raw!r}")
        return budget

    async def plan(self, request: Request, who: Identity) -> Response:
        source = await request.form() if request.method == "POST" else request.query_params
        budget = self._budget(source.get("budget"))
        (recommended, given), what_if = await asyncio.gather(  # two cores: both at once
            run_in_threadpool(self.desk.recommended, budget),
            run_in_threadpool(self.desk.what_if_of, budget),
        )
        data = {
            "recommended": recommended,
            "what_if": what_if.value,
            "what_if_error": what_if.error,
            "budget": budget,
        }
        figure = None
        if data["what_if"] is not None and data["what_if"].groups:
            groups = [g for g in data["what_if"].groups if g.group_by == "region"] or data[
                "what_if"
            ].groups
            figure = charts.interval_bars(
                [g.group for g in groups],
                [g.delta_p50 for g in groups],
                [g.delta_p10 for g in groups],
                [g.delta_p90 for g in groups],
                symbol=self.desk.symbol,
                name="change of next quarter's P50",
            )
        return self._render(
            request,
            who,
            "plan.html",
            data=data,
            rows=given[:PLAN_ROWS],
            count=len(given),
            figure=figure,
            budget_text="" if budget is None else f"{budget:.0f}",
        )

    async def plan_csv(self, request: Request, who: Identity) -> Response:
        budget = self._budget(request.query_params.get("budget"))
        _, given = await run_in_threadpool(self.desk.recommended, budget)
        out = io.StringIO()
        columns = [
            "partner_id",
            "incentive",
            "cost",
            "expected_uplift",
            "expected_net",
            "expected_net_low",
            "expected_net_high",
        ]
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in given:
            writer.writerow([getattr(row, c) for c in columns])
        name = "partnercast-plan.csv" if budget is None else f"partnercast-plan-{budget:.0f}.csv"
        return Response(
            out.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    # -- Accuracy ----------------------------------------------------------------------
    async def accuracy(self, request: Request, who: Identity) -> Response:
        info = self.desk.model_info()
        backtests = []
        for model in info.models:
            table = backtest_table(model.metrics)
            if not table:
                continue
            horizons = sorted({h for row in table.values() for h in row if h != "all"})
            figure = (
                charts.grouped_bars(
                    [f"h{h}" for h in horizons],
                    {name: [row.get(h) for h in horizons] for name, row in table.items()},
                )
                if horizons
                else None
            )
            backtests.append(
                {"model": model, "table": table, "figure": figure, "horizons": horizons}
            )
        return self._render(request, who, "accuracy.html", info=info, backtests=backtests)

    async def realised(self, request: Request, who: Identity) -> Response:
        """The realised accuracy and FVA fragment (``partnercast accuracy``'s numbers)."""
        kpis = self.desk.kpis
        if kpis is None:
            raise Unanswered(503, "the service is still starting")
        signature, ds = await run_in_threadpool(kpis.dataset)
        report = await run_in_threadpool(self.reports.get, ds, signature, kpis.settings)
        fva = report.value_added
        context: dict[str, Any] = {"report": report, "figure": None}
        if fva is not None and not fva.empty:
            overall = fva[fva["segment"] == "all"]
            by_h = overall[overall["horizon"] != "all"]
            context["figure"] = charts.grouped_bars(
                [f"h{h}" for h in by_h["horizon"]],
                {
                    "seasonal naive": by_h["wape_naive"].tolist(),
                    "model": by_h["wape_model"].tolist(),
                    "final (with overrides)": by_h["wape_final"].tolist(),
                },
            )
            everything = fva[fva["horizon"] == "all"]
            context["by_horizon"] = overall.to_dict("records")
            context["by_segment"] = everything[
                ~everything["segment"].isin(["all", "author"])
            ].to_dict("records")
            context["by_author"] = everything[everything["segment"] == "author"].to_dict("records")
        if report.report is not None:
            context["versions"] = report.report[report.report["segment"] == "all"].to_dict(
                "records"
            )
        return self._render(request, who, "accuracy_realised.html", **context)


def backtest_table(metrics: dict[str, float], metric: str = "wape") -> dict[str, dict[str, float]]:
    """``{model: {horizon: value}}`` from a run's ``<model>.<metric>.h<k>|all`` metrics."""
    table: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        parts = key.rsplit(".", 2)
        if len(parts) != 3 or parts[1] != metric:
            continue
        horizon = parts[2][1:] if parts[2].startswith("h") else parts[2]
        table.setdefault(parts[0], {})[horizon] = value
    return table


def _number_or_text(text: str) -> float | str:
    """A typed number as a number; anything else as it is, for the validator to name."""
    try:
        return float(text)
    except ValueError:
        return text
