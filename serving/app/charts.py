"""Plotly figures for the app's pages, as plain JSON-ready dicts.

The browser draws them with plotly.js, served from the ``plotly`` wheel (no CDN); the
server only decides what is drawn: a fan chart (P10-P90 band, P50, P50 with overrides,
actuals, targets), bars with intervals (incentive options, backtest by horizon) and a
driver chart. Building dicts rather than ``plotly.graph_objects`` keeps each page a few
milliseconds away from its numbers (the figure classes validate every attribute).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

BAND = "rgba(37, 99, 235, 0.18)"
LINE = "#2563eb"
FINAL = "#d97706"
ACTUAL = "#111827"
TARGET = "#dc2626"
CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["lasso2d"]}


def _layout(symbol: str, *, height: int = 320, title: str | None = None) -> dict[str, Any]:
    return {
        "height": height,
        "margin": {"l": 60, "r": 10, "t": 36, "b": 40},
        "title": {"text": title, "font": {"size": 14}} if title else None,
        "yaxis": {"tickprefix": symbol, "rangemode": "tozero", "separatethousands": True},
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        "hovermode": "x unified",
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
    }


def _day(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)[:10]


def fan_chart(
    forecasts: Sequence[Mapping[str, Any]],
    actuals: Sequence[tuple[Any, float]],
    *,
    symbol: str,
    targets: Mapping[str, float] | None = None,
    title: str | None = None,
    height: int = 320,
    legend: bool = True,
) -> dict[str, Any]:
    """Quarters ahead as a P10-P90 band with the P50 (and the P50 after overrides where
    one applies), the quarters behind as actual revenue, targets as red ticks."""
    quarters = [_day(f["quarter_start"]) for f in forecasts]
    data: list[dict[str, Any]] = []
    if forecasts and all(f.get("p10") is not None for f in forecasts):
        data.append(
            {
                "x": quarters,
                "y": [f["p10"] for f in forecasts],
                "name": "P10",
                "type": "scatter",
                "mode": "lines",
                "line": {"width": 0},
                "showlegend": False,
            }
        )
        data.append(
            {
                "x": quarters,
                "y": [f["p90"] for f in forecasts],
                "name": "P10–P90",
                "type": "scatter",
                "mode": "lines",
                "line": {"width": 0},
                "fill": "tonexty",
                "fillcolor": BAND,
            }
        )
    data.append(
        {
            "x": quarters,
            "y": [f["p50"] for f in forecasts],
            "name": "P50 (model)",
            "type": "scatter",
            "mode": "lines+markers",
            "line": {"color": LINE},
        }
    )
    finals = [f.get("p50_final", f["p50"]) for f in forecasts]
    if any(abs(a - b) > 1e-9 for a, b in zip(finals, (f["p50"] for f in forecasts), strict=True)):
        data.append(
            {
                "x": quarters,
                "y": finals,
                "name": "P50 with overrides",
                "type": "scatter",
                "mode": "lines+markers",
                "line": {"color": FINAL, "dash": "dash"},
                "marker": {"symbol": "diamond", "size": 9},
            }
        )
    if actuals:
        data.append(
            {
                "x": [_day(q) for q, _ in actuals],
                "y": [v for _, v in actuals],
                "name": "actual",
                "type": "scatter",
                "mode": "lines+markers",
                "line": {"color": ACTUAL},
            }
        )
    if targets:
        data.append(
            {
                "x": list(targets),
                "y": list(targets.values()),
                "name": "target",
                "type": "scatter",
                "mode": "markers",
                "marker": {
                    "symbol": "line-ew-open",
                    "size": 26,
                    "color": TARGET,
                    "line": {"width": 3},
                },
            }
        )
    layout = _layout(symbol, height=height, title=title)
    layout["showlegend"] = legend  # small multiples: one legend on the page is enough
    return {"data": data, "layout": layout, "config": CONFIG}


def interval_bars(
    labels: Sequence[str],
    values: Sequence[float],
    low: Sequence[float | None] | None = None,
    high: Sequence[float | None] | None = None,
    *,
    symbol: str = "",
    name: str = "",
    height: int = 260,
    highlight: str | None = None,
) -> dict[str, Any]:
    """One bar per label, with its interval as an error bar when given."""
    bar: dict[str, Any] = {
        "x": list(labels),
        "y": list(values),
        "type": "bar",
        "name": name,
        "marker": {"color": [FINAL if label == highlight else LINE for label in labels]},
    }
    if low is not None and high is not None:
        bar["error_y"] = {
            "type": "data",
            "symmetric": False,
            "array": [None if h is None else h - v for v, h in zip(values, high, strict=True)],
            "arrayminus": [
                None if lo is None else v - lo for v, lo in zip(values, low, strict=True)
            ],
        }
    layout = _layout(symbol, height=height)
    layout["yaxis"]["rangemode"] = "normal"
    layout["hovermode"] = "closest"
    return {"data": [bar], "layout": layout, "config": CONFIG}


def driver_bars(drivers: Sequence[Mapping[str, Any]], *, symbol: str) -> dict[str, Any]:
    """The forecast's drivers: what pushed the P50 up (blue) or down (red), in money."""
    ordered = sorted(drivers, key=lambda d: abs(d["contribution"]))
    bar = {
        "y": [d["feature"] for d in ordered],
        "x": [d["contribution"] for d in ordered],
        "type": "bar",
        "orientation": "h",
        "name": "contribution",
        "marker": {"color": [LINE if d["contribution"] >= 0 else TARGET for d in ordered]},
    }
    layout = _layout(symbol, height=60 + 26 * max(len(ordered), 1))
    layout["yaxis"] = {"automargin": True}
    layout["xaxis"] = {"tickprefix": symbol, "zeroline": True}
    layout["hovermode"] = "closest"
    return {"data": [bar], "layout": layout, "config": CONFIG}


def grouped_bars(
    labels: Sequence[str], series: Mapping[str, Sequence[float | None]], *, height: int = 280
) -> dict[str, Any]:
    """Bars side by side per label, one colour per series (metrics by horizon)."""
    data = [
        {"x": list(labels), "y": list(values), "type": "bar", "name": name}
        for name, values in series.items()
    ]
    layout = _layout("", height=height)
    layout["barmode"] = "group"
    layout["hovermode"] = "closest"
    return {"data": data, "layout": layout, "config": CONFIG}
