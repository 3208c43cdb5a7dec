"""Group models, the classifier: assigns a customer's segment from RFM features."""

import dagster as dg
import pandas as pd
from pydantic import Field

from rfm_pipeline.core.classifier import FEATURES, model_card, train_classifier
from rfm_pipeline.core.model_files import SavedModel
from rfm_pipeline.core.plots import confusion_heatmap
from rfm_pipeline.core.rfm import as_of_date
from rfm_pipeline.defs.metadata import image_metadata, plain, table_metadata
from rfm_pipeline.defs.resources import Warehouse
from rfm_pipeline.defs.weeks import weeks


class ClassifierConfig(dg.Config):
    """Features and the split; the defaults follow the study's part 6."""

    features: list[str] = Field(
        default=list(FEATURES),
        description="Columns of rfm_table the classifier reads; tenure_days and avg_order_value"
        " may be added. Recency, frequency and monetary, as in the study.",
    )
    random_state: int = Field(
        default=42,
        description="Seed of the train/test split, the folds and the models, fixed so retraining"
        " on the same data gives the same model.",
    )
    test_size: float = Field(
        default=0.2,
        description="Share of customers (0-1) held out to test the kept model. 0.2, the study's"
        " 80/20 split.",
    )
    folds: int = Field(
        default=5,
        description="Cross-validation folds that tune each candidate model on the training share."
        " 5, as in the study.",
    )
    sample_size: int = Field(
        default=50_000,
        description="Above this many customers, train on a stratified random sample of this size."
        " 50,000: more than the bundled data's 4,334 customers, and it keeps tuning short on a"
        " large shop.",
    )


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
