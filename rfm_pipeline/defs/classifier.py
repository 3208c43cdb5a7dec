"""Group models, the classifier: assigns a customer's segment from RFM features."""

import dagster as dg
import pandas as pd

from rfm_pipeline.core.classifier import FEATURES, model_card, train_classifier
from rfm_pipeline.core.model_files import SavedModel
from rfm_pipeline.core.plots import confusion_heatmap
from rfm_pipeline.core.rfm import as_of_date
from rfm_pipeline.defs.metadata import image_metadata, plain, table_metadata
from rfm_pipeline.defs.resources import Warehouse
from rfm_pipeline.defs.weeks import weeks


class ClassifierConfig(dg.Config):
    """Features and the split; the defaults follow the study's part 6."""

    features: list[str] = list(FEATURES)  # rfm_table columns; tenure_days, avg_order_value too
    random_state: int = 42
    test_size: float = 0.2
    folds: int = 5
    sample_size: int = 50_000  # above this many customers, train on a stratified sample


def _names(customer_segments: pd.DataFrame) -> pd.DataFrame:
    columns = ["segment_id", "segment_name", "strategy"]
    return customer_segments[columns].drop_duplicates().sort_values("segment_id")


@dg.asset(
    group_name="models",
    kinds={"sklearn"},
    code_version="2",
    partitions_def=weeks,
)
def segment_classifier(
    context: dg.AssetExecutionContext,
    config: ClassifierConfig,
    warehouse: Warehouse,
    rfm_table: pd.DataFrame,
    customer_segments: pd.DataFrame,
    cleaning_summary: dict,
) -> dg.Output[SavedModel]:
    """Assigns a customer's segment from RFM features, so new customers are segmented without
    redoing the embedding. Saved as `segment_classifier.skops` with a JSON model card (and per
    week in `segment_classifier/`).
    """
    data = rfm_table.merge(customer_segments[["customer_id", "segment_id"]])
    settings = config.model_dump()
    trained = train_classifier(data, **settings, n_jobs=2)
    names = _names(customer_segments)
    as_of = as_of_date(rfm_table).isoformat()
    card = model_card(trained, customer_segments, as_of, cleaning_summary["rules"], settings)
    metadata = {
        "model": trained.name,
        "test_accuracy": round(trained.test["accuracy"], 4),
        "test_macro_f1": round(trained.test["macro_f1"], 4),
        "test_customers": trained.test["customers"],
        "candidates": table_metadata(trained.cv.round(4)),
        "per_segment": table_metadata(
            names[["segment_id", "segment_name"]].merge(trained.report).round(3)
        ),
        "settings": dg.MetadataValue.json(settings),
    }
    if not trained.confusion.empty:
        labels = dict(zip(names["segment_id"], names["segment_name"], strict=True))
        plot = confusion_heatmap(trained.confusion, labels, "Held-out customers")
        metadata["confusion_matrix"] = image_metadata(
            plot, warehouse, "segment_classifier_confusion", context.partition_key
        )
    return dg.Output(SavedModel(trained.model, card), metadata=plain(metadata))
