"""A classifier that assigns a customer's segment from RFM features (the study's part 6).

Stratified 80/20 split; a random forest and histogram gradient boosting, each tuned by 5-fold
cross-validation on a small grid; the better CV accuracy is kept and judged on the held-out
20%. The default features are recency, frequency and monetary, which define the segments;
tenure and average order value are available but shift for new customers (tenure is short by
definition), so they are opt-in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split

FEATURES = ("recency", "frequency", "monetary")


def candidates(random_state: int) -> dict[str, tuple[object, dict]]:
    """Each candidate estimator with its grid: small, so tuning stays a few seconds."""
    return {
        "random_forest": (
            RandomForestClassifier(n_estimators=100, random_state=random_state),
            {"min_samples_leaf": [1, 3]},
        ),
        "gradient_boosting": (
            HistGradientBoostingClassifier(
                max_leaf_nodes=15, random_state=random_state, early_stopping=False
            ),
            {"learning_rate": [0.1, 0.3]},
        ),
    }


@dataclass
class TrainedClassifier:
    """The kept model and how it and the other candidates did."""

    model: object
    name: str
    params: dict
    features: list[str]
    cv: pd.DataFrame  # candidate, params, cv_accuracy
    test: dict[str, float]  # accuracy, macro_f1, customers
    report: pd.DataFrame  # per segment: precision, recall, f1, support
    confusion: pd.DataFrame  # true segment x predicted segment
    train_customers: int


def train_classifier(
    data: pd.DataFrame,
    features: Sequence[str] = FEATURES,
    target: str = "segment_id",
    random_state: int = 42,
    test_size: float = 0.2,
    folds: int = 5,
    n_jobs: int | None = None,
    sample_size: int | None = None,
) -> TrainedClassifier:
    """Tune the candidates by stratified CV on 80%, keep the best, score it on the other 20%.

    With too few customers per segment to stratify (or a single segment) the model is the
    majority class, and the metrics say so (NaN). Above `sample_size` customers, a stratified
    random sample of that size is used.
    """
    data = data.sort_values("customer_id").reset_index(drop=True)
    if sample_size is not None and len(data) > sample_size:
        data = train_test_split(
            data, train_size=sample_size, stratify=data[target], random_state=random_state
        )[0].sort_values("customer_id", ignore_index=True)
    x, y = data[list(features)].to_numpy(dtype="float64"), data[target].to_numpy()
    counts = pd.Series(y).value_counts()
    folds = min(folds, int(counts.min() * (1 - test_size))) if len(counts) > 1 else 0
    if folds < 2:
        return _majority(x, y, list(features))
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, stratify=y, random_state=random_state
    )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
    searches = tune(candidates(random_state), x_train, y_train, splitter, n_jobs)
    rows = [
        {"candidate": n, "params": str(s.best_params_), "cv_accuracy": float(s.best_score_)}
        for n, s in searches.items()
    ]
    cv = pd.DataFrame(rows).sort_values("cv_accuracy", ascending=False, kind="stable")
    best = searches[cv.iloc[0]["candidate"]]
    predicted = best.predict(x_test)
    labels = np.unique(y)
    return TrainedClassifier(
        model=best.best_estimator_,
        name=str(cv.iloc[0]["candidate"]),
        params=best.best_params_,
        features=list(features),
        cv=cv.reset_index(drop=True),
        test={
            "accuracy": float(accuracy_score(y_test, predicted)),
            "macro_f1": float(f1_score(y_test, predicted, average="macro")),
            "customers": len(y_test),
        },
        report=per_segment_scores(y_test, predicted),
        confusion=pd.DataFrame(
            confusion_matrix(y_test, predicted, labels=labels), index=labels, columns=labels
        ),
        train_customers=len(y_train),
    )


def tune(
    estimators: dict[str, tuple[object, dict]],
    x: np.ndarray,
    y: np.ndarray,
    splitter: StratifiedKFold,
    n_jobs: int | None = None,
) -> dict[str, GridSearchCV]:
    """Each candidate (estimator, grid) tuned for accuracy by cross-validation on (x, y)."""
    return {
        name: GridSearchCV(estimator, grid, cv=splitter, scoring="accuracy", n_jobs=n_jobs).fit(
            x, y
        )
        for name, (estimator, grid) in estimators.items()
    }


def model_card(
    trained: TrainedClassifier,
    segmented: pd.DataFrame,
    as_of: str,
    cleaning_rules: dict,
    settings: dict,
) -> dict:
    """What a saved classifier is: model, features, classes with names and strategies, the
    segmentation it learned, its scores, the as-of date, the cleaning its data had and the
    settings it was trained with (`train_classifier`'s, for a refit before a cut-off)."""
    classes = segmented[["segment_id", "segment_name", "strategy"]].drop_duplicates()
    chosen = segmented.iloc[0]
    return {
        "model": trained.name,
        "params": trained.params,
        "features": trained.features,
        "classes": classes.sort_values("segment_id").to_dict("records"),
        "segmentation": {"embedding": chosen["embedding"], "algorithm": chosen["algorithm"]},
        "metrics": {"cv": trained.cv.to_dict("records"), "test": trained.test},
        "as_of": as_of,
        "cleaning_rules": cleaning_rules,
        "settings": settings,
        "customers": {"trained": trained.train_customers, "tested": trained.test["customers"]},
    }


def per_segment_scores(truth: np.ndarray, predicted: np.ndarray) -> pd.DataFrame:
    """Precision, recall, F1 and support per segment."""
    report = classification_report(truth, predicted, output_dict=True, zero_division=0)
    rows = [
        {"segment_id": int(label), **{k: float(v) for k, v in values.items()}}
        for label, values in report.items()
        if label.lstrip("-").isdigit()
    ]
    return pd.DataFrame(rows).rename(columns={"f1-score": "f1"})


def _majority(x: np.ndarray, y: np.ndarray, features: list[str]) -> TrainedClassifier:
    model = DummyClassifier(strategy="most_frequent").fit(x, y)
    return TrainedClassifier(
        model=model,
        name="majority",
        params={},
        features=features,
        cv=pd.DataFrame(columns=["candidate", "params", "cv_accuracy"]),
        test={"accuracy": float("nan"), "macro_f1": float("nan"), "customers": 0},
        report=pd.DataFrame(columns=["segment_id", "precision", "recall", "f1", "support"]),
        confusion=pd.DataFrame(),
        train_customers=len(y),
    )
