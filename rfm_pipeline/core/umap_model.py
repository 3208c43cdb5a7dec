"""UMAP fitted as umap-learn fits it, without its slow path for small data.

Below 4,096 points umap-learn computes every distance by calling its numba metric from Python
once per pair through scikit-learn (about 8 million calls, 16 s at 4,044 customers).
`exact_neighbours` computes the same distances with the same float32 arithmetic, a column at a
time, and sorts each row the same stable way, so UMAP given them (`precomputed_knn`)
builds the same graph and the same embedding, bit for bit, in a second; new points are then
placed by umap-learn's own small-data `transform`.

Imported only where UMAP runs: numba compiles here, and keeps every compiled function in the
project's cache folder (`NUMBA_CACHE`, set before numba is imported), so later processes load
them instead of compiling them again.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np

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


def fit_umap(points: np.ndarray, n_neighbors: int, min_dist: float, random_state: int) -> umap.UMAP:
    """UMAP(2) fitted on `points`, its `transform` ready for new points."""
    exact = n_neighbors < len(points) < SMALL_DATA
    with warnings.catch_warnings():  # that umap-learn's search index is absent: see below
        warnings.filterwarnings("ignore", "precomputed_knn", UserWarning)
        model = umap.UMAP(
            n_components=2,
            n_neighbors=n_neighbors,
            min_dist=min_dist,
            random_state=random_state,
            n_jobs=1,  # a fixed random_state makes UMAP sequential anyway
            precomputed_knn=exact_neighbours(points, n_neighbors) if exact else (None,) * 3,
        ).fit(points)
    if exact:
        # What umap-learn's own small-data fit leaves, so that `transform` places new points
        # by their exact distances to every fitted point (given neighbours, it keeps no search
        # index and would refuse); the tests hold both paths equal, bit for bit.
        model._small_data = True
        model.__dict__.pop("_knn_search_index", None)
    return model


def exact_neighbours(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each point's `k` nearest points (itself first) and their distances, as umap-learn's
    small-data path finds them: euclidean over float32 values summed in float64, kept as
    float32 (scikit-learn stores them in the input's type), each row in a stable sort, so
    that tied distances tie and fall in the same order as there."""
    data = np.asarray(points, dtype=np.float32)
    squares = np.zeros((len(data), len(data)))
    for column in data.T:  # a column at a time, in order, as the metric's loop adds them
        step = column[:, None] - column[None, :]
        squares += step * step
    distances = np.sqrt(squares).astype(np.float32)
    indices = np.argsort(distances, axis=1, kind="stable")[:, :k].astype(np.int32)
    return indices, np.take_along_axis(distances, indices, axis=1)
