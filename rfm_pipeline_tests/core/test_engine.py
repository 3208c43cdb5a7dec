"""The transaction stage on every engine: the funnel, the revenue and the RFM table of Spark
and PostgreSQL equal DuckDB's, to the line and the cent."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rfm_pipeline.core import engine
from rfm_pipeline.core.errors import InputError
from rfm_pipeline.core.ingest import read_log, read_transactions
from rfm_pipeline.settings import BUNDLED_INPUT
from rfm_pipeline_tests.conftest import UCI_ROWS, assert_same, stage, uci_frame


@pytest.fixture
def day_first_csv(tmp_path):
    """The UCI slice as a CSV with day-first text dates: parsed by each engine itself."""
    frame = uci_frame(UCI_ROWS)
    frame["InvoiceDate"] = frame["InvoiceDate"].str.replace(
        r"(\d{4})-(\d{2})-(\d{2}) (\d{2}:\d{2}):00", r"\3/\2/\1 \4", regex=True
    )
    path = tmp_path / "log.csv"
    frame.to_csv(path, index=False)
    return path


def postgres(url):
    return engine.shared_connection("postgres", database=url)


def test_a_slice_on_spark_and_postgres_equals_duckdb(day_first_csv, spark, postgres_url):
    layout = {"date_format": "%d/%m/%Y %H:%M"}
    expected = stage(engine.connect(), day_first_csv, **layout)
    assert expected["funnel"]["rows_after"].tolist()[-1] == 4
    assert str(expected["clean"]["invoice_date"].iloc[0]) == "2010-12-01 08:26:00"
    for con in (spark, postgres(postgres_url)):
        assert_same(expected, stage(con, day_first_csv, **layout))


def test_spark_reads_parquet_in_line_order(spark, uci_parquet):
    table = engine.read_parquet_in_order(spark, uci_parquet)
    lines = table.to_pyarrow().to_pandas().sort_values("line_no")
    assert lines["line_no"].tolist() == list(range(len(UCI_ROWS)))
    assert lines["InvoiceNo"].tolist() == [row[0] for row in UCI_ROWS]


def test_the_bundled_data_on_spark(spark, bundled_on_duckdb):
    got = stage(spark, BUNDLED_INPUT)
    funnel = got["funnel"]["rows_after"].tolist()
    assert (funnel[0], funnel[-1]) == (541_909, 391_150)
    assert got["revenue"] == 8_263_592.99
    assert got["matching"]["matched"] == 7_521
    assert_same(bundled_on_duckdb, got)


def load_bundled(url: str, name: str) -> None:
    """The bundled log as a table of the database, with its line numbers (as a shop's own
    export table would carry them)."""
    import psycopg

    log = pq.read_table(BUNDLED_INPUT)
    log = log.append_column("line_no", pa.array(range(log.num_rows), pa.int64()))
    with psycopg.connect(url) as connection:
        engine.copy_into(connection, name, log.to_reader(max_chunksize=100_000))


def test_the_bundled_data_from_a_postgres_table(postgres_url, postgres_schema, bundled_on_duckdb):
    name = f"{postgres_schema}.transactions"
    load_bundled(postgres_url, name)
    con = engine.shared_connection("postgres", memory_limit="4GB", database=postgres_url)
    source = engine.read_database_table(con, postgres_url, name)
    assert engine.backend_of(source) == "postgres"  # read in place, not copied out
    got = stage(con, postgres_url, table=name)
    assert got["funnel"]["rows_after"].tolist()[-1] == 391_150
    assert got["revenue"] == 8_263_592.99
    assert_same(bundled_on_duckdb, got)


def test_a_table_without_line_numbers_takes_its_order_from_columns(postgres_url, postgres_schema):
    import psycopg

    rows = pa.Table.from_pandas(uci_frame(UCI_ROWS)[::-1], preserve_index=False)
    name = f"{postgres_schema}.shop"
    with psycopg.connect(postgres_url) as connection:
        engine.copy_into(connection, name, rows.to_reader())
    duck = engine.connect()
    with pytest.raises(InputError, match="no line_no column.*--line-order"):
        read_transactions(duck, postgres_url, table=name)
    with pytest.raises(InputError, match="not in the table.*'Nope'"):
        read_transactions(duck, postgres_url, table=name, line_order=["Nope"])
    log = read_transactions(duck, postgres_url, table=name, line_order=["InvoiceDate", "InvoiceNo"])
    lines = log.order_by("line_no").to_pyarrow().to_pandas()
    assert lines["line_no"].tolist() == list(range(len(UCI_ROWS)))
    assert lines["invoice_date"].is_monotonic_increasing
    assert engine.backend_of(log) == "duckdb"  # moved over from the database in Arrow batches


def test_bad_values_in_a_postgres_table_are_listed(postgres_url, postgres_schema):
    import psycopg

    frame = uci_frame(UCI_ROWS).astype({"Quantity": str})
    frame.loc[1, "Quantity"] = "six"
    frame.loc[[2, 3], "InvoiceDate"] = ["2010-13-45 08:28:00", "2011-02-29 10:00:00"]
    with psycopg.connect(postgres_url) as connection:
        for name, rows in (("shop", frame), ("dates", frame.drop(index=1))):
            rows = pa.Table.from_pandas(rows, preserve_index=False)
            engine.copy_into(connection, f"{postgres_schema}.{name}", rows.to_reader())
    con = postgres(postgres_url)
    with pytest.raises(InputError, match="column 'Quantity': values that are not a number: 'six'"):
        read_log(con, postgres_url, table=f"{postgres_schema}.shop", line_order=["InvoiceNo"])
    dates = "column 'InvoiceDate': values that are not a date .*'2010-13-45 08:28:00'"
    with pytest.raises(InputError, match=dates) as raised:
        read_log(con, postgres_url, table=f"{postgres_schema}.dates", line_order=["InvoiceNo"])
    assert "2011-02-29 10:00:00" in str(raised.value)


def test_a_password_never_shows():
    url = "postgresql://shop:s3cret@db.example:5432/sales"
    assert engine.redact(url) == "postgresql://shop:***@db.example:5432/sales"
    assert engine.split_password(url) == ("postgresql://shop@db.example:5432/sales", "s3cret")
    error = InputError(url, "no such table", values=["transactions"])
    assert "s3cret" not in str(error) and "shop:***@db.example" in str(error)


def test_cents_are_the_same_on_every_engine(spark, postgres_url):
    values = pa.table({"spend": [1208.10, 1139.61, -1139.61, 0.0], "orders": [4, 2, 2, 3]})
    expected = [302.03, 569.81, -569.81, 0.0]  # half away from zero, as the cents are exact
    for con in (engine.connect(), spark, postgres(postgres_url)):
        table = engine.transfer(values.to_reader(), con)
        ratio = engine.exact_ratio(table.spend, table.orders).name("ratio")
        assert table.select(ratio).to_pyarrow()["ratio"].to_pylist() == expected


def test_a_spark_connect_token_never_shows():
    url = "sc://workspace.example:443/;token=s3cret;x-databricks-cluster-id=0123"
    assert engine.redact_token(url) == (
        "sc://workspace.example:443/;token=***;x-databricks-cluster-id=0123"
    )
    assert engine.redact_token("spark://master:7077") == "spark://master:7077"
