"""Names every room of partnercast shares, each defined once.

The ``none`` incentive is how the data contract, the simulator, the uplift models
and the policy all spell "no incentive"; the registry's model names and the
``champion`` alias are what training promotes and what the CLI and the API load.
"""

from __future__ import annotations

NONE = "none"
"""The "no incentive" decision: an untreated partner-quarter, never an incentive type."""

CHAMPION = "champion"
"""The registry alias of the version the CLI and the API answer with."""

FORECASTER_MODEL = "partnercast-forecaster"
RECOMMENDER_MODEL = "partnercast-recommender"
"""Registered model names (MLflow registry and BentoML store)."""

NOT_TRAINED_TAG = "not_trained_reason"
"""Registered-model tag: why the last ``train`` could not fit the model (too little history);
cleared when a version is registered again. Loading a model without a champion reports it."""
