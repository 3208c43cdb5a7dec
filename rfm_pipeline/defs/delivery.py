"""Group delivery: what leaves the pipeline for people and other tools."""

import datetime as dt

import dagster as dg
import pandas as pd

from rfm_pipeline.core import choice, report, tracking
from rfm_pipeline.core.embedding import SPACE_NAMES
from rfm_pipeline.core.export import segment_export as export_table
from rfm_pipeline.core.plots import count_heatmap
from rfm_pipeline.core.storage import write_bytes, write_export
from rfm_pipeline.defs.metadata import image_metadata, table_metadata
from rfm_pipeline.defs.resources import Warehouse
from rfm_pipeline.defs.weeks import weeks

OPTIONAL = ["clean_transactions", "eda_report", "segment_classifier", "new_customer_evaluation",
            "customer_interests"]  # fmt: skip
"""Report sections drawn from these appear when they have been materialised."""

IMAGES = ("eda_revenue_by_month", "eda_orders_by_weekday", "eda_orders_by_hour",
          "segment_profiles_radar", "segment_profiles_snake")  # fmt: skip
"""Plots the report embeds when they exist, besides the chosen embedding's scatter plot."""


def _metadata(context: dg.AssetExecutionContext, name: str) -> dict:
    """The latest materialisation's metadata values of an asset, or {} if it has none."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey(name))
    if event is None or event.asset_materialization is None:
        return {}
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _records(value: object, columns: list[str]) -> pd.DataFrame | None:
    """A table metadata value as a frame with these columns, in this order."""
    if value is None:
        return None
    return pd.DataFrame([r.data for r in value.records]).reindex(columns=columns)


@dg.asset(
    group_name="delivery", kinds={"html"}, code_version="1", deps=OPTIONAL, partitions_def=weeks
)
def segment_report(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    customer_segments: pd.DataFrame,
    segment_profiles: pd.DataFrame,
    rfm_scores: pd.DataFrame,
) -> dg.MaterializeResult:
    """`segment_report.html`: one self-contained page for the marketing team (images embedded,
    nothing external, printable): cleaning funnel, data highlights, every segment with its
    strategy, rule-based segments beside clusters, how the segmentation was chosen, the
    classifier and its test on new customers.
    """
    raw = _metadata(context, "raw_transactions")
    clean = _metadata(context, "clean_transactions")
    chosen = customer_segments.iloc[0]
    segments_meta = _metadata(context, "customer_segments")
    classifier = _metadata(context, "segment_classifier")
    evaluation = _metadata(context, "new_customer_evaluation")
    eda_path = warehouse.path("eda_report.parquet")
    answers = pd.read_parquet(str(eda_path)) if eda_path.exists() else None
    eda = _metadata(context, "eda_report") if answers is not None else {}
    interests_path = warehouse.path("customer_interests.parquet")
    interests = pd.read_parquet(str(interests_path)) if interests_path.exists() else None
    images = {}
    for name in (*IMAGES, f"{chosen['embedding']}_scatter"):
        path = warehouse.path("plots", f"{name}.png")
        if path.exists():
            images[name] = path.read_bytes()
    inputs = report.ReportInputs(
        segments=segment_profiles,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        period=f"{raw['first_invoice_date'][:10]} to {raw['last_invoice_date'][:10]}"
        if raw
        else "",
        as_of=str(_metadata(context, "rfm_table").get("as_of", "")) or None,
        chosen=f"the {SPACE_NAMES.get(chosen['embedding'], chosen['embedding'])} embedding,"
        f" {chosen['algorithm']}, k = {chosen['k']}",
        funnel=_records(clean.get("funnel"), ["step", "rows_removed", "rows_after"]),
        answers=answers[["question", "answer"]] if answers is not None else None,
        hypotheses=[h.removeprefix("- ") for h in str(eda.get("hypotheses", "")).splitlines() if h],
        overlap=report.overlap(rfm_scores, customer_segments),
        comparison=_records(segments_meta.get("comparison"), choice.COMPARISON_COLUMNS),
        rule=f"Chosen by the {segments_meta.get('rule', choice.RULE)}.",
        chosen_scatter=f"{chosen['embedding']}_scatter",
        classifier={
            "model": classifier["model"].replace("_", " "),
            "accuracy": classifier["test_accuracy"],
            "macro_f1": classifier["test_macro_f1"],
            "customers": classifier["test_customers"],
        }
        if classifier
        else None,
        evaluation={k: evaluation[k] for k in ("cutoff", "agreement", "macro_f1", "new_customers")}
        if evaluation.get("note") == "evaluated"
        else None,
        interests=interests.groupby("group_name")
        .size()
        .rename("customers")
        .reset_index()
        .sort_values("customers", ascending=False)
        if interests is not None and not interests.empty
        else None,
        images=images,
    )
    html = report.render(inputs)
    paths = warehouse.publish(
        "segment_report", ".html", context.partition_key,
        lambda path: write_bytes(html.encode("utf-8"), path),
    )  # fmt: skip
    path = paths[-1]
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "size_kb": round(len(html) / 1024),
            "segments": len(segment_profiles),
            "images": len(images),
        }
    )


ALERT_ROWS = 50
"""Customers who moved down, most valuable first, shown in the UI (all are in the table)."""


@dg.asset(group_name="delivery", kinds={"pandas"}, code_version="1", partitions_def=weeks)
def segment_transitions(
    context: dg.AssetExecutionContext, warehouse: Warehouse, customer_segments: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """Per customer of this week or the one before: last week's segment, this week's and the
    move (same, up, down, new, gone); the transition matrix and its heatmap; the customers who
    moved down, as an alert table.
    """
    before, previous = warehouse.last_week("customer_segments", context.partition_key)
    moves = tracking.transitions(previous, customer_segments)
    matrix = tracking.transition_matrix(moves)
    down = moves[moves["movement"] == "down"].merge(
        customer_segments[["customer_id", "recency", "frequency", "monetary"]]
    )
    alerts = down.sort_values("monetary", ascending=False).head(ALERT_ROWS)
    counts = moves["movement"].value_counts()
    title = f"Customers from week {before or '(none)'} to {context.partition_key}"
    return dg.Output(
        moves,
        metadata={
            "dagster/row_count": len(moves),
            "compared_with_week": before or "none",
            "customers_last_week": len(previous) if previous is not None else 0,
            "customers_this_week": len(customer_segments),
            **{f"moved_{m}": int(counts.get(m, 0)) for m in ("same", "up", "down", "new", "gone")},
            "transition_matrix": table_metadata(matrix.reset_index()),
            "heatmap": image_metadata(
                count_heatmap(matrix, title), warehouse, "segment_transitions"
            ),
            "moved_down_alerts": table_metadata(alerts.drop(columns="movement")),
        },
    )


@dg.asset(group_name="delivery", kinds={"pandas"}, code_version="1", partitions_def=weeks)
def segment_export(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    customer_segments: pd.DataFrame,
    rfm_scores: pd.DataFrame,
    customer_interests: pd.DataFrame,
    segment_transitions: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    """For a CRM or e-mail tool, one row per customer: `segment_export/<week>.csv` and
    `.parquet` (and `segment_export.csv` / `.parquet` for the newest week). Columns in
    `core/export.py` and the README.
    """
    table = export_table(customer_segments, rfm_scores, customer_interests, segment_transitions)
    paths = warehouse.publish(
        "segment_export", ".csv", context.partition_key, lambda path: write_export(table, path)
    )
    return dg.Output(
        table,
        metadata={
            "dagster/row_count": len(table),
            "csv": dg.MetadataValue.path(str(paths[0])),
            "changed_since_last_week": int(table["changed_since_last_week"].sum()),
            "with_interest_group": int(table["interest_group"].notna().sum()),
        },
    )
