"""A tiny valid dataset as raw text tables, for tests to break one rule at a time.

Three partners, all five tables, every cell a string as in a CSV export, so a
test can set one cell to something wrong and write the folder.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

RawTables = dict[str, pd.DataFrame]


def valid_tables() -> RawTables:
    """Fresh raw tables that follow the contract."""
    tables = {
        "partners": {
            "partner_id": ["P1", "P2", "P3"],
            "joined_on": ["2023-01-15", "2023-04-01", "2024-02-10"],
            "tier": ["gold", "silver", "platinum"],
            "partner_type": ["reseller", "msp", "distributor"],
            "region": ["EMEA", "NA", "APAC"],
            "country": ["DE", "US", "JP"],
            "industry": ["tech", "health", "retail"],
            "name": ["Alpha GmbH", "Beta Inc", "Gamma KK"],
        },
        "bookings": {
            "partner_id": ["P1", "P1", "P2", "P2", "P3", "P1"],
            "booked_on": [
                "2024-01-10",
                "2024-02-11",
                "2024-03-05",
                "2024-05-20",
                "2024-04-01",
                "2024-06-30",
            ],
            "amount": ["1000", "-200", "500.5", "750", "300", "1200"],
            "product_line": ["core", "core", "cloud", "cloud", "core", "cloud"],
            "opportunity_id": ["O1", "", "", "", "", ""],
        },
        "opportunities": {
            "opportunity_id": ["O1", "O2", "O3", "O4"],
            "partner_id": ["P1", "P2", "P3", "P1"],
            "created_on": ["2023-12-01", "2024-02-01", "2024-05-01", "2024-06-01"],
            "closed_on": ["2024-01-10", "2024-03-01", "", ""],
            "status": ["won", "lost", "open", "open"],
            "amount": ["1000", "400", "900", "300"],
            "expected_close_on": ["2024-01-15", "2024-03-01", "2024-08-01", ""],
            "registered": ["true", "false", "true", "false"],
            "product_line": ["core", "cloud", "core", "core"],
        },
        "activities": {
            "partner_id": ["P1", "P2", "P3"],
            "occurred_on": ["2024-01-05", "2024-02-10", "2024-03-15"],
            "activity": ["training_completed", "portal_login", "mdf_claim"],
            "quantity": ["1", "5", "1"],
            "amount": ["0", "0", "250"],
        },
        "incentives": {
            "partner_id": ["P1", "P2"],
            "incentive": ["rebate", "spiff"],
            "starts_on": ["2024-01-01", "2024-04-01"],
            "ends_on": ["2024-03-31", "2024-06-30"],
            "cost": ["100", "50"],
            "randomized": ["true", "false"],
        },
    }
    return {name: pd.DataFrame(columns, dtype=object) for name, columns in tables.items()}


def write_tables(folder: Path, tables: RawTables, fmt: str = "csv") -> Path:
    """Write each table as ``<table>.<fmt>`` (csv or parquet) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if fmt == "csv":
            frame.to_csv(folder / f"{name}.csv", index=False)
        else:
            frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def write_valid(folder: Path) -> Path:
    """Write the valid dataset as CSV into ``folder``."""
    return write_tables(folder, valid_tables())
