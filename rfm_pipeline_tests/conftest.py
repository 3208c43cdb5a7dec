"""Shared fixtures: a fresh engine connection and small transaction logs built in code."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
import uuid

import ibis
import pandas as pd
import pytest

from rfm_pipeline.core import engine
from rfm_pipeline.core.cleaning import clean_transactions
from rfm_pipeline.core.engine import connect, redact, shared_connection
from rfm_pipeline.core.ingest import CANONICAL_SCHEMA, read_transactions
from rfm_pipeline.core.rfm import default_as_of, rfm_table
from rfm_pipeline.settings import BUNDLED_INPUT, WAREHOUSE_ENV

# no test reads or writes the checkout's warehouse, whose data would set the definitions' weeks
os.environ[WAREHOUSE_ENV] = tempfile.mkdtemp(prefix="rfm_pipeline_warehouse_")

WEEKS = "rfm_pipeline_tests/defs/test_weeks.py"
WIRING = "rfm_pipeline_tests/defs"
SLOWEST = [
    "rfm_pipeline_tests/test_end_to_end.py",
    WEEKS,
    "rfm_pipeline_tests/test_any_shop.py",
    "rfm_pipeline_tests/test_determinism.py",
    WIRING,
    "rfm_pipeline_tests/core/test_engine.py",
    "rfm_pipeline_tests/test_spark_clusters.py",
    "rfm_pipeline_tests/core/test_value.py",
]
"""The groups that take longest, longest first (each about 90 s to 220 s of one worker), so
that no worker is left with one at the end while the other has finished."""


def group(nodeid: str) -> str:
    """What one worker of `make test` runs whole: a file, so that its module fixtures are built
    once; the Dagster wiring's files together, as they share the session's 150-customer graph
    (defs/conftest.py), except test_weeks.py, which builds weeks of its own."""
    path = nodeid.split("::")[0]
    return WIRING if path.startswith(f"{WIRING}/") and path != WEEKS else path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOWEST)}
    items.sort(key=lambda item: rank.get(group(item.nodeid), len(SLOWEST)))  # stable


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """With `-n N` (pytest-xdist's default `--dist load`), each worker takes a whole group at a
    time, in collection order. pytest-xdist's own `loadgroup` cannot do this under pytest 9.2:
    its groups travel in test ids that pytest no longer lets plugins change."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group(nodeid)

    config.option.loadscopereorder = False  # collection order: the slowest groups first
    return ByGroup(config, log)


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
        "InvoiceNo",
        "StockCode",
        "Description",
        "Quantity",
        "InvoiceDate",
        "UnitPrice",
        "CustomerID",
        "Country",
    ]
    return pd.DataFrame(rows, columns=columns)


UCI_ROWS = [
    ("536365", "85123A", "HEART", 6, "2010-12-01 08:26:00", 2.55, 17850.0, "UK"),
    ("536365", "71053", "LANTERN", 6, "2010-12-01 08:26:00", 3.39, 17850.0, "UK"),
    ("536366", "22633", "HAND WARMER", 6, "2010-12-01 08:28:00", 1.85, 17850.0, "UK"),
    ("C536379", "85123A", "HEART", -2, "2010-12-02 09:41:00", 2.55, 17850.0, "UK"),
    ("536380", "POST", "POSTAGE", 1, "2010-12-02 09:45:00", 18.0, 12583.0, "France"),
    ("536381", "22728", "ALARM CLOCK", 24, "2010-12-02 10:00:00", 3.75, 12583.0, "France"),
    ("536382", "22728", "ALARM CLOCK", 2, "2010-12-03 10:00:00", 3.75, None, "UK"),
]
"""A few UCI-shaped lines: one cancellation, one postage line, one line without a customer."""


def hashes(folder) -> dict[str, str]:
    """Every file under a folder, by its path there, with its contents' digest."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def uci_parquet(tmp_path):
    path = tmp_path / "log.parquet"
    uci_frame(UCI_ROWS).to_parquet(path, index=False)
    return path


def split_by_month(folder, frame: pd.DataFrame, suffix: str = ".csv") -> None:
    """A shop's monthly exports: one file per month, named so that name order is time order."""
    folder.mkdir(exist_ok=True)
    months = pd.to_datetime(frame["InvoiceDate"]).dt.strftime("%Y-%m")
    for month, part in frame.groupby(months, sort=True):
        path = folder / f"export-{month}{suffix}"
        part.to_csv(path, index=False) if suffix == ".csv" else part.to_parquet(path, index=False)


POSTGRES_ENV = "RFM_PIPELINE_TEST_POSTGRES"
"""Where the tests find PostgreSQL; default: the machine's own, trusting local users."""


def unavailable(reason: str) -> None:
    """Under CI a missing service fails the tests that need it; elsewhere they skip."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    import psycopg

    url = os.environ.get(POSTGRES_ENV, "postgresql://postgres@127.0.0.1:5432/test")
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as error:
        unavailable(f"no PostgreSQL at {redact(url)} (${POSTGRES_ENV}): {str(error).strip()}")
    return url


@pytest.fixture
def postgres_schema(postgres_url):
    """A schema of the test's own in the test database, dropped afterwards."""
    import psycopg

    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    yield schema
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="session")
def spark():
    """Spark in local mode, once per test session (the JVM takes seconds to start)."""
    try:
        return shared_connection("spark", spark_master="local[2]")
    except Exception as error:  # no Java, say
        unavailable(f"Spark cannot start in local mode: {str(error).splitlines()[0]}")


@pytest.fixture
def object_store():
    """fsspec's in-memory file system, emptied afterwards: `memory://` URLs take the same path
    through the reader as `s3://` and `gs://` ones, with no account and no network."""
    import fsspec

    store = fsspec.filesystem("memory")
    yield store
    store.rm("/", recursive=True)


# ---- the transaction stage on any engine ---------------------------------------------


def stage(con, path, **reading) -> dict:
    """Ingest, clean and RFM on `con`: the figures, and the tables as frames in a fixed order."""
    result = clean_transactions(read_transactions(con, path, **reading))
    clean = result.table
    rfm = rfm_table(clean, default_as_of(clean))
    return {
        "funnel": result.funnel,
        "matching": result.matching,
        "revenue": round(float(engine.exact_sum(clean.total_price).execute()), 2),
        "clean": clean.to_pyarrow().to_pandas().sort_values("line_no", ignore_index=True),
        "rfm": rfm.to_pyarrow().to_pandas().sort_values("customer_id", ignore_index=True),
    }


def assert_same(expected: dict, got: dict) -> None:
    assert got["funnel"].equals(expected["funnel"])
    assert got["matching"] == expected["matching"]
    assert got["revenue"] == expected["revenue"]
    for name in ("clean", "rfm"):
        left, right = expected[name], got[name]
        assert list(right.columns) == list(left.columns)
        assert right.astype(str).equals(left.astype(str)), name


@pytest.fixture(scope="module")
def bundled_on_duckdb() -> dict:
    return stage(engine.connect(), BUNDLED_INPUT)
