"""`rfm-pipeline run` after a failure: its runs stand or fall together, so the warehouse never
holds tables of two logs, the instance describes the files put back, and a put-back that
fails is told in one line with nothing lost."""

import logging

import dagster as dg
import pandas as pd
import pytest
from upath import UPath

from rfm_pipeline.cli import main, project_instance
from rfm_pipeline.core.storage import Journal
from rfm_pipeline.defs.resources import PUT_BACK_AFTER, Warehouse
from rfm_pipeline_tests.conftest import UCI_ROWS, hashes, uci_frame
from rfm_pipeline_tests.test_bad_input import run_args

TRANSACTION_LEVEL = ["raw_transactions", "clean_transactions"]
WEEKLY = ["rfm_table", "rfm_features"]
SELECT = ["--select", ",".join(TRANSACTION_LEVEL + WEEKLY)]
"""Two runs per command, as with every asset: the transaction level, then a week."""


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return tmp_path


def shops(home):
    """Two small logs: the first shop's, and a second shop's, three weeks later."""
    first, second = home / "first.parquet", home / "second.parquet"
    uci_frame(UCI_ROWS).to_parquet(first)
    later = pd.to_datetime(uci_frame(UCI_ROWS)["InvoiceDate"]) + pd.Timedelta(weeks=3)
    uci_frame(UCI_ROWS).assign(InvoiceDate=later, CustomerID=[1.0] * 6 + [None]).to_parquet(second)
    return first, second


def described(names: list[str]) -> dict[tuple[str, str | None], dict]:
    """The latest materialisation of each asset and week in the project's instance, as the
    metadata that describes its file (without the note of a put-back)."""
    latest = {}
    with project_instance() as instance:
        for name in names:
            for record in instance.fetch_materializations(dg.AssetKey(name), limit=100).records:
                metadata = record.asset_materialization.metadata
                latest.setdefault(
                    (name, record.partition_key),
                    {k: v.value for k, v in metadata.items() if k != PUT_BACK_AFTER},
                )
    return latest


def test_a_failed_week_puts_back_the_whole_command(home, monkeypatch, capsys):
    first, second = shops(home)
    warehouse = home / "warehouse"
    assert main(run_args(home, first, *SELECT)) == 0
    capsys.readouterr()
    before, instance_before = hashes(warehouse), described(TRANSACTION_LEVEL + WEEKLY)
    assert ("rfm_table", "2010-11-29") in instance_before

    publish = Warehouse.publish

    def full_disk(self, name, suffix, week, write):
        if name == "rfm_features":
            raise OSError("No space left on device")
        return publish(self, name, suffix, week, write)

    monkeypatch.setattr(Warehouse, "publish", full_disk)
    assert main(run_args(home, second, *SELECT)) == 1
    out, err = capsys.readouterr()
    assert err.strip().splitlines() == ["error: No space left on device"]
    assert "week 2010-12-20" in out  # a week the first shop has no table of
    assert "files of this command's earlier runs too" in out

    # the second shop's cleaned lines (their run had succeeded) and its week are gone
    assert hashes(warehouse) == before
    assert len(pd.read_parquet(warehouse / "clean_transactions.parquet")) == 4
    # and the instance says so: every latest materialisation is the first command's again
    assert described(TRANSACTION_LEVEL + WEEKLY) == instance_before


def test_a_put_back_that_fails_says_where_the_copies_are(home, monkeypatch, capsys):
    warehouse = home / "warehouse"
    warehouse.mkdir()
    (warehouse / "raw_transactions.parquet").write_bytes(b"an earlier log's lines")
    cancelled = home / "cancelled.parquet"  # readable; cleaning leaves nothing and fails
    uci_frame(UCI_ROWS).assign(InvoiceNo="C1", Quantity=-1).to_parquet(cancelled)

    def blocked(self):
        raise PermissionError(f"[Errno 13] Permission denied: '{warehouse}'")

    monkeypatch.setattr(Journal, "restore", blocked)
    assert main(run_args(home, cancelled, "--select", ",".join(TRANSACTION_LEVEL))) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no purchase line is left after cleaning" in err[0], err
    assert "; then putting back the outputs of run" in err[0]
    assert "failed: [Errno 13] Permission denied" in err[0]
    assert f"the earlier versions are kept in {warehouse / '.previous'}" in err[0]
    (kept,) = (warehouse / ".previous").iterdir()
    assert (kept / "raw_transactions.parquet").read_bytes() == b"an earlier log's lines"
    assert not Journal(UPath(warehouse), kept.name).alive()  # so the next run puts it back
    with project_instance() as instance:  # and the run's log, which the UI shows, says so
        (run,) = instance.get_runs()
        logged = [e.user_message for e in instance.all_logs(run.run_id) if e.level == logging.ERROR]
    assert any(m.startswith(f"putting back the outputs of run {run.run_id} failed") for m in logged)
