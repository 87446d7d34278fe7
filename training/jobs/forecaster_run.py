"""``partnercast train`` for the forecaster: backtest, fit, log, register, gate, promote.

Order matters for the registry's safety: everything is computed and logged
first; the model version is registered only after its artifacts are complete,
and the ``champion`` alias moves last, only when the quality gate passed. A run
that fails or is killed anywhere before that leaves ``champion`` where it was.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

import features.scoring.forecast_pyfunc as forecast_pyfunc
from features.calendar import QuarterCalendar
from features.data import Dataset
from features.distributed import DaskFrames
from features.names import FORECASTER_MODEL
from features.scoring import PartnerForecaster
from features.settings import Settings
from training.forecast import (
    CANDIDATES,
    MODEL,
    SALES_OPS_KIND,
    BacktestResult,
    ForecastConfig,
    TrainingData,
    backtest_forecaster,
    borrow_baselines,
    fit_forecaster,
    fit_sales_ops_forecaster,
    group_backtest,
    prepare_training_data,
    select_candidate,
    usable_folds,
)
from training.jobs.lineage import dataset_digest
from training.jobs.tracking import (
    GateDecision,
    champion_version,
    configure_tracking,
    ensure_experiment,
    promote_if_passed,
)
from training.reports import feature_importance, plot_calibration, plot_fan_charts

log = logging.getLogger(__name__)

EXPERIMENT = "partnercast"
CONFIG_ARTIFACT = "forecast_config.json"
TUNED_PARAMS_TAG = "tuned_params"
COVERAGE_RANGE = (0.70, 0.90)
COVERAGE_NOISE_Z = 3.0
"""Small backtests (a young program's one fold) widen :data:`COVERAGE_RANGE` to 0.8 plus or
minus this many binomial standard errors of the measured coverage: below 144 partner-quarters
a calibrated model would otherwise fail the gate by chance."""
BACKTESTED_TAG = "backtested"
"""Registry version tag: ``false`` for a forecaster promoted without a backtest."""


@dataclass(frozen=True)
class TrainOutcome:
    """What a training run produced, for the CLI's result lines."""

    run_id: str
    model_name: str
    version: str
    promoted: bool
    decision: GateDecision
    headline: dict[str, Any]
    forecaster: PartnerForecaster | None = field(default=None, repr=False)
    data: TrainingData | None = field(default=None, repr=False)
    experiment_id: str = ""


def pip_requirements() -> list[str]:
    """Pinned runtime requirements of the logged model (inferring them costs 6-13 s)."""
    import pyarrow
    import sklearn

    return [
        f"mlflow=={mlflow.__version__}",
        f"lightgbm=={lgb.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
        f"pyarrow=={pyarrow.__version__}",
        f"scikit-learn=={sklearn.__version__}",
    ]


def tuned_config(client: MlflowClient, seed: int) -> ForecastConfig:
    """The forecaster settings stored by ``partnercast tune``, or the defaults."""
    try:
        tags = client.get_registered_model(FORECASTER_MODEL).tags
    except mlflow.exceptions.MlflowException:
        tags = {}
    params = json.loads(tags[TUNED_PARAMS_TAG]) if TUNED_PARAMS_TAG in tags else {}
    if params:
        log.info("using tuned parameters: %s", params)
    return ForecastConfig(params=params, seed=seed)


def champion_config(client: MlflowClient) -> ForecastConfig | None:
    """The settings the current champion was trained with (None when there is none)."""
    version = champion_version(client, FORECASTER_MODEL)
    if version is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = client.download_artifacts(version.run_id, CONFIG_ARTIFACT, tmp)
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    return ForecastConfig(**raw)


def coverage_range(rows: int) -> tuple[float, float]:
    """The 80% coverage a backtest of ``rows`` partner-quarters must show: :data:`COVERAGE_RANGE`,
    or 0.8 +- :data:`COVERAGE_NOISE_Z` standard errors when that is wider (few rows)."""
    lo, hi = COVERAGE_RANGE
    if rows > 0:
        half = COVERAGE_NOISE_Z * float(np.sqrt(0.8 * 0.2 / rows))
        lo, hi = min(lo, 0.8 - half), max(hi, 0.8 + half)
    return lo, hi


def quality_gate(
    candidate: BacktestResult,
    champion_wape: float | None,
    *,
    folds: int | None = None,
    wanted: int | None = None,
) -> GateDecision:
    """WAPE not worse than the champion's on the same folds; coverage within 0.70-0.90
    (wider for small backtests, :func:`coverage_range`). With ``folds``, the reasons also say
    how much was backtested (rows, of ``wanted``)."""
    wape = candidate.metric(MODEL, "wape")
    coverage = candidate.metric(MODEL, "coverage_80")
    rows = len(candidate.predictions)
    lo, hi = coverage_range(rows)
    checks = {}
    if folds is not None:
        of = f" of the {wanted} wanted (short history)" if wanted and folds < wanted else ""
        checks[f"backtested on {folds} fold(s){of}, {rows} partner-quarters"] = True
    widened = f" (widened for {rows} partner-quarters)" if (lo, hi) != COVERAGE_RANGE else ""
    checks[f"80% coverage {coverage:.3f} within {lo:.2f}-{hi:.2f}{widened}"] = lo <= coverage <= hi
    if champion_wape is None:
        checks["no champion yet"] = True
    else:
        text = f"WAPE {wape:.4f} not worse than champion's {champion_wape:.4f} on the same folds"
        checks[text] = wape <= champion_wape + 1e-12
    return GateDecision.from_checks(checks)


def _metric_dict(result: BacktestResult) -> dict[str, float]:
    out = {}
    for row in result.metrics.itertuples(index=False):
        suffix = "all" if row.horizon == "all" else f"h{row.horizon}"
        out[f"{row.model}.{row.metric}.{suffix}"] = float(row.value)
    return out


def headline(result: BacktestResult) -> dict[str, Any]:
    """The numbers a planner asks for first: our WAPE, the best baseline's, their ratio."""
    best = result.best_baseline("wape")
    wape, best_wape = result.metric(MODEL, "wape"), result.metric(best, "wape")
    return {
        "wape": round(wape, 4),
        "best_baseline": best,
        "best_baseline_wape": round(best_wape, 4),
        "wape_ratio_vs_best_baseline": round(wape / best_wape, 4),
        "wape_ratio_vs_seasonal_naive": round(
            result.metric(MODEL, "wape_ratio_vs_seasonal_naive"), 4
        ),
        "coverage_80": round(result.metric(MODEL, "coverage_80"), 4),
        "pinball": round(result.metric(MODEL, "pinball"), 2),
        "bias": round(result.metric(MODEL, "bias"), 4),
    }


def train_forecaster(
    ds: Dataset,
    *,
    data_path: Path,
    as_of: pd.Timestamp | None,
    settings: Settings,
    config: ForecastConfig | None = None,
    backtest: bool = True,
    frames: DaskFrames | None = None,
) -> TrainOutcome:
    """Backtest, fit and log the forecaster; register it; promote it if the gate passes.

    Short histories get the folds they allow (:func:`usable_folds`, down to one). With none
    (or ``backtest=False``) see :func:`_train_without_backtest`. ``frames`` (``--dask``)
    builds the forecast frame per partition of partners on a Dask cluster."""
    client = configure_tracking(settings)
    experiment_id = ensure_experiment(client, EXPERIMENT, settings)
    config = config or tuned_config(client, settings.seed)
    if settings.forecast_sample_rows is not None:  # the operator's row budget (issue 20)
        config = replace(
            config, params={**config.params, "sample_rows": settings.forecast_sample_rows or None}
        )
    calendar = QuarterCalendar(settings.fy_start_month)
    data = prepare_training_data(
        ds,
        as_of=as_of,
        calendar=calendar,
        **({} if frames is None else {"build_frame": frames.forecast_frame}),
    )
    wanted = config.folds
    folds = usable_folds(data.frame, wanted) if backtest else 0
    if backtest and folds < wanted:
        log.warning(
            "the history has %d quarter-end cutoffs with a known next quarter: %s",
            data.frame["as_of"].nunique(),
            f"backtesting on {folds} fold(s) instead of {wanted}"
            if folds
            else "too short for any backtest fold; the champion candidate is the sales-ops "
            "estimate (partnercast train --no-backtest fits the model without one)",
        )
    run_name = f"forecaster {data.as_of.date()}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.set_tags({"backtest.folds_wanted": wanted, "backtest.folds_used": folds})
        if frames is not None:
            mlflow.set_tags(frames.tags())
        if folds == 0:
            return _train_without_backtest(
                ds,
                data,
                data_path,
                config,
                settings,
                client,
                experiment_id,
                run.info.run_id,
                kind=SALES_OPS_KIND if backtest else MODEL,
            )
        config = replace(config, folds=folds)
        config, candidate = _select_settings(data, config, experiment_id)
        _log_lineage(ds, data, data_path, config, settings)
        mlflow.log_metrics(_metric_dict(candidate))
        estimator = config.estimator()
        groups = group_backtest(
            candidate, data.frame, transform=estimator.transform, scale=estimator.scale
        )
        mlflow.log_metrics(
            {f"group.{r.level}.{r.metric}": float(r.value) for r in groups.itertuples()}
        )
        mlflow.log_table(groups, "backtest_groups.json")
        champion_wape = _champion_wape_on_same_folds(client, data, config, candidate)
        if champion_wape is not None:
            mlflow.log_metric("champion.wape.same_folds", champion_wape)
        decision = quality_gate(candidate, champion_wape, folds=folds, wanted=wanted)
        forecaster = fit_forecaster(
            ds,
            data,
            config,
            rho=candidate.rho,
            info={
                "run_id": run.info.run_id,
                "as_of": str(data.as_of.date()),
                "headline": headline(candidate),
            },
        )
        model_info = _log_artifacts_and_model(forecaster, candidate, data, config)
        mlflow.set_tags(
            {
                "quality_gate": "passed" if decision.passed else "failed",
                "quality_gate.reasons": " | ".join(decision.reasons),
            }
        )
        version = mlflow.register_model(model_info.model_uri, FORECASTER_MODEL).version
        client.set_model_version_tag(FORECASTER_MODEL, str(version), BACKTESTED_TAG, "true")
        promoted = promote_if_passed(client, FORECASTER_MODEL, str(version), decision)
    return TrainOutcome(
        run_id=run.info.run_id,
        model_name=FORECASTER_MODEL,
        version=str(version),
        promoted=promoted,
        decision=decision,
        headline={**headline(candidate), "backtest_folds": folds},
        forecaster=forecaster,
        data=data,
        experiment_id=experiment_id,
    )


def _select_settings(
    data: TrainingData, config: ForecastConfig, experiment_id: str
) -> tuple[ForecastConfig, BacktestResult]:
    """Backtest each candidate setting on the same folds (one nested run each) and keep
    the best (``training.forecast.selection``); the choice and its reason go on the run."""
    configs = {
        name: replace(config, params={**config.params, **overrides})
        for name, overrides in CANDIDATES.items()
    }
    results: dict[str, BacktestResult] = {}
    for name, candidate in configs.items():
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=f"candidate {name}", nested=True
        ):
            mlflow.log_params({"candidate": name, **CANDIDATES[name]})
            if not results:  # the first computes the baselines and references for all
                results[name] = backtest_forecaster(data, candidate)
            else:
                own = backtest_forecaster(data, candidate, with_baselines=False)
                results[name] = borrow_baselines(own, next(iter(results.values())))
            mlflow.log_metrics(
                {
                    "wape": results[name].metric(MODEL, "wape"),
                    "coverage_80": results[name].metric(MODEL, "coverage_80"),
                }
            )
    selection = select_candidate(results)
    log.info("forecaster settings: %s (%s)", selection.chosen, selection.reason)
    mlflow.set_tags({"candidate.chosen": selection.chosen, "candidate.reason": selection.reason})
    mlflow.log_metrics(
        {
            "selection.forward_wape": selection.forward.metric(MODEL, "wape"),
            **{f"candidate.{n}.wape": w for n, w in selection.wape.items()},
        }
    )
    mlflow.log_dict(selection.forward_choices, "selection_forward_choices.json")
    return configs[selection.chosen], results[selection.chosen]


def unbacktested_gate(client: MlflowClient, kind: str) -> GateDecision:
    """A forecaster without a backtest cannot show it is not worse than a backtested
    champion: it becomes champion only when there is none, or when that one was not
    backtested either (a young program retraining as its history grows)."""
    version = champion_version(client, FORECASTER_MODEL)
    what = "the sales-ops estimate" if kind == SALES_OPS_KIND else "the model"
    checks = {f"not backtested ({what}; the history allows no fold or --no-backtest)": True}
    if version is None:
        checks["no champion yet"] = True
    else:
        backtested = version.tags.get(BACKTESTED_TAG, "true") != "false"
        checks[
            f"the champion v{version.version} was not backtested either"
            if not backtested
            else f"the champion v{version.version} was backtested: a model without a "
            "backtest cannot show it is not worse"
        ] = not backtested
    return GateDecision.from_checks(checks)


def _train_without_backtest(
    ds: Dataset,
    data: TrainingData,
    data_path: Path,
    config: ForecastConfig,
    settings: Settings,
    client: MlflowClient,
    experiment_id: str,
    run_id: str,
    *,
    kind: str,
) -> TrainOutcome:
    """Inside the open run: the sales-ops estimate with intervals from its errors on the
    closed quarters (``kind`` :data:`SALES_OPS_KIND`), or the model fitted on every known
    target (``kind`` ``lightgbm``, when the user asked with ``--no-backtest``); logged,
    registered, tagged not backtested, and promoted only by :func:`unbacktested_gate`."""
    config = replace(config, folds=0)
    _log_lineage(ds, data, data_path, config, settings)
    info = {"run_id": run_id, "as_of": str(data.as_of.date()), "backtested": False}
    estimator = config.estimator()
    if kind == SALES_OPS_KIND:
        forecaster, measured = fit_sales_ops_forecaster(
            ds, data, transform=estimator.transform, scale=estimator.scale, info=info
        )
    else:
        forecaster = fit_forecaster(ds, data, config, rho={}, info={**info, "kind": MODEL})
        measured = {"training_rows": float(len(data.frame))}
    mlflow.log_metrics({f"unbacktested.{k}": v for k, v in measured.items() if np.isfinite(v)})
    head = {
        "forecaster": kind,
        "backtested": False,
        **{k: round(v, 4) for k, v in measured.items()},
    }
    forecaster = replace(forecaster, info={**forecaster.info, "headline": head})
    decision = unbacktested_gate(client, kind)
    model_info = _log_artifacts_and_model(forecaster, None, data, config)
    mlflow.set_tags(
        {
            "forecaster.kind": kind,
            "quality_gate": "passed" if decision.passed else "failed",
            "quality_gate.reasons": " | ".join(decision.reasons),
        }
    )
    version = str(mlflow.register_model(model_info.model_uri, FORECASTER_MODEL).version)
    client.set_model_version_tag(FORECASTER_MODEL, version, BACKTESTED_TAG, "false")
    client.set_model_version_tag(FORECASTER_MODEL, version, "forecaster.kind", kind)
    promoted = promote_if_passed(client, FORECASTER_MODEL, version, decision)
    return TrainOutcome(
        run_id=run_id,
        model_name=FORECASTER_MODEL,
        version=version,
        promoted=promoted,
        decision=decision,
        headline=head,
        forecaster=forecaster,
        data=data,
        experiment_id=experiment_id,
    )


def _champion_wape_on_same_folds(
    client: MlflowClient, data: TrainingData, config: ForecastConfig, candidate: BacktestResult
) -> float | None:
    champion = champion_config(client)
    if champion is None:
        return None
    if champion.folds == 0:  # not backtested: nothing to compare on
        return None
    champion = replace(champion, folds=config.folds)  # the folds this history allows
    if champion.resolved() == config.resolved():
        log.info("the champion has the candidate's settings: same folds, same WAPE")
        return candidate.metric(MODEL, "wape")
    log.info("backtesting the champion's settings on the same folds")
    return backtest_forecaster(data, champion, with_baselines=False).metric(MODEL, "wape")


def _log_lineage(
    ds: Dataset, data: TrainingData, data_path: Path, config: ForecastConfig, settings: Settings
) -> None:
    digest = dataset_digest(data_path)
    mlflow.log_params(
        {
            "as_of": str(data.as_of.date()),
            "data_path": str(Path(data_path).resolve()),
            "data_digest": digest,
            "fy_start_month": settings.fy_start_month,
            "horizon": config.horizon,
            "folds": config.folds,
            "seed": config.seed,
            "training_rows": len(data.frame),
            "feature_columns": len(data.spec.feature_columns),
            **{f"lgbm.{k}": v for k, v in config.estimator().get_params().items()},
        }
    )
    for table in sorted(ds.present):
        frame = ds.table(table)
        with warnings.catch_warnings():  # a local path is "ambiguous" to MLflow's resolver
            warnings.filterwarnings("ignore", message="The specified dataset source")
            dataset = mlflow.data.from_pandas(
                frame.head(0),
                source=str(Path(data_path).resolve()),
                name=table,
                digest=f"{digest[:8]}-{table}-{len(frame)}",
            )
        mlflow.log_input(dataset, context="training")


def _log_artifacts_and_model(
    forecaster, candidate: BacktestResult | None, data: TrainingData, config: ForecastConfig
):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if candidate is not None:
            candidate.metrics.to_csv(folder / "backtest_metrics.csv", index=False)
            candidate.predictions.to_csv(folder / "backtest_predictions.csv", index=False)
            plot_calibration(candidate.predictions, folder / "calibration.png")
        if not forecaster.bundle.is_heuristic:
            feature_importance(forecaster).to_csv(folder / "feature_importance.csv", index=False)
        plot_fan_charts(forecaster, data.panel, folder / "fan_charts.png")
        saved_config = asdict(config.resolved())  # defaults spelled out: they may change
        (folder / CONFIG_ARTIFACT).write_text(json.dumps(saved_config, indent=2), "utf-8")
        (folder / "feature_spec.json").write_text(
            json.dumps(data.spec.to_dict(), indent=2), "utf-8"
        )
        mlflow.log_artifacts(str(folder))
        saved = forecaster.save(folder / "forecaster")
        example = pd.DataFrame({"partner_id": forecaster.partner_ids[:2].astype(str)})
        signature = infer_signature(
            example,
            forecaster.forecast(example["partner_id"].tolist(), 4),
            params={"horizon": 4},
        )
        return mlflow.pyfunc.log_model(
            name="forecaster",
            python_model=forecast_pyfunc.__file__,
            artifacts={"forecaster": str(saved)},
            signature=signature,
            input_example=example,
            pip_requirements=pip_requirements(),
        )
