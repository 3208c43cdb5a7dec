"""Group ingest: the retailer's transaction log, read into the canonical schema."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from rfm_pipeline.core.engine import is_database_url, read_parquet, redact
from rfm_pipeline.core.ingest import summarise
from rfm_pipeline.core.manifest import Manifest, read_since, some
from rfm_pipeline.core.storage import write_bytes
from rfm_pipeline.defs.metadata import plain, table_metadata
from rfm_pipeline.defs.resources import Engine, Warehouse
from rfm_pipeline.settings import BUNDLED_INPUT


class IngestConfig(dg.Config):
    """Where the log is and how to read it; the defaults read the bundled UCI file."""

    path: str = str(BUNDLED_INPUT)  # a file, folder or glob; or a postgresql:// URL (no password)
    format: str | None = None  # parquet, csv or xlsx; None = from the file's suffix
    encoding: str = "utf-8"  # CSV only: utf-8, latin-1 (the study's file) or utf-16
    delimiter: str | None = None  # CSV only; None = detected
    sheet: str | None = None  # Excel only: sheet name or 0-based index; None = the first
    date_format: str | None = None  # strptime layout of text dates; None = ISO or detected
    column_map: dict[str, str] = {}  # source column -> canonical name, e.g. {"Price": "unit_price"}
    table: str | None = None  # with a postgresql:// path: the table (or schema.table) to read
    line_order: list[str] = []  # a table without line_no: the columns that order its lines

    def reading(self) -> dict[str, object]:
        """How to read the file: the keyword arguments of `read_log` and `read_transactions`."""
        sheet = int(self.sheet) if self.sheet and self.sheet.isdigit() else self.sheet
        return {
            "fmt": self.format,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "column_map": self.column_map,
            "date_format": self.date_format,
            "sheet": sheet or 0,
            "table": self.table,
            "line_order": self.line_order,
        }


def source_name(path: str, table: str | None) -> str:
    """The source as people read it: a file's path, or a table of a database (no password)."""
    return f"{redact(path)} table {table}" if is_database_url(path) else path


CODE_VERSION = "3"
"""raw_transactions' code version; a manifest written by another version is not added to."""


@dg.multi_asset(
    outs={
        "raw_transactions": dg.AssetOut(kinds={"duckdb"}, code_version=CODE_VERSION),
        "raw_summary": dg.AssetOut(
            kinds={"json"},
            code_version=CODE_VERSION,
            description="Where the log was read from, its period and its size: what the"
            " cleaning names in an error and the report shows as the period.",
        ),
    },
    group_name="ingest",
)
def raw_transactions(
    config: IngestConfig, engine: Engine, warehouse: Warehouse
) -> Iterator[dg.Output]:
    """Every line of the source log, as published, in the canonical schema and file order.

    Columns: line_no, invoice_no, stock_code, description, quantity, invoice_date,
    unit_price, customer_id ("17850", never "17850.0"), country. Nothing is dropped here.

    Its manifest (`raw_transactions.manifest.json`: each source file's size and content hash)
    is kept beside it: while the files read before are unchanged, a run reads only the files
    added since and appends their lines to this asset's own stored table, which equals what
    a full read gives; metadata `read` says which happened, and why a full read was needed.
    """
    con = engine.connection()
    manifest_path = warehouse.file("raw_transactions", ".manifest.json")
    stored_path = warehouse.file("raw_transactions", ".parquet")
    previous = Manifest.from_json(manifest_path.read_text()) if manifest_path.exists() else None
    stored = read_parquet(con, str(stored_path)) if previous and stored_path.exists() else None
    read = read_since(con, config.path, previous, stored, CODE_VERSION, **config.reading())
    if read.manifest is not None:
        text = read.manifest.to_json().encode()
        warehouse.publish(
            "raw_transactions", ".manifest.json", None, lambda path: write_bytes(text, path)
        )
    elif previous is not None:  # a table is read whole: nothing later adds to this read
        warehouse.keep(manifest_path)
        manifest_path.unlink()
    log = read.log
    table = log.table
    summary = summarise(table)
    nulls = pd.DataFrame(
        {"column": list(summary["nulls"]), "nulls": list(summary["nulls"].values())}
    )
    source = source_name(config.path, config.table)
    counts = {k: summary[k] for k in ("rows", "customers", "invoices", "products")}
    period = {k: str(summary[k]) for k in ("first_invoice_date", "last_invoice_date")}
    yield dg.Output(
        table,
        output_name="raw_transactions",
        metadata=plain(
            {
                "source": dg.MetadataValue.path(source)
                if source == config.path
                else dg.MetadataValue.text(source),
                "engine": engine.describe(),
                "dagster/row_count": summary["rows"],
                "first_invoice_date": str(summary["first_invoice_date"]),
                "last_invoice_date": str(summary["last_invoice_date"]),
                "date_layout": log.date_layout,
                "read": read.how,
                "files_read": some(read.files, 10),
                "customers": summary["customers"],
                "invoices": summary["invoices"],
                "products": summary["products"],
                "nulls_per_column": table_metadata(nulls),
            }
        ),
    )
    yield dg.Output(plain({"source": source, **period, **counts}), output_name="raw_summary")
