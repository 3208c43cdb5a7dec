"""The segment classifier, and saving models safely."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeClassifier
from upath import UPath

import rfm_pipeline
from rfm_pipeline.core.classifier import score_file, train_classifier
from rfm_pipeline.core.errors import InputError
from rfm_pipeline.core.model_files import SavedModel, load_model, save_model
from rfm_pipeline_tests.conftest import uci_frame


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


def recency_model() -> SavedModel:
    """Segment 1 when the last purchase is under 30 days old, else 0."""
    x = pd.DataFrame({"recency": [1, 10, 29, 31, 100, 300], "frequency": 1, "monetary": 10.0})
    model = DecisionTreeClassifier(random_state=0).fit(x.to_numpy(), [1, 1, 1, 0, 0, 0])
    classes = [
        {"segment_id": 0, "segment_name": "Lapsed", "strategy": "win back"},
        {"segment_id": 1, "segment_name": "Active", "strategy": "reward"},
    ]
    return SavedModel(model, {"features": ["recency", "frequency", "monetary"], "classes": classes})


ROWS = [
    ("1", "85123A", "HEART", 6, "2011-11-30 10:00:00", 2.55, 1.0, "UK"),  # active
    ("2", "85123A", "HEART", 2, "2011-09-01 10:00:00", 2.55, 2.0, "UK"),  # lapsed
    ("C3", "85123A", "HEART", -2, "2011-11-01 10:00:00", 2.55, 3.0, "UK"),  # only a cancellation
    ("4", "POST", "POSTAGE", 1, "2011-11-01 10:00:00", 18.0, 4.0, "UK"),  # no product line
    ("5", "85123A", "HEART", 1, "2011-12-05 10:00:00", 2.55, 5.0, "UK"),  # after the as-of date
]


def test_predict_gives_segments_and_reasons(con, tmp_path):
    path = tmp_path / "new.csv"
    uci_frame(ROWS).to_csv(path, index=False)
    scored = score_file(con, path, recency_model(), dt.date(2011, 12, 1)).set_index("customer_id")
    assert scored.loc["1", "segment_name"] == "Active"
    assert scored.loc["1", "strategy"] == "reward"
    assert scored.loc["1", "probability"] == 1.0
    assert scored.loc["1", "recency"] == 0
    assert scored.loc["2", "segment_name"] == "Lapsed"
    assert scored.loc["3", "reason"] == "only cancellations"
    assert scored.loc["4", "reason"].startswith("no valid purchase lines")
    assert scored.loc["5", "reason"] == "no transactions before the as-of date"
    assert scored.loc[["3", "4", "5"], "segment_id"].isna().all()
    assert str(scored["segment_id"].dtype) == "Int64"


def test_predict_segments_is_importable_and_takes_a_frame(tmp_path):
    model_path = UPath(tmp_path / "segment_classifier.skops")
    save_model(recency_model(), model_path)
    frame = uci_frame(ROWS).rename(columns={"CustomerID": "client"})
    scored = rfm_pipeline.predict_segments(
        frame, as_of="2011-12-01", model_path=model_path, column_map={"client": "customer_id"}
    )
    assert scored["customer_id"].tolist() == ["1", "2", "3", "4", "5"]
    assert scored["segment_name"].tolist()[:2] == ["Active", "Lapsed"]


def test_new_lines_are_cleaned_with_the_rules_on_the_models_card(con, tmp_path):
    path = tmp_path / "new.csv"
    uci_frame(ROWS).to_csv(path, index=False)
    saved = recency_model()
    saved.card["cleaning_rules"] = {"non_product_pattern": "^ZZZ"}  # POST is a product here
    scored = score_file(con, path, saved, dt.date(2011, 12, 1)).set_index("customer_id")
    assert scored.loc["4", "recency"] == 29 and pd.notna(scored.loc["4", "segment_id"])
    assert scored.loc["3", "reason"] == "only cancellations"
