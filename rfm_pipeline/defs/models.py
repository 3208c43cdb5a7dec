"""Group models: the segment classifier, its test on later customers, scoring new transactions."""

import datetime as dt
import time

import dagster as dg
import ibis.expr.types as ir
import pandas as pd
from upath import UPath

from rfm_pipeline.core.classifier import FEATURES, train_classifier
from rfm_pipeline.core.cleaning import CleaningRules
from rfm_pipeline.core.errors import NotEnoughData
from rfm_pipeline.core.evaluation import PLACEABLE, Refit, evaluate_new_customers
from rfm_pipeline.core.interest_model import evaluate_interest_models
from rfm_pipeline.core.models import SavedModel, load_model
from rfm_pipeline.core.plots import confusion_heatmap
from rfm_pipeline.core.predict import score_file
from rfm_pipeline.core.storage import write_export
from rfm_pipeline.defs.ingest import IngestConfig
from rfm_pipeline.defs.metadata import image_metadata, plain, table_metadata, upstream_metadata
from rfm_pipeline.defs.resources import DuckDBEngine, Warehouse
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
    started = time.perf_counter()
    data = rfm_table.merge(customer_segments[["customer_id", "segment_id"]])
    settings = config.model_dump()
    trained = train_classifier(data, **settings, n_jobs=2)
    seconds = round(time.perf_counter() - started, 2)
    names = _names(customer_segments)
    segment = customer_segments.iloc[0]
    card = {
        "model": trained.name,
        "params": trained.params,
        "features": trained.features,
        "classes": names.to_dict("records"),
        "segmentation": {"embedding": segment["embedding"], "algorithm": segment["algorithm"]},
        "metrics": {"cv": trained.cv.to_dict("records"), "test": trained.test},
        "as_of": str(rfm_table["as_of"].iloc[0]),
        "cleaning_rules": upstream_metadata(context, "clean_transactions")["rules"],
        "customers": {"trained": trained.train_customers, "tested": trained.test["customers"]},
    }
    metadata = {
        "model": trained.name,
        "test_accuracy": round(trained.test["accuracy"], 4),
        "test_macro_f1": round(trained.test["macro_f1"], 4),
        "test_customers": trained.test["customers"],
        "candidates": table_metadata(trained.cv.round(4)),
        "per_segment": table_metadata(
            names[["segment_id", "segment_name"]].merge(trained.report).round(3)
        ),  # fmt: skip
        "tuning_seconds": seconds,
        "settings": dg.MetadataValue.json(settings),  # what refits before a cut-off use
    }
    if not trained.confusion.empty:
        labels = dict(zip(names["segment_id"], names["segment_name"], strict=True))
        plot = confusion_heatmap(trained.confusion, labels, "Held-out customers")
        metadata["confusion_matrix"] = image_metadata(
            plot, warehouse, "segment_classifier_confusion", context.partition_key
        )
    return dg.Output(SavedModel(trained.model, card), metadata=plain(metadata))


class EvaluationConfig(dg.Config):
    """The study's goal 5: fit before the cut-off, test on customers who first buy after it.
    Every stage is refitted with the settings the main path recorded for this week."""

    cutoff: str | None = None  # YYYY-MM-DD; None = `test_days` before the as-of date
    test_days: int = 70  # from 2011-10-01 to the as-of date 2011-12-10, as in the study


@dg.asset(
    group_name="models",
    kinds={"sklearn", "umap"},
    code_version="3",
    partitions_def=weeks,
    deps=[
        "clean_transactions",
        "rfm_features",
        "pca_segmentation",
        "umap_segmentation",
        "segment_classifier",
    ],  # fmt: skip
)
def new_customer_evaluation(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,
    raw_transactions: ir.Table,
    rfm_table: pd.DataFrame,
    customer_segments: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    """Per segment: how often the classifier, fitted only on transactions before the cut-off,
    agrees with the fitted clustering on customers whose first purchase is on or after it and
    before the as-of date.
    """
    started = time.perf_counter()
    chosen = customer_segments.iloc[0]
    as_of = dt.date.fromisoformat(str(rfm_table["as_of"].iloc[0]))
    if config.cutoff:
        cutoff = dt.date.fromisoformat(config.cutoff)
    else:
        cutoff = as_of - dt.timedelta(days=config.test_days)
    before = dt.datetime.combine(as_of, dt.time())
    space = chosen["embedding"] if chosen["embedding"] in PLACEABLE else "umap"
    recorded = {
        name: upstream_metadata(context, name)
        for name in (
            "clean_transactions",
            "rfm_features",
            f"{space}_segmentation",
            "segment_classifier",
        )
    }
    refit = Refit(
        rules=CleaningRules(**recorded["clean_transactions"]["rules"]),
        features=recorded["rfm_features"]["settings"],
        embedding=recorded[f"{space}_segmentation"]["options"],
        classifier=recorded["segment_classifier"]["settings"],
    )
    result = evaluate_new_customers(
        raw_transactions.filter(raw_transactions.invoice_date < before), cutoff,
        space=space, algorithm=str(chosen["algorithm"]), k=int(chosen["k"]), refit=refit,
    )  # fmt: skip
    return dg.Output(
        result.per_segment,
        metadata=plain(
            {
                "cutoff": cutoff.isoformat(),
                "as_of": as_of.isoformat(),
                "last_fitted_transaction": str(result.last_fitted_transaction),
                "embedding": result.space,
                "algorithm": result.algorithm,
                "k": result.k,
                "fitted_customers": len(result.fitted),
                "new_customers": result.new_customers,
                "agreement": round(result.agreement, 4),
                "macro_f1": round(result.macro_f1, 4),
                "classifier": result.classifier.name if result.classifier else "none",
                "classifier_test_accuracy": round(result.classifier.test["accuracy"], 4)
                if result.classifier
                else float("nan"),
                "note": result.note or "evaluated",
                "per_segment": table_metadata(result.per_segment.round(3)),
                "seconds": round(time.perf_counter() - started, 2),
            }
        ),
    )


class InterestClassifierConfig(dg.Config):
    """The reference protocol: fit before the cut-off, test on the two months after it.
    Categories and interest groups are refitted with the settings their assets recorded."""

    cutoff: str = "2011-10-01"
    random_state: int = 42  # of the split and the models


@dg.asset(
    group_name="models",
    kinds={"sklearn"},
    code_version="2",
    deps=["clean_transactions", "customer_interests"],
)
def interest_classifier(
    context: dg.AssetExecutionContext,
    config: InterestClassifierConfig,
    raw_transactions: ir.Table,
    product_categories: pd.DataFrame,
) -> dg.Output[SavedModel | None]:
    """Predicts a customer's interest group from mean basket value and spend per category;
    every candidate scored on a 20% hold-out and on the customers of the later period.
    Saved as `interest_classifier.skops` with a JSON model card.
    """
    recorded = {name: upstream_metadata(context, name) for name in (
        "clean_transactions", "product_categories", "customer_interests")}  # fmt: skip
    if "settings" not in recorded["customer_interests"]:  # skipped: say why, as it did
        return dg.Output(
            None, metadata=plain({"skipped": recorded["customer_interests"]["skipped"]})
        )
    try:
        result = evaluate_interest_models(
            raw_transactions, dt.date.fromisoformat(config.cutoff),
            CleaningRules(**recorded["clean_transactions"]["rules"]),
            recorded["product_categories"]["settings"], recorded["customer_interests"]["settings"],
            config.random_state,
        )  # fmt: skip
    except NotEnoughData as reason:
        return dg.Output(None, metadata=plain({"skipped": f"skipped: {reason}"}))
    scores = result.scores.set_index("model")
    card = {
        "model": result.kept_name,
        "features": result.features,
        "classes": [{"group_id": int(g), "group_name": n} for g, n in result.group_names.items()],
        "metrics": result.scores.to_dict("records"),
        "cutoff": config.cutoff,
        "customers": {"fitted": result.fitted_customers, "later": result.later_customers},
    }
    return dg.Output(
        SavedModel(result.kept, card),
        metadata=plain(
            {
                "kept_model": result.kept_name,
                "later_accuracy": round(float(scores.loc[result.kept_name, "later_accuracy"]), 4),
                "soft_voting_later_accuracy": round(
                    float(scores.loc["soft_voting", "later_accuracy"]), 4
                ),
                "reference_best_later_accuracy": 0.755,
                "models": table_metadata(result.scores.round(4)),
                "fitted_customers": result.fitted_customers,
                "later_customers": result.later_customers,
                "last_fitted_transaction": str(result.last_fitted_transaction),
            }
        ),
    )


class ScoreConfig(IngestConfig):
    """A transactions file to score, read like the pipeline's input, and where to write."""

    out: str  # .csv or .parquet
    as_of: str | None = None  # YYYY-MM-DD; None = the day after the file's last invoice


@dg.op(out=dg.Out(dg.Nothing))
def score_transactions(
    context: dg.OpExecutionContext,
    config: ScoreConfig,
    engine: DuckDBEngine,
    warehouse: Warehouse,
) -> None:
    """Segments for the customers in a transactions file, with the saved classifier."""
    saved = load_model(warehouse.path("segment_classifier.skops"))
    scored = score_file(
        engine.connection(),
        config.path,
        saved,
        dt.date.fromisoformat(config.as_of) if config.as_of else None,
        fmt=config.format,
        encoding=config.encoding,
        delimiter=config.delimiter,
        column_map=config.column_map,
        date_format=config.date_format,
    )
    write_export(scored, UPath(config.out))
    context.log.info(
        f"scored {scored['segment_id'].notna().sum()} of {len(scored)} customers into {config.out}"
    )


@dg.job(description="Segment the customers of a transactions file with the saved classifier.")
def score_new_customers() -> None:
    score_transactions()
