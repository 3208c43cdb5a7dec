"""What customers buy: interest groups from spend per product category and basket statistics.

Each customer is described by the share of their spend in each product category and by their
number of invoices and minimum, maximum and mean basket value (the reference analysis's
features); standardised, then grouped with KMeans, k chosen by silhouette. A group is named
by the category whose share in it is furthest above the average, and by its basket size.

Then the classifier that predicts a new customer's interest group from their first purchases,
fitted before a cut-off and tested on the customers of the later period (the reference
protocol: `evaluate_interest_models`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rfm_pipeline.core import cleaning
from rfm_pipeline.core.categories import categorise, names_by_id, product_matrix, products
from rfm_pipeline.core.classifier import tune
from rfm_pipeline.core.engine import exact_mean, exact_sum
from rfm_pipeline.core.errors import NotEnoughData
from rfm_pipeline.core.spaces import kmeans_sweep

BASKET_COLUMNS = ("invoices", "basket_min", "basket_max", "basket_mean")


def share_columns(categories: int) -> list[str]:
    return [f"share_{c}" for c in range(categories)]


def customer_features(clean: ir.Table, categories: pd.DataFrame, k: int) -> pd.DataFrame:
    """Per customer: invoices, basket min / max / mean, and spend share per category, for
    each of the `k` categories (0 where a customer, or every customer, bought none of it).

    The aggregation runs on the engine; only one row per customer comes back.
    """
    lookup = ibis.memtable(categories[["stock_code", "category_id"]])
    lines = clean.join(lookup, "stock_code")
    baskets = lines.group_by(["customer_id", "invoice_no"]).aggregate(
        value=exact_sum(lines.total_price)
    )
    per_customer = baskets.group_by("customer_id").aggregate(
        invoices=baskets.count(),
        basket_min=baskets.value.min(),
        basket_max=baskets.value.max(),
        basket_mean=exact_mean(baskets.value),
    )
    spend, total = lines.total_price, exact_sum(lines.total_price)
    shares = lines.group_by("customer_id").aggregate(
        **{
            f"share_{c}": (exact_sum(spend, lines.category_id == c) / total.nullif(0)).fill_null(0)
            for c in range(k)
        }
    )
    frame = per_customer.join(shares, "customer_id").order_by("customer_id").execute()
    frame[share_columns(k)] = frame[share_columns(k)].fillna(0.0)
    return frame.reset_index(drop=True)


@dataclass
class InterestGroups:
    """Each customer's interest group, the sweep that chose k, and the fitted scaler and model."""

    table: pd.DataFrame  # customer_id, features..., group_id, group_name
    sweep: pd.DataFrame  # k, silhouette, chosen
    profile: pd.DataFrame  # per group: customers, mean shares and basket statistics
    scaler: StandardScaler
    model: KMeans
    columns: list[str]


def interest_groups(
    features: pd.DataFrame,
    category_names: dict[int, str],
    ks: Sequence[int] = range(4, 13),
    random_state: int = 42,
) -> InterestGroups:
    """Standardise the features, sweep KMeans over k, keep the best silhouette; name groups."""
    features = features.sort_values("customer_id").reset_index(drop=True)
    columns = [*BASKET_COLUMNS, *share_columns(len(category_names))]
    scaler = StandardScaler().fit(features[columns])
    points = scaler.transform(features[columns])
    sweep, model = kmeans_sweep(points, ks, random_state, what="customers")
    table = features.assign(group_id=model.labels_.astype("int64"))
    profile = (
        table.groupby("group_id")[columns].mean().assign(customers=table.groupby("group_id").size())
    )
    names = group_names(profile, features, category_names)
    table["group_name"] = table["group_id"].map(names)
    profile = profile.assign(group_name=profile.index.map(names)).reset_index()
    return InterestGroups(table, sweep, profile, scaler, model, columns)


def group_names(
    profile: pd.DataFrame, features: pd.DataFrame, category_names: dict[int, str]
) -> dict[int, str]:
    """ "<category> buyers, <small|medium|large> baskets" by the category bought most above the
    average; a group whose name is taken names its next category too ("<a> and <b> buyers")."""
    shares = profile[share_columns(len(category_names))]
    lift = shares / features[shares.columns].mean().replace(0, np.nan)
    low, high = features["basket_mean"].quantile([1 / 3, 2 / 3])
    names: dict[int, str] = {}
    for group in profile.sort_values("customers", ascending=False).index:
        order = np.argsort(-lift.loc[group].fillna(0).to_numpy(), kind="stable")
        basket = profile.loc[group, "basket_mean"]
        size = "small" if basket < low else "large" if basket > high else "medium"
        first = category_names[int(order[0])]
        candidates = [first] + [f"{first} and {category_names[int(c)]}" for c in order[1:]]
        taken = set(names.values())
        buyers = next(
            (c for c in candidates if f"{c} buyers, {size} baskets" not in taken),
            f"{candidates[-1]} (group {group})",
        )
        names[int(group)] = f"{buyers} buyers, {size} baskets"
    return names


def assign(groups: InterestGroups, features: pd.DataFrame) -> np.ndarray:
    """Interest group of other customers (a later period), with the fitted scaler and model."""
    return groups.model.predict(groups.scaler.transform(features[groups.columns]))


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
