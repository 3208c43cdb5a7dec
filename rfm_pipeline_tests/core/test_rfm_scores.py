"""Rule-based RFM scores and the 11 named segments over all 125 combinations."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from rfm_pipeline.core.rfm_scores import (
    ACTIONS,
    SEGMENTS,
    rfm_scores,
    score,
    segment_of,
    segment_summary,
)


def test_every_one_of_the_125_combinations_has_exactly_one_of_the_11_names():
    names = {(r, f, m): segment_of(r, f, m) for r, f, m in itertools.product(range(1, 6), repeat=3)}
    assert len(names) == 125
    assert set(names.values()) == set(SEGMENTS)
    assert len(SEGMENTS) == 11
    assert names[5, 5, 5] == "Champions"
    assert names[1, 1, 1] == "Lost"
    assert names[1, 5, 5] == "Can't Lose Them"
    assert names[5, 1, 1] == "New Customers"
    assert all(ACTIONS[name] for name in SEGMENTS)


def test_scores_count_the_edges_a_value_exceeds_and_ties_score_alike():
    values = pd.Series([1, 1, 1, 2, 3, 5, 6, 40])
    assert score(values, [1, 2, 3, 5]).tolist() == [1, 1, 1, 2, 3, 4, 5, 5]
    assert score(values, [1, 2, 3, 5], reverse=True).tolist() == [5, 5, 5, 4, 3, 2, 1, 1]


def test_bad_edges_are_refused():
    with pytest.raises(ValueError, match="4 increasing numbers"):
        score(pd.Series([1]), [3, 2, 1, 0])


def rfm(n: int = 50) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [str(i) for i in range(n)],
            "recency": [i * 3 for i in range(n)],
            "frequency": [1 + i // 10 for i in range(n)],
            "monetary": [float(i * i) for i in range(n)],
        }
    )


def test_quintile_edges_are_returned_and_fixed_edges_reused():
    scores, edges = rfm_scores(rfm())
    assert edges["recency"] == pytest.approx([29.4, 58.8, 88.2, 117.6])
    assert scores["r_score"].value_counts().to_dict() == {5: 10, 4: 10, 3: 10, 2: 10, 1: 10}
    again, used = rfm_scores(rfm().iloc[:10], edges)
    assert used == edges
    assert set(again["r_score"]) == {5}  # the ten most recent stay recent under fixed edges
    assert scores.loc[49, "rfm_cell"] == "155"
    assert scores.loc[49, "segment"] == "Can't Lose Them"
    assert scores.loc[0, "segment"] == "New Customers"


def test_summary_lists_all_segments_with_shares():
    scores, _ = rfm_scores(rfm())
    summary = segment_summary(scores, rfm())
    assert summary["segment"].tolist() == list(SEGMENTS)
    assert summary["customers"].sum() == 50
    assert summary["revenue_share"].sum() == pytest.approx(1.0, abs=1e-3)
