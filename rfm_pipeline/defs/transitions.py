"""Group delivery, the transitions: who moved between segments since last week."""

import dagster as dg
import pandas as pd

from rfm_pipeline.core import transitions
from rfm_pipeline.core.plots import count_heatmap
from rfm_pipeline.defs.metadata import image_metadata, plain, table_metadata
from rfm_pipeline.defs.resources import Warehouse
from rfm_pipeline.defs.weeks import compared_with, this_and_previous_week, week_before, weeks

ALERT_ROWS = 50
"""Customers who moved down, most valuable first, shown in the UI (all are in the table)."""


@dg.asset(
    group_name="delivery",
    kinds={"pandas"},
    code_version="2",
    ins={"customer_segments": this_and_previous_week("customer_segments")},
    partitions_def=weeks,
)
def segment_transitions(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    customer_segments: dict[str, pd.DataFrame],
) -> dg.Output[pd.DataFrame]:
    """Per customer of this week or the one before: last week's segment, this week's and the
    move (same, up, down, new, gone); the transition matrix and its heatmap; the customers who
    moved down, as an alert table.
    """
    week = context.partition_key
    before = compared_with(customer_segments, week)
    previous = customer_segments.get(week_before(week))
    customer_segments = customer_segments[week]
    moves = transitions.transitions(previous, customer_segments)
    matrix = transitions.transition_matrix(moves)
    down = moves[moves["movement"] == "down"].merge(
        customer_segments[["customer_id", "recency", "frequency", "monetary"]]
    )
    alerts = down.sort_values("monetary", ascending=False).head(ALERT_ROWS)
    counts = moves["movement"].value_counts()
    title = f"Customers from week {week_before(week)} to {week}"
    return dg.Output(
        moves,
        metadata=plain(
            {
                "dagster/row_count": len(moves),
                "compared_with_week": before,
                "customers_last_week": len(previous) if previous is not None else 0,
                "customers_this_week": len(customer_segments),
                **{
                    f"moved_{m}": int(counts.get(m, 0))
                    for m in ("same", "up", "down", "new", "gone")
                },
                "transition_matrix": table_metadata(matrix.reset_index()),
                "heatmap": image_metadata(
                    count_heatmap(matrix, title), warehouse, "segment_transitions", week
                ),
                "moved_down_alerts": table_metadata(alerts.drop(columns="movement")),
            }
        ),
    )
