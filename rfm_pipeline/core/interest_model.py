"""Predicting a customer's interest group from their purchases, tested on a later period.

The reference protocol: product categories, customer features and interest groups are fitted
on the invoices before a cut-off; classifiers are tuned by cross-validation on those customers
(80%, the rest held out). For the period from the cut-off on, each customer's features are
built from their invoices in that window (products first sold then are categorised by the
fitted product model) and every classifier's prediction is compared with the group the fitted
clustering gives. Features are the reference's: mean basket value and spend share per category.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    VotingClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rfm_pipeline.core import cleaning
from rfm_pipeline.core.categories import categorise, names_by_id, product_matrix, products
from rfm_pipeline.core.errors import NotEnoughData
from rfm_pipeline.core.interests import assign, customer_features, interest_groups, share_columns

REFERENCE = {"logistic_regression": None, "k_nearest_neighbours": None,
             "random_forest": 0.754, "gradient_boosting": None, "soft_voting": 0.755}  # fmt: skip
"""The reference's later-period accuracies that it published (others were not given)."""


def candidates(random_state: int) -> dict[str, tuple[object, dict]]:
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
    cutoff: dt.date,
    rules: cleaning.CleaningRules,
    categories: dict,
    interests: dict,
    random_state: int,
) -> InterestModels:
    """Fit everything on invoices before `cutoff`; score every model on the later customers.

    `categories` and `interests` are the keyword arguments of `categorise` and
    `interest_groups` that the main path used; `random_state` is the split's and the models'.
    """
    start = ibis.timestamp(dt.datetime.combine(cutoff, dt.time()))
    before = cleaning.clean_transactions(raw.filter(raw.invoice_date < start), rules).table
    after = cleaning.clean_transactions(raw, rules).table
    after = after.filter(after.invoice_date >= start)
    last_fitted = pd.Timestamp(before.invoice_date.max().execute())
    if last_fitted >= pd.Timestamp(cutoff):
        raise AssertionError(f"a transaction on or after {cutoff} was used for fitting")

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
    fitted_models, rows = {}, []
    for name, (estimator, grid) in candidates(random_state).items():
        search = GridSearchCV(estimator, grid, cv=splitter, scoring="accuracy", n_jobs=2)
        search.fit(x_train, y_train)
        fitted_models[name] = search.best_estimator_
        rows.append({"model": name, "cv_accuracy": float(search.best_score_)})
    ranked = sorted(rows, key=lambda r: -r["cv_accuracy"])
    voting = VotingClassifier([(r["model"], fitted_models[r["model"]]) for r in ranked[:3]],
                              voting="soft").fit(x_train, y_train)  # fmt: skip
    fitted_models["soft_voting"] = voting
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
        ),  # fmt: skip
        fitted_customers=len(fitted),
        later_customers=len(later),
        last_fitted_transaction=last_fitted,
    )
