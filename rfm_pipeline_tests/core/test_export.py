"""The weekly CRM export: columns, types and the changed flag."""

import pandas as pd

from rfm_pipeline.core.export import EXPORT_COLUMNS, segment_export
from rfm_pipeline.core.tracking import transitions
from rfm_pipeline_tests.core.test_tracking import LOST, LOYAL, segmented


def test_export_has_the_documented_columns_and_types():
    last_week = segmented({0: ("Loyal", LOYAL), 1: ("Lost", LOST)})
    this_week = last_week.copy()
    this_week.loc[0, ["segment_id", "segment_name"]] = [1, "Lost"]
    newcomer = segmented({1: ("Lost", [(20, 1, 50.0)])}, start=100)
    this_week = pd.concat([this_week, newcomer], ignore_index=True)
    scores = this_week[["customer_id"]].assign(segment="Champions")
    interests = pd.DataFrame({"customer_id": ["c001"], "group_name": ["lantern buyers"]})
    table = segment_export(this_week, scores, interests, transitions(last_week, this_week))
    assert table.columns.tolist() == list(EXPORT_COLUMNS)
    assert {c: str(t) for c, t in table.dtypes.items()} == EXPORT_COLUMNS
    rows = table.set_index("customer_id")
    assert rows.loc["c000", "previous_segment_name"] == "Loyal"
    assert rows.loc["c000", "changed_since_last_week"]
    assert not rows.loc["c001", "changed_since_last_week"]
    assert rows.loc["c001", "interest_group"] == "lantern buyers"
    assert pd.isna(rows.loc["c002", "interest_group"])  # where available
    assert pd.isna(rows.loc["c100", "previous_segment_name"])  # new this week
    assert rows.loc["c100", "changed_since_last_week"]
    assert len(table) == len(this_week)
