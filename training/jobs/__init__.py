"""Jobs: fit -> log -> register -> gate -> promote, in MLflow.

- ``pipeline``: :func:`train_all`, every model on one dataset (what ``partnercast train``
  and the notebooks call);
- ``forecaster_run`` and ``recommender_run``: one model's run each, behind its
  quality gate; ``tuning``: the Optuna search of the forecaster's settings;
- ``tracking``: the store, experiments, registry and the ``champion`` alias;
  ``lineage``: the content digest of the data a model was trained on.
"""

from training.jobs.forecaster_run import EXPERIMENT, TrainOutcome, train_forecaster
from training.jobs.pipeline import TrainAllOutcome, train_all
from training.jobs.recommender_run import RecommenderOutcome, train_recommender
from training.jobs.tracking import (
    GateDecision,
    champion_version,
    configure_tracking,
    ensure_experiment,
)
from training.jobs.tuning import TuneOutcome, tune_forecaster

__all__ = [
    "EXPERIMENT",
    "GateDecision",
    "RecommenderOutcome",
    "TrainAllOutcome",
    "TrainOutcome",
    "TuneOutcome",
    "champion_version",
    "configure_tracking",
    "ensure_experiment",
    "train_all",
    "train_forecaster",
    "train_recommender",
    "tune_forecaster",
]
