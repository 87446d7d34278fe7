"""Draw a :class:`~training.reports.scorecard.ScorecardData` as a one-page PNG (matplotlib, Agg).

A header with the partner and its headline numbers, then three panels on one quarter axis:
revenue with the forecast fan, pipeline, engagement. The figure is built on a bare
``Figure`` with an Agg canvas (no pyplot state, no display) at a fixed size, and the PNG
carries no timestamp, so the same data always gives the same bytes.
"""

from __future__ import annotations

import io
import textwrap
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # no display; harmless when already set

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

if TYPE_CHECKING:
    from training.reports.scorecard import ScorecardData

SIZE_INCHES, DPI = (16, 12), 100  # 1600 x 1200 pixels
REVENUE, CREDIT, FAN = "#2f6db5", "#c8433a", "#e08a1e"
OPEN, CREATED, WON = "#555555", "#9ecae1", "#31a354"
FUTURE_SHADE, BEFORE_SHADE = "#f3f3f3", "#fafafa"
FORECAST_SLOTS = 4
MAX_LABELLED = 16  # with more quarter slots, values are not written on the bars


def money(value: float) -> str:
    """Money with thousands separators, no decimals: ``1,234,567``; ``-`` sign kept."""
    return f"{value:,.0f}"


def _money_axis(ax: Axes) -> None:
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: money(v)))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6))


def render_scorecard(data: ScorecardData, *, model_label: str | None = None) -> bytes:
    """The scorecard as PNG bytes (1600 x 1200 pixels)."""
    fig = Figure(figsize=SIZE_INCHES, dpi=DPI)
    FigureCanvasAgg(fig)
    n_incentive_types = max(data.incentives["incentive"].nunique(), 1)
    grid = fig.add_gridspec(
        5,
        1,
        height_ratios=[1.1, 3.0, 1.9, 1.6, 0.45 + 0.22 * n_incentive_types],
        hspace=0.42,
        left=0.09,
        right=0.97,
        top=0.97,
        bottom=0.06,
    )
    header = fig.add_subplot(grid[0])
    ax_rev = fig.add_subplot(grid[1])
    ax_pipe = fig.add_subplot(grid[2], sharex=ax_rev)
    ax_eng = fig.add_subplot(grid[3], sharex=ax_rev)
    ax_inc = fig.add_subplot(grid[4], sharex=ax_rev)

    forecast = data.forecast if data.forecast is not None and len(data.forecast) else None
    labels, n_slots = _slot_labels(data, forecast is not None)
    last = _x(data)[-1]

    _draw_header(header, data, model_label)
    _draw_revenue(ax_rev, data, forecast, model_label)
    _draw_pipeline(ax_pipe, data)
    _draw_engagement(ax_eng, data)
    _draw_incentives(ax_inc, data)

    panels = (ax_rev, ax_pipe, ax_eng, ax_inc)
    for ax in panels:
        ax.set_xlim(-0.6, n_slots - 0.4)
        ax.axvline(last + 0.5, color="#888888", lw=1, ls=":", zorder=0)
        ax.axvspan(last + 0.5, n_slots - 0.4, color=FUTURE_SHADE, zorder=-1)
        if last > 0 and _x(data)[0] > 0:
            ax.axvspan(-0.6, _x(data)[0] - 0.5, color=BEFORE_SHADE, zorder=-1)
        ax.grid(axis="y", color="#e5e5e5", lw=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    ax_inc.set_xticks(np.arange(n_slots), labels)
    for ax in panels[:-1]:
        ax.tick_params(labelbottom=False)
    ax_inc.tick_params(axis="x", labelsize=9, labelrotation=90 if n_slots > MAX_LABELLED else 0)

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _x(data: ScorecardData) -> np.ndarray:
    """x positions of the history quarters: the last ``history_slots`` slots before the
    forecast's, so every scorecard has the same layout (a young partner's first slots stay
    empty)."""
    return data.history_slots - len(data.quarters) + np.arange(len(data.quarters))


def _slot_labels(data: ScorecardData, has_forecast: bool) -> tuple[list[str], int]:
    """Tick labels of every slot: quarters before joining, history, the forecast quarters."""
    cal, q = data.calendar, data.quarters
    first = cal.quarter_index(q["quarter_start"].iloc[0])
    before = data.history_slots - len(q)
    labels = [cal.label(cal.index_to_start(first - before + i)) for i in range(before)]
    labels += list(q["label"])
    if not q["complete"].iloc[-1]:
        labels[-1] += "\n(to date)"
    future = cal.horizon_starts(data.as_of, FORECAST_SLOTS)
    suffix = "\nforecast" if has_forecast else ""
    labels += [f"{cal.label(start)}{suffix}" for start in future]
    return labels, len(labels)


def _draw_header(ax: Axes, data: ScorecardData, model_label: str | None) -> None:
    ax.axis("off")
    p, h = data.partner, data.headline
    name = p.get("name") or p["partner_id"]
    title = f"{p['partner_id']}  {name}" if name != p["partner_id"] else str(p["partner_id"])
    ax.text(0, 1.0, title, fontsize=20, fontweight="bold", va="top", transform=ax.transAxes)
    joined = pd.Timestamp(p["joined_on"]).date()
    facts = (
        f"tier {p.get('tier')}  ·  {p.get('partner_type')}  ·  {p.get('region')}  ·  "
        f"joined {joined}  ·  as of {data.as_of.date()}"
    )
    ax.text(0, 0.66, facts, fontsize=12, va="top", color="#444444", transform=ax.transAxes)
    last = h.last_complete_label or "none yet"
    change = "n/a (no revenue before)" if h.change_4q is None else f"{h.change_4q:+.0%}"
    boxes = [
        (f"Revenue {last}", money(h.revenue_last_complete) if h.last_complete_label else "-"),
        (_trailing_label(data), money(h.trailing_4q)),
        (f"Change vs the 4 before ({money(h.prior_4q)})", change),
        ("Open pipeline now", money(h.open_pipeline)),
    ]
    for i, (label, value) in enumerate(boxes):
        x = i * 0.25
        ax.text(x, 0.24, label, fontsize=10, color="#666666", transform=ax.transAxes)
        ax.text(x, -0.1, value, fontsize=15, fontweight="bold", transform=ax.transAxes)
    forecast_text = f"Forecast: {model_label} (champion)" if model_label else "Forecast: none"
    ax.text(1.0, 1.0, forecast_text, fontsize=11, ha="right", va="top", transform=ax.transAxes)


def _trailing_label(data: ScorecardData) -> str:
    """ "Trailing 4 complete quarters", saying how many of them the partner has been one."""
    existed = data.headline.trailing_quarters_joined
    if existed == 4:
        return "Trailing 4 complete quarters"
    return f"Trailing 4 complete quarters ({existed} since joining)"


def _draw_revenue(
    ax: Axes, data: ScorecardData, forecast: pd.DataFrame | None, model_label: str | None
) -> None:
    q = data.quarters
    x = _x(data)
    partial = ~q["complete"].to_numpy()
    hatch = ["//" if p else "" for p in partial]
    bars = ax.bar(x, q["positive"], width=0.7, color=REVENUE, label="bookings")
    for bar, h in zip(bars, hatch, strict=True):
        bar.set_hatch(h)
    has_credit = bool((q["credit"] < 0).any())
    if has_credit:
        ax.bar(x, q["credit"], width=0.7, color=CREDIT, label="credit notes")
    ax.plot(x, q["revenue"], "o", color="black", ms=4, label="net revenue", zorder=3)
    tops = np.maximum(np.maximum(q["positive"], q["revenue"]), 0)
    if len(q) + FORECAST_SLOTS <= MAX_LABELLED:  # more quarters: the labels would collide
        _money_labels(ax, x, tops, q["revenue"], (0, 4))
    if forecast is not None:
        xf = data.history_slots + np.arange(len(forecast))
        ax.fill_between(
            xf, forecast["p10"], forecast["p90"], color=FAN, alpha=0.25, lw=0, label="P10-P90"
        )
        ax.plot(xf, forecast["p50"], "o-", color=FAN, lw=2, ms=5, label="P50")
        if len(q) + FORECAST_SLOTS <= MAX_LABELLED:
            _money_labels(ax, xf, forecast["p50"], forecast["p50"], (0, 6), color="#8a4f00")
        ax.text(
            data.history_slots - 0.35,
            0.97,
            f"forecast: {model_label}",
            transform=ax.get_xaxis_transform(),
            fontsize=9,
            va="top",
            color="#8a4f00",
        )
    elif data.notes:  # why there is no forecast, where the fan would be
        _future_note(ax, data, _notes_text(data), "#9a1c1c")
    else:
        _future_note(ax, data, "no forecast", "#888888")
    if x[0] > 0:
        ax.text(
            (x[0] - 1) / 2,
            0.5,
            f"before joining\n({pd.Timestamp(data.partner['joined_on']).date()})",
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="center",
            color="#888888",
            fontsize=11,
        )
    ax.axhline(0, color="#333333", lw=0.8)
    ax.set_title("Revenue per quarter and forecast", loc="left", fontsize=12)
    _money_axis(ax)
    _legend_above(ax, ncols=5)
    ax.margins(y=0.15)


def _money_labels(ax: Axes, x, y, values, offset: tuple[int, int], **style) -> None:
    """Each value as money, ``offset`` points from its (x, y) (centred above by default)."""
    style = {"ha": "center", "fontsize": 8, **style}
    for xi, yi, value in zip(x, y, values, strict=True):
        ax.annotate(money(value), (xi, yi), xytext=offset, textcoords="offset points", **style)


def _notes_text(data: ScorecardData) -> str:
    return "\n\n".join(textwrap.fill(note, 42) for note in data.notes)


def _future_note(ax: Axes, data: ScorecardData, text: str, color: str) -> None:
    """Text in the middle of the forecast quarters' area."""
    ax.text(
        data.history_slots + (FORECAST_SLOTS - 1) / 2,
        0.55,
        text,
        transform=ax.get_xaxis_transform(),
        ha="center",
        va="center",
        fontsize=10,
        color=color,
        bbox={"boxstyle": "round", "fc": "white", "ec": "#dddddd", "alpha": 0.85},
    )


def _draw_pipeline(ax: Axes, data: ScorecardData) -> None:
    q = data.quarters
    x = _x(data)
    ax.bar(x - 0.18, q["created_amount"], width=0.36, color=CREATED, label="created in quarter")
    ax.bar(x + 0.18, q["won_amount"], width=0.36, color=WON, label="won in quarter")
    ax.plot(x, q["open_amount"], "s-", color=OPEN, lw=2, ms=5, label="open at quarter end")
    ax.set_title("Pipeline (opportunities as they stood then)", loc="left", fontsize=12)
    if data.notes and data.forecast is not None:  # remarks on the fan above, in free space
        _future_note(ax, data, _notes_text(data), "#9a1c1c")
    if not (q[["created_amount", "won_amount", "open_amount"]].to_numpy() != 0).any():
        _empty_note(ax, "no opportunities in these quarters")
    _money_axis(ax)
    ax.set_ylim(bottom=0)
    _legend_above(ax, ncols=3)
    ax.margins(y=0.12)


def _draw_engagement(ax: Axes, data: ScorecardData) -> None:
    q, acts = data.quarters, data.activities
    position = dict(zip(q["quarter_start"], range(len(q)), strict=True))
    kinds = sorted(acts["activity"].unique()) if len(acts) else []
    colors = matplotlib.colormaps["tab20"].colors
    bottom = np.zeros(len(q))
    for i, kind in enumerate(kinds):
        rows = acts[acts["activity"] == kind]
        heights = np.zeros(len(q))
        heights[[position[s] for s in rows["quarter_start"]]] = rows["quantity"].to_numpy()
        color = colors[(2 * i) % 20 + (i // 10) % 2]
        ax.bar(_x(data), heights, bottom=bottom, width=0.7, color=color, label=kind)
        bottom += heights
    ax.set_title("Engagement: activities by type (quantity)", loc="left", fontsize=12)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    if not kinds:
        _empty_note(ax, "no activities in these quarters")
    ax.set_ylim(0, max(bottom.max(), 1) * 1.1)
    if kinds:
        _legend_above(ax, ncols=min(len(kinds), 4))


def _draw_incentives(ax: Axes, data: ScorecardData) -> None:
    """A strip: one line per incentive type, a marker per grant (area by cost), cost labelled."""
    q, inc = data.quarters, data.incentives
    position = dict(zip(q["quarter_start"], _x(data), strict=True))
    kinds = sorted(inc["incentive"].unique()) if len(inc) else []
    ax.set_title("Incentives received (cost)", loc="left", fontsize=12)
    if not kinds:
        _empty_note(ax, "no incentives in these quarters")
        ax.set_yticks([])
        return
    row = {kind: i for i, kind in enumerate(kinds)}
    x = np.array([position[s] for s in inc["quarter_start"]], dtype=float)
    # several grants of one type in one quarter sit side by side
    key = [inc["quarter_start"], inc["incentive"]]
    order = inc.groupby(key).cumcount().to_numpy()
    count = inc.groupby(key)["cost"].transform("size").to_numpy()
    x = x + (order - (count - 1) / 2) * 0.3
    y = inc["incentive"].map(row).to_numpy(dtype=float)
    size = 40 + 260 * np.sqrt(inc["cost"].to_numpy() / max(inc["cost"].max(), 1e-9))
    ax.scatter(x, y, s=size, color="#6a51a3", alpha=0.8, zorder=3)
    _money_labels(ax, x, y, inc["cost"], (11, 0), ha="left", va="center")
    ax.set_yticks(np.arange(len(kinds)), kinds, fontsize=9)
    ax.set_ylim(-0.7, len(kinds) - 0.3)


def _legend_above(ax: Axes, ncols: int) -> None:
    """The legend right-aligned above the axes, on the title's line."""
    ax.legend(
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncols=ncols,
        fontsize=9,
        frameon=False,
        borderaxespad=0.2,
    )


def _empty_note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="#888888")
