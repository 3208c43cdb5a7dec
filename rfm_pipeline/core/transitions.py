"""Segments across weeks: who moved where between last week's segments and this week's (the
segments themselves keep their identity from week to week in `naming.carry_over`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rfm_pipeline.core.naming import centroids, engagement, standardiser

NEW, GONE = "(new customer)", "(no longer a customer)"
"""The transition labels of customers only one of the two weeks has."""


def transitions(previous: pd.DataFrame | None, current: pd.DataFrame) -> pd.DataFrame:
    """One row per customer of either week: last week's segment, this week's, and the move.

    `movement` is `same`, `up` or `down` (to a segment of higher or lower engagement, its
    centroid standardised with this week's spread), `new` (first seen this week) or `gone`.
    """
    previous = current.iloc[:0] if previous is None else previous
    mean, std = standardiser(current)
    score = pd.concat(
        [engagement(centroids(previous, mean, std)), engagement(centroids(current, mean, std))]
    )
    score = score[~score.index.duplicated(keep="last")]  # a kept id: this week's place
    columns = ["customer_id", "segment_id", "segment_name"]
    moves = previous[columns].merge(
        current[columns], on="customer_id", how="outer", suffixes=("_previous", "")
    )
    moves = moves.rename(
        columns={
            "segment_id_previous": "previous_segment_id",
            "segment_name_previous": "previous_segment_name",
        }
    )
    for column in ("previous_segment_id", "segment_id"):
        moves[column] = moves[column].astype("Int64")
    before = moves["previous_segment_id"].map(score)
    after = moves["segment_id"].map(score)
    conditions = [
        moves["previous_segment_id"].isna(),
        moves["segment_id"].isna(),
        moves["previous_segment_id"] == moves["segment_id"],
        after > before,
    ]
    moves["movement"] = np.select(
        [c.fillna(False).to_numpy(dtype=bool) for c in conditions],
        ["new", "gone", "same", "up"],
        default="down",
    )
    moves["previous_segment_name"] = moves["previous_segment_name"].fillna(NEW)
    moves["segment_name"] = moves["segment_name"].fillna(GONE)
    return moves.sort_values("customer_id", ignore_index=True)


def transition_matrix(moves: pd.DataFrame) -> pd.DataFrame:
    """Customers from last week's segment (rows) to this week's (columns)."""
    return pd.crosstab(moves["previous_segment_name"], moves["segment_name"]).rename_axis(
        index="last week", columns="this week"
    )
