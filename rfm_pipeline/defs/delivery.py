"""Group delivery: what leaves the pipeline for people and other tools."""

import dagster as dg
import pandas as pd

from rfm_pipeline.core import delivery
from rfm_pipeline.core.engine import redact
from rfm_pipeline.core.storage import export_to_database, write_bytes, write_export
from rfm_pipeline.defs.metadata import plain, upstream_metadata
from rfm_pipeline.defs.resources import Warehouse
from rfm_pipeline.defs.weeks import weeks

IMAGES = {
    "eda_revenue_by_month": False,
    "eda_orders_by_weekday": False,
    "eda_orders_by_hour": False,
    "segment_profiles_radar": True,
    "segment_profiles_snake": True,
}
"""Plots the report embeds (True: the week's own), besides the chosen embedding's scatter."""


@dg.asset(
    group_name="delivery",
    kinds={"html"},
    code_version="4",
    deps=[
        "raw_transactions",
        "clean_transactions",
        "rfm_table",
        "segment_classifier",
        "new_customer_evaluation",
        "customer_value",
    ],
    partitions_def=weeks,
)
def segment_report(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    customer_segments: pd.DataFrame,
    segment_profiles: pd.DataFrame,
    rfm_scores: pd.DataFrame,
    eda_report: pd.DataFrame,
    customer_interests: pd.DataFrame,
    segment_transitions: pd.DataFrame,
) -> dg.MaterializeResult:
    """`segment_report.html`: one self-contained page for the marketing team (images embedded,
    nothing external, printable): first a one-screen summary (each segment's size, revenue
    share, expected revenue next quarter, share likely to buy, the week's change, strategy),
    then the cleaning funnel, data highlights, every segment with its
    strategy, rule-based segments beside clusters, how the segmentation was chosen, the
    classifier and its test on new customers. Everything in it is this week's or comes from
    the transaction-level assets it declares.
    """
    week = context.partition_key
    meta = {name: upstream_metadata(context, name) for name in delivery.REPORT_SOURCES}
    scatter = f"{customer_segments['embedding'].iloc[0]}_scatter"
    images = {}
    for name, weekly in {**IMAGES, scatter: True}.items():
        path = warehouse.file(f"plots/{name}", ".png", week if weekly else None)
        if path.exists():
            images[name] = path.read_bytes()
    inputs = delivery.report_inputs(
        week,
        segment_profiles,
        customer_segments,
        segment_transitions,
        rfm_scores,
        eda_report,
        customer_interests,
        meta,
        images,
    )
    html = delivery.render(inputs)
    paths = warehouse.publish(
        "segment_report", ".html", week, lambda path: write_bytes(html.encode("utf-8"), path)
    )
    return dg.MaterializeResult(
        metadata=plain(
            {
                "path": dg.MetadataValue.path(str(paths[-1])),
                "size_kb": round(len(html) / 1024),
                "segments": len(segment_profiles),
                "images": len(images),
            }
        )
    )


class ExportConfig(dg.Config):
    """Where a CRM reads the export besides the warehouse's files: a PostgreSQL table."""

    database: str | None = None  # postgresql://user@host:5432/db; the password from PGPASSWORD
    table: str = "segments"  # or schema.table; one row per customer and week


@dg.asset(group_name="delivery", kinds={"pandas"}, code_version="2", partitions_def=weeks)
def segment_export(
    context: dg.AssetExecutionContext,
    config: ExportConfig,
    warehouse: Warehouse,
    customer_segments: pd.DataFrame,
    rfm_scores: pd.DataFrame,
    customer_interests: pd.DataFrame,
    segment_transitions: pd.DataFrame,
    customer_value: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    """For a CRM or e-mail tool, one row per customer: `segment_export/<week>.csv` and
    `.parquet` (and `segment_export.csv` / `.parquet` for the newest week), and with a
    database configured its rows of the week in a PostgreSQL table, replaced in one
    transaction. Columns in `core/delivery.py` and the README.
    """
    table = delivery.segment_export(
        customer_segments, rfm_scores, customer_interests, segment_transitions, customer_value
    )
    paths = warehouse.publish(
        "segment_export", ".csv", context.partition_key, lambda path: write_export(table, path)
    )
    database = {}
    if config.database:
        export_to_database(table, config.database, config.table, context.partition_key)
        database = {"database_table": f"{redact(config.database)} table {config.table}"}
    return dg.Output(
        table,
        metadata=plain(
            {
                "dagster/row_count": len(table),
                "csv": dg.MetadataValue.path(str(paths[0])),
                **database,
                "changed_since_last_week": int(table["changed_since_last_week"].sum()),
                "with_interest_group": int(table["interest_group"].notna().sum()),
            }
        ),
    )
