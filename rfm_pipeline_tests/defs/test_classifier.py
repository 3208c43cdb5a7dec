"""segment_classifier, and the job that scores a new transactions file with it."""

import json

import dagster as dg
import pandas as pd

from rfm_pipeline_tests.defs.conftest import WEEK, resources


def test_the_classifier_is_saved_with_its_card(graph):
    card = json.loads((graph.warehouse / "segment_classifier" / f"{WEEK}.json").read_text())
    assert card["features"] == ["recency", "frequency", "monetary"]
    assert card["cleaning_rules"]["cancellation_prefix"] == "C"
    assert card["as_of"] == "2011-12-05"
    meta = graph.metadata("segment_classifier")
    assert meta["settings"]["features"] == card["features"]
    assert meta["test_customers"] == card["customers"]["tested"]


def test_the_score_job_segments_a_file_with_the_saved_classifier(graph, tmp_path, uci_parquet):
    from rfm_pipeline.definitions import defs

    out = tmp_path / "scored.csv"
    config = {"path": str(uci_parquet), "out": str(out), "as_of": "2011-01-01"}
    job = defs.resolve_job_def("score_new_customers")
    result = job.execute_in_process(
        run_config={"ops": {"score_transactions": {"config": config}}},
        resources=resources(graph.warehouse),
    )
    assert result.success
    scored = pd.read_csv(out, dtype={"customer_id": str})
    assert scored["customer_id"].tolist() == ["12583", "17850"]
    assert scored["segment_id"].notna().all()
    assert scored["p_active"].between(0, 1).all() and (scored["expected_spend_90d"] > 0).all()
    assert isinstance(result.dagster_run, dg.DagsterRun)
