"""Does the segment classifier generalise to people it has never seen? (the study's goal 5)

The whole chain (cleaning, RFM, features, embedding, clustering, classifier) is fitted on the
transactions before a cut-off date only. The customers whose first purchase is on or after it
get their RFM at the end of the data; the fitted embedding and clusterer say which segment
they belong to, the classifier predicts one, and the two are compared."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis.expr.types as ir
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score

from rfm_pipeline.core import cleaning, rfm
from rfm_pipeline.core.classifier import (
    TrainedClassifier,
    per_segment_scores,
    train_classifier,
)
from rfm_pipeline.core.spaces import ALGORITHMS, segment

PLACEABLE = ("pca", "umap")


@dataclass(frozen=True)
class Refit:
    """How the main path fitted each stage, so that a refit before a cut-off does the same:
    the cleaning rules, and the keyword arguments of `rfm_features`, `segment` (random_state
    and the space's embedding options) and `train_classifier`."""

    rules: cleaning.CleaningRules
    features: dict
    embedding: dict
    classifier: dict


@dataclass
class NewCustomerEvaluation:
    """Agreement between the classifier and the fitted clustering on later first-time customers."""

    cutoff: dt.date
    space: str
    algorithm: str
    k: int
    last_fitted_transaction: pd.Timestamp
    fitted: pd.DataFrame  # the RFM table at the cut-off that everything was fitted on
    new_customers: int
    agreement: float
    macro_f1: float
    per_segment: pd.DataFrame
    classifier: TrainedClassifier | None
    note: str = ""


def evaluate_new_customers(
    raw: ir.Table,
    cutoff: dt.date,
    space: str,
    algorithm: str,
    k: int,
    refit: Refit,
) -> NewCustomerEvaluation:
    """Fit on lines before `cutoff`; compare classifier and clustering on customers new after it.

    A space that cannot place new customers (t-SNE) is replaced by UMAP, with the same algorithm
    and k; `refit.embedding` is the options of the space refitted.
    """
    rules = refit.rules
    space = space if space in PLACEABLE else "umap"
    fit_clean, last_fitted = cleaning.cleaned_before(raw, cutoff, rules)
    fit_rfm = rfm.rfm_table(fit_clean, cutoff).execute()
    all_clean = cleaning.clean_transactions(raw, rules).table
    everyone = rfm.rfm_table(all_clean, rfm.default_as_of(all_clean)).execute()
    new = everyone[everyone["first_purchase"] >= pd.Timestamp(cutoff)]

    def skipped(note: str) -> NewCustomerEvaluation:
        return NewCustomerEvaluation(
            cutoff,
            space,
            algorithm,
            k,
            last_fitted,
            fit_rfm,
            len(new),
            float("nan"),
            float("nan"),
            pd.DataFrame(),
            None,
            note,
        )

    if algorithm not in ALGORITHMS and algorithm != "single":
        return skipped(
            f"the segments are made by a rule ({algorithm}), not learned by a clustering: there"
            " is no clustering to refit before the cut-off"
        )
    if algorithm == "single" or len(fit_rfm) <= max(k, 2):
        return skipped("too few customers before the cut-off to segment")
    if new.empty:
        return skipped("no customer first bought on or after the cut-off")
    features = rfm.rfm_features(fit_rfm, **refit.features)
    segmentation = segment(features.table, space, [k], [algorithm], **refit.embedding)
    if segmentation.algorithm == "single":
        return skipped("too few customers before the cut-off to segment")
    labelled = fit_rfm.merge(segmentation.table[["customer_id", "segment_id"]])
    classifier = train_classifier(labelled, **refit.classifier, n_jobs=2)
    truth = segmentation.place(features.scale(new), algorithm)
    predicted = classifier.model.predict(new[classifier.features].to_numpy(dtype="float64"))
    return NewCustomerEvaluation(
        cutoff=cutoff,
        space=space,
        algorithm=algorithm,
        k=k,
        last_fitted_transaction=last_fitted,
        fitted=fit_rfm,
        new_customers=len(new),
        agreement=float(accuracy_score(truth, predicted)),
        macro_f1=float(f1_score(truth, predicted, average="macro")),
        per_segment=per_segment_scores(truth, predicted),
        classifier=classifier,
    )
