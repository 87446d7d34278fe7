"""``partnercast override add|list|remove``: planners' overrides from the command line.

The same book as the API's ``/forecast/overrides`` (the ``overrides`` table of the
forecast ledger, ``PARTNERCAST_LEDGER_URL``), with the champion forecaster's P50 at the
moment stored beside each override. The author is ``--author``, else the login name; the
role recorded is ``cli`` (whoever can run this can reach the ledger's database anyway).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys

import pandas as pd

from features.data import BadInput, write_csv_atomically
from features.names import FORECASTER_MODEL
from features.reporting import display_url
from features.reporting.overrides import OVERRIDE_COLUMNS, OverrideBook, group_p50, model_p50
from features.scoring import load_champion
from features.settings import Settings

log = logging.getLogger(__name__)

SHOWN = ["override_id", "author", "level", "key", "quarter_start", "p50", "p50_model", "reason"]


def _author(args: argparse.Namespace) -> str:
    if args.author:
        return args.author
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def cmd_override_add(args: argparse.Namespace, settings: Settings) -> int:
    if (args.partner is None) == (args.group_by is None):
        raise BadInput("give --partner ID, or --group-by G (and --group V), not both")
    champion = load_champion(FORECASTER_MODEL, settings.resolved_tracking_uri)
    forecaster = champion.model.forecaster
    quarter = pd.Timestamp(args.quarter)
    if args.partner is not None:
        level, key = "partner", args.partner
        if key not in set(forecaster.partner_ids.astype(str)):
            raise BadInput(f"partner {key!r} is unknown to the champion v{champion.version}")
        p50_model = model_p50(
            forecaster.forecast([key], 4, num_threads=1), quarter, f"partner {key}"
        )
    else:
        level = args.group_by
        groups = forecaster.aggregate(level, 4, num_threads=1)
        key, p50_model = group_p50(groups, level, args.group, quarter)
    book = OverrideBook(settings.resolved_ledger_url)
    try:
        row = book.add(
            level=level,
            key=key,
            quarter_start=quarter,
            p50=args.p50,
            p50_model=p50_model,
            reason=args.reason,
            author=_author(args),
            role="cli",
            model_name=champion.name,
            model_version=forecaster.ledger_version(champion.version),
        )
    finally:
        book.close()
    print(
        f"override {row['override_id']}: {level} {key} {quarter.date()} p50 {row['p50']:,.0f} "
        f"(model {p50_model:,.0f}) by {row['author']}"
    )
    return 0


def cmd_override_list(args: argparse.Namespace, settings: Settings) -> int:
    book = OverrideBook(settings.resolved_ledger_url)
    try:
        frame = book.overrides(active_only=not args.all)
    finally:
        book.close()
    if args.out is not None:
        out = frame[list(OVERRIDE_COLUMNS)].copy()
        for column in ("created_at", "removed_at"):  # instants keep their time of day
            out[column] = [None if pd.isna(v) else pd.Timestamp(v).isoformat() for v in out[column]]
        write_csv_atomically(out, args.out)
        print(f"wrote {len(frame)} overrides to {args.out}")
        return 0
    if frame.empty:
        print(f"no overrides in {display_url(settings.resolved_ledger_url)}", file=sys.stderr)
        return 0
    shown = frame[SHOWN].assign(quarter_start=frame["quarter_start"].dt.date)
    print(shown.to_string(index=False, float_format=lambda v: f"{v:,.0f}"))
    return 0


def cmd_override_remove(args: argparse.Namespace, settings: Settings) -> int:
    book = OverrideBook(settings.resolved_ledger_url)
    try:
        removed = book.remove(args.override_id, actor=_author(args), role="cli")
    finally:
        book.close()
    if not removed:
        raise BadInput(f"no active override {args.override_id!r} (see: partnercast override list)")
    print(f"removed override {args.override_id}: the model's forecast is what remains")
    return 0
