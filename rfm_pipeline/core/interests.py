"""What customers buy: interest groups from spend per product category and basket statistics.

Each customer is described by the share of their spend in each product category and by their
number of invoices and minimum, maximum and mean basket value (the reference analysis's
features); standardised, then grouped with KMeans, k chosen by silhouette. A group is named
by the category whose share in it is furthest above the average, and by its basket size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from rfm_pipeline.core.engine import exact_mean, exact_sum
from rfm_pipeline.core.spaces import kmeans_sweep

BASKET_COLUMNS = ("invoices", "basket_min", "basket_max", "basket_mean")


def share_columns(categories: int) -> list[str]:
    return [f"share_{c}" for c in range(categories)]


def customer_features(clean: ir.Table, categories: pd.DataFrame, k: int) -> pd.DataFrame:
    """Per customer: invoices, basket min / max / mean, and spend share per category, for
    each of the `k` categories (0 where a customer, or every customer, bought none of it).

    The aggregation runs on the engine; only one row per customer comes back.
    """
    lookup = ibis.memtable(categories[["stock_code", "category_id"]])
    lines = clean.join(lookup, "stock_code")
    baskets = lines.group_by(["customer_id", "invoice_no"]).aggregate(
        value=exact_sum(lines.total_price)
    )
    per_customer = baskets.group_by("customer_id").aggregate(
        invoices=baskets.count(),
        basket_min=baskets.value.min(),
        basket_max=baskets.value.max(),
        basket_mean=exact_mean(baskets.value),
    )
    spend, total = lines.total_price, exact_sum(lines.total_price)
    shares = lines.group_by("customer_id").aggregate(
        **{
            f"share_{c}": (exact_sum(spend, lines.category_id == c) / total.nullif(0)).fill_null(0)
            for c in range(k)
        }
    )
    frame = per_customer.join(shares, "customer_id").order_by("customer_id").execute()
    frame[share_columns(k)] = frame[share_columns(k)].fillna(0.0)
    return frame.reset_index(drop=True)


@dataclass
class InterestGroups:
    """Each customer's interest group, the sweep that chose k, and the fitted scaler and model."""

    table: pd.DataFrame  # customer_id, features..., group_id, group_name
    sweep: pd.DataFrame  # k, silhouette, chosen
    profile: pd.DataFrame  # per group: customers, mean shares and basket statistics
    scaler: StandardScaler
    model: KMeans
    columns: list[str]


def interest_groups(
    features: pd.DataFrame,
    category_names: dict[int, str],
    ks: Sequence[int] = range(4, 13),
    random_state: int = 42,
) -> InterestGroups:
    """Standardise the features, sweep KMeans over k, keep the best silhouette; name groups."""
    features = features.sort_values("customer_id").reset_index(drop=True)
    columns = [*BASKET_COLUMNS, *share_columns(len(category_names))]
    scaler = StandardScaler().fit(features[columns])
    points = scaler.transform(features[columns])
    sweep, model = kmeans_sweep(points, ks, random_state, what="customers")
    table = features.assign(group_id=model.labels_.astype("int64"))
    profile = (
        table.groupby("group_id")[columns].mean().assign(customers=table.groupby("group_id").size())
    )
    names = group_names(profile, features, category_names)
    table["group_name"] = table["group_id"].map(names)
    profile = profile.assign(group_name=profile.index.map(names)).reset_index()
    return InterestGroups(table, sweep, profile, scaler, model, columns)


def group_names(
    profile: pd.DataFrame, features: pd.DataFrame, category_names: dict[int, str]
) -> dict[int, str]:
    """ "<category> buyers, <small|medium|large> baskets" by the category bought most above the
    average; a group whose name is taken names its next category too ("<a> and <b> buyers")."""
    shares = profile[share_columns(len(category_names))]
    lift = shares / features[shares.columns].mean().replace(0, np.nan)
    low, high = features["basket_mean"].quantile([1 / 3, 2 / 3])
    names: dict[int, str] = {}
    for group in profile.sort_values("customers", ascending=False).index:
        order = np.argsort(-lift.loc[group].fillna(0).to_numpy(), kind="stable")
        basket = profile.loc[group, "basket_mean"]
        size = "small" if basket < low else "large" if basket > high else "medium"
        first = category_names[int(order[0])]
        candidates = [first] + [f"{first} and {category_names[int(c)]}" for c in order[1:]]
        taken = set(names.values())
        buyers = next(
            (c for c in candidates if f"{c} buyers, {size} baskets" not in taken),
            f"{candidates[-1]} (group {group})",
        )
        names[int(group)] = f"{buyers} buyers, {size} baskets"
    return names


def assign(groups: InterestGroups, features: pd.DataFrame) -> np.ndarray:
    """Interest group of other customers (a later period), with the fitted scaler and model."""
    return groups.model.predict(groups.scaler.transform(features[groups.columns]))
