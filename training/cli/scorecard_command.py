"""``partnercast scorecard``: one partner's one-page PNG, with the champion's fan when there is one.

The numbers come from :func:`training.reports.scorecard.scorecard_data` and the drawing from
:mod:`training.reports.scorecard_figure`; this command loads, checks, draws and writes.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import replace

from features.calendar import QuarterCalendar
from features.settings import Settings
from training.reports.scorecard import check_partner, scorecard_data

log = logging.getLogger(__name__)


def cmd_scorecard(args: argparse.Namespace, settings: Settings) -> int:
    """``partnercast scorecard``: load, check, forecast (when a champion exists), draw, write."""
    from features.data import load_dataset, write_bytes_atomically
    from features.names import FORECASTER_MODEL
    from features.scoring import NoChampionError, load_champion
    from training.reports import scorecard_figure  # the module: tests replace its drawing

    started = time.perf_counter()
    log.info("reading %s", settings.data_dir)
    ds = load_dataset(settings.data_dir)
    as_of = ds.as_of(args.as_of)
    calendar = QuarterCalendar(settings.fy_start_month)
    check_partner(ds, args.partner, as_of)  # before the slow model load

    forecaster, model_label, notes = None, None, []
    try:
        champion = load_champion(FORECASTER_MODEL, settings.resolved_tracking_uri)
    except NoChampionError as exc:
        log.warning("no forecast on the scorecard: %s", exc)
        notes.append("No forecast: no champion forecaster in the registry (run partnercast train)")
    else:
        forecaster = champion.model.forecaster
        model_label = f"{champion.name} v{champion.version}"
        if forecaster.spec.fy_start_month != calendar.fy_start_month:
            log.warning(
                "no forecast: the champion's quarters start with fiscal month %d, the "
                "scorecard's with %d (pass --fy-start-month %d)",
                forecaster.spec.fy_start_month,
                calendar.fy_start_month,
                forecaster.spec.fy_start_month,
            )
            notes.append(
                f"No forecast: {model_label} uses fiscal years starting in month "
                f"{forecaster.spec.fy_start_month}; rerun with --fy-start-month "
                f"{forecaster.spec.fy_start_month}"
            )
            forecaster, model_label = None, None
        elif forecaster.as_of > as_of:
            log.warning("the champion was trained on data up to %s", forecaster.as_of.date())
            notes.append(
                f"{model_label} was trained on data up to {forecaster.as_of.date()}, after the "
                "as-of date: its fan is a back-cast, not the forecast made at the time"
            )
    log.info("building the scorecard of %s as of %s", args.partner, as_of.date())
    data = scorecard_data(
        ds,
        args.partner,
        as_of=as_of,
        calendar=calendar,
        quarters=args.quarters,
        forecaster=forecaster,
    )
    data = replace(data, notes=tuple(notes))
    png = scorecard_figure.render_scorecard(data, model_label=model_label)
    write_bytes_atomically(png, args.out)
    log.info("scorecard done in %.1f s", time.perf_counter() - started)
    print(
        f"wrote {args.out}: partner {args.partner}, as of {as_of.date()}, "
        f"{'forecast by ' + model_label if model_label else 'no forecast'}"
    )
    return 0
