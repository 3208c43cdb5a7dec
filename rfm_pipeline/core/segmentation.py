"""Clustering customers in a low-dimensional space of their scaled RFM features.

A sweep fits each algorithm for each k on the customers that are not outliers, scores every
solution (silhouette, Calinski-Harabasz, Davies-Bouldin) and keeps, per algorithm, the k with
the best silhouette. Outliers are then placed with the fitted models. Cluster ids are ordered
by the mean monetary value of their members (0 = lowest), so the same data gives the same ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.mixture import GaussianMixture

from rfm_pipeline.core.rfm import SCALED_COLUMNS

ALGORITHMS = ("kmeans", "gmm")


def make_clusterer(algorithm: str, k: int, random_state: int):
    """An unfitted clusterer with `fit` and `predict`."""
    if algorithm == "kmeans":
        return KMeans(n_clusters=k, random_state=random_state, n_init=10)
    if algorithm == "gmm":
        return GaussianMixture(n_components=k, random_state=random_state)
    raise ValueError(f"unknown algorithm '{algorithm}' (known: {', '.join(ALGORITHMS)})")


def score_labels(points: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Silhouette, Calinski-Harabasz and Davies-Bouldin of one solution, and its smallest share."""
    share = np.bincount(labels).min() / len(labels)
    if len(np.unique(labels)) < 2:
        return {"silhouette": np.nan, "calinski_harabasz": np.nan, "davies_bouldin": np.nan,
                "min_share": float(share)}  # fmt: skip
    return {
        "silhouette": float(silhouette_score(points, labels)),
        "calinski_harabasz": float(calinski_harabasz_score(points, labels)),
        "davies_bouldin": float(davies_bouldin_score(points, labels)),
        "min_share": float(share),
    }


def order_by_monetary(labels: np.ndarray, monetary: np.ndarray) -> dict[int, int]:
    """Cluster label -> id 0..k-1 by ascending mean monetary value of the cluster's members."""
    clusters = np.unique(labels)
    means = [monetary[labels == c].mean() for c in clusters]
    return {int(c): i for i, c in enumerate(clusters[np.argsort(means, kind="stable")])}


def relabel(labels: np.ndarray, order: dict[int, int]) -> np.ndarray:
    """Apply an ordering; labels it does not know come after it, in label order."""
    extra = {c: len(order) + i for i, c in enumerate(sorted(set(labels.tolist()) - set(order)))}
    return np.array([{**order, **extra}[int(c)] for c in labels], dtype="int64")


@dataclass
class Sweep:
    """Every (algorithm, k) solution's scores, and the fitted model of each algorithm's best k."""

    scores: pd.DataFrame
    best: dict[str, dict] = field(default_factory=dict)


def sweep(
    points: np.ndarray,
    ks: Sequence[int],
    algorithms: Sequence[str] = ALGORITHMS,
    random_state: int = 42,
) -> Sweep:
    """Fit each algorithm for each k; keep per algorithm the k with the highest silhouette."""
    rows, fitted = [], {}
    for algorithm in algorithms:
        for k in ks:
            if k >= len(points):
                continue
            model = make_clusterer(algorithm, k, random_state).fit(points)
            labels = model.predict(points)
            rows.append({"algorithm": algorithm, "k": k, **score_labels(points, labels)})
            fitted[algorithm, k] = model
    scores = pd.DataFrame(rows)
    if scores.empty:
        raise ValueError(f"too few customers ({len(points)}) to cluster into {min(ks)} groups")
    result = Sweep(scores=scores)
    for algorithm, group in scores.groupby("algorithm", sort=False):
        top = group.sort_values(["silhouette", "k"], ascending=[False, True]).iloc[0]
        k = int(top["k"])
        result.best[algorithm] = {"k": k, "silhouette": float(top["silhouette"]),
                                  "model": fitted[algorithm, k]}  # fmt: skip
    return result


@dataclass
class PcaSegmentation:
    """Each customer's place in PCA space and segment, with the sweep that chose it."""

    table: pd.DataFrame
    sweep: Sweep
    explained_variance: list[float]
    algorithm: str


def pca_segmentation(
    features: pd.DataFrame,
    ks: Sequence[int] = range(2, 11),
    algorithm: str | None = None,
    random_state: int = 42,
) -> PcaSegmentation:
    """The study's RFM I: PCA(2) of the scaled features, KMeans and GaussianMixture over k.

    Fitted on the customers that are not outliers; outliers are projected and assigned with
    the same models. `algorithm` picks the segmentation used downstream (default: the one
    with the highest silhouette).
    """
    features = features.sort_values("customer_id").reset_index(drop=True)
    inlier = ~features["is_outlier"].to_numpy()
    if inlier.sum() <= min(ks):
        return single_segment(features)
    scaled = features[list(SCALED_COLUMNS)].to_numpy()
    pca = PCA(n_components=2, random_state=random_state).fit(scaled[inlier])
    points = pca.transform(scaled)
    result = sweep(points[inlier], ks, random_state=random_state)
    monetary = features["monetary"].to_numpy()
    table = pd.DataFrame(
        {
            "customer_id": features["customer_id"],
            "is_outlier": features["is_outlier"],
            "pc1": points[:, 0],
            "pc2": points[:, 1],
        }
    )
    for name, best in result.best.items():
        labels = best["model"].predict(points)
        order = order_by_monetary(labels[inlier], monetary[inlier])  # on the fitted customers
        table[f"{name}_segment"] = relabel(labels, order)
    chosen = algorithm or max(result.best, key=lambda a: result.best[a]["silhouette"])
    if chosen not in result.best:
        raise ValueError(f"unknown algorithm '{chosen}' (known: {', '.join(result.best)})")
    table["segment_id"] = table[f"{chosen}_segment"]
    table["algorithm"] = chosen
    table["k"] = result.best[chosen]["k"]
    return PcaSegmentation(
        table=table,
        sweep=result,
        explained_variance=[float(v) for v in pca.explained_variance_ratio_],
        algorithm=chosen,
    )


def single_segment(features: pd.DataFrame) -> PcaSegmentation:
    """Everyone in segment 0: too few customers for any k of the sweep to mean anything."""
    table = features[["customer_id", "is_outlier"]].assign(
        pc1=np.nan, pc2=np.nan, segment_id=0, algorithm="single", k=1
    )
    return PcaSegmentation(
        table=table, sweep=Sweep(scores=pd.DataFrame()), explained_variance=[], algorithm="single"
    )
