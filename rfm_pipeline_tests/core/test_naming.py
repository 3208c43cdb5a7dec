"""Segments are named and given a strategy by documented rules on their profile, and every name
is true in absolute terms."""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pytest

from rfm_pipeline.core import rfm
from rfm_pipeline.core.naming import (
    LAPSED_NAMES,
    REPEAT_NAMES,
    STRATEGIES,
    base_name,
    carry_over,
    empty_registry,
    last_choice,
    match_segments,
    name_segments,
    register,
    segment_facts,
    told_apart,
    usual_gap,
)
from rfm_pipeline.core.segments import standardised_means
from rfm_pipeline_tests.core.test_segments import segmented

STUDY_GAP = 55.0
"""The bundled data's usual gap between purchases (days)."""


def names_of(frame: pd.DataFrame, gap: float = STUDY_GAP) -> dict[int, str]:
    named = name_segments(standardised_means(frame), segment_facts(frame, gap))
    return dict(zip(named["segment_id"], named["segment_name"], strict=True))


def test_three_segments_are_loyal_intermediate_lost_by_profile():
    frame = segmented()
    named = name_segments(standardised_means(frame), segment_facts(frame, STUDY_GAP))
    assert names_of(frame) == {3: "Lost", 5: "Intermediate", 7: "Loyal"}
    assert named.set_index("segment_id").loc[7, "strategy"] == STRATEGIES["Loyal"]


def test_three_segments_that_bought_within_the_gap_are_neither_lost_nor_loyal_first_buyers():
    # the same profiles in a shop whose customers come back every 400 days: nobody is lost
    assert names_of(segmented(), gap=400) == {
        3: "Intermediate, long gone",
        5: "Intermediate, recent",
        7: "Loyal",
    }
    only_once = segmented().assign(frequency=1)
    assert names_of(only_once) == {3: "Lost", 5: "Intermediate", 7: "Newcomers"}


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


def test_the_studys_seven_profiles_get_the_studys_names_where_they_are_true():
    # the study's "stalled" (recency 40) bought within the shop's usual 55 days: not stalled
    assert names_of(study_seven()) == {
        40: "Loyal",
        11: "Promising, high-spend",
        12: "Promising, low-spend",
        13: "Newcomers",
        20: "At risk",
        21: "Dormant",
        22: "Lost",
    }
    # past the gap, repeat buyers who stopped are stalled
    gone = study_seven()
    gone.loc[gone["segment_id"] == 12, "recency"] = 120
    assert names_of(gone)[12] == "Stalled"


def test_segments_the_rules_name_alike_are_told_apart_by_how_they_differ():
    frame = study_seven()
    frame.loc[frame["segment_id"] == 13, "frequency"] = 2  # no longer first-time buyers
    names = names_of(frame)
    assert (names[11], names[12], names[13]) == (
        "Promising, high-spend",
        "Promising, mid-spend",
        "Promising, low-spend",
    )
    assert len(set(names.values())) == 7
    assert all(base_name(name) in STRATEGIES for name in names.values())


AS_OF = dt.date(2024, 6, 1)


def shop(recency: list[int], frequency: list[int], span: list[int]) -> pd.DataFrame:
    """The RFM table (`rfm.rfm_table`) of a log made here: each customer's purchases at 10:00,
    the last `recency` days before the as-of date, the first `span` days before the last, the
    others spread between them."""
    rows = []
    for customer, (r, f, s) in enumerate(zip(recency, frequency, span, strict=True)):
        for purchase in range(f):
            days_before = r + round(s * purchase / max(f - 1, 1))
            moment = dt.datetime.combine(AS_OF, dt.time()) - dt.timedelta(
                days=days_before, hours=14
            )
            rows.append((f"c{customer:03d}", f"{customer}-{purchase}", moment, 40.0 + customer % 7))
    log = pd.DataFrame(rows, columns=["customer_id", "invoice_no", "invoice_date", "total_price"])
    table = rfm.rfm_table(ibis.memtable(log), AS_OF).to_pandas()
    return table.sort_values("customer_id", ignore_index=True).assign(is_outlier=False)


def segments_by(table: pd.DataFrame, edges: list[int]) -> pd.DataFrame:
    """Segments cut by recency at `edges` and by frequency above or below 2."""
    by_recency = np.searchsorted(edges, table["recency"], side="right")
    return table.assign(segment_id=by_recency * 2 + (table["frequency"] >= 2))


def lapsed_and_repeat_hold(table: pd.DataFrame, names: dict[int, str], gap: float) -> None:
    """Every lapsed name on a segment most of whose customers are past `gap`, every repeat-buyer
    name on a segment mostly of repeat buyers, and the other way round for Newcomers."""
    for segment, group in table.groupby("segment_id"):
        base = base_name(names[segment])
        past = group["recency"].median() > gap
        repeat = (group["frequency"] >= 2).mean() >= 0.5
        assert past or base not in LAPSED_NAMES, (segment, names[segment])
        assert repeat or base not in REPEAT_NAMES, (segment, names[segment])
        assert base != "Newcomers" or not (past or repeat), (segment, names[segment])


def test_a_shop_whose_customers_all_bought_in_the_last_week_has_no_lapsed_segment():
    # a log of one week: its gaps between purchases are cut short by its start
    rng = np.random.default_rng(0)
    recency = rng.integers(0, 4, 200).tolist()
    frequency = rng.integers(1, 4, 200).tolist()
    table = segments_by(shop(recency, frequency, [f - 1 for f in frequency]), [1, 2])
    gap = usual_gap(table, 90)
    assert gap == 90.0
    names = names_of(table, gap)
    assert not {base_name(n) for n in names.values()} & set(LAPSED_NAMES)
    assert len(names) == 6 and "Loyal" in names.values()
    lapsed_and_repeat_hold(table, names, gap)


def test_a_two_year_shop_names_lapsed_only_past_its_usual_gap():
    rng = np.random.default_rng(1)
    recency = rng.integers(0, 730, 400).tolist()
    frequency = rng.integers(1, 9, 400).tolist()
    span = [int(rng.integers(20, 60)) * (f - 1) for f in frequency]
    table = segments_by(shop(recency, frequency, span), [30, 120, 365])
    gap = usual_gap(table, 90)
    repeat = table[table["frequency"] >= 2]
    expected = ((repeat["tenure_days"] - repeat["recency"]) / (repeat["frequency"] - 1)).median()
    assert gap == pytest.approx(expected) and 20 <= gap <= 60
    names = names_of(table, gap)
    lapsed_and_repeat_hold(table, names, gap)
    assert {"Loyal", "Lost", "Newcomers"} <= {base_name(n) for n in names.values()}


def test_a_shop_where_everyone_bought_once_has_no_loyal_and_measures_by_the_horizon():
    rng = np.random.default_rng(2)
    recency = rng.integers(0, 300, 150).tolist()
    table = segments_by(shop(recency, [1] * 150, [0] * 150), [30, 90, 200])
    gap = usual_gap(table, 90)
    assert gap == 90.0  # no repeat buyer: the forecast's horizon
    names = names_of(table, gap)
    assert not {base_name(n) for n in names.values()} & set(REPEAT_NAMES)
    assert names[0].startswith("Newcomers") and names[2].startswith("Newcomers")
    lapsed_and_repeat_hold(table, names, gap)


def test_lost_is_less_likely_to_buy_than_loyal_and_promising_by_the_forecast():
    frame = study_seven()
    likely = {40: 0.9, 11: 0.7, 12: 0.5, 13: 0.4, 20: 0.35, 21: 0.3, 22: 0.2}
    frame["p_active"] = frame["segment_id"].map(likely)
    assert names_of(frame)[22] == "Lost"
    frame.loc[frame["segment_id"] == 22, "p_active"] = 0.6  # the forecast disagrees
    names = names_of(frame)
    assert names[22] == "Dormant, long gone" and "Lost" not in names.values()


def test_a_kept_segment_whose_name_no_longer_holds_keeps_its_id_and_takes_a_true_name():
    frame = segmented().assign(embedding="pca", algorithm="kmeans")
    last_week = carry_over(frame.assign(segment_name="x", strategy="y"), None, "2011-11-28")
    registry = last_week.registry.assign(
        segment_name=last_week.registry["segment_id"].map(
            {0: "Lost", 1: "Intermediate", 2: "Loyal"}
        )
    )
    this_week = frame.assign(
        segment_name=frame["segment_id"].map(names_of(frame, gap=400)), strategy="s"
    )
    carried = carry_over(this_week, registry, "2011-12-05", facts=segment_facts(frame, 400))
    names = dict(zip(carried.table["recency"], carried.table["segment_name"], strict=True))
    assert names[300] == "Intermediate, long gone"  # was Lost; bought within the 400-day gap
    assert names[5] == "Loyal"
    assert set(carried.segments["status"]) == {"kept"}


def test_three_alike_take_the_low_middle_and_high_words_and_ties_a_second_measure():
    z = pd.DataFrame(
        {
            "recency": [0.0, 0.0, 0.0, 1.0],
            "frequency": [1.0, 2.0, 3.0, 3.0],
            "monetary": [0.0, 0.0, 0.0, 0.0],
        },
        index=[1, 2, 3, 4],
    )
    names = told_apart(dict.fromkeys([1, 2, 3], "Stalled") | {4: "Lost"}, z)
    assert names == {
        1: "Stalled, occasional",
        2: "Stalled, regular",
        3: "Stalled, frequent",
        4: "Lost",
    }
    z = pd.DataFrame(
        {
            "recency": [0.0, 0.0, 1.0, 0.0],
            "frequency": [1.0, 2.0, 2.1, 3.0],
            "monetary": [0.0, 0.0, 0.0, 0.0],
        },
        index=[1, 2, 3, 4],
    )
    assert told_apart(dict.fromkeys([1, 2, 3, 4], "Dormant"), z) == {
        1: "Dormant, occasional",
        2: "Dormant, regular, recent",
        3: "Dormant, regular, long gone",
        4: "Dormant, frequent",
    }


def test_a_lone_segment_is_all_customers():
    assert names_of(segmented().assign(segment_id=0)) == {0: "All customers"}


# segment identity across weeks


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


def week_of_segments(
    groups: dict[int, tuple[str, list[tuple[int, int, float]]]], start=0
) -> pd.DataFrame:
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
    last_week = week_of_segments({4: ("Loyal", LOYAL), 7: ("Lost", LOST)})
    # refitted: ids swapped, and the rules would now call the lost group "At risk"
    this_week = week_of_segments(
        {0: ("At risk", LOST), 1: ("Loyal", LOYAL), 2: ("Loyal", NEWCOMERS)}
    )
    carried = carry_over(this_week, registry(last_week), "2011-11-28")
    names = carried.table.drop_duplicates("segment_id").set_index("segment_id")["segment_name"]
    assert names.to_dict() == {4: "Loyal", 7: "Lost", 8: "Loyal, occasional"}
    assert carried.table["strategy"][carried.table["segment_id"] == 7].eq("do Lost").all()
    status = carried.segments.set_index("segment_id")["status"].to_dict()
    assert status == {4: "kept", 7: "kept", 8: "new"}
    assert len(carried.table) == len(this_week)
    assert carried.table.columns.tolist() == this_week.columns.tolist()


def test_carry_over_reports_a_vanished_segment_and_starts_fresh_without_a_last_week():
    last_week = week_of_segments(
        {0: ("Loyal", LOYAL), 1: ("Lost", LOST), 2: ("Newcomers", NEWCOMERS)}
    )
    this_week = week_of_segments({0: ("Lost", LOST), 1: ("Loyal", LOYAL)})
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
