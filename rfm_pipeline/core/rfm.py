"""Recency, frequency and monetary value per customer, and the study's preparation for clustering.

The RFM table is an aggregate of the clean transactions on the engine; the features for
clustering are customer-level (pandas): outliers above a percentile are held out of fitting,
then the three measures are standardised with a scaler fitted on the rest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from rfm_pipeline.core.cleaning import lines_before, midnight
from rfm_pipeline.core.engine import exact_ratio

RFM_COLUMNS = ("recency", "frequency", "monetary")


SECONDS_PER_DAY = 86_400


def as_of_date(table: pd.DataFrame) -> dt.date:
    """The as-of date an RFM table (or a table built from one) was computed at."""
    return dt.date.fromisoformat(str(table["as_of"].iloc[0]))


def default_as_of(clean: ir.Table) -> dt.date:
    """The day after the last invoice: the study's reference date (2011-12-10 on the UCI data)."""
    last = clean.invoice_date.max().execute()
    if last is None or pd.isna(last):
        raise ValueError("no transactions: the as-of date cannot be derived")
    return pd.Timestamp(last).date() + dt.timedelta(days=1)


def rfm_table(clean: ir.Table, as_of: dt.date) -> ir.Table:
    """One row per customer from the transactions strictly before `as_of` (midnight).

    recency: whole days from the last invoice to `as_of`; frequency: distinct invoices;
    monetary: sum of `total_price`; tenure_days: whole days from the first invoice to `as_of`;
    avg_order_value: monetary / frequency; as_of: the date itself, so the table says when.
    """
    cutoff = midnight(as_of)
    before = lines_before(clean, as_of)
    per_customer = before.group_by("customer_id").aggregate(
        frequency=before.invoice_no.nunique(),
        # summed as decimals: exact, so the thread count cannot change a rounded cent
        monetary=before.total_price.cast("decimal(18, 4)").sum(),
        first_purchase=before.invoice_date.min(),
        last_purchase=before.invoice_date.max(),
    )

    def days_until_cutoff(moment: ir.TimestampValue) -> ir.IntegerValue:
        seconds = cutoff.epoch_seconds() - moment.epoch_seconds()
        return (seconds // SECONDS_PER_DAY).cast("int64")

    return per_customer.select(
        "customer_id",
        recency=days_until_cutoff(per_customer.last_purchase),
        frequency=per_customer.frequency.cast("int64"),
        monetary=per_customer.monetary.round(2).cast("float64"),
        first_purchase="first_purchase",
        last_purchase="last_purchase",
        tenure_days=days_until_cutoff(per_customer.first_purchase),
        avg_order_value=exact_ratio(per_customer.monetary, per_customer.frequency),
        as_of=ibis.literal(as_of, "date"),
    ).order_by("customer_id")


@dataclass(frozen=True)
class Features:
    """Scaled RFM features for every customer, and how they were made."""

    table: pd.DataFrame
    thresholds: dict[str, float]
    scaler: StandardScaler

    log_transform: bool = False

    @property
    def inliers(self) -> pd.DataFrame:
        return self.table[~self.table["is_outlier"]]

    def scale(self, rfm: pd.DataFrame) -> np.ndarray:
        """Other customers' R, F, M scaled exactly as these were (new customers, say)."""
        return self.scaler.transform(_prepared(rfm, self.log_transform))


SCALED_COLUMNS = tuple(f"{c}_scaled" for c in RFM_COLUMNS)


def rfm_features(
    rfm: pd.DataFrame, outlier_quantile: float = 0.95, log_transform: bool = False
) -> Features:
    """Flag customers above `outlier_quantile` of frequency or monetary; scale on the rest.

    Outliers stay in the table (flagged) so that every later segmentation assigns them too;
    the scaler is fitted on the others only, as in the study. With `log_transform`, the three
    measures pass through sign(x)·log(1+|x|) before scaling.
    """
    if rfm.empty:
        raise ValueError("the RFM table has no customers")
    rfm = rfm.sort_values("customer_id").reset_index(drop=True)
    thresholds = {c: float(rfm[c].quantile(outlier_quantile)) for c in ("frequency", "monetary")}
    is_outlier = (rfm["frequency"] > thresholds["frequency"]) | (
        rfm["monetary"] > thresholds["monetary"]
    )
    if is_outlier.all():  # a handful of customers: hold no one out rather than everyone
        is_outlier[:] = False
    values = _prepared(rfm, log_transform)
    scaler = StandardScaler().fit(values[~is_outlier.to_numpy()])
    scaled = pd.DataFrame(scaler.transform(values), columns=list(SCALED_COLUMNS))
    table = rfm[["customer_id", *RFM_COLUMNS]].assign(is_outlier=is_outlier.to_numpy())
    table = pd.concat([table, scaled], axis=1)
    return Features(table, thresholds, scaler, log_transform)


def _prepared(rfm: pd.DataFrame, log_transform: bool) -> np.ndarray:
    """R, F, M as floats, through sign(x)·log(1+|x|) when asked."""
    values = rfm[list(RFM_COLUMNS)].to_numpy(dtype="float64")
    return np.sign(values) * np.log1p(np.abs(values)) if log_transform else values


QUINTILES = (0.2, 0.4, 0.6, 0.8)


GRID = {
    5: ("New Customers", "Potential Loyalists", "Potential Loyalists", "Champions", "Champions"),
    4: (
        "Promising",
        "Potential Loyalists",
        "Potential Loyalists",
        "Loyal Customers",
        "Loyal Customers",
    ),
    3: ("About to Sleep", "About to Sleep", "Need Attention", "Loyal Customers", "Loyal Customers"),
    2: ("Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"),
    1: ("Lost", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"),
}
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
