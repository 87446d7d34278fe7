"""``partnercast tune``: Optuna search of the forecaster's LightGBM settings.

Each trial is a nested MLflow run under one parent run; its objective is the
rolling-origin backtest WAPE (all horizons), reported fold by fold so the
median pruner can stop hopeless trials early. The best settings are stored as a
tag of the registered forecaster model, where the next ``train`` picks them up.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import optuna
import pandas as pd

from features import metrics
from features.calendar import QuarterCalendar
from features.data import Dataset
from features.names import FORECASTER_MODEL
from features.settings import Settings
from training.forecast import (
    MODEL,
    ForecastConfig,
    prepare_training_data,
    rolling_origin_folds,
    run_backtest,
)
from training.jobs.forecaster_run import EXPERIMENT, TUNED_PARAMS_TAG
from training.jobs.tracking import configure_tracking, ensure_experiment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TuneOutcome:
    """The parent run, the best trial's settings and WAPE, and the baseline trial's."""

    run_id: str
    best_params: dict[str, Any]
    best_wape: float
    default_wape: float
    trials: int
    pruned: int


def suggest_params(trial: optuna.Trial) -> dict[str, Any]:
    """The search space: the settings that matter most for gradient-boosted quantiles."""
    return {
        "num_leaves": trial.suggest_int("num_leaves", 7, 127, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        "n_estimators": trial.suggest_int("n_estimators", 60, 480, step=60),
        "min_child_samples": trial.suggest_int("min_child_samples", 10, 200, log=True),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
    }


def tune_forecaster(
    ds: Dataset,
    *,
    data_path: Path,
    settings: Settings,
    trials: int,
    folds: int = 4,
) -> TuneOutcome:
    """Run ``trials`` Optuna trials; store the best settings for the next ``train``."""
    client = configure_tracking(settings)
    experiment_id = ensure_experiment(client, EXPERIMENT, settings)
    data = prepare_training_data(ds, as_of=None, calendar=QuarterCalendar(settings.fy_start_month))
    next(rolling_origin_folds(data.frame, folds=folds))  # ShortHistory before any trial
    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=settings.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    )
    # the first trial is the current defaults, so the search is measured against them
    study.enqueue_trial(
        {
            "num_leaves": 31,
            "learning_rate": 0.12,
            "n_estimators": 120,
            "min_child_samples": 40,
            "colsample_bytree": 0.6,
            "subsample": 0.8,
            "reg_lambda": 1.0,
        }
    )

    def objective(trial: optuna.Trial) -> float:
        params = suggest_params(trial)
        config = ForecastConfig(folds=folds, params=params, seed=settings.seed)
        with mlflow.start_run(
            experiment_id=experiment_id, nested=True, run_name=f"trial {trial.number}"
        ):
            mlflow.log_params(params)

            def report(i: int, predictions: pd.DataFrame) -> None:
                wape = metrics.wape(predictions["actual"], predictions[f"{MODEL}_p50"])
                trial.report(wape, step=i)
                mlflow.log_metric("wape_so_far", wape, step=i)
                if trial.should_prune():
                    mlflow.set_tag("pruned", f"after fold {i}")
                    raise optuna.TrialPruned(f"WAPE {wape:.4f} after fold {i}")

            result = run_backtest(
                data.frame, data.panel, data.spec, config, with_baselines=False, on_fold=report
            )
            wape = result.metric(MODEL, "wape")
            mlflow.log_metrics({"wape": wape, "coverage_80": result.metric(MODEL, "coverage_80")})
            log.info("trial %d: WAPE %.4f with %s", trial.number, wape, params)
            return wape

    with mlflow.start_run(experiment_id=experiment_id, run_name="tune forecaster") as parent:
        mlflow.log_params(
            {
                "trials": trials,
                "folds": folds,
                "as_of": str(data.as_of.date()),
                "data_path": str(Path(data_path).resolve()),
            }
        )
        study.optimize(objective, n_trials=trials)
        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        best = study.best_trial
        mlflow.log_metrics({"best_wape": best.value, "default_wape": study.trials[0].value})
        mlflow.log_dict(best.params, "best_params.json")
    _store_best(client, best.params)
    return TuneOutcome(
        run_id=parent.info.run_id,
        best_params=dict(best.params),
        best_wape=float(best.value),
        default_wape=float(study.trials[0].value),
        trials=len(study.trials),
        pruned=len(study.trials) - len(complete),
    )


def _store_best(client: mlflow.MlflowClient, params: dict[str, Any]) -> None:
    """Tag the registered forecaster with the tuned settings (creating the name if new)."""
    try:
        client.get_registered_model(FORECASTER_MODEL)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(FORECASTER_MODEL)
    client.set_registered_model_tag(FORECASTER_MODEL, TUNED_PARAMS_TAG, json.dumps(params))
    log.info("stored tuned parameters for the next train: %s", params)
