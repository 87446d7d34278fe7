"""The forecaster as an MLflow pyfunc "model from code".

MLflow runs this file when it loads the model; the model's ``forecaster``
artifact is the folder a :class:`PartnerForecaster` saved. ``predict`` takes a
frame with a ``partner_id`` column (an empty frame means every partner) and
the ``horizon`` parameter, and returns the forecast columns of the CLI
contract. Richer calls (drivers, groups, cold start) use
``model.unwrap_python_model().forecaster``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from features.scoring.forecaster import MAX_HORIZON, PartnerForecaster


class ForecastPyfunc(mlflow.pyfunc.PythonModel):
    """Thin pyfunc wrapper; the logic lives in :class:`PartnerForecaster`."""

    forecaster: PartnerForecaster

    def load_context(self, context: Any) -> None:
        self.forecaster = PartnerForecaster.load(Path(context.artifacts["forecaster"]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        horizon = int((params or {}).get("horizon", MAX_HORIZON))
        ids = model_input["partner_id"].astype(str).tolist() if len(model_input) else None
        return self.forecaster.forecast(ids, horizon)


mlflow.models.set_model(ForecastPyfunc())
