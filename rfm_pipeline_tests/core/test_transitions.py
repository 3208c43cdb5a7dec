"""Segments across weeks: who moved where."""

import pandas as pd

from rfm_pipeline.core.transitions import GONE, NEW, transition_matrix, transitions
from rfm_pipeline_tests.core.test_naming import LOST, LOYAL, week_of_segments


def test_transitions_add_up_to_both_weeks_and_flag_moves_down():
    last_week = week_of_segments({0: ("Loyal", LOYAL), 1: ("Lost", LOST)})
    this_week = last_week.copy()
    this_week.loc[0, ["segment_id", "segment_name"]] = [1, "Lost"]  # c000: Loyal -> Lost
    this_week = this_week[this_week["customer_id"] != "c005"]  # gone
    newcomer = week_of_segments({1: ("Lost", [(20, 1, 50.0)])}, start=100)
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
    this_week = week_of_segments({0: ("Loyal", LOYAL)})
    moves = transitions(None, this_week)
    assert set(moves["movement"]) == {"new"}
    assert transition_matrix(moves).loc[NEW, "Loyal"] == 3
