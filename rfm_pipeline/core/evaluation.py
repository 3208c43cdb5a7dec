"""Does the segment classifier generalise to people it has never seen? (the study's goal 5)

The whole chain (cleaning, RFM, features, embedding, clustering, classifier) is fitted on the
transactions before a cut-off date only. The customers whose first purchase is on or after it
get their RFM at the end of the data; the fitted embedding and clusterer say which segment
they belong to, the classifier predicts one, and the two are compared."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rfm_pipeline.core import cleaning, rfm
from rfm_pipeline.core.categories import categorise, names_by_id, product_matrix, products
from rfm_pipeline.core.classifier import (
    TrainedClassifier,
    per_segment_scores,
    train_classifier,
    tune,
)
from rfm_pipeline.core.errors import NotEnoughData
from rfm_pipeline.core.interests import assign, customer_features, interest_groups, share_columns
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


REFERENCE = {
    "logistic_regression": None,
    "k_nearest_neighbours": None,
    "random_forest": 0.754,
    "gradient_boosting": None,
    "soft_voting": 0.755,
}
"""The reference's later-period accuracies that it published (others were not given)."""


def interest_candidates(random_state: int) -> dict[str, tuple[object, dict]]:
    return {
        "logistic_regression": (
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=2_000)),
            {"logisticregression__C": [1.0, 10.0]},
        ),
        "k_nearest_neighbours": (
            make_pipeline(StandardScaler(), KNeighborsClassifier()),
            {"kneighborsclassifier__n_neighbors": [5, 15]},
        ),
        "random_forest": (
            RandomForestClassifier(n_estimators=200, random_state=random_state),
            {"min_samples_leaf": [1, 3]},
        ),
        "gradient_boosting": (
            # unregularised, boosting diverges on the groups of a handful of customers
            HistGradientBoostingClassifier(
                l2_regularization=1.0, random_state=random_state, early_stopping=False
            ),
            {"learning_rate": [0.05, 0.1]},
        ),
    }


@dataclass
class SoftVote:
    """Soft voting over models fitted on the same data: the class of the highest mean
    probability, what scikit-learn's `VotingClassifier(voting="soft")` predicts, without
    fitting the models once more."""

    models: list

    def predict(self, x: np.ndarray) -> np.ndarray:
        mean = np.mean([model.predict_proba(x) for model in self.models], axis=0)
        return self.models[0].classes_[mean.argmax(axis=1)]


@dataclass
class InterestModels:
    """Every model's accuracy on the hold-out and on the later period, and the kept model."""

    scores: pd.DataFrame  # model, cv_accuracy, holdout_accuracy, later_accuracy, reference
    kept: object
    kept_name: str
    features: list[str]
    group_names: dict[int, str]
    fitted_customers: int
    later_customers: int
    last_fitted_transaction: pd.Timestamp


def evaluate_interest_models(
    raw: ir.Table,
    clean: ir.Table,
    cutoff: dt.date,
    rules: cleaning.CleaningRules,
    categories: dict,
    interests: dict,
    random_state: int,
) -> InterestModels:
    """Fit everything on invoices before `cutoff`; score every model on the later customers.

    `clean` is `raw` cleaned with `rules` (the later period is taken from it); the earlier
    period is cleaned on its own. `categories` and `interests` are the keyword arguments of
    `categorise` and `interest_groups` that the main path used; `random_state` is the split's
    and the models'.
    """
    before, last_fitted = cleaning.cleaned_before(raw, cutoff, rules)
    after = clean.filter(clean.invoice_date >= cleaning.midnight(cutoff))

    categorised = categorise(products(before), **categories)
    names = names_by_id(categorised.table)
    fitted = customer_features(before, categorised.table, len(names))
    groups = interest_groups(fitted, names, **interests)
    later_products = products(after)
    if later_products.empty:
        raise NotEnoughData(f"no transactions on or after {cutoff} to test on")
    later_products["category_id"] = categorised.model.predict(
        product_matrix(later_products, categorised.keywords.stems)
    )
    later = customer_features(after, later_products, len(names))
    later_truth = assign(groups, later)

    features = ["basket_mean", *share_columns(len(names))]
    x, y = groups.table[features].to_numpy(), groups.table["group_id"].to_numpy()
    if pd.Series(y).value_counts().min() < 2:
        raise NotEnoughData("an interest group has a single customer: too few to split")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=random_state
    )
    folds = max(2, min(5, int(pd.Series(y_train).value_counts().min())))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
    searches = tune(interest_candidates(random_state), x_train, y_train, splitter, n_jobs=2)
    fitted_models = {name: search.best_estimator_ for name, search in searches.items()}
    rows = [{"model": n, "cv_accuracy": float(s.best_score_)} for n, s in searches.items()]
    ranked = sorted(rows, key=lambda r: -r["cv_accuracy"])
    fitted_models["soft_voting"] = SoftVote([fitted_models[r["model"]] for r in ranked[:3]])
    rows.append({"model": "soft_voting", "cv_accuracy": np.nan})
    x_later = later[features].to_numpy()
    for row in rows:
        model = fitted_models[row["model"]]
        row["holdout_accuracy"] = float((model.predict(x_test) == y_test).mean())
        row["later_accuracy"] = float((model.predict(x_later) == later_truth).mean())
        row["reference_later_accuracy"] = REFERENCE.get(row["model"])
    kept = ranked[0]["model"]
    return InterestModels(
        scores=pd.DataFrame(rows),
        kept=fitted_models[kept],
        kept_name=kept,
        features=features,
        group_names=dict(
            zip(groups.profile["group_id"], groups.profile["group_name"], strict=True)
        ),
        fitted_customers=len(fitted),
        later_customers=len(later),
        last_fitted_transaction=last_fitted,
    )


def interest_card(result: InterestModels, cutoff: str) -> dict:
    """The interest classifier's model card: what it predicts from, its classes and scores."""
    return {
        "model": result.kept_name,
        "features": result.features,
        "classes": [{"group_id": int(g), "group_name": n} for g, n in result.group_names.items()],
        "metrics": result.scores.to_dict("records"),
        "cutoff": cutoff,
        "customers": {"fitted": result.fitted_customers, "later": result.later_customers},
    }
