"""Group models, the classifier: the segment classifier, and scoring new transactions with it."""

import datetime as dt

import dagster as dg
import pandas as pd
from upath import UPath

from rfm_pipeline.core.classifier import FEATURES, model_card, score_file, train_classifier
from rfm_pipeline.core.model_files import SavedModel, load_model
from rfm_pipeline.core.plots import confusion_heatmap
from rfm_pipeline.core.rfm import as_of_date
from rfm_pipeline.core.storage import write_export
from rfm_pipeline.core.value import FILES, load_value_model
from rfm_pipeline.defs.ingest import IngestConfig
from rfm_pipeline.defs.metadata import image_metadata, plain, table_metadata, upstream_metadata
from rfm_pipeline.defs.resources import Engine, Warehouse
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
    deps=["clean_transactions"],  # its cleaning rules go on the card, for scoring new lines
)
def segment_classifier(
    context: dg.AssetExecutionContext,
    config: ClassifierConfig,
    warehouse: Warehouse,
    rfm_table: pd.DataFrame,
    customer_segments: pd.DataFrame,
) -> dg.Output[SavedModel]:
    """Assigns a customer's segment from RFM features, so new customers are segmented without
    redoing the embedding. Saved as `segment_classifier.skops` with a JSON model card (and per
    week in `segment_classifier/`).
    """
    data = rfm_table.merge(customer_segments[["customer_id", "segment_id"]])
    settings = config.model_dump()
    trained = train_classifier(data, **settings, n_jobs=2)
    names = _names(customer_segments)
    rules = upstream_metadata(context, "clean_transactions")["rules"]
    card = model_card(trained, customer_segments, as_of_date(rfm_table).isoformat(), rules)
    metadata = {
        "model": trained.name,
        "test_accuracy": round(trained.test["accuracy"], 4),
        "test_macro_f1": round(trained.test["macro_f1"], 4),
        "test_customers": trained.test["customers"],
        "candidates": table_metadata(trained.cv.round(4)),
        "per_segment": table_metadata(
            names[["segment_id", "segment_name"]].merge(trained.report).round(3)
        ),
        "settings": dg.MetadataValue.json(settings),  # what refits before a cut-off use
    }
    if not trained.confusion.empty:
        labels = dict(zip(names["segment_id"], names["segment_name"], strict=True))
        plot = confusion_heatmap(trained.confusion, labels, "Held-out customers")
        metadata["confusion_matrix"] = image_metadata(
            plot, warehouse, "segment_classifier_confusion", context.partition_key
        )
    return dg.Output(SavedModel(trained.model, card), metadata=plain(metadata))


class ScoreConfig(IngestConfig):
    """A transactions file to score, read like the pipeline's input, and where to write."""

    out: str  # .csv or .parquet
    as_of: str | None = None  # YYYY-MM-DD; None = the day after the file's last invoice


@dg.op(out=dg.Out(dg.Nothing))
def score_transactions(
    context: dg.OpExecutionContext,
    config: ScoreConfig,
    engine: Engine,
    warehouse: Warehouse,
) -> None:
    """Segments for the customers in a transactions file, with the saved classifier, and the
    saved forecast's probability of buying and expected spend (once customer_value has run)."""
    saved = load_model(warehouse.path("segment_classifier.skops"))
    as_of = dt.date.fromisoformat(config.as_of) if config.as_of else None
    forecast = None
    if warehouse.path(f"{FILES['learned']}.skops").exists():
        forecast = load_value_model(warehouse.path())
    else:
        context.log.warning("no saved forecast: materialise customer_value for p_active")
    scored = score_file(
        engine.connection(), config.path, saved, as_of, forecast, **config.reading()
    )
    write_export(scored, UPath(config.out))
    context.log.info(
        f"scored {scored['segment_id'].notna().sum()} of {len(scored)} customers into {config.out}"
    )


@dg.job(description="Segment the customers of a transactions file with the saved classifier.")
def score_new_customers() -> None:
    score_transactions()
