"""raw_transactions: the log in the canonical schema, with what it holds in its metadata."""

import dagster as dg

from rfm_pipeline.defs.ingest import IngestConfig, raw_transactions
from rfm_pipeline_tests.defs.conftest import ingest_config, resources


def test_raw_transactions_reads_the_log_and_describes_it(tmp_path, uci_parquet):
    result = dg.materialize([raw_transactions], resources=resources(tmp_path),
                            run_config=ingest_config(uci_parquet))  # fmt: skip
    meta = result.asset_materializations_for_node("raw_transactions")[0].metadata
    assert meta["dagster/row_count"].value == 7
    assert meta["customers"].value == 2
    assert meta["first_invoice_date"].value == "2010-12-01 08:26:00"
    assert meta["date_layout"].value == "ISO 8601"
    assert (tmp_path / "raw_transactions.parquet").exists()


def test_the_config_gives_every_reading_option_in_one_place():
    config = IngestConfig(path="log.xlsx", sheet="2", date_format="%d/%m/%Y", encoding="latin-1")
    assert config.reading() == {
        "fmt": None, "encoding": "latin-1", "delimiter": None, "column_map": {},
        "date_format": "%d/%m/%Y", "sheet": 2, "table": None, "line_order": [],
    }  # fmt: skip
    table = IngestConfig(path="postgresql://shop@db/sales", table="sales.lines",
                         line_order=["InvoiceDate", "InvoiceNo"])  # fmt: skip
    assert table.reading()["table"] == "sales.lines"
    assert table.reading()["line_order"] == ["InvoiceDate", "InvoiceNo"]


def test_the_graphs_log_is_the_shops_every_line(graph):
    raw = graph.table("raw_transactions", week=None)
    assert graph.metadata("raw_transactions")["dagster/row_count"] == len(raw)
    assert raw["line_no"].tolist() == list(range(len(raw)))
