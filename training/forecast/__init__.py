"""The forecaster's model code, free of MLflow: fit, backtest, measure.

- ``config``: :class:`ForecastConfig` (horizons, folds, LightGBM settings) and the
  model's input columns; ``quantile_model``: :class:`QuantileForecaster`, the global
  LightGBM P10/P50/P90 regressor with conformal intervals;
- ``training_data``: the spec, forecast frame and panel as of a date
  (:func:`prepare_training_data`); ``forecaster``: :func:`fit_forecaster`, the deployed
  :class:`~features.scoring.PartnerForecaster`;
- ``baselines``, ``splits``, ``backtest``: rolling-origin backtest of the model next to
  the baselines in one run; ``metrics``: WAPE, bias, MASE, pinball loss, coverage;
- ``reference``: :class:`RidgeReference`, the strong simple model a good analyst would
  write, and the floor from a world's truth, both on the backtest's folds.
- ``selection``: the settings deployed per dataset, chosen among a few candidates on the
  backtest (with a forward replay as the honest WAPE); ``weights``: money-aware row weights.

Fitting never imports evaluation: both start from ``config`` and ``training_data``.
"""

from training.forecast.backtest import (
    ALL_BASELINES,
    SALES_OPS,
    BacktestResult,
    backtest_forecaster,
    borrow_baselines,
    group_backtest,
    metrics_table,
    run_backtest,
)
from training.forecast.baselines import BASELINES, baseline_forecasts
from training.forecast.config import DEFAULT_PARAMS, MODEL, ForecastConfig, model_matrix
from training.forecast.forecaster import fit_forecaster
from training.forecast.quantile_model import QuantileForecaster
from training.forecast.reference import RidgeReference, backtest_reference, floor_wape
from training.forecast.sales_ops_model import KIND as SALES_OPS_KIND
from training.forecast.sales_ops_model import fit_sales_ops_forecaster
from training.forecast.selection import CANDIDATES, Selection, select_candidate
from training.forecast.splits import Fold, rolling_origin_folds, usable_folds
from training.forecast.training_data import TrainingData, prepare_training_data

__all__ = [
    "ALL_BASELINES",
    "BASELINES",
    "CANDIDATES",
    "DEFAULT_PARAMS",
    "MODEL",
    "SALES_OPS",
    "BacktestResult",
    "Fold",
    "ForecastConfig",
    "QuantileForecaster",
    "RidgeReference",
    "Selection",
    "TrainingData",
    "backtest_forecaster",
    "backtest_reference",
    "baseline_forecasts",
    "borrow_baselines",
    "fit_forecaster",
    "floor_wape",
    "group_backtest",
    "metrics_table",
    "model_matrix",
    "prepare_training_data",
    "SALES_OPS_KIND",
    "fit_sales_ops_forecaster",
    "rolling_origin_folds",
    "usable_folds",
    "run_backtest",
    "select_candidate",
]
