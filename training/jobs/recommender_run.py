"""``partnercast train`` for the incentive recommender and partner ranker.

Runs after the forecaster in the same ``train`` command, as its own MLflow run:
fit the uplift and cost models on the partner-quarter history, evaluate them
(doubly-robust policy values against "none for all" and "everyone gets the usual
incentive", Qini on randomized rows, the effect model chosen per incentive with its
candidates' cross-fitted policy values, and the calibration of the reported net on
held-out rows, and against the latest randomized test: ``training.jobs.experiment_calibration``),
score every partner as of the training date,
log the scoring tables as a pyfunc model, register it, and move ``champion`` only
when the gate passes. A dataset without incentives skips this step with a clear
message and leaves the forecaster's run untouched.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import mlflow.sklearn
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

import features.scoring.recommender_pyfunc as recommender_pyfunc
from features.data import Dataset, incentive_grants
from features.distributed import DaskFrames
from features.frames import build_features, build_recommender_frame
from features.names import RECOMMENDER_MODEL
from features.scoring import FILTERS, PartnerForecaster, PartnerRecommender
from training.forecast import TrainingData
from training.incentives import IncentiveRecommender, check_incentive_frame
from training.jobs.experiment_calibration import log_experiment_calibration
from training.jobs.forecaster_run import pip_requirements
from training.jobs.tracking import GateDecision, promote_if_passed

log = logging.getLogger(__name__)

SPEC_ARTIFACT = "feature_spec.json"
ESTIMATOR = "estimator"  # the fitted uplift + cost models, to score other dates from the CLI


@dataclass(frozen=True)
class RecommenderOutcome:
    run_id: str
    version: str
    promoted: bool
    decision: GateDecision
    headline: dict[str, float]


def recommender_gate(metrics: dict[str, float], *, z: float = 2.0) -> GateDecision:
    """The policy must not be distinguishably worse than "none for all" or than
    "everyone gets the usual incentive" (doubly-robust estimates, ``z`` standard errors).

    The estimates come from pseudo-outcomes of heavy-tailed revenue and are noisy, so the
    gate asks for no significant loss rather than a positive point estimate. A policy that
    says ``none`` for everyone (value exactly 0 with se 0, what the recommender answers when
    the data show no evidence of any effect) is not below ``none`` for all: it passes.
    """
    value = metrics.get("dr_value_model", float("nan"))
    value_se = metrics.get("dr_value_model_se", float("nan"))
    gain = metrics.get("dr_value_gain_vs_most_common", float("nan"))
    gain_se = metrics.get("dr_value_gain_vs_most_common_se", float("nan"))
    return GateDecision.from_checks(
        {
            f"net value per partner-quarter {value:,.0f} (se {value_se:,.0f}) not significantly "
            "below none for all": value >= -z * value_se,
            f"gain over 'everyone gets the usual incentive' {gain:,.0f} (se {gain_se:,.0f}) "
            "not significantly negative": gain >= -z * gain_se,
        }
    )


def growth_outlook(forecaster: PartnerForecaster, features: pd.DataFrame) -> pd.Series:
    """Forecast P50 next quarter minus the last quarter's revenue, by partner."""
    known = set(forecaster.partner_ids)  # once: a property that reads the whole snapshot
    ids = [p for p in features["partner_id"].astype(str) if p in known]
    nxt = forecaster.forecast(ids, 1).set_index("partner_id")["p50"]
    last = features.set_index(features["partner_id"].astype(str))["revenue_lag_1"].astype(float)
    return (nxt - last.reindex(nxt.index).fillna(0.0)).rename("growth")


def score_partners(
    model: IncentiveRecommender,
    features: pd.DataFrame,
    forecaster: PartnerForecaster,
    *,
    as_of: pd.Timestamp,
    info: dict | None = None,
) -> PartnerRecommender:
    """Every partner's uplift and cost per incentive as of ``as_of``: the API's scoring tables."""
    options = model.recommend(features)
    prefixes = ("uplift_", "cost_", "p10_uplift_", "p90_uplift_")
    keep = ["partner_id", *[f"{p}{n}" for p in prefixes for n in model.incentives_]]
    return PartnerRecommender(
        options=options[keep].reset_index(drop=True),
        attributes=features[["partner_id", *FILTERS]].astype("string").reset_index(drop=True),
        growth=growth_outlook(forecaster, features),
        as_of=as_of,
        info=info or {},
    )


def train_recommender(
    ds: Dataset,
    data: TrainingData,
    forecaster: PartnerForecaster,
    *,
    client: MlflowClient,
    experiment_id: str,
    seed: int,
    params: dict | None = None,
    frames: DaskFrames | None = None,
) -> RecommenderOutcome | None:
    """Fit, evaluate, log, register and maybe promote; None when there are no incentives.
    ``frames`` (``--dask``) builds the recommender frame per partition of partners."""
    if "incentives" not in ds.present or incentive_grants(ds.incentives).empty:
        log.warning("no incentives granted: the incentive recommender is not trained")
        return None
    build = build_recommender_frame if frames is None else frames.recommender_frame
    frame = build(ds, spec=data.spec, data_end=data.as_of)
    check_incentive_frame(frame)
    columns = list(data.spec.partner_feature_columns)
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"recommender {data.as_of.date()}"
    ) as run:
        if frames is not None:
            mlflow.set_tags(frames.tags())
        mlflow.log_params(
            {
                "as_of": str(data.as_of.date()),
                "seed": seed,
                "training_rows": len(frame),
                **(params or {}),
            }
        )
        model = IncentiveRecommender(random_state=seed, **(params or {})).fit(
            frame, feature_columns=columns
        )
        metrics, artifacts = model.evaluation(frame)
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if pd.notna(v)})
        # issue 16: which effect model the data chose per incentive (the candidates'
        # cross-fitted policy values are metrics and evaluation/effect_selection.csv)
        mlflow.log_params({f"effect_model_{a}": m for a, m in model.uplift_.effect_model_.items()})
        # issue 23: each incentive's effect scale (its evidence: effect_scale_value_ metrics
        # and evaluation/effect_scales.csv); serving shows it in the ranking's reasons
        scales = dict(getattr(model.uplift_, "scale_", {}))
        mlflow.log_params({f"effect_scale_{a}": v for a, v in scales.items()})
        # session 10: the outcome model's loss (least squares unless set otherwise)
        mlflow.log_param("outcome_objective", getattr(model.uplift_, "outcome_objective_", "l2"))
        # issue 17: the new model's uplift against the latest randomized test's measurements
        log_experiment_calibration(ds, model, data.spec, as_of=data.as_of)
        log.info("scoring every partner's options as of %s for serving", data.as_of.date())
        features = build_features(ds, as_of=data.as_of, spec=data.spec)
        recommender = score_partners(
            model,
            features,
            forecaster,
            as_of=data.as_of,
            info={
                "run_id": run.info.run_id,
                "as_of": str(data.as_of.date()),
                "effect_scales": scales,
            },
        )
        decision = recommender_gate(metrics)
        log.info("logging the recommender to MLflow")
        mlflow.log_dict(data.spec.to_dict(), SPEC_ARTIFACT)
        mlflow.sklearn.log_model(
            model,
            name=ESTIMATOR,
            pip_requirements=pip_requirements(),
            serialization_format="cloudpickle",
        )
        info = _log_model(recommender, artifacts)
        mlflow.set_tags(
            {
                "quality_gate": "passed" if decision.passed else "failed",
                "quality_gate.reasons": " | ".join(decision.reasons),
            }
        )
        version = str(mlflow.register_model(info.model_uri, RECOMMENDER_MODEL).version)
        promoted = promote_if_passed(client, RECOMMENDER_MODEL, version, decision)
    headline = {
        k: round(float(metrics[k]), 2)
        for k in (
            "dr_value_model",
            "dr_value_model_se",
            "dr_value_most_common",
            "dr_value_gain_vs_most_common",
            "dr_value_gain_vs_most_common_se",
            "heldout_net_calibration",
        )
        if k in metrics
    }
    return RecommenderOutcome(run.info.run_id, version, promoted, decision, headline)


def _log_model(recommender: PartnerRecommender, artifacts: dict[str, pd.DataFrame]):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, table in artifacts.items():
            table.to_csv(folder / f"{name}.csv", index=False)
        mlflow.log_artifacts(str(folder), artifact_path="evaluation")
        saved = recommender.save(folder / "recommender")
        example = pd.DataFrame({"partner_id": recommender.options["partner_id"][:2].astype(str)})
        signature = infer_signature(
            example,
            recommender.recommend(example["partner_id"].tolist()),
            params={"budget": 0.0},
        )
        return mlflow.pyfunc.log_model(
            name="recommender",
            python_model=recommender_pyfunc.__file__,
            artifacts={"recommender": str(saved)},
            signature=signature,
            input_example=example,
            pip_requirements=pip_requirements(),
        )
