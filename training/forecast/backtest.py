"""Rolling-origin backtest of the forecaster against the baselines, in one run.

For each of the last K quarter-end cutoffs the forecaster is fitted on rows whose
targets were known by then and scored on the cutoff's rows (horizons 1..H). The
same rows get the baselines:

- seasonal naive, last value, mean of the last four quarters (``training.forecast.baselines``);
- the sales-ops heuristic (``features.families.heuristics``), which the model also gets as
  a feature, so beating it means adding to it.

Point baselines get intervals from the empirical quantiles of their own errors
(in the model's asinh space) on the fold's training rows, so pinball loss and
coverage compare like with like. Metrics come per model and horizon (and ``all``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from features import metrics
from features.calendar import QuarterCalendar
from features.families import sales_ops_estimate
from features.scoring.aggregation import (
    aggregate_forecast_levels,
    estimate_rho,
    split_normal_scores,
)
from features.scoring.quantiles import forward_transform, inverse_transform
from features.spec import FeatureSpec
from training.forecast.baselines import BASELINES, baseline_forecasts
from training.forecast.config import MODEL, ForecastConfig, model_matrix
from training.forecast.reference import RidgeReference
from training.forecast.splits import rolling_origin_folds
from training.forecast.training_data import TrainingData

log = logging.getLogger(__name__)

SALES_OPS = "sales_ops"
ALL_BASELINES: tuple[str, ...] = (*BASELINES, SALES_OPS)
KEYS = ["partner_id", "as_of", "horizon", "quarter_start"]

ReferenceFactory = Callable[[], Any]
"""Makes an unfitted point-forecast reference model: ``fit(frame)``, ``predict(frame)`` on
forecast-frame rows (the target in ``target``)."""

RIDGE = "ridge"
REFERENCES: dict[str, ReferenceFactory] = {RIDGE: RidgeReference}
"""Reference models the backtest scores next to the baselines, by name: the ridge on a dozen
revenue-history and pipeline features that a good analyst would write
(``training.forecast.reference``), so every backtest shows whether the model earns its
complexity. Each gets its own rows in the metrics table and a ``wape_ratio_vs_<name>``
row for the model."""


@dataclass(frozen=True)
class BacktestResult:
    """Test-fold predictions of every model, the metrics table and the copula rho."""

    predictions: pd.DataFrame
    metrics: pd.DataFrame  # model, horizon, metric, value
    rho: dict[int, float]
    model_seconds: float = 0.0  # the forecaster's fit + predict, summed over the folds
    model_cpu_seconds: float = 0.0  # the same in CPU time of this process (user + system)

    def metric(self, model: str, name: str, horizon: int | str = "all") -> float:
        m = self.metrics
        row = m[(m["model"] == model) & (m["metric"] == name) & (m["horizon"] == horizon)]
        return float(row["value"].iloc[0])

    def best_baseline(self, name: str = "wape") -> str:
        """The baseline with the lowest value of ``name`` over all horizons."""
        return min(ALL_BASELINES, key=lambda b: self.metric(b, name))


def _point_baselines(
    frame: pd.DataFrame, panel: pd.DataFrame, calendar: QuarterCalendar
) -> pd.DataFrame:
    points = baseline_forecasts(panel, frame, calendar)
    points[SALES_OPS] = sales_ops_estimate(frame, frame["horizon"].to_numpy())["sales_ops_estimate"]
    return points


SIZE_BINS = 5  # baseline intervals: error quantiles per horizon and size of the point forecast
MIN_BIN_ROWS = 50


@dataclass(frozen=True)
class _Spread:
    """One horizon's 10th/90th error percentiles (asinh space) per size bin of the point."""

    edges: np.ndarray  # inner bin edges of the point forecast in asinh space
    lo: np.ndarray
    hi: np.ndarray

    def at(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bins = np.searchsorted(self.edges, z, side="right")
        return self.lo[bins], self.hi[bins]


def _residual_quantiles(
    actual: np.ndarray, point: np.ndarray, horizon: np.ndarray, scale: float
) -> dict[int, _Spread]:
    """Per horizon and size bin of the point, the 10th and 90th percentiles of errors in
    asinh space. Small partners' revenue is lumpier in relative terms than large ones', so
    one pooled spread is too narrow for the small and far too wide in money for the large."""
    z = forward_transform(point, "asinh", scale)
    r = forward_transform(actual, "asinh", scale) - z
    out = {}
    for h in np.unique(horizon):
        zh, rh = z[horizon == h], r[horizon == h]
        pooled = (np.quantile(rh, 0.1), np.quantile(rh, 0.9))
        n_bins = int(max(1, min(SIZE_BINS, len(zh) // MIN_BIN_ROWS)))
        edges = np.unique(np.quantile(zh, np.linspace(0, 1, n_bins + 1)[1:-1]))
        bins = np.searchsorted(edges, zh, side="right")
        lo, hi = np.empty(len(edges) + 1), np.empty(len(edges) + 1)
        for b in range(len(edges) + 1):
            rb = rh[bins == b]
            lo[b], hi[b] = (
                (np.quantile(rb, 0.1), np.quantile(rb, 0.9)) if len(rb) >= MIN_BIN_ROWS else pooled
            )
        out[int(h)] = _Spread(edges, lo, hi)
    return out


def _with_intervals(
    point: np.ndarray, horizon: np.ndarray, spread: dict[int, _Spread], scale: float
) -> pd.DataFrame:
    z = forward_transform(point, "asinh", scale)
    lo, hi = np.zeros(len(z)), np.zeros(len(z))
    for h, s in spread.items():
        rows = horizon == h
        lo[rows], hi[rows] = s.at(z[rows])
    return pd.DataFrame(
        {
            "p10": np.minimum(inverse_transform(z + lo, "asinh", scale), point),
            "p50": point,
            "p90": np.maximum(inverse_transform(z + hi, "asinh", scale), point),
        }
    )


def _reference_forecasts(
    factory: ReferenceFactory, frame: pd.DataFrame, fold, horizon: np.ndarray, scale: float
) -> pd.DataFrame:
    """A reference model fitted on the fold's training rows; intervals from its in-sample
    errors, per horizon and size, as for the baselines."""
    train, test = frame.iloc[fold.train], frame.iloc[fold.test]
    model = factory().fit(train)
    fitted = np.asarray(model.predict(train), dtype=float)
    spread = _residual_quantiles(
        train["target"].to_numpy(float), fitted, horizon[fold.train], scale
    )
    point = np.asarray(model.predict(test), dtype=float)
    return _with_intervals(point, horizon[fold.test], spread, scale)


def _seasonal_scale(panel: pd.DataFrame, cutoff: pd.Timestamp) -> float:
    history = panel[panel["quarter_start"] <= cutoff].pivot(
        index="partner_id", columns="quarter_start", values="revenue"
    )
    return metrics.seasonal_naive_scale(history.to_numpy(dtype=float), season=4)


def run_backtest(
    frame: pd.DataFrame,
    panel: pd.DataFrame,
    spec: FeatureSpec,
    config: ForecastConfig,
    *,
    with_baselines: bool = True,
    references: Mapping[str, ReferenceFactory] | None = None,
    progress: Callable[[str], None] | None = None,
    on_fold: Callable[[int, pd.DataFrame], None] | None = None,
) -> BacktestResult:
    """Backtest ``config`` on the last ``config.folds`` cutoffs of ``frame``.

    ``frame`` is a forecast frame (``features.frames.build_forecast_frame``) and
    ``panel`` the revenue panel of the same dataset. ``on_fold(i, predictions so
    far)`` is called after each fold (tuning reports and prunes there). ``references``
    (default :data:`REFERENCES` when baselines are on) are fitted on each fold's training
    rows and scored like the baselines.
    """
    if references is None:
        references = REFERENCES if with_baselines else {}
    frame = frame[frame["horizon"] <= config.horizon].reset_index(drop=True)
    X, y = model_matrix(frame, spec), frame["target"].to_numpy(float)
    horizon = frame["horizon"].to_numpy()
    scale = config.estimator().scale
    points = _point_baselines(frame, panel, spec.calendar) if with_baselines else None
    parts, model_seconds, model_cpu_seconds = [], 0.0, 0.0
    for i, fold in enumerate(rolling_origin_folds(frame, folds=config.folds), start=1):
        say = progress or log.info
        say(
            f"backtest fold {i}/{config.folds}: cutoff {fold.cutoff.date()}, "
            f"{len(fold.train)} train rows, {len(fold.test)} test rows"
        )
        began, began_cpu = time.perf_counter(), time.process_time()
        model = config.estimator(refit=False).fit(  # exact split conformal per fold
            X.iloc[fold.train],
            y[fold.train],
            time=frame["quarter_start"].iloc[fold.train],
            horizon=horizon[fold.train],
        )
        q = model.predict_quantiles(X.iloc[fold.test], horizon=horizon[fold.test])
        model_seconds += time.perf_counter() - began
        model_cpu_seconds += time.process_time() - began_cpu
        test = frame.iloc[fold.test][KEYS].reset_index(drop=True)
        test["actual"] = y[fold.test]
        test["mase_scale"] = _seasonal_scale(panel, fold.cutoff)
        test[[f"{MODEL}_{c}" for c in q.columns]] = q.to_numpy()
        if points is not None:
            for name in ALL_BASELINES:
                spread = _residual_quantiles(
                    y[fold.train], points[name].to_numpy()[fold.train], horizon[fold.train], scale
                )
                b = _with_intervals(
                    points[name].to_numpy()[fold.test], horizon[fold.test], spread, scale
                )
                test[[f"{name}_{c}" for c in b.columns]] = b.to_numpy()
        for name, factory in references.items():
            b = _reference_forecasts(factory, frame, fold, horizon, scale)
            test[[f"{name}_{c}" for c in b.columns]] = b.to_numpy()
        parts.append(test)
        if on_fold is not None:
            on_fold(i, pd.concat(parts, ignore_index=True))
    predictions = pd.concat(parts, ignore_index=True)
    models = [MODEL, *(ALL_BASELINES if with_baselines else ()), *references]
    return BacktestResult(
        predictions=predictions,
        metrics=metrics_table(predictions, models),
        rho=_rho_by_horizon(predictions, config.estimator().transform, scale),
        model_seconds=model_seconds,
        model_cpu_seconds=model_cpu_seconds,
    )


def backtest_forecaster(
    data: TrainingData, config: ForecastConfig, *, with_baselines: bool = True
) -> BacktestResult:
    """Rolling-origin backtest of ``config`` on ``data``, with the baselines and the
    references unless ``with_baselines`` is off (see :func:`borrow_baselines`)."""
    return run_backtest(data.frame, data.panel, data.spec, config, with_baselines=with_baselines)


def models_in(predictions: pd.DataFrame) -> list[str]:
    """The models with forecasts in backtest ``predictions``, the forecaster first."""
    return list(
        dict.fromkeys([MODEL, *(c[:-4] for c in predictions.columns if c.endswith("_p50"))])
    )


def borrow_baselines(result: BacktestResult, source: BacktestResult) -> BacktestResult:
    """``result`` (backtested without baselines) with the baseline and reference forecasts of
    ``source``, a backtest on the same folds: they do not depend on the forecaster's settings,
    so ``train`` computes them once for all its candidates."""
    own, theirs = result.predictions, source.predictions
    if not own[KEYS].equals(theirs[KEYS]):
        raise ValueError("borrow_baselines needs two backtests on the same folds and rows")
    extra = [c for c in theirs.columns if c not in own.columns]
    combined = pd.concat([own, theirs[extra]], axis=1)
    return replace(
        result, predictions=combined, metrics=metrics_table(combined, models_in(combined))
    )


def _metric_rows(rows: pd.DataFrame, model: str, horizon: int | str) -> list[dict]:
    y = rows["actual"].to_numpy()
    p10, p50, p90 = (rows[f"{model}_{c}"].to_numpy() for c in ("p10", "p50", "p90"))
    # MASE per fold (each fold has its own in-sample scale), averaged weighting rows equally
    mase = float(
        np.average(
            [
                metrics.mase(g["actual"], g[f"{model}_p50"], g["mase_scale"].iloc[0])
                for _, g in rows.groupby("as_of")
            ],
            weights=rows.groupby("as_of").size().to_numpy(),
        )
    )
    values = {
        "wape": metrics.wape(y, p50),
        "bias": metrics.bias(y, p50),
        "mase": mase,
        "pinball": metrics.pinball_loss(y, {0.1: p10, 0.5: p50, 0.9: p90}),
        "coverage_80": metrics.coverage(y, p10, p90),
    }
    return [
        {"model": model, "horizon": horizon, "metric": k, "value": v} for k, v in values.items()
    ]


def metrics_table(predictions: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Rows ``model, horizon, metric, value`` for each horizon and ``all``."""
    rows = []
    for model in models:
        for h, g in predictions.groupby("horizon"):
            rows += _metric_rows(g, model, int(h))
        rows += _metric_rows(predictions, model, "all")
    table = pd.DataFrame(rows)
    if len(models) > 1:  # the model's WAPE relative to each baseline: the headline ratios
        wape = table[table["metric"] == "wape"].set_index(["model", "horizon"])["value"]
        for base in models[1:]:
            for h in wape.loc[models[0]].index:
                rows.append(
                    {
                        "model": models[0],
                        "horizon": h,
                        "metric": f"wape_ratio_vs_{base}",
                        "value": wape[(models[0], h)] / wape[(base, h)],
                    }
                )
        table = pd.DataFrame(rows)
    return table


def _rho_by_horizon(predictions: pd.DataFrame, transform: str, scale: float) -> dict[int, float]:
    """Copula correlation of the model's errors per horizon, in the model's space."""

    def space(column: str) -> np.ndarray:
        return forward_transform(predictions[column].to_numpy(), transform, scale)

    z = split_normal_scores(
        space("actual"), space(f"{MODEL}_p10"), space(f"{MODEL}_p50"), space(f"{MODEL}_p90")
    )
    scores = predictions[["as_of", "horizon"]].assign(z=z)
    return {int(h): estimate_rho(g) for h, g in scores.groupby("horizon")}


def group_backtest(
    result: BacktestResult, frame: pd.DataFrame, *, transform: str, scale: float, seed: int = 42
) -> pd.DataFrame:
    """How group forecasts (region, tier, partner type, total) did on the backtest folds.

    For each level, the partners' test-fold quantiles are aggregated exactly as
    in production (``features.scoring.aggregation``) and compared with the groups' actual
    totals: rows ``level, metric (wape | coverage_80), value`` over all folds,
    horizons and groups.
    """
    preds = result.predictions
    attrs = frame.drop_duplicates("partner_id").set_index("partner_id")
    level_groups = {
        level: (
            pd.Series("total", index=attrs.index)
            if level == "total"
            else attrs[level].astype("string").fillna("unknown")
        )
        for level in ("region", "tier", "partner_type", "total")
    }
    parts: dict[str, list[pd.DataFrame]] = {level: [] for level in level_groups}
    for _, g in preds.groupby("as_of"):
        forecasts = g.rename(columns={f"{MODEL}_{c}": c for c in ("p10", "p50", "p90")})
        # one set of draws for all four levels (the same numbers as one call per level)
        aggs = aggregate_forecast_levels(
            forecasts[["partner_id", "quarter_start", "horizon", "p10", "p50", "p90"]],
            level_groups,
            rho=result.rho,
            transform=transform,
            scale=scale,
            seed=seed,
        )
        for level, groups in level_groups.items():
            actual = (
                g.assign(group=groups.reindex(g["partner_id"]).to_numpy())
                .groupby(["group", "horizon"])["actual"]
                .sum()
                .rename("actual")
                .reset_index()
            )
            parts[level].append(aggs[level].merge(actual, on=["group", "horizon"]))
    rows = []
    for level in level_groups:
        joined = pd.concat(parts[level], ignore_index=True)
        rows += [
            {
                "level": level,
                "metric": "wape",
                "value": metrics.wape(joined["actual"], joined["p50"]),
            },
            {
                "level": level,
                "metric": "coverage_80",
                "value": metrics.coverage(joined["actual"], joined["p10"], joined["p90"]),
            },
            {"level": level, "metric": "groups_x_quarters", "value": float(len(joined))},
        ]
    return pd.DataFrame(rows)
