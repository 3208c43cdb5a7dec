"""Segment profiles and the naming rules."""

from __future__ import annotations

import pandas as pd
import pytest

from rfm_pipeline.core.profiles import (
    minmax_means,
    name_segments,
    profile_segments,
    standardised_means,
)


def segmented() -> pd.DataFrame:
    # segment 7 is recent and big, 3 is lapsed and small, 5 in between: ids say nothing
    rows = [(7, 5, 20, 5_000.0), (7, 10, 30, 7_000.0), (3, 300, 1, 100.0), (3, 280, 1, 50.0),
            (5, 60, 3, 600.0), (5, 80, 2, 500.0)]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["segment_id", "recency", "frequency", "monetary"])
    return frame.assign(customer_id=[str(i) for i in range(6)], is_outlier=[True] + [False] * 5)


def test_profile_has_sizes_shares_means_and_medians():
    profile = profile_segments(segmented()).set_index("segment_id")
    assert profile.loc[7, "customers"] == 2
    assert profile.loc[7, "outliers"] == 1
    assert profile.loc[7, "monetary_mean"] == 6_000.0
    assert profile.loc[3, "recency_median"] == 290
    assert profile["customer_share"].sum() == pytest.approx(1.0)
    assert profile.loc[7, "revenue_share"] == pytest.approx(12_000 / 13_250)


def test_three_segments_are_loyal_intermediate_lost_by_profile():
    names = name_segments(standardised_means(segmented())).set_index("segment_id")
    assert names["segment_name"].to_dict() == {3: "Lost", 5: "Intermediate", 7: "Loyal"}
    assert names.loc[7, "strategy"].startswith("Reward and retain")


def test_several_middle_segments_are_told_apart():
    z = pd.DataFrame(
        {
            "recency": [2.0, -1.0, 0.1, 0.0, -2.0],
            "frequency": [-1, 0.2, 1.5, -0.2, 2],
            "monetary": [-1, 0.1, 0.3, -0.9, 2],
        },  # fmt: skip
        index=pd.Index([0, 1, 2, 3, 4], name="segment_id"),
    )
    names = name_segments(z).set_index("segment_id")["segment_name"].to_dict()
    assert names[0] == "Lost" and names[4] == "Loyal"
    assert names[1] == "Intermediate, recent"
    assert names[2] == "Intermediate, frequent"
    assert names[3] == "Intermediate, low-spending"
    assert len(set(names.values())) == 5


def test_radar_values_are_scaled_to_the_unit_interval():
    scaled = minmax_means(profile_segments(segmented()))
    assert scaled.min().min() == 0.0 and scaled.max().max() == 1.0
    assert list(scaled.columns) == ["recency", "frequency", "monetary"]


def test_a_lone_segment_is_all_customers():
    one = segmented().assign(segment_id=0)
    names = name_segments(standardised_means(one))
    assert names["segment_name"].tolist() == ["All customers"]
