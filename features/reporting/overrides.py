"""Planners' overrides of the forecast, kept in the ledger beside the model's numbers.

A planner who knows something the model does not (a deal slipping, a partner leaving)
sets the P50 of a partner or a group for one quarter, with a reason. The override is
stored with who made it, when, and the model's P50 at that moment (``p50_model``), in
the ``overrides`` table of the forecast ledger's database; the model's own forecasts are
never changed. A newer override of the same partner or group and quarter replaces the
older one, and removing an override only marks it removed (``removed_at``,
``removed_by``), so the history stays for the end-of-quarter accuracy report. Every
write, and every model reload of the service, is one row of the ``audit`` table.

Applying them (:func:`apply_partner_overrides`, :func:`apply_group_overrides`):
``p50_final`` is the override's value where one applies, else the model's ``p50``. A
group's ``p50_final`` includes its partners' overrides (the model's group P50 plus the
sum of ``p50 - p50_model`` over the group's overridden partners, ``partner_adjustment``);
a group-level override replaces that, and ``override_gap_to_partners`` says how far it is
from the sum of its partners (override - (group P50 + partner adjustment)).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pandas as pd
import sqlalchemy as sa

from features.data import BadInput
from features.reporting.ledger import (
    LEVELS,
    _engine,
    _UtcDateTime,
    create_tables,
    display_url,
    metadata,
)

ROLES: tuple[str, ...] = ("reader", "planner", "admin")
OVERRIDE_COLUMNS: tuple[str, ...] = (
    "override_id",
    "created_at",
    "author",
    "role",
    "level",
    "key",
    "quarter_start",
    "p50",
    "p50_model",
    "model_name",
    "model_version",
    "reason",
    "removed_at",
    "removed_by",
)
MAX_REASON = 2000

overrides_table = sa.Table(
    "overrides",
    metadata,
    sa.Column("override_id", sa.String(40), primary_key=True),
    sa.Column("created_at", _UtcDateTime(), nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("quarter_start", sa.Date, nullable=False),
    sa.Column("p50", sa.Double, nullable=False),
    sa.Column("p50_model", sa.Double, nullable=False),
    sa.Column("model_name", sa.String(200), nullable=False),
    sa.Column("model_version", sa.String(100), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("removed_at", _UtcDateTime(), nullable=True),
    sa.Column("removed_by", sa.String(200), nullable=True),
    sa.Index("ix_overrides_target", "level", "key", "quarter_start"),
)
audit_table = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", _UtcDateTime(), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)


def check_override(level: str, key: str, p50: float, reason: str) -> None:
    """Boundary checks of an override: raise :class:`BadInput` saying what to fix."""
    if level not in LEVELS:
        raise BadInput(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    if not key:
        raise BadInput("an override needs a partner id or a group")
    if not pd.notna(p50) or abs(p50) == float("inf"):
        raise BadInput(f"p50 must be a number, got {p50!r}")
    if not reason or not reason.strip():
        raise BadInput("an override needs a reason: say why the model is wrong")
    if len(reason) > MAX_REASON:
        raise BadInput(f"the reason is over {MAX_REASON} characters")


def model_p50(forecasts: pd.DataFrame, quarter_start: Any, what: str) -> float:
    """The model's P50 for ``quarter_start`` in ``forecasts`` (one partner's or group's
    rows: ``quarter_start, p50``); :class:`BadInput` when the model does not forecast it."""
    start = pd.Timestamp(quarter_start)
    quarters = pd.to_datetime(forecasts["quarter_start"])
    hit = forecasts.loc[quarters == start, "p50"]
    if hit.empty:
        known = ", ".join(str(q.date()) for q in sorted(quarters.unique()))
        raise BadInput(
            f"the model has no forecast of {what} for the quarter starting {start.date()}: "
            f"it forecasts the quarters starting {known or 'none'}"
        )
    return float(hit.iloc[0])


def has_overrides(url: str) -> bool:
    """Whether the database at ``url`` has an overrides table (reading creates nothing)."""
    from features.reporting.ledger import _sqlite_file

    path = _sqlite_file(url)
    if path is not None and not path.exists():
        return False
    engine = _engine(url, create=False)
    try:
        return sa.inspect(engine).has_table(overrides_table.name)
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def read_overrides(url: str) -> pd.DataFrame | None:
    """Every override ever made at ``url``, removed ones included (None: no such table;
    reading creates nothing)."""
    if not has_overrides(url):
        return None
    book = OverrideBook(url)
    try:
        return book.overrides(active_only=False)
    finally:
        book.close()


def group_p50(
    groups: pd.DataFrame, level: str, group: str | None, quarter_start: Any
) -> tuple[str, float]:
    """(key, the model's P50) of a group override: ``groups`` is the model's group
    forecast at ``level`` (``group, quarter_start, p50``); the total's key is ``total``.
    :class:`BadInput` for a missing or unknown group or a quarter not forecast."""
    key = "total" if level == "total" else group
    if key is None:
        raise BadInput(f"give the group: a value of {level}")
    known = sorted(groups["group"].astype(str).unique())
    if key not in known:
        raise BadInput(f"{level} {key!r} is not a group; groups are {known}")
    rows = groups[groups["group"].astype(str) == key]
    return key, model_p50(rows, quarter_start, f"{level} {key}")


class OverrideBook:
    """The ``overrides`` and ``audit`` tables at a SQLAlchemy ``url`` (the ledger's)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine(url, create=True)
        create_tables(self.engine, [overrides_table, audit_table])

    def __repr__(self) -> str:
        return f"OverrideBook({display_url(self.url)!r})"

    def close(self) -> None:
        self.engine.dispose()

    def add(
        self,
        *,
        level: str,
        key: str,
        quarter_start: Any,
        p50: float,
        p50_model: float,
        reason: str,
        author: str,
        role: str,
        model_name: str,
        model_version: str,
        now: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """Store an override (replacing an active one of the same target) and audit it,
        in one transaction; returns the stored override."""
        check_override(level, key, p50, reason)
        now = now or dt.datetime.now(dt.UTC)
        row = {
            "override_id": uuid.uuid4().hex[:16],
            "created_at": now,
            "author": author,
            "role": role,
            "level": level,
            "key": str(key),
            "quarter_start": pd.Timestamp(quarter_start).date(),
            "p50": float(p50),
            "p50_model": float(p50_model),
            "model_name": model_name,
            "model_version": str(model_version),
            "reason": reason.strip(),
            "removed_at": None,
            "removed_by": None,
        }
        t = overrides_table.c
        with self.engine.begin() as conn:
            conn.execute(
                overrides_table.update()
                .where(
                    t.level == level,
                    t.key == row["key"],
                    t.quarter_start == row["quarter_start"],
                    t.removed_at.is_(None),
                )
                .values(removed_at=now, removed_by=author)
            )
            conn.execute(overrides_table.insert(), row)
            self._audit(conn, now, author, role, "override_add", _detail(row))
        return row

    def remove(self, override_id: str, *, actor: str, role: str) -> bool:
        """Mark an active override removed (False: no such active override)."""
        now = dt.datetime.now(dt.UTC)
        t = overrides_table.c
        with self.engine.begin() as conn:
            done = conn.execute(
                overrides_table.update()
                .where(t.override_id == override_id, t.removed_at.is_(None))
                .values(removed_at=now, removed_by=actor)
                .returning(t.override_id)
            ).all()
            if done:
                self._audit(conn, now, actor, role, "override_remove", {"override_id": override_id})
        return bool(done)

    def record(self, action: str, *, actor: str, role: str, detail: dict[str, Any]) -> None:
        """One audit row (e.g. ``reload``)."""
        with self.engine.begin() as conn:
            self._audit(conn, dt.datetime.now(dt.UTC), actor, role, action, detail)

    @staticmethod
    def _audit(conn: Any, at: dt.datetime, actor: str, role: str, action: str, detail: Any) -> None:
        conn.execute(
            audit_table.insert(),
            {
                "at": at,
                "actor": actor,
                "role": role,
                "action": action,
                "detail": json.dumps(detail, default=str),
            },
        )

    def overrides(
        self,
        *,
        active_only: bool = True,
        key: str | None = None,
        quarter_start: Any = None,
    ) -> pd.DataFrame:
        """Stored overrides (:data:`OVERRIDE_COLUMNS`) in the order made, filtered."""
        t = overrides_table.c
        where = []
        if active_only:
            where.append(t.removed_at.is_(None))
        if key is not None:
            where.append(t.key == key)
        if quarter_start is not None:
            where.append(t.quarter_start == pd.Timestamp(quarter_start).date())
        query = sa.select(overrides_table).where(*where).order_by(t.created_at, t.override_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        frame = pd.DataFrame([dict(r) for r in rows], columns=list(OVERRIDE_COLUMNS))
        frame["quarter_start"] = pd.to_datetime(frame["quarter_start"])
        for column in ("p50", "p50_model"):
            frame[column] = frame[column].astype(float)
        return frame

    def audit(self) -> pd.DataFrame:
        """The audit trail, oldest first: ``at, actor, role, action, detail``."""
        query = sa.select(audit_table).order_by(audit_table.c.id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return pd.DataFrame(
            [dict(r) for r in rows], columns=["id", "at", "actor", "role", "action", "detail"]
        )


def _detail(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("override_id", "level", "key", "quarter_start", "p50", "p50_model", "reason")
    return {k: row[k] for k in keys}


def _active(overrides: pd.DataFrame | None, level: str) -> pd.DataFrame:
    if overrides is None or overrides.empty:
        return pd.DataFrame(columns=list(OVERRIDE_COLUMNS))
    picked = overrides[(overrides["level"] == level) & overrides["removed_at"].isna()]
    return picked.assign(quarter_start=pd.to_datetime(picked["quarter_start"]))


def apply_partner_overrides(
    forecasts: pd.DataFrame, overrides: pd.DataFrame | None
) -> pd.DataFrame:
    """``forecasts`` (``partner_id, quarter_start, p50, ...``) with ``p50_final`` and the
    ``override_id`` that set it (None where the model's P50 stands)."""
    active = _active(overrides, "partner").set_index(["key", "quarter_start"])
    keys = pd.MultiIndex.from_arrays(
        [forecasts["partner_id"].astype(str), pd.to_datetime(forecasts["quarter_start"])]
    )
    hit = active.reindex(keys)
    out = forecasts.copy()
    out["override_id"] = hit["override_id"].to_numpy()
    final = hit["p50"].to_numpy(dtype=float)
    out["p50_final"] = pd.Series(final, index=out.index).fillna(out["p50"].astype(float))
    return out


def partner_adjustments(overrides: pd.DataFrame | None, partner_groups: pd.Series) -> pd.Series:
    """Sum of ``p50 - p50_model`` of active partner overrides per (group, quarter_start).

    ``partner_groups``: each partner's group at the level, indexed by partner id.
    """
    active = _active(overrides, "partner")
    if active.empty:
        return pd.Series(dtype=float)
    groups = partner_groups.reindex(active["key"].astype(str)).to_numpy()
    delta = (active["p50"] - active["p50_model"]).astype(float).to_numpy()
    frame = pd.DataFrame({"group": groups, "quarter_start": active["quarter_start"], "d": delta})
    return frame.dropna(subset=["group"]).groupby(["group", "quarter_start"])["d"].sum()


def apply_group_overrides(
    groups: pd.DataFrame,
    level: str,
    overrides: pd.DataFrame | None,
    partner_groups: pd.Series,
) -> pd.DataFrame:
    """``groups`` (``group, quarter_start, p50, ...``) with ``partner_adjustment``,
    ``p50_final``, ``override_id`` and ``override_gap_to_partners`` (see module docstring)."""
    keys = pd.MultiIndex.from_arrays(
        [groups["group"].astype(str), pd.to_datetime(groups["quarter_start"])]
    )
    adjustment = partner_adjustments(overrides, partner_groups).reindex(keys).fillna(0.0)
    own = _active(overrides, level).set_index(["key", "quarter_start"]).reindex(keys)
    out = groups.copy()
    out["partner_adjustment"] = adjustment.to_numpy(dtype=float)
    bottom_up = out["p50"].astype(float) + out["partner_adjustment"]
    value = pd.Series(own["p50"].to_numpy(dtype=float), index=out.index)
    out["override_id"] = own["override_id"].to_numpy()
    out["p50_final"] = value.fillna(bottom_up)
    out["override_gap_to_partners"] = value - bottom_up
    return out
