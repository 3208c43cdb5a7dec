"""Group categories, the interests: each customer's spend per product category and the interest
group it puts them in."""

import dagster as dg
import ibis.expr.types as ir
import pandas as pd

from rfm_pipeline.core import categories, interests
from rfm_pipeline.core.errors import NotEnoughData
from rfm_pipeline.core.plots import radar_chart
from rfm_pipeline.defs.categories import skipped
from rfm_pipeline.defs.metadata import image_metadata, plain, table_metadata
from rfm_pipeline.defs.resources import Warehouse


class CustomerInterestsConfig(dg.Config):
    k_min: int = 4
    k_max: int = 12  # the reference chose 11
    random_state: int = 42


@dg.asset(group_name="categories", kinds={"duckdb", "sklearn"}, code_version="1")
def customer_interests(
    config: CustomerInterestsConfig,
    warehouse: Warehouse,
    clean_transactions: ir.Table,
    product_categories: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    """One row per customer: spend share per product category, invoices, basket min / max /
    mean, and the interest group (id and name), beside the RFM segment.
    """
    empty = pd.DataFrame(
        {
            "customer_id": pd.Series(dtype="str"),
            "group_id": pd.Series(dtype="int64"),
            "group_name": pd.Series(dtype="str"),
        }
    )
    if product_categories.empty:
        return skipped(empty, "skipped: no product categories")
    names = categories.names_by_id(product_categories)
    features = interests.customer_features(clean_transactions, product_categories, len(names))
    settings = {
        "ks": list(range(config.k_min, config.k_max + 1)),
        "random_state": config.random_state,
    }
    try:
        groups = interests.interest_groups(features, names, **settings)
    except NotEnoughData as reason:
        return skipped(empty, f"skipped: {reason}")
    chosen = groups.sweep[groups.sweep["chosen"]].iloc[0]
    profile = groups.profile.set_index("group_id")
    group_labels = dict(zip(profile.index, profile["group_name"], strict=True))
    radar = radar_chart(
        profile[groups.columns], group_labels, "Interest groups (min-max scaled means)"
    )
    return dg.Output(
        groups.table,
        metadata=plain(
            {
                "dagster/row_count": len(groups.table),
                "settings": dg.MetadataValue.json(settings),  # what refits before a cut-off use
                "k": int(chosen["k"]),
                "silhouette": round(float(chosen["silhouette"]), 3),
                "sweep": table_metadata(groups.sweep.round(3)),
                "groups": table_metadata(groups.profile.round(3)),
                "radar_chart": image_metadata(radar, warehouse, "customer_interests_radar"),
            }
        ),
    )
