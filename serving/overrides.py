"""Planners' overrides in the service: write, list, remove, and show them in forecasts.

The overrides live in the ledger's database (:class:`features.reporting.overrides.
OverrideBook`), so they survive restarts and every server on the same ledger sees them.
The active ones are cached and re-read every ``PARTNERCAST_OVERRIDES_REFRESH_SECONDS``
(and at once after a write here), so a forecast answer costs no database query.
Forecast answers keep the model's ``p10/p50/p90`` and add ``p50_final`` and ``override``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

import pandas as pd

from features.data import BadInput
from features.reporting import display_url
from features.reporting.overrides import (
    OverrideBook,
    apply_group_overrides,
    apply_partner_overrides,
    group_p50,
    has_overrides,
    model_p50,
)
from serving.answers import ApiError
from serving.champions import Loaded, forecaster_of
from serving.forecast_table import rows_frame
from serving.identity import Identity
from serving.schemas import (
    AggregateResponse,
    ForecastResponse,
    Override,
    OverrideList,
    OverrideRequest,
)

log = logging.getLogger(__name__)


def override_model(row: dict[str, Any]) -> Override:
    """A stored override row as the API's object."""
    level = str(row["level"])
    where: dict[str, Any] = (
        {"partner_id": str(row["key"])}
        if level == "partner"
        else {"group_by": level, "group": str(row["key"])}
    )
    removed = row.get("removed_at")
    return Override(
        override_id=str(row["override_id"]),
        author=str(row["author"]),
        created_at=row["created_at"],
        quarter_start=pd.Timestamp(row["quarter_start"]).date(),
        p50=float(row["p50"]),
        p50_model=float(row["p50_model"]),
        reason=str(row["reason"]),
        model_version=None if row.get("model_version") is None else str(row["model_version"]),
        removed_at=None if removed is None or pd.isna(removed) else removed,
        removed_by=row.get("removed_by") or None,
        **where,
    )


class OverrideDesk:
    """The service's overrides: the book in the ledger's database and a cache of the
    active ones (opened on first use, so a ledger that is down only fails overrides)."""

    def __init__(self, url: str, *, refresh_seconds: float = 5.0) -> None:
        self.url = url
        self.refresh_seconds = refresh_seconds
        self._book: OverrideBook | None = None
        self._lock = threading.Lock()
        self._active: tuple[float, pd.DataFrame] | None = None

    def book(self) -> OverrideBook:
        with self._lock:
            if self._book is None:
                self._book = OverrideBook(self.url)
                log.info("overrides kept in %s", display_url(self.url))
            return self._book

    def close(self) -> None:
        if self._book is not None:
            self._book.close()

    def active(self) -> pd.DataFrame | None:
        """The active overrides, at most ``refresh_seconds`` old (None: cannot be read)."""
        cached = self._active
        if cached is not None and time.monotonic() - cached[0] < self.refresh_seconds:
            return cached[1]
        try:
            if self._book is None and not has_overrides(self.url):
                frame = None  # none made yet: reading creates no database
            else:
                frame = self.book().overrides(active_only=True)
        except Exception:  # overrides add to an answer; they must never break it
            log.exception("could not read the overrides")
            return None if cached is None else cached[1]
        self._active = (time.monotonic(), frame)
        return frame

    # -- writes and reads (errors as ApiError) ------------------------------------------
    def create(self, loaded: Loaded, request: OverrideRequest, who: Identity) -> Override:
        champion, forecaster, table = forecaster_of(loaded)
        quarter = pd.Timestamp(request.quarter_start)
        try:
            if request.partner_id is not None:
                if request.group_by is not None or request.group is not None:
                    raise BadInput("give partner_id, or group_by and group, not both")
                level, key = "partner", request.partner_id
                if key not in table.rows:
                    raise ApiError(
                        404,
                        f"partner id {key!r} is unknown to model v{champion.version}",
                        unknown_partner_ids=[key],
                    )
                rows = rows_frame(table.forecast([key], 4), "partner_id")
                p50_model = model_p50(rows, quarter, f"partner {key}")
            elif request.group_by is not None:
                level = request.group_by
                groups = rows_frame(table.aggregate(level, 4), "group")
                key, p50_model = group_p50(groups, level, request.group, quarter)
            else:
                raise BadInput("give partner_id, or group_by (and group) of the forecast")
            row = self.book().add(
                level=level,
                key=key,
                quarter_start=quarter,
                p50=request.p50,
                p50_model=p50_model,
                reason=request.reason,
                author=who.name,
                role=who.role,
                model_name=champion.name,
                model_version=forecaster.ledger_version(champion.version),
            )
        except BadInput as exc:
            raise ApiError(422, str(exc)) from exc
        self._active = None  # seen by the next answer
        return override_model(row)

    def listing(self, partner_id: str | None, quarter_start: dt.date | None) -> OverrideList:
        if self._book is None and not has_overrides(self.url):
            return OverrideList(overrides=[])
        frame = self.book().overrides(active_only=True, key=partner_id, quarter_start=quarter_start)
        if partner_id is not None:
            frame = frame[frame["level"] == "partner"]
        return OverrideList(overrides=[override_model(r) for r in frame.to_dict("records")])

    def remove(self, override_id: str, who: Identity) -> None:
        if not self.book().remove(override_id, actor=who.name, role=who.role):
            raise ApiError(
                404, f"no active override {override_id!r}: list them at GET /forecast/overrides"
            )
        self._active = None

    def record(self, action: str, who: Identity, detail: dict[str, Any]) -> None:
        """An audit row; a failure is logged, never raised (the action happened)."""
        try:
            self.book().record(action, actor=who.name, role=who.role, detail=detail)
        except Exception:
            log.exception("could not record %s by %s in the audit trail", action, who.name)

    # -- forecasts -------------------------------------------------------------------
    def finalize(self, loaded: Loaded, answer: Any) -> Any:
        """A forecast answer with ``p50_final`` and ``override`` on every row."""
        if not isinstance(answer, ForecastResponse | AggregateResponse):
            return answer
        active = self.active()
        if isinstance(answer, ForecastResponse):
            return _partners_final(answer, active)
        return _groups_final(loaded, answer, active)


def _by_id(active: pd.DataFrame | None) -> dict[str, Override]:
    if active is None or active.empty:
        return {}
    return {str(r["override_id"]): override_model(r) for r in active.to_dict("records")}


def _partners_final(answer: ForecastResponse, active: pd.DataFrame | None) -> ForecastResponse:
    objects = _by_id(active)
    if not objects:
        for f in answer.forecasts:
            f.p50_final, f.override = f.p50, None
        return answer
    frame = pd.DataFrame(
        {
            "partner_id": [f.partner_id for f in answer.forecasts],
            "quarter_start": [f.quarter_start for f in answer.forecasts],
            "p50": [f.p50 for f in answer.forecasts],
        }
    )
    final = apply_partner_overrides(frame, active)
    for f, value, oid in zip(
        answer.forecasts, final["p50_final"], final["override_id"], strict=True
    ):
        f.p50_final = float(value)
        f.override = objects.get(str(oid)) if isinstance(oid, str) else None
    return answer


def _groups_final(
    loaded: Loaded, answer: AggregateResponse, active: pd.DataFrame | None
) -> AggregateResponse:
    objects = _by_id(active)
    if not objects:
        for f in answer.forecasts:
            f.p50_final, f.override = f.p50, None
            f.partner_adjustment, f.override_gap_to_partners = 0.0, None
        return answer
    _, forecaster, _ = forecaster_of(loaded)
    first = forecaster.snapshot.drop_duplicates("partner_id").set_index("partner_id")
    level = answer.group_by
    if level == "total":
        groups = pd.Series("total", index=first.index.astype(str))
    else:
        groups = pd.Series(
            first[level].astype("string").fillna("unknown").astype(str).to_numpy(),
            index=first.index.astype(str),
        )
    frame = pd.DataFrame(
        {
            "group": [f.group for f in answer.forecasts],
            "quarter_start": [f.quarter_start for f in answer.forecasts],
            "p50": [f.p50 for f in answer.forecasts],
        }
    )
    final = apply_group_overrides(frame, level, active, groups)
    for f, row in zip(answer.forecasts, final.to_dict("records"), strict=True):
        f.p50_final = float(row["p50_final"])
        f.partner_adjustment = float(row["partner_adjustment"])
        gap = row["override_gap_to_partners"]
        f.override_gap_to_partners = None if pd.isna(gap) else float(gap)
        oid = row["override_id"]
        f.override = objects.get(str(oid)) if isinstance(oid, str) else None
    return answer
