"""A classifier that assigns a customer's segment from RFM features (the study's part 6).

Stratified 80/20 split; a random forest and histogram gradient boosting, each tuned by 5-fold
cross-validation on a small grid; the better CV accuracy is kept and judged on the held-out
20%. The default features are recency, frequency and monetary, which define the segments;
tenure and average order value are available but shift for new customers (tenure is short by
definition), so they are opt-in.
"""

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
    rows, searches = [], {}
    for name, (estimator, grid) in candidates(random_state).items():
        search = GridSearchCV(estimator, grid, cv=splitter, scoring="accuracy", n_jobs=n_jobs)
        searches[name] = search.fit(x_train, y_train)
        rows.append({"candidate": name, "params": str(search.best_params_),
                     "cv_accuracy": float(search.best_score_)})  # fmt: skip
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
        report=segment_report(y_test, predicted),
        confusion=pd.DataFrame(
            confusion_matrix(y_test, predicted, labels=labels), index=labels, columns=labels
        ),
        train_customers=len(y_train),
    )


def segment_report(truth: np.ndarray, predicted: np.ndarray) -> pd.DataFrame:
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
