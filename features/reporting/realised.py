"""Realised accuracy and forecast value added from the ledger: the one call behind
``partnercast accuracy`` and the planner app's Accuracy page.

:func:`realised_accuracy` reads the ledger's partner forecasts for quarters that have
ended by the data's last date, puts each next to the partner's actual revenue
(:func:`~features.reporting.accuracy.join_actuals`), and scores them by model, horizon
and segment (:func:`~features.reporting.accuracy.accuracy_report`) and step by step,
seasonal naive -> model -> final with the planners' overrides
(:func:`~features.reporting.value_added.value_added_report`). When there is nothing to
score yet (an empty or missing ledger, no quarter ended) it says why instead; a scheduled
job run before the first quarter matures is not failing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from features.calendar import QuarterCalendar
from features.data import BadInput, Dataset
from features.families import build_revenue_panel
from features.reporting.accuracy import accuracy_report, join_actuals, matured_forecasts
from features.reporting.ledger import ForecastLedger, display_url
from features.reporting.overrides import read_overrides
from features.reporting.value_added import value_added_report, with_naive_and_final

log = logging.getLogger(__name__)


class LedgerUnreadable(RuntimeError):
    """The ledger's database could not be read (its message names it, without a password)."""


@dataclass(frozen=True)
class RealisedAccuracy:
    """The two reports, or the reason there is nothing to score yet.

    ``report`` and ``value_added`` are None exactly when ``nothing_because`` says why;
    ``left_out`` warns about forecasts of partners that are not in the data.
    """

    last_date: pd.Timestamp
    report: pd.DataFrame | None = None
    value_added: pd.DataFrame | None = None
    scored: int = 0
    nothing_because: str | None = None
    left_out: str | None = None


def _recorded(url: str, model_version: str | None, last_date: pd.Timestamp) -> pd.DataFrame:
    try:
        with ForecastLedger(url, create=False) as ledger:
            return ledger.forecasts(
                level="partner", model_version=model_version, quarter_start_to=last_date
            )
    except Exception as exc:
        log.debug("ledger read failed", exc_info=True)
        raise LedgerUnreadable(f"cannot read the ledger at {display_url(url)}: {exc}") from exc


def _left_out(unknown: list[str], dropped: int) -> str | None:
    if not unknown:
        return None
    shown = ", ".join(unknown[:10])
    more = len(unknown) - 10
    return (
        f"{dropped} forecasts of {len(unknown)} partner(s) not in the data were left out: "
        f"{shown}" + (f" and {more} more" if more > 0 else "")
    )


def realised_accuracy(
    ds: Dataset,
    *,
    ledger_url: str,
    calendar: QuarterCalendar,
    model_version: str | None = None,
    coverage_floor: float = 0.70,
) -> RealisedAccuracy:
    """Score the ledger's matured partner forecasts against ``ds``'s actuals.

    Raises :class:`LedgerUnreadable` when the ledger cannot be read and
    :class:`~features.data.BadInput` when the recorded quarters do not fit ``calendar``.
    """
    last_date = ds.as_of()
    recorded = _recorded(ledger_url, model_version, last_date)
    which = f" of model version {model_version}" if model_version else ""
    if recorded.empty:
        return RealisedAccuracy(
            last_date,
            nothing_because=(
                f"no partner forecasts{which} for quarters starting by {last_date.date()} in "
                f"the ledger at {display_url(ledger_url)} (record some with 'partnercast "
                "forecast' or 'partnercast backtest --ledger')"
            ),
        )
    matured = matured_forecasts(recorded, last_date=last_date)
    if matured.empty:
        return RealisedAccuracy(
            last_date,
            nothing_because=(
                f"{len(recorded)} partner forecasts{which} in the ledger, none for a quarter "
                f"that had ended by the data's last date {last_date.date()}: nothing to score yet"
            ),
        )
    panel = build_revenue_panel(ds, as_of=last_date, calendar=calendar)
    try:
        realised = join_actuals(matured, panel, ds.partners, calendar)
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    left_out = _left_out(realised.unknown_partners, realised.dropped_forecasts)
    if realised.frame.empty:
        return RealisedAccuracy(
            last_date,
            nothing_because="none of the matured forecasts is of a partner in the data",
            left_out=left_out,
        )
    overrides = read_overrides(ledger_url)
    return RealisedAccuracy(
        last_date,
        report=accuracy_report(realised.frame, coverage_floor=coverage_floor),
        value_added=value_added_report(with_naive_and_final(realised.frame, panel, overrides)),
        scored=len(realised.frame),
        left_out=left_out,
    )
