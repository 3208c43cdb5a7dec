"""The whole `rfm-pipeline run` on the bundled data, cold and warm, beside the study's steps.

Ours: the command in a fresh process with a warehouse, a Dagster instance and a numba cache of
its own; the first run is cold (numba compiles UMAP's functions and caches them), the next ones
warm (the cache is in place). Reference: the study's steps back to back in one process, as the
study wrote them: the row-loop cleaning (`study_cleaning.py`), RFM with pandas, the PCA sweep
(KMeans and Gaussian mixtures, k = 2..10, silhouette each), t-SNE (perplexity 50) with KMeans,
Gaussian mixtures and agglomerative clustering for k = 3..8, and the classifier grid search of
`benchmarks/classifier.py`. Each reports wall time and peak memory.
Run: `python -m benchmarks whole [--repeats N] [--reference-repeats M]`.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.cleaning import peak_memory_mib
from rfm_pipeline.settings import BUNDLED_INPUT


def reference() -> dict:
    import numpy as np
    from sklearn.cluster import AgglomerativeClustering, KMeans
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.metrics import silhouette_score
    from sklearn.mixture import GaussianMixture
    from sklearn.preprocessing import StandardScaler

    from benchmarks.classifier import grid_search
    from benchmarks.study_cleaning import study_clean

    seconds = {}
    started = time.perf_counter()
    clean = study_clean(str(BUNDLED_INPUT))
    seconds["cleaning"] = time.perf_counter() - started

    mark = time.perf_counter()
    clean["TotalPrice"] = clean["UnitPrice"] * (clean["Quantity"] - clean["QuantityCanceled"])
    as_of = clean["InvoiceDate"].max().normalize() + np.timedelta64(1, "D")
    rfm = clean.groupby("CustomerID").agg(
        recency=("InvoiceDate", lambda d: (as_of - d.max()).days),
        frequency=("InvoiceNo", "nunique"),
        monetary=("TotalPrice", "sum"),
    )
    kept = rfm[
        (rfm["frequency"] <= rfm["frequency"].quantile(0.95))
        & (rfm["monetary"] <= rfm["monetary"].quantile(0.95))
    ]
    scaled = StandardScaler().fit_transform(kept)
    seconds["rfm"] = time.perf_counter() - mark

    def sweep(points, ks, algorithms):
        for k in ks:
            for make in algorithms:
                silhouette_score(points, make(k).fit_predict(points))

    kmeans = lambda k: KMeans(n_clusters=k, random_state=42, n_init=10)  # noqa: E731
    gmm = lambda k: GaussianMixture(n_components=k, random_state=42)  # noqa: E731
    ward = lambda k: AgglomerativeClustering(n_clusters=k)  # noqa: E731
    mark = time.perf_counter()
    sweep(PCA(n_components=2).fit_transform(scaled), range(2, 11), [kmeans, gmm])
    seconds["pca_sweep"] = time.perf_counter() - mark

    mark = time.perf_counter()
    tsne = TSNE(n_components=2, perplexity=50, random_state=100).fit_transform(scaled)
    sweep(tsne, range(3, 9), [kmeans, gmm, ward])
    seconds["tsne_sweep"] = time.perf_counter() - mark

    mark = time.perf_counter()
    labels = KMeans(n_clusters=7, random_state=42, n_init=10).fit_predict(tsne)
    grid_search(kept.to_numpy(), labels)
    seconds["classifier_grid"] = time.perf_counter() - mark
    return {
        "seconds": time.perf_counter() - started,
        "step_seconds": {name: round(value, 1) for name, value in seconds.items()},
        "peak_mib": peak_memory_mib(),
    }


STUDY_STEPS = (
    "raw_transactions",
    "clean_transactions",
    "rfm_table",
    "rfm_features",
    "pca_segmentation",
    "tsne_segmentation",
    "segment_classifier",
)
"""Our steps that do what the reference does: read and clean, RFM, PCA and t-SNE sweeps, the
classifier."""


def ours(folder: Path) -> dict:
    """`rfm-pipeline run` in a fresh process; its own instance, warehouse and numba cache.

    Besides the wall time, each step's duration from the lines the command prints as it runs.
    """
    env = {
        **os.environ,
        "DAGSTER_HOME": str(folder / "dagster_home"),
        "NUMBA_CACHE_DIR": str(folder / "numba_cache"),
    }
    command = [
        sys.executable,
        "-m",
        "rfm_pipeline.cli",
        "run",
        "--warehouse",
        str(folder / "warehouse"),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    steps = {
        parts[1]: float(parts[2])
        for parts in (line.split() for line in done.stdout.splitlines())
        if len(parts) == 4 and parts[0] == "done" and parts[3] == "s"
    }
    study = sum(steps.get(name, 0.0) for name in STUDY_STEPS)
    return {"seconds": seconds, "peak_mib": peak, "steps": steps, "study_steps_seconds": study}


def measure_reference() -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.whole", "reference"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(repeats: int = 3, reference_repeats: int = 1) -> dict:
    """A cold run, then `repeats` warm runs alternating with the reference."""
    warm, references = [], []
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as scratch:
        folder = Path(scratch)
        cold = ours(folder)
        print(json.dumps({"cold": cold}), flush=True)
        for i in range(max(repeats, reference_repeats)):
            if i < reference_repeats:
                references.append(measure_reference())
                print(json.dumps({"reference": references[-1]}), flush=True)
            if i < repeats:
                warm.append(ours(folder))
                print(json.dumps({"warm": warm[-1]}), flush=True)
    warm_s = statistics.median(r["seconds"] for r in warm)
    same_s = statistics.median(r["study_steps_seconds"] for r in warm)
    ref_s = statistics.median(r["seconds"] for r in references)
    return {
        "benchmark": "whole run on the bundled data, cold and warm, beside the study's steps",
        "cold_seconds": round(cold["seconds"], 1),
        "warm_median_seconds": round(warm_s, 1),
        "study_steps_median_seconds": round(ref_s, 1),
        "study_step_seconds": references[0]["step_seconds"],
        "speedup_warm": round(ref_s / warm_s, 2),
        "warm_study_steps_seconds": round(same_s, 1),
        "speedup_on_the_study_steps": round(ref_s / same_s, 2),
        "warm_step_seconds": warm[len(warm) // 2]["steps"],
        "ours_peak_mib": round(max(r["peak_mib"] for r in [cold, *warm])),
        "reference_peak_mib": round(max(r["peak_mib"] for r in references)),
        "targets": {"warm_seconds_at_most": 60, "speedup_at_least": 4},
        "runs": {"warm": len(warm), "reference": len(references)},
    }


if __name__ == "__main__":
    print(json.dumps(reference()))
