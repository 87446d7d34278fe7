"""causalml meta-learners on partnercast's recommender frame: uplift of each incentive.

Both learners use LightGBM (its defaults, single-threaded) for every base model and ``none``
as the control of a multi-treatment fit. The propensity is a multi-class LightGBM over all
options, cross-fitted over the partner folds written by ``benchmarks/peers.py`` (the same
folds partnercast's DR-learner uses); the binary propensity of incentive ``k`` against
``none`` is ``e_k / (e_k + e_none)``, clipped to [0.01, 0.99] (partnercast clips at 0.01 too).
causalml's default propensity (an elastic-net logistic regression) cannot take the frame's
missing values, so LightGBM it is, as the learners themselves.

Outputs: out-of-fold uplift on every training row (for Qini on the randomized rows) and the
uplift of every partner as of the scoring date from a fit on all rows (for the policy).
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from causalml.inference.meta import BaseDRRegressor, BaseXRegressor
from lightgbm import LGBMClassifier, LGBMRegressor

log = logging.getLogger("peers.uplift")

NONE = "none"
CLIP = 0.01


def base_learner(seed: int) -> LGBMRegressor:
    return LGBMRegressor(n_jobs=1, verbosity=-1, random_state=seed)


def learners(seed: int) -> dict:
    return {
        "causalml_x_learner": BaseXRegressor(learner=base_learner(seed), control_name=NONE),
        "causalml_dr_learner": BaseDRRegressor(learner=base_learner(seed), control_name=NONE),
    }


def _binary(proba: np.ndarray, arms: list[str]) -> dict[str, np.ndarray]:
    """P(incentive k | x, k or none) from the multi-class probabilities, clipped."""
    e0 = proba[:, 0]
    return {
        arm: np.clip(proba[:, k] / (proba[:, k] + e0), CLIP, 1 - CLIP)
        for k, arm in enumerate(arms)
        if k > 0
    }


def propensity(X: pd.DataFrame, t: np.ndarray, n_arms: int, seed: int) -> LGBMClassifier:
    model = LGBMClassifier(n_jobs=1, verbosity=-1, random_state=seed)
    return model.fit(X, t)


def _proba(model: LGBMClassifier, X: pd.DataFrame, n_arms: int) -> np.ndarray:
    out = np.zeros((len(X), n_arms))
    out[:, model.classes_.astype(int)] = model.predict_proba(X)
    return out


def uplift_peers(
    train: pd.DataFrame, score: pd.DataFrame, features: list[str], arms: list[str], seed: int
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Out-of-fold and scoring-date uplift per learner (one column per incentive)."""
    warnings.filterwarnings("ignore")
    X, Xs = train[features], score[features]
    treatment = train["incentive"].astype(str).to_numpy()
    t = pd.Categorical(treatment, categories=arms).codes
    y = train["revenue"].to_numpy(dtype=np.float64)
    folds = train["fold"].to_numpy()
    incentives = arms[1:]
    info: dict = {
        "seconds": {},
        "settings": [
            f"causalml {version('causalml')}: `BaseXRegressor` and `BaseDRRegressor` (its own "
            "3-way cross-fitting) with `learner=LGBMRegressor(n_jobs=1, otherwise defaults)`, "
            "`control_name='none'`, multi-treatment; propensity `p` from a multi-class "
            "`LGBMClassifier` (defaults) cross-fitted over the same partner folds as ours, "
            f"`e_k / (e_k + e_none)` clipped to [{CLIP}, {1 - CLIP}]",
        ],
    }

    began = time.perf_counter()
    e = np.zeros((len(X), len(arms)))
    for k in np.unique(folds):
        te = folds == k
        e[te] = _proba(propensity(X[~te], t[~te], len(arms), seed), X[te], len(arms))
    full_prop = propensity(X, t, len(arms), seed)
    p_train = _binary(e, arms)
    p_score = _binary(_proba(full_prop, Xs, len(arms)), arms)
    info["seconds"]["propensity"] = time.perf_counter() - began
    info["propensity_clipped_share"] = float(
        np.mean(np.concatenate([(v <= CLIP) | (v >= 1 - CLIP) for v in p_train.values()]))
    )
    log.info("propensity: %.0fs", info["seconds"]["propensity"])

    out: dict[str, pd.DataFrame] = {}
    for name in learners(seed):
        began = time.perf_counter()
        oof = np.zeros((len(X), len(incentives)))
        for k in np.unique(folds):
            te = folds == k
            model = learners(seed)[name]
            model.fit(
                X[~te],
                treatment[~te],
                y[~te],
                p={a: v[~te] for a, v in p_train.items()},
                **_seed(name, seed),
            )
            pred = model.predict(X[te], p={a: v[te] for a, v in p_train.items()})
            oof[te] = _columns(model, pred, incentives)
        info["seconds"][f"{name}_out_of_fold"] = time.perf_counter() - began
        began = time.perf_counter()
        model = learners(seed)[name]
        model.fit(X, treatment, y, p=p_train, **_seed(name, seed))
        uplift = _columns(model, model.predict(Xs, p=p_score), incentives)
        info["seconds"][f"{name}_fit_predict"] = time.perf_counter() - began
        log.info(
            "%s: out-of-fold %.0fs, fit+predict %.0fs",
            name,
            info["seconds"][f"{name}_out_of_fold"],
            info["seconds"][f"{name}_fit_predict"],
        )
        out[f"{name}_oof"] = pd.DataFrame(oof, columns=incentives).assign(
            row=train["row"].to_numpy()
        )
        out[f"{name}_score"] = pd.DataFrame(uplift, columns=incentives).assign(
            partner_id=score["partner_id"].astype(str).to_numpy()
        )
    return out, info


def _seed(name: str, seed: int) -> dict:
    return {"seed": seed} if "dr" in name else {}


def _columns(model, pred: np.ndarray, incentives: list[str]) -> np.ndarray:
    """The learner's effect columns reordered to ``incentives`` (its t_groups are sorted)."""
    groups = [str(g) for g in model.t_groups]
    pred = np.asarray(pred).reshape(len(pred), -1)
    out = np.zeros((len(pred), len(incentives)))
    for j, arm in enumerate(incentives):
        if arm in groups:
            out[:, j] = pred[:, groups.index(arm)]
    return out


def write_uplift(exchange: Path, spec: dict) -> None:
    train = pd.read_parquet(exchange / "uplift_train.parquet")
    score = pd.read_parquet(exchange / "uplift_score.parquet")
    preds, info = uplift_peers(train, score, spec["uplift_features"], spec["arms"], spec["seed"])
    for name, frame in preds.items():
        frame.to_parquet(exchange / f"uplift_{name}.parquet", index=False)
    (exchange / "uplift_info.json").write_text(json.dumps(info, indent=2))
