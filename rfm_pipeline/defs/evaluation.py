"""Group models, the evaluation: the segment classifier's test on customers who first bought
later, refitting earlier stages before a cut-off with the settings their tables and models
carry."""

import datetime as dt

import dagster as dg
import ibis.expr.types as ir
import pandas as pd
from pydantic import Field

from rfm_pipeline.core.cleaning import CleaningRules, midnight
from rfm_pipeline.core.evaluation import (
    PLACEABLE,
    NewCustomerEvaluation,
    Refit,
    evaluate_new_customers,
)
from rfm_pipeline.core.model_files import SavedModel
from rfm_pipeline.core.rfm import as_of_date
from rfm_pipeline.defs.io_managers import carried
from rfm_pipeline.defs.metadata import plain, table_metadata
from rfm_pipeline.defs.weeks import weeks


class EvaluationConfig(dg.Config):
    """The study's goal 5: fit before the cut-off, test on customers who first buy after it."""

    cutoff: str | None = Field(
        default=None,
        description="Date (YYYY-MM-DD) that splits fitting from testing: models see transactions"
        " before it and are tested on customers who first buy on or after it. None: test_days"
        " before the as-of date, so the test moves with the week.",
    )
    test_days: int = Field(
        default=70,
        description="Days before the as-of date where the cut-off falls when cutoff is not set."
        " 70: from 2011-10-01 to the as-of date 2011-12-10, as in the study.",
    )


@dg.asset(group_name="models", kinds={"sklearn", "umap"}, code_version="3", partitions_def=weeks)
def new_customer_evaluation(
    config: EvaluationConfig,
    raw_transactions: ir.Table,
    cleaning_summary: dict,
    rfm_table: pd.DataFrame,
    rfm_features: pd.DataFrame,
    pca_segmentation: pd.DataFrame,
    umap_segmentation: pd.DataFrame,
    customer_segments: pd.DataFrame,
    segment_classifier: SavedModel,
) -> dg.Output[pd.DataFrame]:
    """Per segment: how often the classifier, fitted only on transactions before the cut-off,
    agrees with the fitted clustering on customers whose first purchase is on or after it and
    before the as-of date. Every stage is refitted with the settings its inputs carry.
    """
    chosen = customer_segments.iloc[0]
    as_of = as_of_date(rfm_table)
    cutoff = (
        dt.date.fromisoformat(config.cutoff)
        if config.cutoff
        else as_of - dt.timedelta(days=config.test_days)
    )
    space = chosen["embedding"] if chosen["embedding"] in PLACEABLE else "umap"
    embedded = {"pca": pca_segmentation, "umap": umap_segmentation}[space]
    refit = Refit(
        rules=CleaningRules(**cleaning_summary["rules"]),
        features=carried(rfm_features, "settings", "rfm_features"),
        embedding=carried(embedded, "options", f"{space}_segmentation"),
        classifier=segment_classifier.card["settings"],
    )
    before = raw_transactions.invoice_date < midnight(as_of)
    result = evaluate_new_customers(
        raw_transactions.filter(before),
        cutoff,
        space=space,
        algorithm=str(chosen["algorithm"]),
        k=int(chosen["k"]),
        refit=refit,
    )
    summary = _evaluation_metadata(result)
    result.per_segment.attrs["summary"] = plain({k: summary[k] for k in REPORTED})  # for the report
    metadata = {"as_of": as_of.isoformat(), **summary}
    return dg.Output(result.per_segment, metadata=plain(metadata))


REPORTED = ("cutoff", "agreement", "macro_f1", "new_customers", "note")
"""The evaluation's figures the report shows, carried with its table."""


def _evaluation_metadata(result: NewCustomerEvaluation) -> dict:
    classifier = result.classifier
    return {
        "cutoff": result.cutoff.isoformat(),
        "last_fitted_transaction": str(result.last_fitted_transaction),
        "embedding": result.space,
        "algorithm": result.algorithm,
        "k": result.k,
        "fitted_customers": len(result.fitted),
        "new_customers": result.new_customers,
        "agreement": round(result.agreement, 4),
        "macro_f1": round(result.macro_f1, 4),
        "classifier": classifier.name if classifier else "none",
        "classifier_test_accuracy": round(classifier.test["accuracy"], 4)
        if classifier
        else float("nan"),
        "note": result.note or "evaluated",
        "per_segment": table_metadata(result.per_segment.round(3)),
    }
