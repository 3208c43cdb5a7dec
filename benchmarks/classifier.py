"""Classifier tuning on the bundled segments: a grid of the study's kind against ours.

The study tuned scikit-learn's GradientBoostingClassifier and a random forest over grids of
tree counts with 5-fold cross-validation; ours tunes two small grids in parallel. Both run on
the same `customer_segments` and `rfm_table` from the warehouse (`make run` first).
Run: `python -m benchmarks classifier [--repeats N] [--reference-repeats M]`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

import pandas as pd

from benchmarks.cleaning import peak_memory_mib
from rfm_pipeline.settings import warehouse_path


def data() -> pd.DataFrame:
    base = warehouse_path()
    segments = pd.read_parquet(f"{base}/customer_segments.parquet")
    return pd.read_parquet(f"{base}/rfm_table.parquet").merge(
        segments[["customer_id", "segment_id"]]
    )


def ours() -> dict:
    from rfm_pipeline.core.classifier import train_classifier

    frame = data()
    started = time.perf_counter()
    trained = train_classifier(frame, n_jobs=2)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "accuracy": trained.test["accuracy"], "peak_mib": peak_memory_mib()}


def grid_search(x, y) -> float:
    """The study-style grid on an 80 / 20 split; the best held-out accuracy."""
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.model_selection import GridSearchCV, train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=42
    )
    searches = [
        GridSearchCV(
            RandomForestClassifier(random_state=42),
            {"n_estimators": [20, 40, 60, 80, 100], "max_features": ["sqrt", "log2"]},
            cv=5,
        ),
        GridSearchCV(
            GradientBoostingClassifier(random_state=42),
            {"n_estimators": [20, 40, 60, 80, 100]},
            cv=5,
        ),
    ]
    return max(search.fit(x_train, y_train).score(x_test, y_test) for search in searches)


def reference() -> dict:
    frame = data()
    started = time.perf_counter()
    accuracy = grid_search(
        frame[["recency", "frequency", "monetary"]].to_numpy(), frame["segment_id"].to_numpy()
    )
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "accuracy": accuracy, "peak_mib": peak_memory_mib()}


def measure(side: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.classifier", side],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(repeats: int = 3, reference_repeats: int = 1) -> dict:
    runs: dict[str, list[dict]] = {"ours": [], "reference": []}
    for i in range(max(repeats, reference_repeats)):
        if i < reference_repeats:
            runs["reference"].append(measure("reference"))
        if i < repeats:
            runs["ours"].append(measure("ours"))
    ours_s = statistics.median(r["seconds"] for r in runs["ours"])
    ref_s = statistics.median(r["seconds"] for r in runs["reference"])
    return {
        "benchmark": "classifier tuning on the bundled customer segments",
        "ours_median_seconds": round(ours_s, 2),
        "reference_median_seconds": round(ref_s, 2),
        "speedup": round(ref_s / ours_s, 1),
        "ours_test_accuracy": round(runs["ours"][0]["accuracy"], 4),
        "reference_test_accuracy": round(runs["reference"][0]["accuracy"], 4),
        "ours_peak_mib": round(max(r["peak_mib"] for r in runs["ours"])),
        "reference_peak_mib": round(max(r["peak_mib"] for r in runs["reference"])),
        "targets": {"ours_seconds_at_most": 10},
        "runs": {"ours": len(runs["ours"]), "reference": len(runs["reference"])},
    }


if __name__ == "__main__":
    print(json.dumps(ours() if sys.argv[1] == "ours" else reference()))
