"""One typed, frozen settings object, built once at an entry point and passed down.

Values come from keyword arguments (the CLI's flags), then environment variables
(``PARTNERCAST_*``, plus the standard ``MLFLOW_TRACKING_URI``), then defaults.
Nothing here touches the disk or MLflow at import time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

EMBEDDED_STORE_DIR = "mlruns"


class Settings(BaseSettings):
    """Where data, models and the API live, and the calendar they share."""

    model_config = SettingsConfigDict(env_prefix="PARTNERCAST_", frozen=True, extra="ignore")

    data_dir: Path = Path("data/demo")
    fy_start_month: int = Field(default=1, ge=1, le=12)
    seed: int = 42
    tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "PARTNERCAST_TRACKING_URI"),
    )
    store_dir: Path = Field(default_factory=lambda: Path.cwd() / EMBEDDED_STORE_DIR)
    api_key: SecretStr | None = None
    ledger_url: str | None = None  # any SQLAlchemy URL; unset: SQLite next to the MLflow store
    mdf_incentive: str = "mdf"  # the incentive name that is marketing development funds
    host: str = "127.0.0.1"
    port: int = Field(default=3000, ge=1, le=65535)
    # row budgets of training at scale (issue 20); unset: the models' defaults (200,000
    # forecaster rows after its two-quarter floor, 100,000 nuisance rows per fit), 0: none
    forecast_sample_rows: int | None = Field(default=None, ge=0)
    nuisance_max_rows: int | None = Field(default=None, ge=0)

    @field_validator("tracking_uri", "ledger_url")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @property
    def has_tracking_store(self) -> bool:
        """A tracking URI is set or the embedded store exists (opening a missing embedded
        store would create it)."""
        return bool(self.tracking_uri) or (self.store_dir / "mlflow.db").exists()

    @property
    def resolved_tracking_uri(self) -> str:
        """``MLFLOW_TRACKING_URI`` when set, else the embedded SQLite store under ``mlruns/``."""
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{self.store_dir.resolve() / 'mlflow.db'}"

    @property
    def resolved_ledger_url(self) -> str:
        """``PARTNERCAST_LEDGER_URL`` when set, else ``ledger.db`` beside the MLflow store."""
        if self.ledger_url:
            return self.ledger_url
        return f"sqlite:///{self.store_dir.resolve() / 'ledger.db'}"

    @property
    def artifact_location(self) -> str:
        """Explicit artifact root for experiments created in the embedded store."""
        return (self.store_dir.resolve() / "artifacts").as_uri()
