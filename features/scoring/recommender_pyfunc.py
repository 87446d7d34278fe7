"""The incentive recommender as an MLflow pyfunc "model from code".

``predict`` takes a frame with a ``partner_id`` column (empty: every partner) and the
optional ``budget`` parameter and returns the recommend frame of the CLI contract.
Richer calls (allowed incentives, cost overrides, ranking) use
``model.unwrap_python_model().recommender``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from features.scoring.recommender import PartnerRecommender


class RecommenderPyfunc(mlflow.pyfunc.PythonModel):
    """Thin pyfunc wrapper; the logic lives in :class:`PartnerRecommender`."""

    recommender: PartnerRecommender

    def load_context(self, context: Any) -> None:
        self.recommender = PartnerRecommender.load(Path(context.artifacts["recommender"]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        budget = (params or {}).get("budget")
        ids = model_input["partner_id"].astype(str).tolist() if len(model_input) else None
        return self.recommender.recommend(ids, budget=None if budget is None else float(budget))


mlflow.models.set_model(RecommenderPyfunc())
