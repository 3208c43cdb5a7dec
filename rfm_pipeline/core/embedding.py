"""Two-dimensional spaces of the scaled RFM features: PCA, UMAP and t-SNE.

Each is fitted on the customers that are not outliers. PCA and UMAP then place every customer
(outliers, later new customers) with `transform`; t-SNE cannot, so its outliers get no
position (NaN) and are assigned a segment in feature space instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from rfm_pipeline.settings import NUMBA_CACHE

SPACES = ("pca", "umap", "tsne")
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
        # imported here: it compiles with numba, seconds no other asset should pay; compiled
        # functions are cached inside the project, so later processes load them
        os.environ.setdefault("NUMBA_CACHE_DIR", str(NUMBA_CACHE))
        import umap

        model = umap.UMAP(
            n_components=2,
            n_neighbors=int(options.get("n_neighbors", 15)),
            min_dist=float(options.get("min_dist", 0.1)),
            random_state=random_state,
            n_jobs=1,  # a fixed random_state makes UMAP sequential anyway
        ).fit(scaled[fit_on])
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
