"""The interests: each customer's spend per product category and the interest group it puts
them in (group categories), and the classifier that predicts a new customer's group (group
models)."""

import datetime as dt

import dagster as dg
import ibis.expr.types as ir
import pandas as pd
from pydantic import Field

from rfm_pipeline.core import categories, interests
from rfm_pipeline.core.cleaning import CleaningRules
from rfm_pipeline.core.errors import NotEnoughData
from rfm_pipeline.core.interests import InterestModels, evaluate_interest_models, interest_card
from rfm_pipeline.core.model_files import SavedModel
from rfm_pipeline.core.plots import radar_chart
from rfm_pipeline.defs.categories import skipped_table
from rfm_pipeline.defs.io_managers import carried
from rfm_pipeline.defs.metadata import image_metadata, plain, skipped, table_metadata
from rfm_pipeline.defs.resources import Warehouse


class CustomerInterestsConfig(dg.Config):
    k_min: int = Field(
        default=4,
        description="Fewest interest groups KMeans tries. 4 to 12 (with k_max) brackets the"
        " reference's 11 groups.",
    )
    k_max: int = Field(
        default=12,
        description="Most interest groups KMeans tries; the best silhouette wins. 12, just above"
        " the reference's choice of 11.",
    )
    random_state: int = Field(
        default=42,
        description="Seed of KMeans, fixed so the same customers always give the same groups.",
    )


@dg.asset(group_name="categories", kinds={"engine", "sklearn"}, code_version="1")
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
        return skipped_table(empty, "no product categories")
    names = categories.names_by_id(product_categories)
    features = interests.customer_features(clean_transactions, product_categories, len(names))
    settings = {
        "ks": list(range(config.k_min, config.k_max + 1)),
        "random_state": config.random_state,
    }
    try:
        groups = interests.interest_groups(features, names, **settings)
    except NotEnoughData as reason:
        return skipped_table(empty, reason)
    groups.table.attrs["settings"] = settings  # what refits before a cut-off group with
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
                "settings": dg.MetadataValue.json(settings),
                "k": int(chosen["k"]),
                "silhouette": round(float(chosen["silhouette"]), 3),
                "sweep": table_metadata(groups.sweep.round(3)),
                "groups": table_metadata(groups.profile.round(3)),
                "radar_chart": image_metadata(radar, warehouse, "customer_interests_radar"),
            }
        ),
    )


class InterestClassifierConfig(dg.Config):
    """The reference protocol: fit before the cut-off, test on the two months after it."""

    cutoff: str = Field(
        default="2011-10-01",
        description="Date (YYYY-MM-DD): categories, groups and classifiers are fitted on invoices"
        " before it and tested on the customers of the period after it. 2011-10-01, the"
        " reference's, leaves the bundled data's last two months to test on.",
    )
    random_state: int = Field(
        default=42,
        description="Seed of the hold-out split and the models, fixed so reruns give the same"
        " scores.",
    )


@dg.asset(group_name="models", kinds={"sklearn"}, code_version="2")
def interest_classifier(
    config: InterestClassifierConfig,
    raw_transactions: ir.Table,
    clean_transactions: ir.Table,
    cleaning_summary: dict,
    product_categories: pd.DataFrame,
    customer_interests: pd.DataFrame,
) -> dg.Output[SavedModel | None]:
    """Predicts a customer's interest group from mean basket value and spend per category;
    every candidate scored on a 20% hold-out and on the customers of the later period.
    Saved as `interest_classifier.skops` with a JSON model card. Categories and interest
    groups are refitted with the settings their tables carry.
    """
    if "settings" not in customer_interests.attrs:  # skipped: say why, as it did
        reason = carried(customer_interests, "skipped", "customer_interests")
        return dg.Output(None, metadata=plain({"skipped": reason}))
    try:
        result = evaluate_interest_models(
            raw_transactions,
            clean_transactions,
            dt.date.fromisoformat(config.cutoff),
            CleaningRules(**cleaning_summary["rules"]),
            carried(product_categories, "settings", "product_categories"),
            carried(customer_interests, "settings", "customer_interests"),
            config.random_state,
        )
    except NotEnoughData as reason:
        return dg.Output(None, metadata=plain(skipped(reason)))
    return dg.Output(
        SavedModel(result.kept, interest_card(result, config.cutoff)),
        metadata=plain(_interest_metadata(result)),
    )


def _interest_metadata(result: InterestModels) -> dict:
    later = result.scores.set_index("model")["later_accuracy"]
    return {
        "kept_model": result.kept_name,
        "later_accuracy": round(float(later[result.kept_name]), 4),
        "soft_voting_later_accuracy": round(float(later["soft_voting"]), 4),
        "reference_best_later_accuracy": 0.755,
        "models": table_metadata(result.scores.round(4)),
        "fitted_customers": result.fitted_customers,
        "later_customers": result.later_customers,
        "last_fitted_transaction": str(result.last_fitted_transaction),
    }
