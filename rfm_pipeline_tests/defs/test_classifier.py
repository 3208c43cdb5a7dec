"""segment_classifier: the saved model and its card."""

import pytest
from sklearn.model_selection import train_test_split
from upath import UPath

from rfm_pipeline.core.model_files import load_model
from rfm_pipeline_tests.defs.conftest import WEEK

FEATURES = ["recency", "frequency", "monetary"]


def test_the_saved_classifier_and_its_card_match_the_segments_it_learned(graph):
    path = graph.warehouse / "segment_classifier" / f"{WEEK}.skops"
    saved = load_model(UPath(path))
    card = saved.card
    assert card["features"] == FEATURES and saved.model.n_features_in_ == 3
    assert card["cleaning_rules"]["cancellation_prefix"] == "C"
    assert card["as_of"] == "2011-12-05"
    # the classes: the model's, and the names customer_segments gives them
    segments = graph.table("customer_segments")
    names = segments[["segment_id", "segment_name", "strategy"]].drop_duplicates()
    assert saved.model.classes_.tolist() == sorted(segments["segment_id"].unique())
    assert card["classes"] == names.sort_values("segment_id").to_dict("records")
    chosen = segments.iloc[0]
    assert card["segmentation"] == {
        "embedding": chosen["embedding"],
        "algorithm": chosen["algorithm"],
    }
    # the held-out accuracy, again: the saved model on the 20% split off by random_state 42
    data = graph.table("rfm_table").merge(segments[["customer_id", "segment_id"]])
    data = data.sort_values("customer_id")
    x, y = data[FEATURES].to_numpy(dtype="float64"), data["segment_id"].to_numpy()
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=42
    )
    assert card["customers"] == {"trained": len(y_train), "tested": len(y_test)}
    accuracy = float((saved.model.predict(x_test) == y_test).mean())
    assert card["metrics"]["test"]["accuracy"] == pytest.approx(accuracy, abs=1e-12)
    assert graph.metadata("segment_classifier")["test_accuracy"] == round(accuracy, 4)
