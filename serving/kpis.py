"""``POST /kpis``: channel KPIs from the service's dataset and its champions.

The KPIs need the exports themselves, not only the models: the service reads the dataset
folder ``PARTNERCAST_DATA_DIR`` (validated like the CLI's ``--data``), reloads it when its
files change, and computes the KPIs with :func:`features.reporting.kpi_sources.channel_kpis`, the
same call as ``partnercast kpis``, so both give the same numbers. A table of KPIs is
computed once per (dataset, as-of, grouping, champions) and kept for
``PARTNERCAST_RELOAD_SECONDS`` (start-of-quarter forecasts recorded in the ledger since
then show up after that); requests for some partners are answered from it.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.calendar import QuarterCalendar
from features.data import BadInput, Dataset, table_files
from features.names import FORECASTER_MODEL, RECOMMENDER_MODEL
from features.reporting import channel_kpis, ledger_forecasts, quota_odds
from features.reporting.changes import CAUSES, ledger_changes
from serving import heap
from serving.answers import ApiError
from serving.champions import Loaded
from serving.dataset_child import InvalidDataset, load_apart
from serving.schemas import (
    AttainmentRequest,
    AttainmentResponse,
    Change,
    ChangesRequest,
    ChangesResponse,
    GroupAttainment,
    GroupKpis,
    KpiRequest,
    KpiResponse,
    PartnerAttainment,
    PartnerKpis,
    Reason,
    WeekSnapshot,
)
from serving.settings import ServingSettings

log = logging.getLogger(__name__)

MAX_REPORTED_PROBLEMS = 1500  # characters of a validation report in an error answer
MAX_TABLES = 32  # KPI and attainment tables kept (any past as-of date may be asked)


def _signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """What changes when a file of the dataset is replaced or edited."""
    stats = [(p.relative_to(folder).as_posix(), p.stat()) for p in table_files(folder)]
    return tuple(sorted((name, s.st_mtime_ns, s.st_size) for name, s in stats))


def _plain(value: Any) -> Any:
    """JSON-ready scalars: NaN and NaT become None, numpy and pandas values plain Python."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _same(ledger: pd.DataFrame | None, before: pd.DataFrame | None) -> bool:
    """Whether two reads of the ledger's start-of-quarter forecasts are the same rows."""
    if ledger is None or before is None:
        return ledger is None and before is None
    return ledger.equals(before)


def _check_ids(partner_ids: list[str] | None, group_by: str | None, max_batch: int) -> None:
    if partner_ids is not None and group_by is not None:
        raise ApiError(
            422,
            "give partner_ids or group_by, not both: partner_ids selects partner rows, "
            "group_by asks for one row per group",
        )
    if partner_ids is not None and len(partner_ids) > max_batch:
        raise ApiError(
            413,
            f"{len(partner_ids)} partner ids in one request; at most {max_batch} "
            "are allowed (PARTNERCAST_MAX_BATCH): split the request",
        )


class KpiSource:
    """The dataset folder, loaded on first use and when its files change, and KPI tables."""

    def __init__(self, settings: ServingSettings | None = None) -> None:
        self.settings = settings or ServingSettings()
        self._lock = threading.Lock()
        self._dataset: tuple[tuple, Dataset] | None = None
        # key -> (when, frame[, ledger rows read]), the least recently used first; see _keep
        self._tables: OrderedDict[tuple, tuple] = OrderedDict()
        self._last_dates: dict[tuple, pd.Timestamp] = {}  # dataset signature -> as-of
        self._answers: dict[tuple, tuple[pd.DataFrame, KpiResponse]] = {}  # see answer()

    def dataset(self) -> tuple[tuple, Dataset]:
        folder = Path(self.settings.data_dir)
        if not folder.is_dir():
            raise ApiError(
                503,
                f"the KPI dataset folder {folder} does not exist: set PARTNERCAST_DATA_DIR "
                "to a folder laid out as in the data contract",
            )
        signature = _signature(folder)
        with self._lock:
            if self._dataset is None or self._dataset[0] != signature:
                try:
                    ds = load_apart(folder)  # seconds of pandas: not in this process
                except InvalidDataset as exc:
                    report = str(exc)[:MAX_REPORTED_PROBLEMS]
                    raise ApiError(503, f"the KPI dataset {folder} is invalid: {report}") from exc
                except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                    log.exception("reading the KPI dataset failed")
                    raise ApiError(503, f"the KPI dataset {folder} could not be read") from exc
                self._dataset = (signature, ds)
                self._tables.clear()
                self._answers.clear()
                log.info("KPI dataset loaded from %s", folder)
                heap.settle(f"loading the KPI dataset {folder}")
            return self._dataset

    def table(self, loaded: Loaded, as_of: pd.Timestamp | None, group_by: str | None) -> Any:
        """(as_of, KPI frame) for the request, computed once per key and kept a while.

        After ``reload_seconds`` (at least 1 s) the ledger's start-of-quarter forecasts are
        read again; only when they changed is the table computed again (seconds of
        features and scoring), else it is kept for another while.
        """
        signature, ds = self.dataset()
        as_of = self._as_of(signature, ds, as_of)
        forecaster = loaded.models.get(FORECASTER_MODEL)
        recommender = loaded.models.get(RECOMMENDER_MODEL)
        key = (
            signature,
            as_of,
            group_by,
            None if forecaster is None else forecaster.version,
            None if recommender is None else recommender.version,
        )
        now = time.monotonic()
        with self._lock:
            cached = self._tables.get(key)
            if cached is not None and now - cached[0] < max(self.settings.reload_seconds, 1.0):
                self._tables.move_to_end(key)
                return as_of, cached[1]
            calendar = QuarterCalendar(self.settings.fy_start_month)
            quarter_start = pd.Timestamp(calendar.quarter_start(as_of))
            try:
                ledger = ledger_forecasts(self.settings.resolved_ledger_url, quarter_start)
            except Exception:  # the ledger adds to the KPIs; it must never break them
                log.exception("reading the forecast ledger failed; rescoring instead")
                ledger = None
            if cached is not None and _same(ledger, cached[2]):
                self._keep(key, (now, cached[1], cached[2]))
                return as_of, cached[1]
            frame = channel_kpis(
                ds,
                as_of=as_of,
                calendar=calendar,
                group_by=group_by,
                forecaster=None if forecaster is None else forecaster.scorer,
                forecaster_version=None if forecaster is None else forecaster.version,
                recommender=None if recommender is None else recommender.scorer,
                ledger_forecasts=ledger,
                mdf_incentive=self.settings.mdf_incentive,
                seed=self.settings.seed,
            )
            self._keep(key, (now, frame, ledger))
            return as_of, frame

    def _keep(self, key: tuple, entry: tuple) -> None:
        """Remember a table (caller holds the lock); past :data:`MAX_TABLES` the least
        recently asked goes, so callers asking many past dates cannot grow the service's
        memory without bound."""
        self._tables[key] = entry
        self._tables.move_to_end(key)
        while len(self._tables) > MAX_TABLES:
            self._tables.popitem(last=False)

    def _as_of(self, signature: tuple, ds: Dataset, when: pd.Timestamp | None) -> pd.Timestamp:
        """``ds.as_of(when)``; the dataset's last date (a scan of every table) once per
        dataset version."""
        if when is not None:
            return ds.as_of(when)
        with self._lock:
            known = self._last_dates.get(signature)
            if known is None:
                self._last_dates = {signature: ds.as_of(None)}
                known = self._last_dates[signature]
            return known

    def attainment(
        self, loaded: Loaded, request: AttainmentRequest, *, max_batch: int
    ) -> AttainmentResponse:
        """The ``POST /forecast/attainment`` answer: rows only where a target exists."""
        _check_ids(request.partner_ids, request.group_by, max_batch)
        signature, ds = self.dataset()
        as_of = ds.as_of(None if request.as_of is None else pd.Timestamp(request.as_of))
        calendar = QuarterCalendar(self.settings.fy_start_month)
        start = pd.Timestamp(request.quarter_start or calendar.quarter_start(as_of))
        forecaster = loaded.models.get(FORECASTER_MODEL)
        key = (
            "attainment",
            signature,
            as_of,
            start,
            request.group_by,
            None if forecaster is None else forecaster.version,
        )
        now = time.monotonic()
        with self._lock:
            cached = self._tables.get(key)
            if cached is not None and now - cached[0] < max(self.settings.reload_seconds, 1.0):
                self._tables.move_to_end(key)
                frame = cached[1]
            else:
                try:
                    frame = quota_odds(
                        ds,
                        as_of=as_of,
                        quarter_start=start,
                        calendar=calendar,
                        group_by=request.group_by,
                        forecaster=None if forecaster is None else forecaster.scorer,
                        seed=self.settings.seed,
                    )
                except BadInput as exc:
                    raise ApiError(422, str(exc)) from exc
                self._keep(key, (now, frame))
        if request.partner_ids is not None:
            wanted = list(dict.fromkeys(request.partner_ids))
            unknown = sorted(set(wanted) - set(ds.partners["partner_id"].astype(str)))
            if unknown:
                raise ApiError(
                    404,
                    f"{len(unknown)} partner id(s) not in the dataset: remove them",
                    unknown_partner_ids=unknown,
                )
            frame = frame[frame["partner_id"].astype(str).isin(wanted)]
        row_model = PartnerAttainment if request.group_by is None else GroupAttainment
        fields = set(row_model.model_fields)
        rows = [
            row_model(**{k: _plain(v) for k, v in record.items() if k in fields})
            for record in frame.to_dict("records")
        ]
        return AttainmentResponse(
            as_of=as_of.date(),
            quarter_start=start.date(),
            group_by=request.group_by,
            attainment=rows,
        )

    def changes(
        self, loaded: Loaded, request: ChangesRequest, *, max_batch: int
    ) -> ChangesResponse:
        """The ``POST /forecast/changes`` answer (the champion forecaster on the dataset)."""
        champion = loaded.get(FORECASTER_MODEL)
        _, ds = self.dataset()
        as_of = ds.as_of(None if request.as_of is None else pd.Timestamp(request.as_of))
        try:
            frame, weeks = ledger_changes(
                ds,
                champion.scorer,
                ledger_url=self.settings.resolved_ledger_url,
                since=pd.Timestamp(request.since),
                as_of=as_of,
                calendar=QuarterCalendar(self.settings.fy_start_month),
                model_name=champion.name,
                model_version=champion.scorer.ledger_version(champion.version),
                quarter_start=request.quarter_start,
                group_by=request.group_by,
            )
        except BadInput as exc:
            raise ApiError(422, str(exc)) from exc
        key = "partner_id" if request.group_by is None else "group"
        rows = []
        for record in frame.head(min(request.top_k, max_batch)).to_dict("records"):
            reasons = [Reason(cause=c, amount=float(record[c])) for c in CAUSES if record[c] != 0]
            reasons.sort(key=lambda r: -abs(r.amount))
            rows.append(
                Change(
                    quarter_start=pd.Timestamp(record["quarter_start"]).date(),
                    p50_then=float(record["p50_then"]),
                    p50_now=float(record["p50_now"]),
                    delta=float(record["delta"]),
                    reasons=reasons,
                    **{key: str(record["key"])},
                )
            )
        quarter = frame["quarter_start"].iloc[0] if len(frame) else request.quarter_start
        return ChangesResponse(
            as_of=as_of.date(),
            since=request.since,
            quarter_start=None if quarter is None else pd.Timestamp(quarter).date(),
            model_version=champion.version,
            changes=rows,
            snapshots=[
                WeekSnapshot(
                    week_end=pd.Timestamp(w["week_end"]).date(),
                    group=str(w["group"]),
                    p50=float(w["p50"]),
                    partners=int(w["partners"]),
                )
                for w in weeks.to_dict("records")
            ],
        )

    def answer(self, loaded: Loaded, request: KpiRequest, *, max_batch: int) -> KpiResponse:
        """The ``POST /kpis`` answer (errors as :class:`ApiError`).

        An answer about every partner or group is kept with the table it was made from
        and given again while that table is the current one (a new table, after a dataset,
        ledger or champion change, makes a new answer).
        """
        _check_ids(request.partner_ids, request.group_by, max_batch)
        as_of = None if request.as_of is None else pd.Timestamp(request.as_of)
        as_of, frame = self.table(loaded, as_of, request.group_by)
        if request.partner_ids is not None:
            wanted = list(dict.fromkeys(request.partner_ids))
            ids = frame["partner_id"].astype(str)
            unknown = sorted(set(wanted) - set(ids))
            if unknown:
                raise ApiError(
                    404,
                    f"{len(unknown)} partner id(s) not in the KPI dataset as of {as_of.date()} "
                    "(unknown, or joined later): remove them",
                    unknown_partner_ids=unknown,
                )
            selected = frame.set_index(ids).loc[wanted].reset_index(drop=True)
            return self._response(as_of, selected, request.group_by)
        if request.as_of is not None:  # any past date may be asked: not kept
            return self._response(as_of, frame, request.group_by)
        key = (as_of, request.group_by)
        with self._lock:
            made = self._answers.get(key)
        if made is not None and made[0] is frame:
            return made[1]
        response = self._response(as_of, frame, request.group_by)
        with self._lock:
            self._answers[key] = (frame, response)
        return response

    def _response(
        self, as_of: pd.Timestamp, frame: pd.DataFrame, group_by: str | None
    ) -> KpiResponse:
        row_model = PartnerKpis if group_by is None else GroupKpis
        fields = set(row_model.model_fields)
        rows = [
            row_model(**{k: _plain(v) for k, v in record.items() if k in fields})
            for record in frame.to_dict("records")
        ]
        quarter_start = QuarterCalendar(self.settings.fy_start_month).quarter_start(as_of)
        return KpiResponse(
            as_of=as_of.date(),
            quarter_start=pd.Timestamp(quarter_start).date(),
            group_by=group_by,
            kpis=rows,
        )
