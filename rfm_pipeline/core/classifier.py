"""A classifier that assigns a customer's segment from RFM features (the study's part 6).

Stratified 80/20 split; a random forest and histogram gradient boosting, each tuned by 5-fold
cross-validation on a small grid; the better CV accuracy is kept and judged on the held-out
20%. The default features are recency, frequency and monetary, which define the segments;
tenure and average order value are available but shift for new customers (tenure is short by
definition), so they are opt-in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from upath import UPath

from rfm_pipeline.core import cleaning, ingest, rfm
from rfm_pipeline.core.engine import connect
from rfm_pipeline.core.model_files import SavedModel, load_model

if TYPE_CHECKING:
    from rfm_pipeline.core.value import ValueModel

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
    trained: TrainedClassifier, segmented: pd.DataFrame, as_of: str, cleaning_rules: dict
) -> dict:
    """What a saved classifier is: model, features, classes with names and strategies, the
    segmentation it learned, its scores, the as-of date and the cleaning its data had."""
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


COLUMNS = [
    "customer_id",
    "segment_id",
    "segment_name",
    "strategy",
    "probability",
    "recency",
    "frequency",
    "monetary",
    "reason",
]


def predict_segments(
    transactions: pd.DataFrame,
    as_of: dt.date | str | None = None,
    model_path: str | Path | None = None,
    column_map: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Segments for the customers in a frame of transactions (source column names), and the
    forecast's probability of buying and expected spend when it has been saved beside it.

    Uses the classifier saved by the last run (`<warehouse>/segment_classifier.skops` unless
    `model_path` says otherwise); the frame goes through the same ingestion and cleaning.
    """
    from rfm_pipeline.core.value import FILES, load_value_model
    from rfm_pipeline.settings import warehouse_path

    path = UPath(model_path or UPath(warehouse_path()) / "segment_classifier.skops")
    saved_forecast = path.parent / f"{FILES['learned']}.skops"
    value = load_value_model(path.parent) if saved_forecast.exists() else None
    con = connect()
    source = ingest.frame_source(con, transactions)
    raw = ingest.canonical_log(source, "transactions", column_map).table
    as_of = dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    return score_customers(raw, load_model(path), as_of, value=value)


def score_file(
    con: ibis.BaseBackend,
    path: str | Path,
    saved: SavedModel,
    as_of: dt.date | None = None,
    value: ValueModel | None = None,
    **reading: object,
) -> pd.DataFrame:
    """Segments (and with `value` the forecast) for the customers in a transactions file, read
    like `run` reads its input."""
    raw = ingest.read_transactions(con, path, **reading)
    return score_customers(raw, saved, as_of, value=value)


def score_customers(
    raw: ir.Table,
    saved: SavedModel,
    as_of: dt.date | None = None,
    rules: cleaning.CleaningRules | None = None,
    value: ValueModel | None = None,
) -> pd.DataFrame:
    """One row per customer in `raw` (canonical schema): segment and probability, or a reason;
    with `value` (the saved forecast), also `p_active` and the expected spend.

    The lines are cleaned with `rules`, by default the rules the model's training data was
    cleaned with (its card's `cleaning_rules`)."""
    rules = rules or cleaning.CleaningRules(**saved.card.get("cleaning_rules", {}))
    clean = cleaning.clean_transactions(raw, rules).table
    if clean.count().execute():
        as_of = as_of or rfm.default_as_of(clean)
        table = rfm.rfm_table(clean, as_of).execute()
    else:
        table = pd.DataFrame(columns=["customer_id", *rfm.RFM_COLUMNS])
    scored = table.assign(**_predict(saved, table))
    unscored = reasons(cleaning.flag_lines(raw, rules), set(table["customer_id"]), as_of)
    table = pd.concat([scored, unscored], ignore_index=True)[COLUMNS]
    if value is not None:
        table = table.merge(_forecast(value, clean, as_of, table), on="customer_id", how="left")
    counts = {c: "Int64" for c in ("segment_id", "recency", "frequency")}
    return table.astype(counts).sort_values("customer_id", ignore_index=True)


def _forecast(value: ValueModel, clean: ir.Table, as_of: dt.date | None, table: pd.DataFrame):
    """The forecast's probability of buying and expected spend, for the scored customers."""
    spend = f"expected_spend_{value.settings.horizon_days}d"
    if table["segment_id"].isna().all():
        return pd.DataFrame(columns=["customer_id", "p_active", spend])
    return value.forecast(clean, as_of)[["customer_id", "p_active", spend]]


def _predict(saved: SavedModel, table: pd.DataFrame) -> dict[str, object]:
    if table.empty:
        return {c: pd.Series(dtype="object") for c in COLUMNS if c not in table.columns}
    features = saved.card.get("features", list(rfm.RFM_COLUMNS))
    probabilities = saved.model.predict_proba(table[features].to_numpy(dtype="float64"))
    classes = saved.model.classes_
    segment = classes[np.argmax(probabilities, axis=1)]
    named = {c["segment_id"]: c for c in saved.card.get("classes", [])}
    return {
        "segment_id": segment.astype("int64"),
        "segment_name": [named.get(int(s), {}).get("segment_name") for s in segment],
        "strategy": [named.get(int(s), {}).get("strategy") for s in segment],
        "probability": probabilities.max(axis=1).round(4),
        "reason": None,
    }


def reasons(lines: ir.Table, scored: set[str], as_of: dt.date | None) -> pd.DataFrame:
    """Why each customer with lines in the log got no RFM row."""
    customers = lines.filter(lines.customer_id.notnull())
    cutoff = dt.datetime.combine(as_of, dt.time()) if as_of else None
    kept = customers.dropped_by.isnull()
    per_customer = (
        customers.group_by("customer_id")
        .aggregate(
            lines=customers.count(),
            cancellations=(customers.dropped_by == "cancellation").sum(),
            kept=kept.sum(),
            kept_before=(kept & (customers.invoice_date < cutoff)).sum() if cutoff else kept.sum(),
        )
        .execute()
    )
    missing = per_customer[~per_customer["customer_id"].isin(scored)]
    return pd.DataFrame(
        {
            "customer_id": missing["customer_id"],
            "reason": [_reason(row) for row in missing.itertuples()],
        }
    )


def _reason(row) -> str:
    if row.cancellations == row.lines:
        return "only cancellations"
    if row.kept and not row.kept_before:
        return "no transactions before the as-of date"
    return "no valid purchase lines (duplicates, non-product codes or non-positive prices)"
