"""UMAP fitted and applied as umap-learn does it, without its slow Python loops; from 4,096
fitted points on, with exact neighbours where umap-learn would search approximately.

Below 4,096 points umap-learn computes every distance by calling its numba metric from Python
once per pair through scikit-learn (about 8 million calls, 16 s at 4,044 customers).
`exact_neighbours` computes the same distances with the same float32 arithmetic, a column at a
time, and sorts each row the same stable way, so UMAP given them (`precomputed_knn`)
builds the same graph and the same embedding, bit for bit, in a second. New points are placed
by umap-learn's own small-data `transform`, which measures them against every fitted point the
same slow way; `ExactUMAP.transform` hands it those distances computed a column at a time too,
and starts new points where umap-learn's `init_graph_transform` does, without its loop over
points (`initial_placement`; most of a large transform's time).

Imported only where UMAP runs: numba compiles here, for a plain x86-64 whatever the CPU
(`settings.NUMERIC_TARGETS`, fixed when the package is imported), and keeps every compiled
function in the project's cache folder (`NUMBA_CACHE`, set before numba is imported), so later
processes load them instead of compiling them again; numba keys its cache by that target.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from contextlib import nullcontext
from unittest import mock

import numpy as np
import scipy.sparse
from sklearn.neighbors import KDTree

from rfm_pipeline.settings import NUMBA_CACHE

os.environ.setdefault("NUMBA_CACHE_DIR", str(NUMBA_CACHE))

import umap  # noqa: E402
from numba.core.dispatcher import Dispatcher  # noqa: E402

SMALL_DATA = 4096
"""umap-learn's own threshold: below it, exact neighbours; from it on, its approximate search."""


def _cache_on_disk() -> None:
    """Keep umap-learn's and pynndescent's compiled functions in numba's cache folder, as numba
    keeps those declared `cache=True`: most of theirs are not, so every fresh process compiled
    them again (a small fit's import, fit and transform: 15 to 19 s in a fresh process, 9 s
    once they are cached)."""
    for name, module in list(sys.modules.items()):
        if module is not None and name.partition(".")[0] in ("umap", "pynndescent"):
            for value in list(vars(module).values()):
                if isinstance(value, Dispatcher):
                    value.enable_caching()


_cache_on_disk()


class ExactUMAP(umap.UMAP):
    """umap-learn's UMAP, whose `transform` starts new points with `initial_placement` and, for
    small data, gets the distances from each new point to every fitted one from `euclidean`
    (all at once) instead of one numba call per pair through scikit-learn: the same float32
    values, so the same neighbours and placement, bit for bit."""

    def transform(self, X, ensure_all_finite=True):  # noqa: N803 (umap-learn's signature)
        small = getattr(self, "_small_data", False)  # unset after a fit on a single point
        distances = mock.patch.object(umap.umap_, "pairwise_distances", _pairwise)
        with (
            _PATCHING,  # the replacements are umap-learn's module globals: one transform at a time
            mock.patch.object(umap.umap_, "init_graph_transform", initial_placement),
            distances if small and not self._sparse_data else nullcontext(),
        ):
            return super().transform(X, ensure_all_finite=ensure_all_finite)


_PATCHING = threading.Lock()
_SKLEARN_PAIRWISE = umap.umap_.pairwise_distances


def _pairwise(new: np.ndarray, fitted: np.ndarray, metric: object = None, **kwds: object):
    """scikit-learn's `pairwise_distances` as umap-learn calls it, from `euclidean` when the
    metric is umap-learn's euclidean on float32 values (the same values, all pairs at once)."""
    same = metric is umap.distances.euclidean and new.dtype == fitted.dtype == np.float32
    return euclidean(new, fitted) if same else _SKLEARN_PAIRWISE(new, fitted, metric, **kwds)


def fit_umap(points: np.ndarray, n_neighbors: int, min_dist: float, random_state: int) -> umap.UMAP:
    """UMAP(2) fitted on `points`, its `transform` ready for new points.

    Below `SMALL_DATA` points, the neighbours are umap-learn's own exact ones (`exact_neighbours`).
    From there on umap-learn would search approximately with pynndescent, whose functions numba
    cannot cache: every process compiled them again, about 40 s for a fit and 40 s more for
    the first `transform`. A KD-tree (`TreeIndex`) finds the exact neighbours instead, for the
    fit and for every later `transform`.
    """
    small = n_neighbors < len(points) < SMALL_DATA
    if small:
        known = (*exact_neighbours(points, n_neighbors), None)
    elif len(points) > n_neighbors:
        index = TreeIndex(points)
        known = (*index.query(points, n_neighbors), index)
    else:
        known = (None, None, None)  # umap-learn's own handling of tiny data
    with warnings.catch_warnings():  # that the search index is not pynndescent's: see below
        warnings.filterwarnings("ignore", "precomputed_knn", UserWarning)
        model = ExactUMAP(
            n_components=2,
            n_neighbors=n_neighbors,
            min_dist=min_dist,
            random_state=random_state,
            n_jobs=1,  # a fixed random_state makes UMAP sequential anyway
            precomputed_knn=known,
        ).fit(points)
    if small:
        # What umap-learn's own small-data fit leaves, so that `transform` places new points
        # by their exact distances to every fitted point (given neighbours, it keeps no search
        # index and would refuse); the tests hold both paths equal, bit for bit.
        model._small_data = True
        model.__dict__.pop("_knn_search_index", None)
    return model


class TreeIndex:
    """The fitted points' exact nearest neighbours from a KD-tree, answering `query` as
    pynndescent's index does for umap-learn's `transform` (indices int32, distances float32,
    nearest first); `epsilon`, the approximate search's slack, does not apply."""

    _angular_trees = False  # read by umap-learn's `transform`

    def __init__(self, points: np.ndarray) -> None:
        self.tree = KDTree(np.asarray(points, dtype=np.float32))

    def query(
        self, points: np.ndarray, k: int, epsilon: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray]:
        distances, indices = self.tree.query(np.asarray(points, dtype=np.float32), k=k)
        return indices.astype(np.int32), distances.astype(np.float32)


def exact_neighbours(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each point's `k` nearest points (itself first) and their distances, as umap-learn's
    small-data path finds them: euclidean over float32 values summed in float64, kept as
    float32 (scikit-learn stores them in the input's type), each row in a stable sort, so
    that tied distances tie and fall in the same order as there."""
    data = np.asarray(points, dtype=np.float32)
    distances = euclidean(data, data)
    indices = np.argsort(distances, axis=1, kind="stable")[:, :k].astype(np.int32)
    return indices, np.take_along_axis(distances, indices, axis=1)


def euclidean(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Every row's distance to every column point as umap-learn's numba `euclidean` gives it
    one pair at a time: each coordinate's float32 difference squared, added in float64 in
    coordinate order, its square root kept as float32."""
    rows, columns = np.asarray(rows, np.float32), np.asarray(columns, np.float32)
    squares = np.zeros((len(rows), len(columns)))
    for a, b in zip(rows.T, columns.T, strict=True):  # a coordinate at a time, in order
        step = a[:, None] - b[None, :]
        squares += step * step
    return np.sqrt(squares).astype(np.float32)


def initial_placement(graph: scipy.sparse.csr_matrix, embedding: np.ndarray) -> np.ndarray:
    """umap-learn's `init_graph_transform` without its Python loop over new points (9.7 of 13 s
    in a transform of 100,000): each new point starts at its neighbours' embedding weighted by
    their share of its graph weights, or at the first neighbour whose weight is exactly 1; a
    point without neighbours at NaN. The rows are taken in groups of the same neighbour count,
    so every sum and product is umap-learn's, float32 and in the same order."""
    result = np.zeros((graph.shape[0], embedding.shape[1]), dtype=np.float32)
    counts = np.diff(graph.indptr)
    result[counts == 0] = np.nan
    for count in np.unique(counts[counts > 0]):
        rows = np.flatnonzero(counts == count)
        at = graph.indptr[rows][:, None] + np.arange(count)
        weights, neighbours = graph.data[at], graph.indices[at]
        totals = weights.sum(axis=1)  # numpy's sum of each row, as `graph[row].sum()` there
        placed = np.zeros((len(rows), embedding.shape[1]), dtype=np.float32)
        for j in range(count):
            placed += (weights[:, j] / totals)[:, None] * embedding[neighbours[:, j]]
        ones = weights == 1
        first = ones.argmax(axis=1)
        exact = ones.any(axis=1)
        placed[exact] = embedding[neighbours[exact, first[exact]]]
        result[rows] = placed
    return result
