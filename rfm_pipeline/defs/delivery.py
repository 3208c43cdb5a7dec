"""Group delivery: what leaves the pipeline for people and other tools."""

import dagster as dg
import pandas as pd
from pydantic import Field

from rfm_pipeline.core import delivery
from rfm_pipeline.core.engine import redact
from rfm_pipeline.core.model_files import SavedModel
from rfm_pipeline.core.rfm import as_of_date
from rfm_pipeline.core.storage import export_to_database, write_bytes, write_export
from rfm_pipeline.defs.io_managers import carried
from rfm_pipeline.defs.metadata import plain
from rfm_pipeline.defs.resources import Warehouse
from rfm_pipeline.defs.weeks import weeks


@dg.asset(group_name="delivery", kinds={"html"}, code_version="5", partitions_def=weeks)
def segment_report(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    raw_summary: dict,
    cleaning_summary: dict,
    rfm_table: pd.DataFrame,
    customer_segments: pd.DataFrame,
    segment_profiles: pd.DataFrame,
    pca_segmentation: pd.DataFrame,
    umap_segmentation: pd.DataFrame,
    tsne_segmentation: pd.DataFrame,
    rfm_scores: pd.DataFrame,
    eda_report: pd.DataFrame,
    customer_interests: pd.DataFrame,
    segment_transitions: pd.DataFrame,
    segment_classifier: SavedModel,
    new_customer_evaluation: pd.DataFrame,
    customer_value: pd.DataFrame,
) -> dg.MaterializeResult:
    """`segment_report.html`: one self-contained page for the marketing team (images embedded,
    nothing external, printable): first a one-screen summary (each segment's size, revenue
    share, expected revenue next quarter, share likely to buy, the week's change, strategy),
    then the cleaning funnel, data highlights, every segment with its
    strategy, rule-based segments beside clusters, how the segmentation was chosen, the
    classifier and its test on new customers. Everything in it comes from the inputs it
    declares, the plots included (drawn again from them).
    """
    week = context.partition_key
    images = delivery.report_images(
        carried(eda_report, "tables", "eda_report"),
        segment_profiles,
        customer_segments,
        {"pca": pca_segmentation, "umap": umap_segmentation, "tsne": tsne_segmentation},
    )
    sources = delivery.Sources(
        raw=raw_summary,
        cleaning=cleaning_summary,
        as_of=as_of_date(rfm_table).isoformat(),
        classifier=segment_classifier.card,
        evaluation=carried(new_customer_evaluation, "summary", "new_customer_evaluation"),
        forecast=customer_value.attrs.get("forecast"),
    )
    inputs = delivery.report_inputs(
        week,
        segment_profiles,
        customer_segments,
        segment_transitions,
        rfm_scores,
        eda_report,
        customer_interests,
        sources,
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

    database: str | None = Field(
        default=None,
        description="PostgreSQL URL to also write the export to (postgresql://user@host:5432/db),"
        " without the password: it comes from PGPASSWORD or ~/.pgpass. None: the warehouse's files"
        " only, which need no database.",
    )
    table: str = Field(
        default="segments",
        description="Table (or schema.table) that receives one row per customer and week; a week's"
        " rows are replaced in one transaction. segments, the name of what it holds.",
    )


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
