"""Segments are named and given a strategy by documented rules on their profile."""

from __future__ import annotations

import pandas as pd

from rfm_pipeline.core.naming import STRATEGIES, base_name, name_segments, told_apart
from rfm_pipeline.core.segments import (
    profile_segments,
    standardised_means,
)
from rfm_pipeline_tests.core.test_segments import segmented


def names_of(frame: pd.DataFrame) -> dict[int, str]:
    profile = profile_segments(frame)
    named = name_segments(standardised_means(frame), profile)
    return dict(zip(named["segment_id"], named["segment_name"], strict=True))


def test_three_segments_are_loyal_intermediate_lost_by_profile():
    frame = segmented()
    named = name_segments(standardised_means(frame), profile_segments(frame))
    assert names_of(frame) == {3: "Lost", 5: "Intermediate", 7: "Loyal"}
    assert named.set_index("segment_id").loc[7, "strategy"] == STRATEGIES["Loyal"]


def study_seven() -> pd.DataFrame:
    """Two customers per segment around the study's seven t-SNE profiles, ids shuffled."""
    means = {
        40: (32, 7, 2_417),  # loyal
        11: (40, 3, 995),  # promising
        12: (40, 2, 614),  # stalled
        13: (46, 1, 322),  # newcomers
        20: (196, 2, 670),  # at risk
        21: (181, 1, 273),  # dormant
        22: (313, 1, 261),  # lost
    }
    rows = []
    for segment, (r, f, m) in means.items():
        rows += [(segment, r - 1, f, m - 5.0), (segment, r + 1, f, m + 5.0)]
    frame = pd.DataFrame(rows, columns=["segment_id", "recency", "frequency", "monetary"])
    return frame.assign(customer_id=[str(i) for i in range(len(frame))], is_outlier=False)


def test_the_studys_seven_profiles_get_the_studys_seven_names():
    assert names_of(study_seven()) == {
        40: "Loyal",
        11: "Promising",
        12: "Stalled",
        13: "Newcomers",
        20: "At risk",
        21: "Dormant",
        22: "Lost",
    }


def test_segments_the_rules_name_alike_are_told_apart_by_how_they_differ():
    frame = study_seven()
    frame.loc[frame["segment_id"] == 13, "frequency"] = 2  # no longer first-time buyers
    names = names_of(frame)
    assert (names[12], names[13]) == ("Stalled, high-spend", "Stalled, low-spend")
    assert len(set(names.values())) == 7
    assert all(base_name(name) in STRATEGIES for name in names.values())


def test_three_alike_take_the_low_middle_and_high_words_and_ties_a_second_measure():
    z = pd.DataFrame(
        {"recency": [0.0, 0.0, 0.0, 1.0], "frequency": [1.0, 2.0, 3.0, 3.0],
         "monetary": [0.0, 0.0, 0.0, 0.0]}, index=[1, 2, 3, 4],
    )  # fmt: skip
    names = told_apart(dict.fromkeys([1, 2, 3], "Stalled") | {4: "Lost"}, z)
    assert names == {1: "Stalled, occasional", 2: "Stalled, regular", 3: "Stalled, frequent",
                     4: "Lost"}  # fmt: skip
    z = pd.DataFrame(
        {"recency": [0.0, 0.0, 1.0, 0.0], "frequency": [1.0, 2.0, 2.1, 3.0],
         "monetary": [0.0, 0.0, 0.0, 0.0]}, index=[1, 2, 3, 4],
    )  # fmt: skip
    assert told_apart(dict.fromkeys([1, 2, 3, 4], "Dormant"), z) == {
        1: "Dormant, occasional", 2: "Dormant, regular, recent",
        3: "Dormant, regular, long gone", 4: "Dormant, frequent",
    }  # fmt: skip


def test_a_lone_segment_is_all_customers():
    assert names_of(segmented().assign(segment_id=0)) == {0: "All customers"}
