"""A holdout test's plan as an MLflow run, so the reading of the quarter can find it.

Until now a plan was recorded only by its rows in the dataset (the ``incentives`` rows of
the drawn partners, ``randomized = true``): enough to read the test, but the draw itself
(share, budget, seed, strata, the recommender it came from, the power it was designed
for) was lost once the CSV was. :func:`log_experiment_plan` keeps it as a run in the
:data:`PLAN_EXPERIMENT` experiment: params (quarter, share, budget, seed, as-of date, data
folder and digest, the recommender's run), metrics (partners drawn, strata, expected cost
of the drawn arms, exploration cost, the smallest detectable effect in ``all`` per arm),
the tag ``quarter_start`` and the plan's files as artifacts (``plan.csv``, ``strata.csv``,
``mde.csv``). :func:`find_experiment_plan` returns the latest plan run for a quarter.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from features.reporting.experiment_plan import ExperimentPlan
from features.settings import Settings
from training.jobs.lineage import dataset_digest
from training.jobs.tracking import configure_tracking, ensure_experiment

log = logging.getLogger(__name__)

PLAN_EXPERIMENT = "experiments"
"""The MLflow experiment that holds every plan's run."""
QUARTER_TAG = "quarter_start"


def plan_strata(plan: ExperimentPlan) -> pd.DataFrame:
    """Partners per stratum and arm among the drawn, plus the stratum's size: the balance a
    reader checks first (``stratum, partners, drawn, <arm>...``)."""
    rows = plan.assignments
    drawn = rows[rows["randomized"]]
    counts = pd.crosstab(drawn["stratum"], drawn["arm"])
    out = pd.DataFrame({"partners": rows.groupby("stratum").size()})
    out["drawn"] = drawn.groupby("stratum").size().reindex(out.index, fill_value=0)
    out = out.join(counts).fillna(0).astype(int)
    return out.rename_axis("stratum").reset_index()


def log_experiment_plan(
    plan: ExperimentPlan,
    *,
    settings: Settings,
    data_dir: Path,
    recommender_run: str | None = None,
) -> str:
    """Log ``plan`` as a run of :data:`PLAN_EXPERIMENT`; returns the run id."""
    client = configure_tracking(settings)
    experiment_id = ensure_experiment(client, PLAN_EXPERIMENT, settings)
    quarter = str(plan.quarter_start.date())
    strata = plan_strata(plan)
    mde = plan.min_detectable_effect
    overall = mde[mde["segment"] == "all"].set_index("incentive")["mde"]
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"plan {quarter}") as run:
        mlflow.set_tags({QUARTER_TAG: quarter, "kind": "experiment_plan"})
        mlflow.log_params(
            {
                "quarter_start": quarter,
                "share": plan.share,
                "budget": "none" if plan.budget is None else plan.budget,
                "seed": plan.seed,
                "data_dir": str(Path(data_dir).resolve()),
                "data_digest": dataset_digest(Path(data_dir)),
                "recommender_run": recommender_run or "unknown",
            }
        )
        metrics = {
            "drawn": plan.drawn,
            "partners": len(plan.assignments),
            "strata": int((strata["drawn"] > 0).sum()),
            "randomized_cost": plan.randomized_cost,
            "exploration_cost": plan.exploration_cost,
            **{f"mde_{arm}": float(v) for arm, v in overall.items() if pd.notna(v)},
        }
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            plan.assignments.to_csv(folder / "plan.csv", index=False)
            strata.to_csv(folder / "strata.csv", index=False)
            mde.to_csv(folder / "mde.csv", index=False)
            mlflow.log_artifacts(str(folder), artifact_path="plan")
    log.info("logged the plan for %s as run %s in %s", quarter, run.info.run_id, PLAN_EXPERIMENT)
    return run.info.run_id


def find_experiment_plan(quarter_start: pd.Timestamp, *, settings: Settings) -> dict | None:
    """The latest plan run for the quarter starting ``quarter_start``: ``run_id``, its
    params and the drawn partners' arms (``partner_id, arm``); None when none was logged."""
    uri = settings.resolved_tracking_uri
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(PLAN_EXPERIMENT)
    if experiment is None:
        return None
    quarter = str(pd.Timestamp(quarter_start).date())
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.{QUARTER_TAG} = '{quarter}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        return None
    run = runs[0]
    path = client.download_artifacts(run.info.run_id, "plan/plan.csv")
    rows = pd.read_csv(path, dtype={"partner_id": str}, keep_default_na=False)
    drawn = rows[rows["randomized"].astype(str).str.lower() == "true"]
    return {
        "run_id": run.info.run_id,
        "params": dict(run.data.params),
        "drawn": drawn[["partner_id", "arm"]].reset_index(drop=True),
    }


def plan_followed(found: dict, units: pd.DataFrame) -> tuple[int, int]:
    """(drawn partners whose randomized row in the data has the planned arm, drawn
    partners): how faithfully the quarter ran its plan. ``units`` are the report's
    randomized units of that quarter (``partner_id, arm``)."""
    planned = found["drawn"]
    seen = units.assign(partner_id=units["partner_id"].astype(str))
    both = planned.merge(seen, on="partner_id", how="left", suffixes=("", "_data"))
    same = both["arm_data"].fillna("").astype(str) == both["arm"].astype(str)
    return int(same.sum()), len(planned)
