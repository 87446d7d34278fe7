"""The fitted quantile boosters and everything needed to turn them into money.

Training fits the boosters (``training.forecast.quantile_model``); this bundle is what
scoring needs at request time, so it lives on the ground floor where the
HTTP service can use it without importing training. It saves to and loads from
a folder of LightGBM model text files plus one JSON file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

META_FILE = "quantiles.json"


def forward_transform(y: np.ndarray, transform: str, scale: float) -> np.ndarray:
    """Revenue to model space: ``asinh(y / scale)`` tames heavy tails and keeps credit notes."""
    if transform == "asinh":
        return np.arcsinh(np.asarray(y, dtype=float) / scale)
    if transform == "none":
        return np.asarray(y, dtype=float)
    raise ValueError(f"transform must be 'asinh' or 'none', got {transform!r}")


def inverse_transform(z: np.ndarray, transform: str, scale: float) -> np.ndarray:
    """Model space back to revenue."""
    return np.sinh(z) * scale if transform == "asinh" else np.asarray(z, dtype=float)


def _by_nearest_horizon(values: dict[int, float], horizon, n: int) -> np.ndarray:
    """Each row's value of ``values`` (per horizon) at its horizon, or at the nearest one the
    table has (ties go to the larger horizon); horizon None: every row at horizon 0."""
    known = np.array(sorted(values, reverse=True))
    groups = np.zeros(n, dtype=int) if horizon is None else np.asarray(horizon, dtype=int)
    nearest = known[np.argmin(np.abs(groups[:, None] - known[None, :]), axis=1)]
    return np.array([values[int(h)] for h in nearest], dtype=float)


@dataclass(frozen=True)
class QuantileBundle:
    """Boosters per quantile, the target transform and per-horizon conformal corrections."""

    boosters: dict[float, lgb.Booster]
    feature_names: tuple[str, ...]
    transform: str = "asinh"
    scale: float = 1000.0
    corrections: dict[int, float] = field(default_factory=dict)
    offset_column: str | None = None  # boosting starts from this column (model space)
    # per horizon, the share of the trees' move of the median away from the offset that is
    # kept (1 = all, 0 = the offset); the whole P10..P90 moves with the median. A horizon
    # without a share uses the nearest one that has one (the larger on a tie)
    blend: dict[int, float] = field(default_factory=dict)
    # without boosters (a program too young to backtest): the offset is the P50 and these
    # per-horizon (P10, P90) offsets from it, in model space, are the interval
    spreads: dict[int, tuple[float, float]] = field(default_factory=dict)
    # per horizon, the column the boosting starts from instead of ``offset_column`` (chosen on
    # the training rows, ``training.forecast.starts``); a horizon without one uses the nearest
    # one's (the larger on a tie); needs the ``horizon`` column in X
    offset_by_horizon: dict[int, str] = field(default_factory=dict)
    # per horizon, the multiple of the start the ``blend`` pulls towards (the anchor; chosen
    # with the blend share on the calibration slice, ``training.forecast.blend``): where
    # revenue is lumpy the median partner-quarter books less than its plan. A horizon
    # without one uses the nearest one's (the larger on a tie); none: 1
    anchor_scale: dict[int, float] = field(default_factory=dict)

    @property
    def quantiles(self) -> tuple[float, ...]:
        return tuple(sorted(self.boosters)) if self.boosters else (0.1, 0.5, 0.9)

    @property
    def is_heuristic(self) -> bool:
        """True for the sales-ops estimate packaged as a model (no boosters)."""
        return not self.boosters

    @property
    def median(self) -> float:
        return min(self.quantiles, key=lambda q: abs(q - 0.5))

    def offset(self, X: pd.DataFrame) -> np.ndarray:
        """Each row's starting point in model space (0 without an offset column)."""
        if self.offset_column is None:
            return np.zeros(len(X))
        values = np.nan_to_num(X[self.offset_column].to_numpy(dtype=float), nan=0.0)
        if self.offset_by_horizon:
            known = np.array(sorted(self.offset_by_horizon, reverse=True))
            horizon = X["horizon"].to_numpy(dtype=int)
            nearest = known[np.argmin(np.abs(horizon[:, None] - known[None, :]), axis=1)]
            for h in np.unique(nearest):
                column = self.offset_by_horizon[int(h)]
                if column != self.offset_column:
                    rows = nearest == h
                    values[rows] = np.nan_to_num(X[column].to_numpy(dtype=float)[rows], nan=0.0)
        return forward_transform(values, self.transform, self.scale)

    def raw_quantiles(
        self, X: pd.DataFrame, *, horizon=None, num_threads: int = 0, blend: bool = True
    ) -> np.ndarray:
        """Sorted predictions in model space, shape (rows, quantiles), before correction
        (with the per-horizon ``blend`` towards the offset unless ``blend=False``)."""
        start = self.offset(X)
        if self.is_heuristic:
            spread = self._spread_rows(horizon, len(X))
            return np.sort(spread + start[:, None], axis=1)
        X = X[list(self.feature_names)]
        z = np.column_stack(
            [self.boosters[q].predict(X, num_threads=num_threads) for q in self.quantiles]
        )
        if blend and self.blend:
            keep = self._blend_share(horizon, len(X))
            z -= ((1.0 - keep) * z[:, self.quantiles.index(self.median)])[:, None]
            z += ((1.0 - keep) * self._anchor_shift(start, horizon))[:, None]
        return np.sort(z + start[:, None], axis=1)

    def _anchor_shift(self, start: np.ndarray, horizon) -> np.ndarray:
        """Model-space distance from each row's start to its anchor (``anchor_scale`` times
        the start, in money); 0 without anchor scales."""
        if not self.anchor_scale:
            return np.zeros(len(start))
        factor = _by_nearest_horizon(self.anchor_scale, horizon, len(start))
        money = inverse_transform(start, self.transform, self.scale)
        return forward_transform(factor * money, self.transform, self.scale) - start

    def _spread_rows(self, horizon, n: int) -> np.ndarray:
        """(n, 3) offsets (P10, 0, P90) of each row's horizon; the widest for unknown ones."""
        widest = max(self.spreads.values(), key=lambda lh: lh[1] - lh[0], default=(0.0, 0.0))
        groups = np.ones(n, dtype=int) if horizon is None else np.asarray(horizon, dtype=int)
        lo_hi = np.array([self.spreads.get(int(h), widest) for h in groups], dtype=float)
        return np.column_stack([lo_hi[:, 0], np.zeros(n), lo_hi[:, 1]])

    @staticmethod
    def _per_horizon(values: dict[int, float], horizon, n: int, fallback: float) -> np.ndarray:
        groups = np.zeros(n, dtype=int) if horizon is None else np.asarray(horizon)
        return np.array([values.get(int(h), fallback) for h in groups], dtype=float)

    def _blend_share(self, horizon, n: int) -> np.ndarray:
        """Each row's blend share; a horizon the calibration slice did not have (the first
        folds of a short history see only the nearest horizons) takes the nearest one's."""
        return _by_nearest_horizon(self.blend, horizon, n)

    def predict_quantiles(
        self,
        X: pd.DataFrame,
        *,
        horizon: np.ndarray | pd.Series | None = None,
        num_threads: int = 0,
    ) -> pd.DataFrame:
        """Columns ``p10, p50, p90`` (per the quantiles) in money; never crossing."""
        zq = self.raw_quantiles(X, horizon=horizon, num_threads=num_threads)
        if self.corrections:
            fallback = max(self.corrections.values())
            c = self._per_horizon(self.corrections, horizon, len(X), fallback)
            zq[:, 0] -= c
            zq[:, -1] += c
            zq = np.sort(zq, axis=1)
        columns = [f"p{round(q * 100)}" for q in self.quantiles]
        values = inverse_transform(zq, self.transform, self.scale)
        return pd.DataFrame(values, columns=columns, index=X.index)

    def contributions(self, X: pd.DataFrame, *, num_threads: int = 0) -> pd.DataFrame:
        """SHAP contributions of each feature to the median, in model space, plus ``bias``.

        ``bias`` includes the row's offset, so it is where the trees start from; with a
        ``blend`` the trees' part (contributions and their expected value) is scaled by it.
        """
        if self.is_heuristic:  # nothing learned: the whole forecast is the starting point
            values = np.zeros((len(X), len(self.feature_names) + 1))
            values[:, -1] = self.offset(X)
            return pd.DataFrame(values, columns=[*self.feature_names, "bias"], index=X.index)
        values = self.boosters[self.median].predict(
            X[list(self.feature_names)], pred_contrib=True, num_threads=num_threads
        )
        start = self.offset(X)
        if self.blend:  # the trees' part is scaled by the horizon's blend
            horizon = X["horizon"].to_numpy() if "horizon" in X else None
            keep = self._blend_share(horizon, len(X))
            values *= keep[:, None]
            start = start + (1.0 - keep) * self._anchor_shift(start, horizon)
        values[:, -1] += start
        return pd.DataFrame(values, columns=[*self.feature_names, "bias"], index=X.index)

    def save(self, folder: Path) -> Path:
        """Write one LightGBM text file per quantile and the JSON metadata."""
        folder.mkdir(parents=True, exist_ok=True)
        files = {}
        for q, booster in self.boosters.items():
            name = f"booster_q{round(q * 100):02d}.txt"
            booster.save_model(str(folder / name))
            files[str(q)] = name
        meta = {
            "files": files,
            "feature_names": list(self.feature_names),
            "transform": self.transform,
            "scale": self.scale,
            "corrections": {str(k): v for k, v in self.corrections.items()},
            "offset_column": self.offset_column,
            "blend": {str(k): v for k, v in self.blend.items()},
            "spreads": {str(k): list(v) for k, v in self.spreads.items()},
            "offset_by_horizon": {str(k): v for k, v in self.offset_by_horizon.items()},
            "anchor_scale": {str(k): v for k, v in self.anchor_scale.items()},
        }
        (folder / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: Path) -> QuantileBundle:
        """Read a bundle written by :meth:`save`."""
        meta = json.loads((Path(folder) / META_FILE).read_text(encoding="utf-8"))
        boosters = {
            float(q): lgb.Booster(model_file=str(Path(folder) / name))
            for q, name in meta["files"].items()
        }
        return cls(
            boosters=boosters,
            feature_names=tuple(meta["feature_names"]),
            transform=meta["transform"],
            scale=float(meta["scale"]),
            corrections={int(k): float(v) for k, v in meta["corrections"].items()},
            offset_column=meta.get("offset_column"),
            blend={int(k): float(v) for k, v in meta.get("blend", {}).items()},
            spreads={
                int(k): (float(v[0]), float(v[1])) for k, v in meta.get("spreads", {}).items()
            },
            offset_by_horizon={
                int(k): str(v) for k, v in meta.get("offset_by_horizon", {}).items()
            },
            anchor_scale={int(k): float(v) for k, v in meta.get("anchor_scale", {}).items()},
        )
