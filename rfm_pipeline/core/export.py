"""The weekly file for a CRM or e-mail tool: one row per customer, its segment and what changed."""

from __future__ import annotations

import pandas as pd

from rfm_pipeline.core.rfm import RFM_COLUMNS

EXPORT_COLUMNS = {
    "customer_id": "str",
    "segment_id": "int64",
    "segment_name": "str",
    "strategy": "str",
    "rfm_segment": "str",
    "interest_group": "str",
    "recency": "int64",
    "frequency": "int64",
    "monetary": "float64",
    "previous_segment_name": "str",
    "changed_since_last_week": "bool",
}
"""The export's columns and types; `interest_group` and `previous_segment_name` may be empty."""


def segment_export(
    segments: pd.DataFrame, scores: pd.DataFrame, interests: pd.DataFrame, moves: pd.DataFrame
) -> pd.DataFrame:
    """This week's customers with segment, strategy, rule-based segment, interest group, RFM
    values, last week's segment name (empty when new) and whether the segment changed (new
    customers count as changed).
    """
    rule = scores[["customer_id", "segment"]].rename(columns={"segment": "rfm_segment"})
    groups = interests[["customer_id", "group_name"]].rename(
        columns={"group_name": "interest_group"}
    )
    change = moves[moves["movement"] != "gone"][
        ["customer_id", "previous_segment_name", "movement"]
    ]
    table = (
        segments[["customer_id", "segment_id", "segment_name", "strategy", *RFM_COLUMNS]]
        .merge(rule, on="customer_id", how="left")
        .merge(groups, on="customer_id", how="left")
        .merge(change, on="customer_id", how="left")
    )
    table["previous_segment_name"] = table["previous_segment_name"].where(
        table["movement"] != "new"
    )
    table["changed_since_last_week"] = table["movement"] != "same"
    return (
        table[list(EXPORT_COLUMNS)]
        .astype(EXPORT_COLUMNS)
        .sort_values("customer_id", ignore_index=True)
    )
