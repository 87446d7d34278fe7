"""What a logged model runs at request time; nothing here fits.

- ``forecaster``: :class:`PartnerForecaster`, the trained forecaster as scoring sees it
  (boosters, feature spec, snapshot); ``quantiles``: :class:`QuantileBundle`, boosters to
  money; ``aggregation``: coherent region/tier/type/total forecasts;
- ``recommender``: :class:`PartnerRecommender`, per-partner options; ``policy``: the
  next-best incentive within a budget; ``ranking``: partners worth investing in;
- ``registry``: champions from the MLflow registry; ``feature_labels``: plain names of
  features for explanations;
- ``forecast_pyfunc`` and ``recommender_pyfunc``: MLflow "models from code" that MLflow
  loads by file path (not exported here, so this door never imports mlflow).
"""

from features.scoring.aggregation import aggregate_forecast_levels, aggregate_forecasts
from features.scoring.feature_labels import describe_feature
from features.scoring.forecaster import (
    GROUP_LEVELS,
    MAX_HORIZON,
    OUTPUT_COLUMNS,
    PartnerForecaster,
    UnknownPartnersError,
)
from features.scoring.policy import RECOMMEND_COLUMNS, recommend_incentives
from features.scoring.quantiles import QuantileBundle
from features.scoring.ranking import rank_by_last_revenue, rank_partners
from features.scoring.recommender import FILTERS, PartnerRecommender
from features.scoring.registry import (
    LoadedModel,
    NoChampionError,
    UntrainableModelError,
    champion_model_version,
    load_champion,
)

__all__ = [
    "FILTERS",
    "GROUP_LEVELS",
    "MAX_HORIZON",
    "OUTPUT_COLUMNS",
    "RECOMMEND_COLUMNS",
    "LoadedModel",
    "NoChampionError",
    "UntrainableModelError",
    "champion_model_version",
    "PartnerForecaster",
    "PartnerRecommender",
    "QuantileBundle",
    "UnknownPartnersError",
    "aggregate_forecast_levels",
    "aggregate_forecasts",
    "describe_feature",
    "load_champion",
    "rank_by_last_revenue",
    "rank_partners",
    "recommend_incentives",
]
