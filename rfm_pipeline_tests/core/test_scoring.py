"""Scoring new transactions with a saved classifier: segments, and reasons where none."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sklearn.tree import DecisionTreeClassifier
from upath import UPath

import rfm_pipeline
from rfm_pipeline.core.model_files import SavedModel, save_model
from rfm_pipeline.core.scoring import score_file
from rfm_pipeline_tests.conftest import uci_frame


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
