"""The job that scores a new transactions file with the saved classifier and forecast."""

import pandas as pd
from upath import UPath

from rfm_pipeline.core.model_files import load_model
from rfm_pipeline_tests.defs.conftest import resources

FEATURES = ["recency", "frequency", "monetary"]


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
    # as of 2011-01-01: 12583 bought 24 clocks at 3.75 on 2010-12-02 (its postage is no
    # product); 17850 two invoices on 2010-12-01, two of its six hearts cancelled:
    # 4 x 2.55 + 6 x 3.39 + 6 x 1.85
    assert scored[FEATURES].values.tolist() == [[29, 1, 90.0], [30, 2, 41.64]]
    saved = load_model(UPath(graph.warehouse / "segment_classifier.skops"))
    x = scored[FEATURES].to_numpy(dtype="float64")
    assert scored["segment_id"].tolist() == saved.model.predict(x).tolist()
    assert (
        scored["probability"].tolist() == saved.model.predict_proba(x).max(axis=1).round(4).tolist()
    )
    named = {c["segment_id"]: c["segment_name"] for c in saved.card["classes"]}
    assert scored["segment_name"].tolist() == [named[s] for s in scored["segment_id"]]
    assert scored["p_active"].between(0, 1).all() and (scored["expected_spend_90d"] > 0).all()
