"""Segments across weeks: matching centroids, carrying ids and names over, transitions."""

import pandas as pd
import pytest

from rfm_pipeline.core.transitions import (
    GONE,
    NEW,
    carry_over,
    empty_registry,
    last_choice,
    match_segments,
    register,
    transition_matrix,
    transitions,
)


def centres(rows: dict[int, tuple[float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame.from_dict(
        rows, orient="index", columns=["recency", "frequency", "monetary"]
    )


def test_hungarian_matching_pairs_the_nearest_and_reports_new_and_vanished():
    last_week = centres({0: (0, 0, 0), 1: (5, 0, 0), 2: (0, 5, 0), 3: (-9, -9, -9)})
    this_week = centres({10: (0.1, 5, 0), 11: (0, 0.2, 0), 12: (5, 0.1, 0), 13: (0, 0, 9)})
    matching = match_segments(last_week, this_week, max_distance=1.0)
    assert matching.pairs == {10: 2, 11: 0, 12: 1}
    assert matching.new == [13]  # nothing was there last week
    assert matching.vanished == [3]
    assert matching.distances[11] == pytest.approx(0.2)


def test_matching_is_one_to_one_even_when_two_are_near_the_same_centroid():
    last_week = centres({0: (0, 0, 0), 1: (3, 0, 0)})
    this_week = centres({5: (0.1, 0, 0), 6: (0.2, 0, 0)})
    matching = match_segments(last_week, this_week, max_distance=1.0)
    assert len(matching.pairs) == 1 and matching.new == [next(iter({5, 6} - set(matching.pairs)))]
    assert matching.vanished == [1]


def segmented(groups: dict[int, tuple[str, list[tuple[int, int, float]]]], start=0) -> pd.DataFrame:
    """customer_segments-like rows: segment id -> (name, [(recency, frequency, monetary)])."""
    rows = []
    for segment, (name, people) in groups.items():
        for recency, frequency, monetary in people:
            rows.append(
                {
                    "customer_id": f"c{start + len(rows):03d}",
                    "segment_id": segment,
                    "segment_name": name,
                    "strategy": f"do {name}",
                    "recency": recency,
                    "frequency": frequency,
                    "monetary": monetary,
                    "is_outlier": False,
                    "embedding": "umap",
                    "algorithm": "kmeans",
                }
            )
    return pd.DataFrame(rows)


def registry(table: pd.DataFrame, week: str = "2011-11-21") -> pd.DataFrame:
    """The segment registry of a week whose segments are `table`'s, as they are."""
    return register(empty_registry(), table, week)


LOYAL = [(5, 20, 5000.0), (6, 22, 5200.0), (4, 18, 4800.0)]
LOST = [(300, 1, 100.0), (310, 1, 90.0), (290, 2, 120.0)]
NEWCOMERS = [(10, 1, 150.0), (12, 1, 160.0), (11, 1, 140.0)]


def test_carry_over_keeps_ids_and_names_and_tells_a_new_namesake_apart():
    last_week = segmented({4: ("Loyal", LOYAL), 7: ("Lost", LOST)})
    # refitted: ids swapped, and the rules would now call the lost group "At risk"
    this_week = segmented({0: ("At risk", LOST), 1: ("Loyal", LOYAL), 2: ("Loyal", NEWCOMERS)})
    carried = carry_over(this_week, registry(last_week), "2011-11-28")
    names = carried.table.drop_duplicates("segment_id").set_index("segment_id")["segment_name"]
    assert names.to_dict() == {4: "Loyal", 7: "Lost", 8: "Loyal, occasional"}
    assert carried.table["strategy"][carried.table["segment_id"] == 7].eq("do Lost").all()
    status = carried.segments.set_index("segment_id")["status"].to_dict()
    assert status == {4: "kept", 7: "kept", 8: "new"}
    assert len(carried.table) == len(this_week)
    assert carried.table.columns.tolist() == this_week.columns.tolist()


def test_carry_over_reports_a_vanished_segment_and_starts_fresh_without_a_last_week():
    last_week = segmented({0: ("Loyal", LOYAL), 1: ("Lost", LOST), 2: ("Newcomers", NEWCOMERS)})
    this_week = segmented({0: ("Lost", LOST), 1: ("Loyal", LOYAL)})
    carried = carry_over(this_week, registry(last_week), "2011-11-28")
    segments = carried.segments.set_index("segment_id")
    assert segments.loc[2, "status"] == "vanished"
    assert segments.loc[2, "previous_customers"] == 3 and segments.loc[2, "customers"] == 0
    shifted = this_week.assign(segment_id=this_week["segment_id"] + 1)
    later = carry_over(shifted, registry(last_week), "2011-11-28")
    assert set(later.table["segment_id"]) == {0, 1}  # kept: last week's ids
    # the newcomers come back a week after they vanished: a new id, never the old one
    again = carry_over(last_week, carried.registry, "2011-12-05")
    assert set(again.table["segment_id"]) == {0, 1, 3}
    assert again.registry.set_index("segment_id")["first_week"].to_dict() == {
        0: "2011-11-21",
        1: "2011-11-21",
        2: "2011-11-21",
        3: "2011-12-05",
    }
    assert again.registry.set_index("segment_id").loc[2, "customers"] == 0
    first = carry_over(this_week, None, "2011-11-21")
    assert first.table.equals(this_week)
    assert set(first.segments["status"]) == {"new"}
    assert first.registry["customers"].tolist() == [3, 3]
    assert last_choice(first.registry) == ("umap", "kmeans") and last_choice(None) is None


def test_transitions_add_up_to_both_weeks_and_flag_moves_down():
    last_week = segmented({0: ("Loyal", LOYAL), 1: ("Lost", LOST)})
    this_week = last_week.copy()
    this_week.loc[0, ["segment_id", "segment_name"]] = [1, "Lost"]  # c000: Loyal -> Lost
    this_week = this_week[this_week["customer_id"] != "c005"]  # gone
    newcomer = segmented({1: ("Lost", [(20, 1, 50.0)])}, start=100)
    this_week = pd.concat([this_week, newcomer], ignore_index=True)
    moves = transitions(last_week, this_week)
    by_customer = moves.set_index("customer_id")["movement"]
    assert by_customer["c000"] == "down"
    assert by_customer["c005"] == "gone" and by_customer["c100"] == "new"
    assert (by_customer.drop(["c000", "c005", "c100"]) == "same").all()
    matrix = transition_matrix(moves)
    assert matrix.drop(index=NEW).to_numpy().sum() == len(last_week)
    assert matrix.drop(columns=GONE).to_numpy().sum() == len(this_week)
    assert matrix.loc["Loyal", "Lost"] == 1 and matrix.loc[NEW, "Lost"] == 1
    assert pd.isna(moves.set_index("customer_id").loc["c100", "previous_segment_id"])


def test_transitions_without_a_last_week_make_everyone_new():
    this_week = segmented({0: ("Loyal", LOYAL)})
    moves = transitions(None, this_week)
    assert set(moves["movement"]) == {"new"}
    assert transition_matrix(moves).loc[NEW, "Loyal"] == 3
