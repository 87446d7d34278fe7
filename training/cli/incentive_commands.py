"""The recommender's CLI commands: ``recommend`` and ``rank``.

Both load the ``champion`` recommender from the registry. As of the champion's own
training date on the same data they use its logged scoring tables (exactly what the
API answers); for any other as-of date they rebuild the features from ``--data`` as
of that date and apply the champion's fitted models (logged in the same run), so
only what was known then is used.
"""

from __future__ import annotations

import argparse
import logging

import mlflow
import mlflow.sklearn

from features.data import BadInput, Dataset, load_dataset, write_csv_atomically
from features.distributed import DaskFrames
from features.frames import build_features
from features.names import FORECASTER_MODEL, RECOMMENDER_MODEL
from features.scoring import PartnerRecommender, load_champion
from features.settings import Settings
from features.spec import FeatureSpec
from training.cli.dask_option import check_dask, dask_frames
from training.jobs.recommender_run import ESTIMATOR, SPEC_ARTIFACT, score_partners

log = logging.getLogger(__name__)


def recommender_as_of(
    ds: Dataset,
    args: argparse.Namespace,
    settings: Settings,
    frames: DaskFrames | None = None,
) -> PartnerRecommender:
    """The champion recommender's scoring object as of ``args.as_of`` (default: the data's
    last date); ``BadInput`` when the data has no incentives. ``frames`` (``--dask``) builds
    the partner features per partition of partners."""
    if "incentives" not in ds.present or ds.incentives.empty:
        raise BadInput(
            f"{args.data}: the incentives table is missing or empty, and the recommender "
            "needs it (incentives.csv or incentives.parquet, see the data contract)"
        )
    champion = load_champion(RECOMMENDER_MODEL, settings.resolved_tracking_uri)
    stored: PartnerRecommender = champion.model.recommender
    as_of = ds.as_of(args.as_of)
    if as_of.normalize() == stored.as_of:
        log.info(
            "using %s v%s's scoring tables as of %s",
            champion.name,
            champion.version,
            stored.as_of.date(),
        )
        return stored
    log.info("scoring as of %s with %s v%s's models", as_of.date(), champion.name, champion.version)
    uri = f"runs:/{champion.run_id}"
    spec = FeatureSpec.from_dict(mlflow.artifacts.load_dict(f"{uri}/{SPEC_ARTIFACT}"))
    model = mlflow.sklearn.load_model(f"{uri}/{ESTIMATOR}")
    features = (build_features if frames is None else frames.features)(ds, as_of=as_of, spec=spec)
    forecaster = load_champion(FORECASTER_MODEL, settings.resolved_tracking_uri).model.forecaster
    return score_partners(model, features, forecaster, as_of=as_of)


def cmd_recommend(args: argparse.Namespace, settings: Settings) -> int:
    check_dask(args)
    ds = load_dataset(args.data)
    with dask_frames(args, ds) as frames:
        recommender = recommender_as_of(ds, args, settings, frames)
    out = recommender.recommend(None, budget=args.budget)
    write_csv_atomically(out, args.out)
    chosen = out[out["incentive"] != "none"]
    print(f"as_of: {recommender.as_of.date()}")
    print(f"partners: {len(out)}, with an incentive: {len(chosen)} -> {args.out}")
    if args.budget is not None:
        print(f"budget: {args.budget:,.2f}, spent: {out['cost'].sum():,.2f}")
    print(
        f"total expected uplift: {out['expected_uplift'].sum():,.0f}, "
        f"cost: {out['cost'].sum():,.0f}, net: {out['expected_net'].sum():,.0f}"
    )
    for name, count in chosen["incentive"].value_counts().items():
        print(f"  {name}: {count}")
    return 0


def cmd_rank(args: argparse.Namespace, settings: Settings) -> int:
    ds = load_dataset(args.data)
    recommender = recommender_as_of(ds, args, settings)
    ranked = recommender.rank(top_k=args.top)
    write_csv_atomically(ranked, args.out)
    print(f"as_of: {recommender.as_of.date()}")
    print(f"ranked partners: {len(ranked)} -> {args.out}")
    for row in ranked.head(10).itertuples(index=False):
        print(f"  {row.rank:>3}. {row.partner_id}  score {row.score:,.0f}  {row.reasons}")
    return 0
