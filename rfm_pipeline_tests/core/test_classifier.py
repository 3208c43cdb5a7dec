"""The segment classifier, and saving models safely."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from upath import UPath

from rfm_pipeline.core.classifier import train_classifier
from rfm_pipeline.core.errors import InputError
from rfm_pipeline.core.model_files import SavedModel, load_model, save_model


def separable(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Three segments that recency alone separates."""
    rng = np.random.default_rng(seed)
    segment = np.arange(n) % 3
    return pd.DataFrame(
        {
            "customer_id": [f"{i:04d}" for i in range(n)],
            "recency": segment * 100 + rng.uniform(0, 50, n),
            "frequency": rng.integers(1, 10, n),
            "monetary": rng.uniform(10, 1_000, n),
            "segment_id": segment,
        }
    )


@pytest.fixture(scope="module")
def trained():
    """The classifier tuned on `separable()`, once for the module."""
    return train_classifier(separable())


def test_a_separable_problem_is_learned_perfectly(trained):
    assert trained.test["accuracy"] == 1.0
    assert trained.test["macro_f1"] == 1.0
    assert trained.test["customers"] == 60
    assert trained.train_customers == 240
    assert set(trained.cv["candidate"]) == {"random_forest", "gradient_boosting"}
    assert trained.name == trained.cv.iloc[0]["candidate"]
    assert trained.report["segment_id"].tolist() == [0, 1, 2]
    assert trained.confusion.to_numpy().trace() == 60


def test_the_split_and_model_are_deterministic():
    first = train_classifier(separable(seed=1).sample(frac=1, random_state=5))
    second = train_classifier(separable(seed=1))
    assert first.cv.equals(second.cv)


def test_too_few_customers_per_segment_fall_back_to_the_majority():
    tiny = separable(6)
    trained = train_classifier(tiny)
    assert trained.name == "majority"
    assert np.isnan(trained.test["accuracy"])
    assert trained.model.predict(tiny[["recency", "frequency", "monetary"]].to_numpy()).size == 6


def test_a_saved_model_round_trips_and_predicts_the_same(tmp_path, trained):
    data = separable()
    path = UPath(tmp_path / "segment_classifier.skops")
    save_model(SavedModel(trained.model, {"features": trained.features}), path)
    loaded = load_model(path)
    x = data[trained.features].to_numpy(dtype="float64")
    assert (loaded.model.predict(x) == trained.model.predict(x)).all()
    assert loaded.card["features"] == ["recency", "frequency", "monetary"]
    assert "scikit-learn" in loaded.card["library_versions"]


def test_a_missing_model_file_says_what_to_do(tmp_path):
    with pytest.raises(InputError, match="no saved model; materialise it first"):
        load_model(UPath(tmp_path / "segment_classifier.skops"))
