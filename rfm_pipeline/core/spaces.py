"""Customer spaces and their clusterings: PCA, UMAP and t-SNE embeddings of the scaled RFM
features, each swept over clustering algorithms and k, every customer placed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from tempfile import TemporaryDirectory

import numpy as np
import pandas as pd
from joblib import Memory
from sklearn.cluster import HDBSCAN, AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    pairwise_distances,
    silhouette_score,
)
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import threadpool_limits

from rfm_pipeline.core.errors import NotEnoughData
from rfm_pipeline.core.rfm import RFM_COLUMNS, SCALED_COLUMNS

SPACES = ("pca", "umap", "tsne")

one_thread = threadpool_limits.wrap(limits=1)
"""For the sweeps: their data is small (at most `sample_size` customers, or a shop's products),
and on it OpenMP's and BLAS's threads cost more than they save (BENCHMARKS.md §4). The labels
and scores are the same on any number of threads."""


SPACE_NAMES = {"pca": "PCA", "umap": "UMAP", "tsne": "t-SNE"}


@dataclass
class Embedding:
    """Positions of all customers (NaN where the method cannot place one), the mask of those
    it was fitted on, and the fitted model."""

    space: str
    points: np.ndarray
    fitted: np.ndarray
    model: object = None
    info: dict = field(default_factory=dict)

    @property
    def placed(self) -> np.ndarray:
        return ~np.isnan(self.points).any(axis=1)


def embed(
    space: str, scaled: np.ndarray, fit_on: np.ndarray, random_state: int, **options: float
) -> Embedding:
    """Fit the `space` embedding on `scaled[fit_on]` and place whom it can."""
    if space == "pca":
        model = PCA(n_components=2, random_state=random_state).fit(scaled[fit_on])
        variance = [float(v) for v in model.explained_variance_ratio_]
        info = {"explained_variance_ratio": variance}
        return Embedding(space, model.transform(scaled), fit_on, model, info)
    if space == "umap":
        # imported here: it compiles with numba, seconds no other asset should pay
        from rfm_pipeline.core.umap_model import fit_umap

        n_neighbors = int(options.get("n_neighbors", 15))
        min_dist = float(options.get("min_dist", 0.1))
        model = fit_umap(scaled[fit_on], n_neighbors, min_dist, random_state)
        points = np.full((len(scaled), 2), np.nan)
        points[fit_on] = model.embedding_
        if (~fit_on).any():
            points[~fit_on] = model.transform(scaled[~fit_on])
        return Embedding(space, points, fit_on, model)
    if space == "tsne":
        perplexity = min(float(options.get("perplexity", 50)), (fit_on.sum() - 1) / 3)
        model = TSNE(n_components=2, perplexity=perplexity, random_state=random_state)
        points = np.full((len(scaled), 2), np.nan)
        points[fit_on] = model.fit_transform(scaled[fit_on])
        return Embedding(space, points, fit_on, None, {"perplexity": perplexity})
    raise ValueError(f"unknown embedding '{space}' (known: {', '.join(SPACES)})")


ALGORITHMS = ("kmeans", "gmm", "agglomerative", "hdbscan")


def make_clusterer(algorithm: str, k: int, random_state: int, trees: Memory | None = None):
    """An unfitted clusterer for k segments (HDBSCAN: k is the smallest segment's size).
    `trees` keeps Ward's tree of the points, so that each k after the first only cuts it."""
    if algorithm == "kmeans":
        return KMeans(n_clusters=k, random_state=random_state, n_init=10)
    if algorithm == "gmm":
        return GaussianMixture(n_components=k, random_state=random_state)
    if algorithm == "agglomerative":
        return AgglomerativeClustering(n_clusters=k, linkage="ward", memory=trees)
    if algorithm == "hdbscan":
        return HDBSCAN(min_cluster_size=k, copy=True)
    raise ValueError(f"unknown algorithm '{algorithm}' (known: {', '.join(ALGORITHMS)})")


def fit_labels(
    algorithm: str, k: int, points: np.ndarray, random_state: int, trees: Memory | None = None
):
    """Fit and label; HDBSCAN's noise points join the segment of their nearest labelled point."""
    model = make_clusterer(algorithm, k, random_state, trees)
    labels = model.fit_predict(points)
    noise = labels < 0
    if noise.any() and not noise.all():
        labels[noise] = nearest_label(points[~noise], labels[~noise], points[noise])
    return model, labels


def nearest_label(known: np.ndarray, labels: np.ndarray, new: np.ndarray) -> np.ndarray:
    """The label of each new point's nearest known point."""
    return KNeighborsClassifier(n_neighbors=1).fit(known, labels).predict(new)


PRECOMPUTED_UP_TO = 10_000
"""A sweep over at most this many points (the default `sample_size`) works out every pair's
distance once (800 MB at most) for all its silhouettes, instead of once per solution."""


class Silhouette:
    """The silhouette of any labelling of the same points: a sweep scores many."""

    def __init__(self, points: np.ndarray):
        self.points = points
        self.distances = pairwise_distances(points) if len(points) <= PRECOMPUTED_UP_TO else None

    def __call__(self, labels: np.ndarray) -> float:
        if self.distances is None:
            return float(silhouette_score(self.points, labels))
        return float(silhouette_score(self.distances, labels, metric="precomputed"))


def score_labels(
    points: np.ndarray, labels: np.ndarray, silhouette: Silhouette
) -> dict[str, float]:
    """Silhouette, Calinski-Harabasz and Davies-Bouldin of one solution, and its smallest share."""
    counts = np.unique(labels, return_counts=True)[1]
    scores = {"min_share": float(counts.min() / len(labels))}
    if len(counts) < 2:
        return {
            "silhouette": np.nan,
            "calinski_harabasz": np.nan,
            "davies_bouldin": np.nan,
            **scores,
        }
    return {
        "silhouette": silhouette(labels),
        "calinski_harabasz": float(calinski_harabasz_score(points, labels)),
        "davies_bouldin": float(davies_bouldin_score(points, labels)),
        **scores,
    }


@dataclass
class Sweep:
    """Every solution's scores, and per algorithm the kept one: k, labels, model."""

    scores: pd.DataFrame
    best: dict[str, dict] = field(default_factory=dict)


@one_thread
def sweep(
    points: np.ndarray,
    ks: Sequence[int],
    algorithms: Sequence[str] = ("kmeans", "gmm"),
    random_state: int = 42,
    min_share: float = 0.0,
    preferred: Mapping[str, int] | None = None,
    tolerance: float = 0.0,
    tie_within: float = 0.0,
) -> Sweep:
    """Fit each algorithm for each k; keep per algorithm, among the eligible solutions whose
    silhouette is within `tie_within` of the best (a tie), the one with the fewest segments; or
    the `preferred` k (last week's) while its silhouette is within `tolerance` of the best."""
    rows, fitted, silhouette = [], {}, Silhouette(points)
    with TemporaryDirectory() as folder:  # Ward's tree built once for every k, then cut
        trees = Memory(folder, verbose=0)
        for algorithm in algorithms:
            if algorithm == "hdbscan":  # no k: its smallest segment is min_share of the customers
                settings = [max(5, int(np.ceil(min_share * len(points))))]
            else:
                settings = [k for k in ks if k < len(points)]
            for setting in settings:
                model, labels = fit_labels(algorithm, setting, points, random_state, trees)
                k = len(np.unique(labels))
                rows.append(
                    {"algorithm": algorithm, "k": k, **score_labels(points, labels, silhouette)}
                )
                fitted[algorithm, k] = (model, labels)
    scores = pd.DataFrame(rows).dropna(subset=["silhouette"]) if rows else pd.DataFrame()
    if scores.empty:
        raise ValueError(f"too few customers ({len(points)}) to cluster into {min(ks)} groups")
    scores["eligible"] = scores["min_share"] >= min_share
    scores = scores.reset_index(drop=True)
    scores["kept"] = False
    result = Sweep(scores=scores)
    for algorithm, group in scores.groupby("algorithm", sort=False):
        pool = group[group["eligible"]] if group["eligible"].any() else group
        best = pool["silhouette"].max()
        tied = pool[pool["silhouette"] >= best - tie_within]
        top = tied.sort_values(["k", "silhouette"], ascending=[True, False]).iloc[0]
        wanted = pool[pool["k"] == (preferred or {}).get(algorithm)]
        if len(wanted) and wanted.iloc[0]["silhouette"] >= best - max(tolerance, tie_within):
            top = wanted.iloc[0]
        scores.loc[top.name, "kept"] = True
        model, labels = fitted[algorithm, int(top["k"])]
        result.best[algorithm] = {
            "k": int(top["k"]),
            "silhouette": float(top["silhouette"]),
            "min_share": float(top["min_share"]),
            "eligible": bool(top["eligible"]),
            "model": model,
            "labels": labels,
        }
    return result


@one_thread
def kmeans_sweep(
    points: np.ndarray,
    ks: Sequence[int],
    random_state: int,
    tolerance: float = 0.0,
    what: str = "points",
) -> tuple[pd.DataFrame, KMeans]:
    """KMeans for each k (30 starts); keep the smallest k within `tolerance` of the best
    silhouette. Returns the sweep (k, silhouette, chosen) and the kept model."""
    rows, models, silhouette = [], {}, Silhouette(points)
    for k in (k for k in ks if k < len(points)):
        models[k] = KMeans(n_clusters=k, random_state=random_state, n_init=30).fit(points)
        rows.append({"k": k, "silhouette": silhouette(models[k].labels_)})
    if not rows:
        raise NotEnoughData(f"too few {what} ({len(points)}) to form {min(ks)} groups")
    scores = pd.DataFrame(rows)
    k = int(scores.loc[scores["silhouette"] >= scores["silhouette"].max() - tolerance, "k"].min())
    return scores.assign(chosen=scores["k"] == k), models[k]


STABILITY_POINTS = 4_000
"""At most this many customers per resample in `stability` (Ward's cost grows with the square)."""


@one_thread
def stability(
    points: np.ndarray,
    labels: np.ndarray,
    algorithm: str,
    k: int,
    resamples: int = 5,
    share: float = 0.8,
    random_state: int = 0,
) -> float:
    """How much a solution holds when the customers change: the mean adjusted Rand index
    between `labels` and the same algorithm's k segments refitted on random resamples of
    `share` of the points (1: the same segments every time; 0: as good as chance). NaN for
    HDBSCAN, which is not set by k."""
    if algorithm == "hdbscan":
        return float("nan")
    rng = np.random.default_rng(random_state)
    size = min(int(share * len(points)), STABILITY_POINTS)
    agreement = []
    for _ in range(resamples):
        chosen = rng.choice(len(points), size, replace=False)
        refitted = fit_labels(algorithm, k, points[chosen], random_state)[1]
        agreement.append(adjusted_rand_score(labels[chosen], refitted))
    return float(np.mean(agreement))


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
class Segmentation:
    """Each customer's position and segment in one space, and the sweep that chose it.

    `embedding` and each kept solution's model and id order stay available, so customers
    who were not in the fit can be placed (`place`) where the space allows it.
    """

    space: str
    table: pd.DataFrame
    sweep: Sweep
    algorithm: str
    info: dict = field(default_factory=dict)
    embedding: Embedding | None = None
    orders: dict[str, dict[int, int]] = field(default_factory=dict)

    def place(self, scaled: np.ndarray, algorithm: str | None = None) -> np.ndarray:
        """Segment ids for new customers' scaled features: embedded with `transform`, then
        the kept model's `predict`, or the nearest fitted customer's segment."""
        algorithm = algorithm or self.algorithm
        if self.embedding is None or not hasattr(self.embedding.model, "transform"):
            raise ValueError(f"the {self.space} embedding cannot place new customers")
        best = self.sweep.best[algorithm]
        points = np.asarray(self.embedding.model.transform(scaled), dtype="float64")
        if hasattr(best["model"], "predict"):
            labels = best["model"].predict(points)
        else:
            fitted = self.embedding.points[self.embedding.fitted]
            labels = nearest_label(fitted, best["labels"], points)
        return relabel(labels, self.orders[algorithm])


def segment(
    features: pd.DataFrame,
    space: str,
    ks: Sequence[int],
    algorithms: Sequence[str] = ("kmeans", "gmm"),
    algorithm: str | None = None,
    min_share: float = 0.0,
    random_state: int = 42,
    sample_size: int | None = None,
    preferred: Mapping[str, int] | None = None,
    tolerance: float = 0.0,
    tie_within: float = 0.0,
    **embedding_options: float,
) -> Segmentation:
    """Embed the features in `space`, sweep the algorithms, assign every customer.

    The table has customer_id, is_outlier, x, y, one `<algorithm>_segment` column per
    algorithm's kept solution, and segment_id / algorithm / k of the chosen one (`algorithm`,
    or the best eligible silhouette). Above `sample_size` non-outliers, the embedding, the
    clusterings and their scores are fitted on a random sample of that size, and everyone else
    is placed as the outliers are. `preferred`, `tolerance` and `tie_within` go to `sweep`.
    """
    features = features.sort_values("customer_id").reset_index(drop=True)
    fit_on = sample(~features["is_outlier"].to_numpy(), sample_size, random_state)
    scaled = features[list(SCALED_COLUMNS)].to_numpy()
    distinct = len(np.unique(scaled[fit_on].round(9), axis=0))
    if fit_on.sum() <= max(min(ks), 2) or distinct < min(ks):
        return single_segment(
            features,
            space,
            f"{distinct} distinct customer profiles: too few for {min(ks)} segments",
        )
    embedding = embed(space, scaled, fit_on, random_state, **embedding_options)
    result = sweep(
        embedding.points[fit_on],
        ks,
        algorithms,
        random_state,
        min_share,
        preferred,
        tolerance,
        tie_within,
    )
    table = features[["customer_id", "is_outlier"]].assign(
        x=embedding.points[:, 0], y=embedding.points[:, 1]
    )
    monetary = features["monetary"].to_numpy()
    orders = {}
    for name, best in result.best.items():
        labels = assign_all(best, embedding, scaled, fit_on)
        orders[name] = order_by_monetary(labels[fit_on], monetary[fit_on])
        table[f"{name}_segment"] = relabel(labels, orders[name])
    chosen = algorithm or best_algorithm(result)
    if chosen not in result.best:
        raise ValueError(f"unknown algorithm '{chosen}' (known: {', '.join(result.best)})")
    table["segment_id"] = table[f"{chosen}_segment"]
    table["algorithm"] = chosen
    table["k"] = result.best[chosen]["k"]
    info = {**embedding.info, "fitted_customers": int(fit_on.sum())}
    return Segmentation(space, table, result, chosen, info, embedding, orders)


def sample(fit_on: np.ndarray, size: int | None, random_state: int) -> np.ndarray:
    """The mask `fit_on`, or a random subset of `size` of it (the same for the same seed)."""
    if size is None or fit_on.sum() <= size:
        return fit_on
    chosen = np.random.default_rng(random_state).choice(np.flatnonzero(fit_on), size, replace=False)
    subset = np.zeros_like(fit_on)
    subset[chosen] = True
    return subset


def assign_all(
    best: dict, embedding: Embedding, scaled: np.ndarray, fit_on: np.ndarray
) -> np.ndarray:
    """Labels for every customer: the fit's own, then predicted or nearest-neighbour ones."""
    labels = np.empty(len(scaled), dtype="int64")
    labels[fit_on] = best["labels"]
    rest = ~fit_on
    if not rest.any():
        return labels
    placed = rest & embedding.placed
    if placed.any():
        if hasattr(best["model"], "predict"):
            labels[placed] = best["model"].predict(embedding.points[placed])
        else:
            known = embedding.points[fit_on]
            labels[placed] = nearest_label(known, best["labels"], embedding.points[placed])
    unplaced = rest & ~embedding.placed
    if unplaced.any():
        labels[unplaced] = nearest_label(scaled[fit_on], best["labels"], scaled[unplaced])
    return labels


def best_algorithm(result: Sweep) -> str:
    """The algorithm whose kept solution has the highest silhouette (eligible ones first)."""
    eligible = {a: b for a, b in result.best.items() if b["eligible"]} or result.best
    return max(eligible, key=lambda a: (eligible[a]["silhouette"], -ALGORITHMS.index(a)))


def single_segment(features: pd.DataFrame, space: str, note: str) -> Segmentation:
    """Everyone in segment 0: too few customers (or too few different ones) for any k."""
    table = features[["customer_id", "is_outlier"]].assign(
        x=np.nan, y=np.nan, segment_id=0, algorithm="single", k=1
    )
    return Segmentation(space, table, Sweep(scores=pd.DataFrame()), "single", {"note": note})


STUDY_TSNE = pd.DataFrame(
    {
        "algorithm": ["kmeans", "gmm", "agglomerative"],
        "study_k": [7, 4, 7],
        "study_silhouette": [0.48, 0.47, None],
    }
)
"""The study's published t-SNE solutions (no silhouette was given for agglomerative)."""


def kept_ks(sweep: pd.DataFrame | None) -> dict[str, int]:
    """Each algorithm's kept k in a sweep's scores (last week's, to stay with); {} without."""
    if sweep is None or "kept" not in sweep:
        return {}
    kept = sweep[sweep["kept"]]
    return {str(a): int(k) for a, k in zip(kept["algorithm"], kept["k"], strict=True)}


def kept_solutions(result: Sweep) -> dict[str, dict]:
    """Each algorithm's kept k and its silhouette (3 decimals)."""
    return {
        a: {"k": b["k"], "silhouette": round(b["silhouette"], 3)} for a, b in result.best.items()
    }


def fitted_segment_sizes(table: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """Per segment of the customers the space was fitted on: size and mean R, F, M."""
    fitted = table.merge(features[["customer_id", *RFM_COLUMNS]])
    fitted = fitted[~fitted["is_outlier"]]
    means = {c: (c, "mean") for c in RFM_COLUMNS}
    summary = fitted.groupby("segment_id").agg(customers=("customer_id", "size"), **means)
    return summary.round(1).reset_index()


def beside_the_study(kept: dict[str, dict]) -> pd.DataFrame:
    """The study's t-SNE solutions beside this space's kept ones."""
    ours = pd.DataFrame(
        [
            {"algorithm": a, "our_k": v["k"], "our_silhouette": v["silhouette"]}
            for a, v in kept.items()
        ]
    )
    return STUDY_TSNE.merge(ours, how="left")
