"""The champion models the service answers with, and how they are refreshed.

A :class:`Champions` holds one immutable :class:`Loaded` snapshot. A request reads the
snapshot once and uses it to the end, and a refresh builds a whole new snapshot before
swapping it in with one assignment: a request never sees half of a switch, and none fails
while a new champion loads (the old one keeps answering until then).

Where models come from (``PARTNERCAST_MODEL_SOURCE``): ``mlflow`` is the ``champion``
alias in the registry at the resolved tracking URI; ``bentoml`` is the latest version
imported into the BentoML model store by ``python -m serving.bento`` (what a Bento
carries, so a deployed service needs no tracking server); ``auto`` (default) takes the
registry when ``MLFLOW_TRACKING_URI`` is set or the embedded store ``mlruns/mlflow.db``
exists, else the BentoML store.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from features.names import FORECASTER_MODEL, RECOMMENDER_MODEL
from features.scoring import (
    NoChampionError,
    PartnerForecaster,
    champion_model_version,
    load_champion,
)
from serving.forecast_table import ForecastTable
from serving.settings import ServingSettings

log = logging.getLogger(__name__)

MODEL_NAMES: tuple[str, ...] = (FORECASTER_MODEL, RECOMMENDER_MODEL)
MAX_MEMOS = 256  # answers remembered per champion (a filter a caller makes up is not kept)
T = TypeVar("T")


class ModelUnavailable(LookupError):
    """A request needs a model that is not loaded; the message says why."""


@dataclass(frozen=True)
class Champion:
    """One loaded model: its scoring object and where it came from."""

    name: str
    version: str
    run_id: str
    scorer: Any  # PartnerForecaster, or the recommender's scoring object
    metrics: dict[str, float]
    source: str
    as_of: dt.date | None
    loaded_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    table: ForecastTable | None = None  # the forecaster's answers, scored once at load
    memos: dict[Hashable, Any] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )  # answers of this champion alone (see memo); a replace() starts an empty one
    memo_lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, compare=False, repr=False
    )

    def memo(self, key: Hashable, build: Callable[[], T]) -> T:
        """``build()``, computed once per key for this champion and then remembered.

        The answers a champion gives without a dataset (its recommendations, rankings)
        are a function of the model alone, so they live and die with this object: a new
        version is a new :class:`Champion` with an empty memo, never a stale answer.
        Concurrent first requests wait for one computation; past :data:`MAX_MEMOS` keys
        answers are computed and not kept.
        """
        if key in self.memos:
            return self.memos[key]
        with self.memo_lock:
            if key not in self.memos:
                if len(self.memos) >= MAX_MEMOS:
                    return build()
                self.memos[key] = build()
            return self.memos[key]


@dataclass(frozen=True)
class Loaded:
    """What the service can answer with right now; problems say why a model is missing."""

    models: dict[str, Champion] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> Champion:
        if name in self.models:
            return self.models[name]
        raise ModelUnavailable(self.problems.get(name, f"model '{name}' is not loaded"))

    @property
    def ready(self) -> bool:
        """Ready when the forecaster is loaded (the recommender is reported, not required)."""
        return FORECASTER_MODEL in self.models

    def reason(self) -> str:
        """Why the service is not ready (empty when it is)."""
        return "" if self.ready else self.problems.get(FORECASTER_MODEL, "not loaded yet")


def resolve_source(settings: ServingSettings) -> str:
    """``mlflow`` or ``bentoml``, following the order in the module docstring."""
    if settings.model_source != "auto":
        return settings.model_source
    if settings.has_tracking_store:
        return "mlflow"
    return "bentoml"


# -- loaders -----------------------------------------------------------------------
def _scorer(name: str, python_model: Any, version: str) -> Any:
    """The object a request calls: the pyfunc's forecaster or recommender."""
    attribute = "forecaster" if name == FORECASTER_MODEL else "recommender"
    scorer = getattr(python_model, attribute, None)
    if scorer is None:
        raise ModelUnavailable(
            f"champion v{version} of '{name}' has no '{attribute}' scoring object "
            "(its pyfunc must expose one built from features/)"
        )
    return scorer


def _as_of(scorer: Any) -> dt.date | None:
    as_of = getattr(scorer, "as_of", None)
    return None if as_of is None else as_of.date() if hasattr(as_of, "date") else as_of


def mlflow_champion_version(name: str, tracking_uri: str) -> str:
    """The registry version behind the ``champion`` alias; ``NoChampionError`` if none."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    return str(champion_model_version(client, name, tracking_uri).version)


def load_from_mlflow(name: str, tracking_uri: str) -> Champion:
    loaded = load_champion(name, tracking_uri)
    scorer = _scorer(name, loaded.model, loaded.version)
    return Champion(
        name=name,
        version=loaded.version,
        run_id=loaded.run_id,
        scorer=scorer,
        metrics={k: float(v) for k, v in loaded.metrics.items()},
        source=tracking_uri,
        as_of=_as_of(scorer),
    )


def bentoml_model_tag(name: str) -> str:
    """The latest BentoML store tag of ``name``; ``NoChampionError`` when none was imported."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        return str(bentoml.models.get(f"{name}:latest").tag)
    except NotFound as exc:
        raise NoChampionError(
            f"no model '{name}' in the BentoML model store and no MLflow tracking URI set: "
            "run 'make bento' (or set MLFLOW_TRACKING_URI)"
        ) from exc


def load_from_bentoml(name: str) -> Champion:
    import bentoml

    model = bentoml.models.get(f"{name}:latest")
    labels = dict(model.info.labels)
    pyfunc = bentoml.mlflow.load_model(model)
    version = labels.get("mlflow_version", str(model.tag.version))
    scorer = _scorer(name, pyfunc.unwrap_python_model(), version)
    metrics = model.info.metadata.get("metrics", {})
    return Champion(
        name=name,
        version=version,
        run_id=labels.get("mlflow_run_id", ""),
        scorer=scorer,
        metrics={k: float(v) for k, v in metrics.items()},
        source=f"bentoml:{model.tag}",
        as_of=_as_of(scorer),
    )


# -- the holder --------------------------------------------------------------------
class Champions:
    """The current :class:`Loaded` snapshot, refreshed by polling or on demand."""

    def __init__(
        self,
        settings: ServingSettings,
        on_load: Callable[[list[Champion]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.on_load = on_load  # told of the champions a refresh swapped in (to warm them)
        self.source = resolve_source(settings)
        self._current = Loaded()
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    @property
    def current(self) -> Loaded:
        return self._current

    def _identity(self, name: str) -> str:
        """What changes when a new champion is promoted (cheap: no model is loaded)."""
        if self.source == "mlflow":
            return mlflow_champion_version(name, self.settings.resolved_tracking_uri)
        return bentoml_model_tag(name)

    def _load(self, name: str) -> Champion:
        if self.source == "mlflow":
            champion = load_from_mlflow(name, self.settings.resolved_tracking_uri)
        else:
            champion = load_from_bentoml(name)
        if name == FORECASTER_MODEL:
            champion = replace(champion, table=ForecastTable(champion.scorer))
        return champion

    def _loaded_identity(self, champion: Champion) -> str:
        return champion.version if self.source == "mlflow" else champion.source[len("bentoml:") :]

    def refresh(self) -> Loaded:
        """Load every champion that changed since the last look; swap them in at once.

        A model that fails to load keeps its previous version (if any) and its reason is
        reported in ``problems``; errors never escape (the service keeps answering).
        """
        with self._reload_lock:
            old = self._current
            models = dict(old.models)
            problems: dict[str, str] = {}
            fresh: list[Champion] = []
            for name in MODEL_NAMES:
                try:
                    identity = self._identity(name)
                    if name in models and self._loaded_identity(models[name]) == identity:
                        continue
                    models[name] = self._load(name)
                    fresh.append(models[name])
                    log.info("serving %s v%s from %s", name, models[name].version, self.source)
                except (NoChampionError, ModelUnavailable) as exc:
                    problems[name] = str(exc)
                except Exception as exc:  # a broken model must not take the service down
                    log.exception("loading %s failed", name)
                    problems[name] = f"loading model '{name}' failed: {exc}"
            new = replace(old, models=models, problems=problems)
            self._current = new  # one assignment: requests see the old or the new snapshot
            if fresh and self.on_load is not None:
                try:
                    self.on_load(fresh)
                except Exception:  # warming is an optimisation; answers compute on demand
                    log.exception("warming the new champions failed")
            return new

    def start_polling(self) -> None:
        """Poll for new champions every ``reload_seconds`` in a daemon thread (0: never)."""
        if self.settings.reload_seconds <= 0 or self._poller is not None:
            return

        def loop() -> None:
            while not self._stop.wait(self.settings.reload_seconds):
                try:
                    self.refresh()
                except Exception:  # refresh catches load errors; this is a last guard
                    log.exception("champion poll failed")

        self._poller = threading.Thread(target=loop, name="champion-poll", daemon=True)
        self._poller.start()

    def stop(self) -> None:
        self._stop.set()


def forecaster_of(loaded: Loaded) -> tuple[Champion, PartnerForecaster, ForecastTable]:
    """The forecaster champion, its scoring object and its table of answers.

    Raises ``ModelUnavailable`` when no forecaster is loaded.
    """
    champion = loaded.get(FORECASTER_MODEL)
    table = champion.table if champion.table is not None else ForecastTable(champion.scorer)
    return champion, champion.scorer, table
