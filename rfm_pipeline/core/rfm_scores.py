"""Rule-based RFM: scores 1 to 5 by quintile edges, and the 11 named segments marketers use.

A score is 1 + the number of edges the value exceeds, so equal values always get equal scores
and fixed edges give next week's scores the same meaning. Edges are the 20/40/60/80th
percentiles unless given; when percentiles tie (most customers buy once), a score goes unused
rather than splitting equal customers. Recency is reversed: the most recent get 5.

Segments come from the recency score R and FM, the rounded-up mean of the frequency and
monetary scores, on the usual R x FM grid; every one of the 125 (R, F, M) combinations falls in
exactly one cell:

    FM:      1               2                    3                 4                5
    R=5  New Customers   Potential Loyalists  Potential Loyalists  Champions        Champions
    R=4  Promising       Potential Loyalists  Potential Loyalists  Loyal Customers  Loyal Customers
    R=3  About to Sleep  About to Sleep       Need Attention       Loyal Customers  Loyal Customers
    R=2  Hibernating     Hibernating          At Risk              At Risk          Can't Lose Them
    R=1  Lost            Hibernating          At Risk              At Risk          Can't Lose Them
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

QUINTILES = (0.2, 0.4, 0.6, 0.8)

GRID = {
    5: ("New Customers", "Potential Loyalists", "Potential Loyalists", "Champions", "Champions"),
    4: ("Promising", "Potential Loyalists", "Potential Loyalists", "Loyal Customers",
        "Loyal Customers"),
    3: ("About to Sleep", "About to Sleep", "Need Attention", "Loyal Customers",
        "Loyal Customers"),
    2: ("Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"),
    1: ("Lost", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"),
}  # fmt: skip
"""Recency score -> segment by FM score 1..5."""

ACTIONS = {
    "Champions": "Reward them: early access to new products, loyalty perks, ask for referrals.",
    "Loyal Customers": "Upsell higher-value products, ask for reviews, keep them engaged.",
    "Potential Loyalists": "Offer a membership or loyalty programme and tailored recommendations.",
    "New Customers": "Onboard well: welcome series, first-repeat incentive, build the habit.",
    "Promising": "Build awareness: brand stories and a free-shipping threshold to come back.",
    "Need Attention": "Limited-time offers based on past purchases to win the next order.",
    "About to Sleep": "Reconnect with popular products and a discount before they lapse.",
    "At Risk": "Personalised reactivation e-mails with renewals and helpful resources.",
    "Can't Lose Them": "Personal win-back: a call or a direct offer; find out what went wrong.",
    "Hibernating": "Low-cost reactivation with relevant products and special discounts.",
    "Lost": "Try one reactivation campaign; otherwise stop spending on them.",
}
"""The recommended action for each of the 11 segments."""

SEGMENTS = tuple(ACTIONS)


def quintile_edges(values: pd.Series) -> list[float]:
    """The 20/40/60/80th percentiles of the values."""
    return [float(v) for v in np.quantile(values.to_numpy(dtype="float64"), QUINTILES)]


def score(values: pd.Series, edges: Sequence[float], reverse: bool = False) -> pd.Series:
    """1 + how many edges each value exceeds (5 - that for `reverse`): scores 1 to 5."""
    if len(edges) != 4 or list(edges) != sorted(edges):
        raise ValueError(f"score edges must be 4 increasing numbers, got {list(edges)}")
    raw = 1 + np.searchsorted(np.asarray(edges, dtype="float64"), values.to_numpy(), side="left")
    return pd.Series(6 - raw if reverse else raw, index=values.index, dtype="int64")


def segment_of(r: int, f: int, m: int) -> str:
    """The named segment of one (R, F, M) score combination."""
    fm = (f + m + 1) // 2
    return GRID[r][fm - 1]


def rfm_scores(
    rfm: pd.DataFrame, edges: Mapping[str, Sequence[float] | None] | None = None
) -> tuple[pd.DataFrame, dict[str, list[float]]]:
    """Scores, the RFM cell ("545"), segment and action per customer, and the edges used."""
    edges = dict(edges or {})
    used = {
        column: list(edges.get(column) or quintile_edges(rfm[column]))
        for column in ("recency", "frequency", "monetary")
    }
    scores = pd.DataFrame(
        {
            "customer_id": rfm["customer_id"],
            "r_score": score(rfm["recency"], used["recency"], reverse=True),
            "f_score": score(rfm["frequency"], used["frequency"]),
            "m_score": score(rfm["monetary"], used["monetary"]),
        }
    )
    scores["rfm_cell"] = (
        scores["r_score"].astype(str)
        + scores["f_score"].astype(str)
        + scores["m_score"].astype(str)
    )
    scores["segment"] = [
        segment_of(r, f, m)
        for r, f, m in zip(scores["r_score"], scores["f_score"], scores["m_score"], strict=True)
    ]
    scores["action"] = scores["segment"].map(ACTIONS)
    return scores, used


def segment_summary(scores: pd.DataFrame, rfm: pd.DataFrame) -> pd.DataFrame:
    """Customers and revenue share per segment, in the grid's order, empty segments included."""
    joined = scores[["customer_id", "segment"]].merge(rfm[["customer_id", "monetary"]])
    grouped = joined.groupby("segment").agg(
        customers=("customer_id", "size"), revenue=("monetary", "sum")
    )
    grouped = grouped.reindex(list(SEGMENTS), fill_value=0)
    total_revenue = grouped["revenue"].sum()
    return pd.DataFrame(
        {
            "segment": grouped.index,
            "customers": grouped["customers"].astype("int64").to_numpy(),
            "customer_share": (grouped["customers"] / grouped["customers"].sum())
            .round(4)
            .to_numpy(),
            "revenue_share": (grouped["revenue"] / total_revenue).round(4).to_numpy()
            if total_revenue
            else 0.0,
        }
    )
