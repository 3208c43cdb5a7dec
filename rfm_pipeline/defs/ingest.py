"""Group ingest: the retailer's transaction log, read into the canonical schema."""

from collections.abc import Iterator

import dagster as dg
import ibis
import pandas as pd
from pydantic import Field

from rfm_pipeline.core.engine import is_database_url, read_parquet, redact
from rfm_pipeline.core.ingest import summarise
from rfm_pipeline.core.manifest import Manifest, Read, read_since, some
from rfm_pipeline.core.storage import write_bytes
from rfm_pipeline.defs.metadata import plain, table_metadata
from rfm_pipeline.defs.resources import Engine, Warehouse
from rfm_pipeline.settings import BUNDLED_INPUT


class IngestConfig(dg.Config):
    """Where the log is and how to read it; the defaults read the bundled UCI file."""

    path: str = Field(
        default=str(BUNDLED_INPUT),
        description="The transaction log: a file, a folder or glob of files (local, s3:// or"
        " gs://), or a postgresql:// URL without its password. The bundled UCI Online Retail file"
        " by default, the study's data.",
    )
    format: str | None = Field(
        default=None,
        description="parquet, csv or xlsx. None: taken from the file's suffix, right for files"
        " named as usual.",
    )
    encoding: str = Field(
        default="utf-8",
        description="Text encoding of CSV files: utf-8, latin-1 (the study's CSV) or utf-16; other"
        " formats ignore it. utf-8, the most common.",
    )
    delimiter: str | None = Field(
        default=None,
        description="Field separator of CSV files; other formats ignore it. None: detected from"
        " the file (comma, semicolon, tab or bar).",
    )
    sheet: str | None = Field(
        default=None,
        description="Excel only: the sheet's name or 0-based index. None: the first sheet, where"
        " exports put their data.",
    )
    date_format: str | None = Field(
        default=None,
        description="strptime layout of dates stored as text, e.g. %d/%m/%Y %H:%M. None: ISO 8601,"
        " else detected from the values.",
    )
    column_map: dict[str, str] = Field(
        default={},
        description='Source column to canonical name, e.g. {"Price": "unit_price"}, for'
        " columns the known aliases (InvoiceNo, Customer ID, ...) miss. Empty: the aliases cover"
        " the UCI layout.",
    )
    table: str | None = Field(
        default=None,
        description="With a postgresql:// path: the table (or schema.table) to read. None: the"
        " path is a file.",
    )
    line_order: list[str] = Field(
        default=[],
        description="A database table without a line_no column: the columns that order its lines,"
        " e.g. a timestamp and the invoice number. Empty: files keep their own line order.",
    )

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
        "raw_transactions": dg.AssetOut(kinds={"engine"}, code_version=CODE_VERSION),
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
    read = _read(engine.connection(), config, warehouse)
    summary = summarise(read.log.table)
    nulls = pd.DataFrame(
        {"column": list(summary["nulls"]), "nulls": list(summary["nulls"].values())}
    )
    source = source_name(config.path, config.table)
    counts = {k: summary[k] for k in ("rows", "customers", "invoices", "products")}
    period = {k: str(summary[k]) for k in ("first_invoice_date", "last_invoice_date")}
    metadata = {
        "source": dg.MetadataValue.path(source) if source == config.path else source,
        **engine.metadata(),
        "dagster/row_count": summary["rows"],
        **period,
        **counts,
        "date_layout": read.log.date_layout,
        "read": read.how,
        "files_read": some(read.files, 10),
        "nulls_per_column": table_metadata(nulls),
    }
    yield dg.Output(read.log.table, output_name="raw_transactions", metadata=plain(metadata))
    yield dg.Output(plain({"source": source, **period, **counts}), output_name="raw_summary")


def _read(con: ibis.BaseBackend, config: IngestConfig, warehouse: Warehouse) -> Read:
    """The log, read whole or (while the files read before are unchanged) only the files added
    since, appended to the stored table; the manifest beside it says what was read."""
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
    return read
