"""Artifacts a data scientist looks at after a training run: tables and plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen  # noqa: E402

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from features.scoring import PartnerForecaster, describe_feature
from training.forecast import ALL_BASELINES, MODEL


def feature_importance(forecaster: PartnerForecaster) -> pd.DataFrame:
    """Gain of each feature in the P50 booster, with plain names, most important first."""
    booster = forecaster.bundle.boosters[forecaster.bundle.median]
    gain = booster.feature_importance(importance_type="gain")
    splits = booster.feature_importance(importance_type="split")
    names = booster.feature_name()
    table = pd.DataFrame(
        {
            "column": names,
            "feature": [describe_feature(n) for n in names],
            "gain": gain,
            "gain_share": gain / gain.sum() if gain.sum() else gain,
            "splits": splits,
        }
    )
    return table.sort_values("gain", ascending=False, ignore_index=True)


def quantile_reliability(predictions: pd.DataFrame) -> pd.DataFrame:
    """Share of actuals below each predicted quantile, per model and horizon."""
    rows = []
    for model in [MODEL, *ALL_BASELINES]:
        if f"{model}_p50" not in predictions:
            continue
        for h, g in predictions.groupby("horizon"):
            for q in (10, 50, 90):
                rows.append(
                    {
                        "model": model,
                        "horizon": int(h),
                        "nominal": q / 100,
                        "observed": float((g["actual"] <= g[f"{model}_p{q}"]).mean()),
                    }
                )
    return pd.DataFrame(rows)


def plot_calibration(predictions: pd.DataFrame, path: Path) -> Path:
    """Observed vs nominal quantile levels (the diagonal is perfect calibration)."""
    table = quantile_reliability(predictions)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    ax = axes[0]
    for model, g in table.groupby("model"):
        pooled = g.groupby("nominal")["observed"].mean()
        ax.plot(
            pooled.index,
            pooled.values,
            marker="o",
            label=model,
            linewidth=2.5 if model == MODEL else 1,
        )
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.set(xlabel="nominal quantile", ylabel="share of actuals below", title="Quantile calibration")
    ax.legend(fontsize=8)
    ax = axes[1]
    inside = (
        predictions.assign(
            inside=(predictions["actual"] >= predictions[f"{MODEL}_p10"])
            & (predictions["actual"] <= predictions[f"{MODEL}_p90"])
        )
        .groupby("horizon")["inside"]
        .mean()
    )
    ax.bar(inside.index.astype(str), inside.values, color="tab:blue")
    ax.axhline(0.8, color="black", linestyle="--", linewidth=1)
    ax.axhspan(0.75, 0.85, color="green", alpha=0.1)
    ax.set(
        xlabel="horizon (quarters ahead)",
        ylabel="P10..P90 coverage",
        ylim=(0, 1),
        title="80% interval coverage by horizon",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_fan_charts(
    forecaster: PartnerForecaster,
    panel: pd.DataFrame,
    path: Path,
    *,
    partners: int = 6,
    history_quarters: int = 8,
) -> Path:
    """History and P10..P90 fan of the largest partners by last year's revenue."""
    recent = panel[panel["quarter_start"] > forecaster.as_of - pd.DateOffset(years=1)]
    largest = recent.groupby("partner_id")["revenue"].sum().nlargest(partners).index.tolist()
    forecast = forecaster.forecast(largest, 4)
    cols = 3
    rows = int(np.ceil(len(largest) / cols)) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, pid in zip(axes.flat, largest, strict=False):
        hist = panel[panel["partner_id"] == pid].tail(history_quarters)
        f = forecast[forecast["partner_id"] == pid]
        ax.plot(
            hist["quarter_start"], hist["revenue"] / 1e3, marker="o", color="black", label="actual"
        )
        ax.fill_between(
            f["quarter_start"],
            f["p10"] / 1e3,
            f["p90"] / 1e3,
            alpha=0.3,
            color="tab:blue",
            label="P10..P90",
        )
        ax.plot(f["quarter_start"], f["p50"] / 1e3, marker="o", color="tab:blue", label="P50")
        ax.set_title(str(pid), fontsize=10)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        ax.set_ylabel("revenue (thousands)", fontsize=8)
    for ax in list(axes.flat)[len(largest) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"Largest partners: forecast as of {forecaster.as_of.date()}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
