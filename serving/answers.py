"""Each endpoint's one library call: request model in, answer model out.

The service calls these with the current :class:`~serving.champions.Loaded` snapshot.
They check what needs the model (unknown partner ids, batch size, feature names) and
raise :class:`ApiError` with a message that says what to fix; the numbers come from
the scoring objects unchanged (known partners' forecasts and group totals from the
:class:`~serving.forecast_table.ForecastTable` scored at load). LightGBM runs
single-threaded here: per request that is faster and far steadier than OpenMP threads
competing with the server's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from pydantic import TypeAdapter

from features.names import FORECASTER_MODEL, RECOMMENDER_MODEL
from features.scoring import UnknownPartnersError
from serving.champions import Champion, Loaded, forecaster_of
from serving.forecast_table import FIELDS, quarter_rows
from serving.schemas import (
    AggregateRequest,
    AggregateResponse,
    Driver,
    ForecastRequest,
    ForecastResponse,
    GroupForecast,
    IncentiveOption,
    ModelInfo,
    ModelInfoResponse,
    ModelProblem,
    NewPartnerRequest,
    NewPartnerResponse,
    PartnerForecast,
    QuarterForecast,
    RankedPartner,
    RankRequest,
    RankResponse,
    Recommendation,
    RecommendRequest,
    RecommendResponse,
)

THREADS = 1  # LightGBM threads per request
# answer rows are made by pydantic-core from plain values in one call: for a 50-partner
# forecast (200 rows) ~5x cheaper than a model_construct per row, the same JSON
PARTNER_ROWS = TypeAdapter(list[PartnerForecast])
GROUP_ROWS = TypeAdapter(list[GroupForecast])


class ApiError(Exception):
    """A request the models cannot answer as asked: HTTP status and ``{"error", ...}``."""

    def __init__(self, status: int, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.status = status
        self.body: dict[str, Any] = {"error": error, **extra}


def _check_batch(ids: Sequence[str] | None, max_batch: int) -> None:
    if ids is not None and len(ids) > max_batch:
        raise ApiError(
            413,
            f"{len(ids)} partner ids in one request; at most {max_batch} are allowed "
            "(PARTNERCAST_MAX_BATCH): split the request",
        )


def _unknown(exc: UnknownPartnersError, version: str) -> ApiError:
    return ApiError(
        404,
        f"{len(exc.ids)} partner id(s) unknown to model v{version}: remove them, or use "
        "POST /forecast/new-partner for partners the model has never seen",
        unknown_partner_ids=list(exc.ids),
    )


def _quarters(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Plain Python values of the forecast columns, one dict per row."""
    return [dict(zip(FIELDS, row, strict=True)) for row in quarter_rows(frame)]


# -- forecasts ---------------------------------------------------------------------
def forecast(loaded: Loaded, request: ForecastRequest, *, max_batch: int) -> ForecastResponse:
    """Known partners' forecasts (and drivers when asked) from the model's snapshot."""
    champion, forecaster, table = forecaster_of(loaded)
    _check_batch(request.partner_ids, max_batch)
    try:
        scores = table.forecast(request.partner_ids, request.horizon)
    except UnknownPartnersError as exc:
        raise _unknown(exc, champion.version) from exc
    drivers = None
    if request.explain:
        rows = forecaster.snapshot_rows(request.partner_ids, request.horizon)
        drivers = forecaster.drivers(rows, num_threads=THREADS)
    forecasts = PARTNER_ROWS.validate_python(
        [
            {
                "partner_id": pid,
                "drivers": None
                if drivers is None
                else [Driver.model_construct(**d) for d in drivers[i]],
                **dict(zip(FIELDS, row, strict=True)),
            }
            for i, (pid, row) in enumerate(scores)
        ]
    )
    return ForecastResponse.model_construct(
        as_of=champion.as_of,
        model_version=champion.version,
        method=forecaster.method,
        forecasts=forecasts,
    )


def aggregate(loaded: Loaded, request: AggregateRequest, *, max_batch: int) -> AggregateResponse:
    """Group totals of every partner in the snapshot, with intervals right for the sum."""
    champion, forecaster, table = forecaster_of(loaded)
    forecasts = GROUP_ROWS.validate_python(
        [
            {"group": group, **dict(zip(FIELDS, row, strict=True))}
            for group, row in table.aggregate(request.group_by, request.horizon)
        ]
    )
    return AggregateResponse.model_construct(
        as_of=champion.as_of,
        model_version=champion.version,
        method=forecaster.method,
        group_by=request.group_by,
        forecasts=forecasts,
    )


def new_partner(
    loaded: Loaded, request: NewPartnerRequest, *, max_batch: int
) -> NewPartnerResponse:
    """Cold-start forecast of a partner described by attributes and optional figures."""
    champion, forecaster, _ = forecaster_of(loaded)
    spec = forecaster.spec
    figures = set(spec.feature_columns) - set(spec.categorical_columns)
    allowed = (figures - set(spec.horizon_feature_columns)) | set(spec.numeric_partner_columns)
    unknown = sorted(set(request.partner.model_extra or {}) - allowed)
    if unknown:
        raise ApiError(
            422,
            f"unknown partner field(s) {unknown}: use the attributes joined_on, tier, "
            "partner_type, region, country, industry, or numeric feature columns listed "
            "under feature_columns in GET /model-info",
        )
    try:
        frame = forecaster.cold_start(
            request.partner.model_dump(exclude_none=True), request.horizon, num_threads=THREADS
        )
    except ValueError as exc:
        raise ApiError(422, f"{exc}: send an earlier joined_on, or none") from exc
    return NewPartnerResponse.model_construct(
        cold_start=True,
        as_of=champion.as_of,
        model_version=champion.version,
        forecasts=[QuarterForecast.model_construct(**q) for q in _quarters(frame)],
    )


# -- incentives --------------------------------------------------------------------
def _bounds(row: dict[str, Any], low: str, high: str, cost: float) -> dict[str, float]:
    """The 80 % interval fields of an option, when the model reports them."""
    if low not in row:
        return {}
    lo, hi = float(row[low]), float(row[high])
    return {
        "expected_uplift_low": lo,
        "expected_uplift_high": hi,
        "expected_net_low": lo - cost,
        "expected_net_high": hi - cost,
    }


def _options(row: dict[str, Any], incentives: list[str]) -> list[IncentiveOption]:
    out = []
    for name in incentives:
        uplift, cost = float(row[f"uplift_{name}"]), float(row[f"cost_{name}"])
        out.append(
            IncentiveOption(
                incentive=name,
                expected_uplift=uplift,
                cost=cost,
                expected_net=uplift - cost,
                **_bounds(row, f"p10_uplift_{name}", f"p90_uplift_{name}", cost),
            )
        )
    return sorted(out, key=lambda o: -o.expected_net)


def _recommendations(frame: pd.DataFrame) -> list[Recommendation]:
    """The scorer's recommend frame as answer rows, in its order."""
    incentives = [c[len("cost_") :] for c in frame.columns if c.startswith("cost_")]
    return [
        Recommendation(
            partner_id=str(row["partner_id"]),
            incentive=str(row["incentive"]),
            expected_uplift=float(row["expected_uplift"]),
            cost=float(row["cost"]),
            expected_net=float(row["expected_net"]),
            options=_options(row, incentives),
            **_bounds(row, "expected_uplift_low", "expected_uplift_high", float(row["cost"])),
        )
        for row in frame.to_dict("records")  # plain dicts: a Series per row costs more
    ]


def _every_recommendation(champion: Champion) -> list[Recommendation]:
    """Every partner's recommendation as the model gives it (no budget, allowed list or
    cost override), computed once per champion: without a budget each partner's choice is
    its own best net, so any request's rows are these rows."""

    def build() -> list[Recommendation]:
        frame = champion.scorer.recommend(None, budget=None, allowed=None, cost_overrides=None)
        return _recommendations(frame)

    return champion.memo("recommend", build)


def _recommendations_by_id(champion: Champion) -> dict[str, Recommendation]:
    every = _every_recommendation(champion)
    return champion.memo("recommend_by_id", lambda: {r.partner_id: r for r in every})


def _known_recommendations(
    champion: Champion, partner_ids: list[str] | None
) -> list[Recommendation]:
    """The remembered rows of ``partner_ids`` (all when None), first occurrence order."""
    if partner_ids is None:
        return _every_recommendation(champion)
    by_id = _recommendations_by_id(champion)
    unknown = sorted({p for p in partner_ids if p not in by_id})
    if unknown:
        raise _unknown(UnknownPartnersError(unknown), champion.version)
    return [by_id[p] for p in dict.fromkeys(partner_ids)]


def recommend(loaded: Loaded, request: RecommendRequest, *, max_batch: int) -> RecommendResponse:
    """Next-best incentive per partner from the recommender champion's scoring object.

    The scorer's ``recommend(partner_ids, budget=, allowed=, cost_overrides=)`` returns the
    CLI contract's frame (``partner_id, incentive, expected_uplift, cost, expected_net``,
    plus ``uplift_<i>``/``cost_<i>`` per incentive, which become ``options``, and the 80 %
    intervals ``expected_uplift_low/high``, ``expected_net_low/high`` when the model has
    them). Without a budget, allowed list or cost override the rows are the champion's
    remembered ones (:func:`_every_recommendation`), the same numbers without the frame.
    """
    champion = loaded.get(RECOMMENDER_MODEL)
    _check_batch(request.partner_ids, max_batch)
    if request.budget is None and request.incentives is None and request.costs is None:
        recommendations = _known_recommendations(champion, request.partner_ids)
        costs = pd.Series([r.cost for r in recommendations], dtype=float)
        nets = pd.Series([r.expected_net for r in recommendations], dtype=float)
        return RecommendResponse(
            as_of=champion.as_of,
            model_version=champion.version,
            recommendations=recommendations,
            total_cost=float(costs.sum()),
            total_expected_net=float(nets.sum()),
        )
    try:
        frame = champion.scorer.recommend(
            request.partner_ids,
            budget=request.budget,
            allowed=request.incentives,
            cost_overrides=request.costs,
        )
    except UnknownPartnersError as exc:
        raise _unknown(exc, champion.version) from exc
    except ValueError as exc:
        raise ApiError(422, str(exc)) from exc
    return RecommendResponse(
        as_of=champion.as_of,
        model_version=champion.version,
        recommendations=_recommendations(frame),
        total_cost=float(frame["cost"].sum()),
        total_expected_net=float(frame["expected_net"].sum()),
    )


def _ranking(champion: Champion, request: RankRequest) -> list[RankedPartner]:
    """Every partner the filters keep, ranked; computed once per champion and filters
    (``top_k`` only cuts the list: the ranking's first k rows are its top k)."""

    def build() -> list[RankedPartner]:
        frame = champion.scorer.rank(
            top_k=None, region=request.region, tier=request.tier, partner_type=request.partner_type
        )
        return [
            RankedPartner(
                partner_id=str(row["partner_id"]),
                rank=int(row["rank"]),
                score=float(row["score"]),
                reasons=list(row["reasons"])
                if not isinstance(row["reasons"], str)
                else [r for r in row["reasons"].split("; ") if r],
            )
            for _, row in frame.iterrows()
        ]

    return champion.memo(("rank", request.region, request.tier, request.partner_type), build)


def rank(loaded: Loaded, request: RankRequest, *, max_batch: int) -> RankResponse:
    """Top partners by the value of investing in them, from the recommender's scorer."""
    champion = loaded.get(RECOMMENDER_MODEL)
    try:
        partners = _ranking(champion, request)[: min(request.top_k, max_batch)]
    except ValueError as exc:
        raise ApiError(422, str(exc)) from exc
    return RankResponse(as_of=champion.as_of, model_version=champion.version, partners=partners)


def warm(champions: list[Champion]) -> None:
    """Compute what new champions answer most from before any request asks: group totals
    of every level, every recommendation, the unfiltered ranking (seconds of sampling and
    frames, once per champion; a request meanwhile computes what it needs itself)."""
    for champion in champions:
        if champion.table is not None:
            champion.table.warm()
        if champion.name == RECOMMENDER_MODEL:
            _recommendations_by_id(champion)
            _ranking(champion, RankRequest())


# -- which answers are quick -----------------------------------------------------------
QUICK_PARTNERS = 100  # ids in a request answered from memory on the server's event loop


def quick(loaded: Loaded, request: Any) -> bool:
    """Whether ``request`` is answered from what is already in memory, in well under a
    millisecond (no model run, no sampling, no frame): then the service answers it on
    its event loop instead of handing it to a worker thread and back, which costs more
    than the answer (two thread wake-ups and interpreter-lock hand-offs per request)."""
    ids = getattr(request, "partner_ids", None)
    if ids is not None and len(ids) > QUICK_PARTNERS:
        return False
    if isinstance(request, ForecastRequest):
        return not request.explain
    if isinstance(request, AggregateRequest):
        champion = loaded.models.get(FORECASTER_MODEL)
        return (
            champion is not None
            and champion.table is not None
            and (champion.table.has_level(request.group_by))
        )
    champion = loaded.models.get(RECOMMENDER_MODEL)
    if champion is None:
        return True  # the answer is the 503 saying so
    if isinstance(request, RecommendRequest):
        plain = request.budget is None and request.incentives is None and request.costs is None
        return plain and ids is not None and "recommend_by_id" in champion.memos
    if isinstance(request, RankRequest):
        return ("rank", request.region, request.tier, request.partner_type) in champion.memos
    return False


# -- about the models ----------------------------------------------------------------
def _forecaster_kind(champion: Champion) -> dict[str, Any]:
    """``method`` and ``backtested`` of the forecaster (nothing for other models)."""
    if champion.name != FORECASTER_MODEL:
        return {}
    info = getattr(champion.scorer, "info", {}) or {}
    return {"method": champion.scorer.method, "backtested": bool(info.get("backtested", True))}


def model_info(loaded: Loaded) -> ModelInfoResponse:
    """Names, versions, runs, as-of dates and training metrics of the loaded champions."""
    models = []
    for champion in loaded.models.values():
        spec = getattr(champion.scorer, "spec", None)
        models.append(
            ModelInfo(
                name=champion.name,
                version=champion.version,
                run_id=champion.run_id,
                as_of=champion.as_of,
                metrics=champion.metrics,
                source=champion.source,
                loaded_at=champion.loaded_at,
                feature_columns=list(spec.feature_columns)
                if spec is not None and champion.name == FORECASTER_MODEL
                else [],
                **_forecaster_kind(champion),
            )
        )
    problems = [ModelProblem(name=n, reason=r) for n, r in loaded.problems.items()]
    return ModelInfoResponse(models=models, unavailable=problems)
