"""clean_transactions: the study's cleaning, its funnel in the metadata, its blocking checks."""

from __future__ import annotations

from dataclasses import replace

import dagster as dg
import pandas as pd

from rfm_pipeline.core import cleaning
from rfm_pipeline.defs.cleaning import clean_transactions
from rfm_pipeline.defs.ingest import raw_transactions
from rfm_pipeline_tests.conftest import UCI_ROWS, uci_frame
from rfm_pipeline_tests.defs.conftest import CLEANING, ingest_config, resources


def test_assets_materialise_to_the_warehouse_with_metadata(tmp_path, uci_parquet):
    result = dg.materialize(
        [raw_transactions, clean_transactions],
        resources=resources(tmp_path),
        run_config=ingest_config(uci_parquet),
    )
    assert result.success
    clean = pd.read_parquet(tmp_path / "clean_transactions.parquet").sort_values("line_no")
    # one line without a customer, the cancellation and the postage line go
    assert len(clean) == 4
    assert clean["quantity_canceled"].tolist() == [2, 0, 0, 0]
    raw_meta = result.asset_materializations_for_node("raw_transactions")[0].metadata
    assert raw_meta["dagster/row_count"].value == 7
    assert raw_meta["customers"].value == 2
    clean_meta = result.asset_materializations_for_node("clean_transactions")[0].metadata
    funnel = [r.data["rows_after"] for r in clean_meta["funnel"].records]
    assert funnel == [7, 6, 6, 6, 5, 4, 4]
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "no_null_keys": True,
        "positive_quantity_and_price": True,
        "no_cancellations_left": True,
        "funnel_adds_up": True,
        "canceled_within_quantity": True,
    }


def test_one_asset_runs_alone_from_the_stored_upstream(tmp_path, uci_parquet):
    assets = [raw_transactions, clean_transactions]
    dg.materialize(assets, resources=resources(tmp_path), run_config=ingest_config(uci_parquet))
    (tmp_path / "clean_transactions.parquet").unlink()
    result = dg.materialize(assets, resources=resources(tmp_path), selection=CLEANING)
    assert result.success
    assert len(pd.read_parquet(tmp_path / "clean_transactions.parquet")) == 4


def test_a_failing_blocking_check_writes_nothing_and_stops_downstream(tmp_path, monkeypatch):
    # cleaning lets no null key through; a cleaning rule that did would fail "no_null_keys"
    real = cleaning.check_clean

    def with_a_null_key(table, funnel, rules):
        outcomes = real(table, funnel, rules)
        return [
            replace(o, passed=False, offending_rows=1) if o.name == "no_null_keys" else o
            for o in outcomes
        ]

    monkeypatch.setattr(cleaning, "check_clean", with_a_null_key)
    path = tmp_path / "log.parquet"
    uci_frame(UCI_ROWS).to_parquet(path, index=False)
    before = tmp_path / "warehouse" / "clean_transactions.parquet"
    before.parent.mkdir()
    before.write_bytes(b"previous")
    result = dg.materialize(
        [raw_transactions, clean_transactions],
        resources=resources(tmp_path / "warehouse"),
        run_config=ingest_config(path),
        raise_on_error=False,
    )
    assert not result.success
    assert before.read_bytes() == b"previous"
    # the run failed at its second asset: the warehouse resource removed what the first wrote
    assert not (tmp_path / "warehouse" / "raw_transactions.parquet").exists()
    assert not (tmp_path / "warehouse" / ".previous").exists()
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed == ["no_null_keys"]
