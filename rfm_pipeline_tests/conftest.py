"""Shared fixtures: a fresh engine connection and small transaction logs built in code."""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import pytest

from rfm_pipeline.core.engine import connect
from rfm_pipeline.core.ingest import CANONICAL_SCHEMA


@pytest.fixture
def con():
    return connect(threads=1)


def line(
    invoice="536365",
    stock="85123A",
    quantity=6,
    date="2011-01-10 10:00",
    price=2.55,
    customer="17850",
    description="WHITE HANGING HEART T-LIGHT HOLDER",
    country="United Kingdom",
) -> dict:
    """One canonical transaction line; every field can be overridden."""
    return {
        "invoice_no": invoice,
        "stock_code": stock,
        "description": description,
        "quantity": quantity,
        "invoice_date": dt.datetime.fromisoformat(date),
        "unit_price": price,
        "customer_id": customer,
        "country": country,
    }


def raw_table(con, lines: list[dict]):
    """Canonical raw lines on the engine, `line_no` in list order."""
    frame = pd.DataFrame([{"line_no": i, **row} for i, row in enumerate(lines)])
    return con.create_table(
        ibis.util.gen_name("raw"), ibis.memtable(frame, schema=CANONICAL_SCHEMA)
    )


def uci_frame(rows: list[tuple]) -> pd.DataFrame:
    """A frame with the UCI file's columns and types, from tuples in that order."""
    columns = [
        "InvoiceNo", "StockCode", "Description", "Quantity",
        "InvoiceDate", "UnitPrice", "CustomerID", "Country",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


UCI_ROWS = [
    ("536365", "85123A", "HEART", 6, "2010-12-01 08:26:00", 2.55, 17850.0, "UK"),
    ("536365", "71053", "LANTERN", 6, "2010-12-01 08:26:00", 3.39, 17850.0, "UK"),
    ("536366", "22633", "HAND WARMER", 6, "2010-12-01 08:28:00", 1.85, 17850.0, "UK"),
    ("C536379", "85123A", "HEART", -2, "2010-12-02 09:41:00", 2.55, 17850.0, "UK"),
    ("536380", "POST", "POSTAGE", 1, "2010-12-02 09:45:00", 18.0, 12583.0, "France"),
    ("536381", "22728", "ALARM CLOCK", 24, "2010-12-02 10:00:00", 3.75, 12583.0, "France"),
    ("536382", "22728", "ALARM CLOCK", 2, "2010-12-03 10:00:00", 3.75, None, "UK"),
]  # fmt: skip
"""A few UCI-shaped lines: one cancellation, one postage line, one line without a customer."""


@pytest.fixture
def uci_parquet(tmp_path):
    path = tmp_path / "log.parquet"
    uci_frame(UCI_ROWS).to_parquet(path, index=False)
    return path
