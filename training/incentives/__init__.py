"""Incentive model code, free of MLflow: uplift, costs, the recommender, evaluation.

- ``uplift``: :class:`UpliftModel`, the cross-fitted doubly-robust uplift of each
  incentive against ``none``; ``uplift_baselines``: the naive (confounded) model;
- ``costs``: :class:`IncentiveCostModel`, the expected cost per partner and incentive;
- ``recommender``: :class:`IncentiveRecommender`, uplift and costs fitted together with
  the policy and its training-time evaluation;
- ``uplift_eval``: Qini/AUUC on randomized rows, policy value, NDCG of rankings;
- ``references``: policies that know none, part or all of a world's true effects.
"""

from training.incentives.costs import IncentiveCostModel
from training.incentives.recommender import SEGMENT_COLUMNS, IncentiveRecommender
from training.incentives.references import TruthMatrices, known_effect_net, reference_policies
from training.incentives.uplift import UpliftModel, check_incentive_frame
from training.incentives.uplift_baselines import NaiveUpliftModel
from training.incentives.uplift_eval import (
    ndcg_at_k,
    oracle_net_value,
    plot_qini,
    policy_net_value,
    qini_coefficient,
    qini_curve,
)

__all__ = [
    "SEGMENT_COLUMNS",
    "IncentiveCostModel",
    "IncentiveRecommender",
    "NaiveUpliftModel",
    "TruthMatrices",
    "UpliftModel",
    "check_incentive_frame",
    "known_effect_net",
    "ndcg_at_k",
    "oracle_net_value",
    "plot_qini",
    "policy_net_value",
    "qini_coefficient",
    "qini_curve",
    "reference_policies",
]
