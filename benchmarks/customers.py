"""The customer-level stages on a million synthetic customers, in one process.

The customers are drawn from the bundled customers' RFM (`data/warehouse/rfm_table.parquet`,
`make run` first) with noise: recency shifted by up to a week, frequency and monetary scaled by
a log-normal factor. Then, timed one by one as the assets run them: the features (scaling and
outliers), the UMAP segmentation (UMAP fitted on a sample, `transform` for everyone else; the
four clusterers over k = 3..8 fitted and scored on the sample; everyone assigned), the choice
of segments with names, and the classifier (tuned on a stratified sample).

Agreement: the sampled customers' segments from the fit against the segments the fitted model
gives them through the path everyone else takes (`transform`, then `predict` or the nearest
fitted customer), and each segment's share of the sample against its share of the other
customers who are not outliers (outliers are held out of any fit and lean to the top segment).
Run: `python -m benchmarks customers [--customers N]`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pandas as pd

from benchmarks.cleaning import peak_memory_mib
from rfm_pipeline.settings import warehouse_path

SAMPLE_SIZE = 10_000
"""The defaults of `SweepConfig.sample_size` and `ClassifierConfig.sample_size`."""
CLASSIFIER_SAMPLE = 50_000


def synthetic(customers: int, seed: int = 0) -> pd.DataFrame:
    """`customers` rows shaped like `rfm_table`, drawn from the bundled customers."""
    base = pd.read_parquet(f"{warehouse_path()}/rfm_table.parquet")
    rng = np.random.default_rng(seed)
    drawn = base.iloc[rng.integers(0, len(base), customers)].reset_index(drop=True)
    noise = rng.lognormal(0.0, 0.1, size=(customers, 2))
    return pd.DataFrame(
        {
            "customer_id": [f"s{i:07d}" for i in range(customers)],
            "recency": (drawn["recency"] + rng.integers(0, 8, customers)).astype("int64"),
            "frequency": np.maximum(1, np.round(drawn["frequency"] * noise[:, 0])).astype("int64"),
            "monetary": (drawn["monetary"] * noise[:, 1]).round(2),
            "tenure_days": drawn["tenure_days"].astype("int64"),
            "avg_order_value": drawn["avg_order_value"],
        }
    )


def run_stages(customers: int) -> dict:
    from rfm_pipeline.core import naming, rfm, segments
    from rfm_pipeline.core.classifier import train_classifier
    from rfm_pipeline.core.spaces import segment

    table = synthetic(customers)
    seconds = {}
    started = time.perf_counter()
    features = rfm.rfm_features(table)
    seconds["features"] = time.perf_counter() - started

    mark = time.perf_counter()
    result = segment(
        features.table,
        "umap",
        range(3, 9),
        ["kmeans", "gmm", "agglomerative", "hdbscan"],
        min_share=0.02,
        random_state=42,
        sample_size=SAMPLE_SIZE,
    )
    seconds["umap_segmentation"] = time.perf_counter() - mark

    mark = time.perf_counter()
    gap = naming.usual_gap(table, segments.horizon_days(None))
    segments = segments.customer_segments(
        features.table, result.table, "umap", result.algorithm, gap
    )
    seconds["customer_segments"] = time.perf_counter() - mark

    mark = time.perf_counter()
    labelled = table.merge(segments[["customer_id", "segment_id"]])
    trained = train_classifier(labelled, n_jobs=2, sample_size=CLASSIFIER_SAMPLE)
    seconds["segment_classifier"] = time.perf_counter() - mark
    total = time.perf_counter() - started

    ordered = features.table.sort_values("customer_id").reset_index(drop=True)
    fitted = result.embedding.fitted
    scaled = ordered[[f"{c}_scaled" for c in rfm.RFM_COLUMNS]].to_numpy()
    placed = result.place(scaled[fitted])
    own = result.table["segment_id"].to_numpy()[fitted]
    sample_shares = pd.Series(own).value_counts(normalize=True)
    rest = result.table[~fitted & ~result.table["is_outlier"].to_numpy()]
    rest_shares = rest["segment_id"].value_counts(normalize=True)
    return {
        "customers": customers,
        "fitted_on": int(fitted.sum()),
        "algorithm": result.algorithm,
        "k": int(result.table["k"].iloc[0]),
        "seconds": round(total, 1),
        "stage_seconds": {name: round(value, 1) for name, value in seconds.items()},
        "peak_mib": round(peak_memory_mib()),
        "sample_agreement": round(float((placed == own).mean()), 4),
        "largest_share_difference": round(float((sample_shares - rest_shares).abs().max()), 4),
        "classifier": trained.name,
        "classifier_test_accuracy": round(trained.test["accuracy"], 4),
    }


def run(repeats: int = 1, reference_repeats: int = 0, customers: int = 1_000_000) -> dict:
    """Each repeat in its own process, so its peak memory is its own."""
    runs = []
    for _ in range(max(repeats, 1)):
        command = [sys.executable, "-m", "benchmarks.customers", str(customers)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(runs[-1]), flush=True)
    median = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    return {
        "benchmark": "customer-level stages on synthetic customers",
        "targets": {"seconds_at_most": 300, "peak_mib_at_most": 8 * 1024},
        "median_run": median,
        "runs": len(runs),
    }


if __name__ == "__main__":
    print(json.dumps(run_stages(int(sys.argv[1]))))
