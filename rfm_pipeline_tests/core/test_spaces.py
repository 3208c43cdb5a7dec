"""Embeddings and clustering sweeps on synthetic customers whose groups are known."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import AgglomerativeClustering
from sklearn.cluster import _agglomerative as agglomerative
from sklearn.metrics import adjusted_rand_score, silhouette_score
from threadpoolctl import threadpool_info

from rfm_pipeline.core import spaces
from rfm_pipeline.core.rfm import rfm_features
from rfm_pipeline.core.spaces import Silhouette, order_by_monetary, relabel, segment, sweep


def blobs(seed: int = 0, size: int = 60) -> pd.DataFrame:
    """Three well-separated groups: lapsed one-time buyers, regulars, big spenders."""
    rng = np.random.default_rng(seed)
    centres = [(300, 1, 200), (60, 4, 1_000), (10, 12, 5_000)]
    rows = []
    for g, (r, f, m) in enumerate(centres):
        for i in range(size):
            rows.append(
                {
                    "customer_id": f"{g}{i:03d}",
                    "recency": max(0.0, rng.normal(r, r * 0.05 + 1)),
                    "frequency": max(1.0, rng.normal(f, 0.3)),
                    "monetary": rng.normal(m, m * 0.05),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return rfm_features(blobs()).table


def test_sweep_finds_the_three_groups():
    points = np.vstack([np.random.default_rng(1).normal(c, 0.1, (30, 2)) for c in (0, 3, 6)])
    result = sweep(points, ks=range(2, 6), algorithms=("kmeans", "gmm", "agglomerative"))
    assert {a: b["k"] for a, b in result.best.items()} == {
        "kmeans": 3,
        "gmm": 3,
        "agglomerative": 3,
    }
    assert set(result.scores.columns) >= {"silhouette", "calinski_harabasz", "davies_bouldin"}
    assert result.scores["kept"].sum() == 3


@pytest.mark.parametrize("precomputed_up_to", [1_000, 10])
def test_a_sweeps_silhouettes_are_scikit_learns(monkeypatch, precomputed_up_to):
    """With the distances worked out once (up to the bound) or each time (above it)."""
    monkeypatch.setattr(spaces, "PRECOMPUTED_UP_TO", precomputed_up_to)
    rng = np.random.default_rng(2)
    points = np.vstack([rng.normal(c, 0.5, (40, 3)) for c in (0, 2, 4)])
    silhouette = Silhouette(points)
    assert (silhouette.distances is None) == (len(points) > precomputed_up_to)
    for k in (2, 3, 5):
        labels = np.arange(len(points)) % k if k == 5 else np.repeat(np.arange(k), 120 // k)
        assert silhouette(labels) == pytest.approx(silhouette_score(points, labels), abs=1e-12)


def test_the_sweeps_run_on_one_thread():
    seen = []

    def fit_labels(*args):
        seen.append({p["user_api"]: p["num_threads"] for p in threadpool_info()})
        return real(*args)

    real = spaces.fit_labels
    points = np.random.default_rng(3).normal(size=(60, 2))
    with mock.patch.object(spaces, "fit_labels", fit_labels):
        sweep(points, [2, 3], ["kmeans"])
    assert seen and all(set(threads.values()) == {1} for threads in seen)


def test_a_sweep_builds_wards_tree_once_and_cuts_it_as_scikit_learn_does(monkeypatch):
    rng = np.random.default_rng(4)
    points = np.vstack([rng.normal(c, 0.8, (50, 2)) for c in (0, 2, 4, 6)])
    builds = []

    def ward_tree(*args, **kwargs):
        builds.append(len(args[0]))
        return real(*args, **kwargs)

    real = agglomerative.ward_tree
    monkeypatch.setitem(agglomerative._TREE_BUILDERS, "ward", ward_tree)
    result = sweep(points, range(2, 7), ["agglomerative"])
    assert builds == [len(points)]
    for k, silhouette in result.scores[["k", "silhouette"]].itertuples(index=False):
        alone = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(points)
        assert silhouette == pytest.approx(silhouette_score(points, alone), abs=1e-12)
    kept = result.best["agglomerative"]
    alone = AgglomerativeClustering(n_clusters=kept["k"], linkage="ward").fit_predict(points)
    assert (kept["labels"] == alone).all()


def test_last_weeks_k_stays_while_it_is_nearly_as_good():
    points = np.vstack([np.random.default_rng(1).normal(c, 0.1, (30, 2)) for c in (0, 3, 6)])
    best = sweep(points, ks=range(2, 6), algorithms=("kmeans",))
    scores = best.scores.set_index("k")["silhouette"]
    gap = scores[3] - scores[4]
    near = sweep(points, range(2, 6), ("kmeans",), preferred={"kmeans": 4}, tolerance=gap + 0.01)
    far = sweep(points, range(2, 6), ("kmeans",), preferred={"kmeans": 4}, tolerance=gap / 2)
    assert (near.best["kmeans"]["k"], far.best["kmeans"]["k"]) == (4, 3)


def test_silhouettes_within_the_tie_keep_the_fewest_segments():
    # four groups, two of them close: k = 3 and k = 4 score nearly alike
    centres = [(0, 0), (0, 0.8), (6, 0), (3, 6)]
    points = np.vstack([np.random.default_rng(2).normal(c, 0.3, (40, 2)) for c in centres])
    scores = sweep(points, ks=range(2, 7), algorithms=("kmeans",)).scores.set_index("k")
    silhouette = scores["silhouette"]
    best = int(silhouette.idxmax())
    fewer = silhouette[silhouette.index < best]
    tie = float(silhouette.max() - fewer.max()) + 1e-6  # the best of fewer k joins the tie
    tied = sweep(points, range(2, 7), ("kmeans",), tie_within=tie)
    assert tied.best["kmeans"]["k"] == int(fewer.idxmax()) < best
    assert sweep(points, range(2, 7), ("kmeans",), tie_within=tie / 2).best["kmeans"]["k"] == best


def test_stability_is_near_one_for_real_groups_and_lower_for_none():
    groups = np.vstack([np.random.default_rng(3).normal(c, 0.2, (50, 2)) for c in (0, 4, 8)])
    labels = spaces.fit_labels("kmeans", 3, groups, 0)[1]
    noise = np.random.default_rng(4).uniform(0, 1, (150, 2))
    noise_labels = spaces.fit_labels("kmeans", 6, noise, 0)[1]
    assert spaces.stability(groups, labels, "kmeans", 3) == pytest.approx(1.0)
    assert spaces.stability(noise, noise_labels, "kmeans", 6) < 0.9
    assert np.isnan(spaces.stability(groups, labels, "hdbscan", 3))


def test_above_the_sample_size_the_fit_uses_a_sample_and_everyone_is_assigned(features):
    result = segment(features, "pca", range(2, 5), sample_size=90, random_state=3)
    assert result.info["fitted_customers"] == 90
    assert result.embedding.fitted.sum() == 90
    assert result.table["segment_id"].notna().all() and len(result.table) == len(features)
    whole = segment(features, "pca", range(2, 5), random_state=3)
    assert adjusted_rand_score(whole.table["segment_id"], result.table["segment_id"]) > 0.95


def test_solutions_with_a_tiny_segment_are_not_chosen():
    rng = np.random.default_rng(2)
    points = np.vstack([rng.normal(0, 0.1, (50, 2)), rng.normal(5, 0.1, (50, 2)), [[20, 20]]])
    loose = sweep(points, ks=[2, 3], algorithms=("kmeans",))
    strict = sweep(points, ks=[2, 3], algorithms=("kmeans",), min_share=0.05)
    assert loose.best["kmeans"]["k"] == 3  # the lone far point is a segment of its own
    assert strict.best["kmeans"]["k"] == 2


def test_ids_ascend_with_mean_monetary_and_unknown_labels_come_last():
    labels = np.array([7, 7, 3, 3, 5])
    order = order_by_monetary(labels, np.array([100.0, 120.0, 1.0, 2.0, 50.0]))
    assert order == {3: 0, 5: 1, 7: 2}
    assert relabel(np.array([7, 9, 3]), order).tolist() == [2, 3, 0]


@pytest.mark.parametrize(
    ("space", "algorithms", "options"),
    [
        ("pca", ("kmeans", "gmm"), {}),
        ("umap", ("kmeans", "agglomerative", "hdbscan"), {"n_neighbors": 15}),
        ("tsne", ("kmeans", "gmm", "agglomerative"), {"perplexity": 30}),
    ],
)
def test_each_embedding_recovers_the_groups(features, space, algorithms, options):
    result = segment(
        features, space, ks=range(2, 6), algorithms=algorithms, min_share=0.02, **options
    )
    truth = result.table["customer_id"].str[0]
    for algorithm in algorithms:
        found = result.table[f"{algorithm}_segment"]
        assert adjusted_rand_score(truth, found) > 0.9, (space, algorithm)
    assert result.table["segment_id"].notna().all()
    assert len(result.table) == len(features)


def test_segments_are_deterministic_and_ordered_by_monetary(features):
    first = segment(features, "pca", ks=range(2, 6))
    second = segment(features.sample(frac=1, random_state=3), "pca", ks=range(2, 6))
    pd.testing.assert_frame_equal(first.table, second.table)
    groups = first.table.assign(group=first.table["customer_id"].str[0])
    assert groups.groupby("group")["kmeans_segment"].first().to_dict() == {"0": 0, "1": 1, "2": 2}


def test_tsne_places_outliers_by_their_nearest_neighbour_in_feature_space():
    frame = blobs()
    frame.loc[frame.index[-3:], "monetary"] *= 3  # three big spenders become outliers
    features = rfm_features(frame).table
    assert features["is_outlier"].sum() >= 3
    result = segment(features, "tsne", ks=[3], algorithms=("kmeans",), perplexity=30)
    table = result.table.set_index("customer_id")
    outliers = table[table["is_outlier"]]
    assert outliers["x"].isna().all()
    big = table.loc[table.index.str.startswith("2") & ~table["is_outlier"], "kmeans_segment"]
    assert set(outliers["kmeans_segment"]) == {big.mode()[0]}


def test_too_few_customers_for_the_sweep_make_one_segment():
    features = rfm_features(blobs().iloc[:3]).table
    result = segment(features, "umap", ks=range(3, 6))
    assert result.algorithm == "single"
    assert result.table["segment_id"].tolist() == [0, 0, 0]


def test_too_few_points_is_a_clear_error():
    with pytest.raises(ValueError, match="too few customers"):
        sweep(np.zeros((2, 2)), ks=[3, 4])


def test_identical_customers_make_one_segment_with_a_note():
    same = pd.DataFrame(
        {
            "customer_id": [f"{i:03d}" for i in range(50)],
            "recency": 5,
            "frequency": 2,
            "monetary": 100.0,
        }
    )
    for space in ("pca", "umap", "tsne"):
        result = segment(rfm_features(same).table, space, ks=range(3, 6))
        assert result.algorithm == "single"
        assert set(result.table["segment_id"]) == {0}
        assert result.info["note"] == "1 distinct customer profiles: too few for 3 segments"


def test_umap_on_exact_neighbours_is_umap_learns_own_fit_and_transform():
    import umap

    from rfm_pipeline.core import umap_model
    from rfm_pipeline.core.umap_model import fit_umap

    rng = np.random.default_rng(7)
    points = rng.normal(size=(700, 3)).round(1)  # rounded: many tied distances
    fitted, new = points[:600], points[600:]
    own = umap.UMAP(n_components=2, n_neighbors=15, min_dist=0.1, random_state=42, n_jobs=1)
    own.fit(fitted)
    ours = fit_umap(fitted, 15, 0.1, 42)
    assert np.array_equal(ours.embedding_, own.embedding_)
    with (  # umap-learn still calls the two functions ExactUMAP replaces
        mock.patch.object(umap_model, "euclidean", wraps=umap_model.euclidean) as measured,
        mock.patch.object(
            umap_model, "initial_placement", wraps=umap_model.initial_placement
        ) as placed,
    ):
        placed_new = ours.transform(new)
    assert measured.call_count == 1 and placed.call_count == 1
    assert np.array_equal(placed_new, own.transform(new))


def test_initial_placement_is_umap_learns_own():
    import scipy.sparse
    import umap.umap_

    from rfm_pipeline.core.umap_model import initial_placement

    rng = np.random.default_rng(3)
    counts = rng.integers(0, 16, size=2_000)  # every neighbour count from none to 15
    rows = np.repeat(np.arange(len(counts)), counts)
    columns = np.concatenate([rng.choice(500, size=c, replace=False) for c in counts])
    weights = rng.uniform(0.01, 1.0, size=len(rows)).astype(np.float32)
    weights[rng.random(len(rows)) < 0.02] = 1.0  # a new point identical to a fitted one
    graph = scipy.sparse.csr_matrix((weights, (rows, columns)), shape=(len(counts), 500))
    embedding = rng.normal(size=(500, 2)).astype(np.float32)
    ours = initial_placement(graph, embedding)
    assert np.isnan(ours[counts == 0]).all()
    assert np.array_equal(ours, umap.umap_.init_graph_transform(graph, embedding), equal_nan=True)


def test_from_umap_learns_small_data_size_on_the_neighbours_are_exact_and_from_a_kd_tree():
    from sklearn.neighbors import NearestNeighbors

    from rfm_pipeline.core.umap_model import SMALL_DATA, TreeIndex, fit_umap

    rng = np.random.default_rng(5)
    centres = rng.normal(scale=6, size=(4, 3))
    points = centres[rng.integers(0, 4, SMALL_DATA + 200)] + rng.normal(size=(SMALL_DATA + 200, 3))
    model = fit_umap(points, 15, 0.1, 42)
    assert isinstance(model._knn_search_index, TreeIndex)  # no pynndescent to compile
    exact = (
        NearestNeighbors(n_neighbors=15, algorithm="brute").fit(points).kneighbors(points[:300])[0]
    )
    assert np.allclose(model._knn_dists[:300], exact, atol=1e-5)
    # new points: copies of fitted ones land where those were embedded, in the same cluster
    placed = model.transform(points[:300])
    spread = np.ptp(model.embedding_, axis=0).max()
    assert np.median(np.linalg.norm(placed - model.embedding_[:300], axis=1)) < 0.02 * spread
