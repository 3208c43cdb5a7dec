"""The `rfm-pipeline` command: success, and one clear line with exit 2 for each bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from unittest import mock

import dagster as dg
import pandas as pd
import pytest

from rfm_pipeline.cli import UsageError, build_parser, main, resolve_selection, run_config
from rfm_pipeline_tests.conftest import UCI_ROWS, uci_frame


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A Dagster instance and a warehouse of the test's own."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return tmp_path


def run(home, *args: str) -> int:
    return main(["run", "--warehouse", str(home / "warehouse"), *args])


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_run_on_a_csv_with_mapped_columns(home, capsys):
    path = home / "shop.csv"
    uci_frame(UCI_ROWS).rename(columns={"UnitPrice": "Preis"}).to_csv(path, index=False)
    assert run(home, "--input", str(path), "--map", "Preis=unit_price") == 0
    out = capsys.readouterr().out
    assert "  running  clean_transactions" in out  # a line per step as it runs
    assert out.index("  done     raw_transactions") < out.index("  done     clean_transactions")
    assert "materialised clean_transactions" in out
    assert "drop missing customer" in out
    clean = pd.read_parquet(home / "warehouse" / "clean_transactions.parquet")
    assert len(clean) == 4


def test_missing_file(home, capsys):
    assert run(home, "--input", str(home / "nothere.csv")) == 2
    assert one_error_line(capsys).endswith("nothere.csv: file not found")


def test_truncated_file(home, capsys, uci_parquet):
    broken = home / "broken.parquet"
    broken.write_bytes(uci_parquet.read_bytes()[:300])
    assert run(home, "--input", str(broken)) == 2
    assert "broken.parquet: cannot read the file" in one_error_line(capsys)


def test_missing_required_column(home, capsys):
    path = home / "shop.parquet"
    uci_frame(UCI_ROWS).drop(columns=["InvoiceDate"]).to_parquet(path)
    assert run(home, "--input", str(path)) == 2
    assert "missing required column invoice_date" in one_error_line(capsys)


def test_non_numeric_quantity(home, capsys):
    path = home / "shop.csv"
    frame = uci_frame(UCI_ROWS).astype({"Quantity": str})
    frame.loc[2, "Quantity"] = "lots"
    frame.to_csv(path, index=False)
    assert run(home, "--input", str(path)) == 2
    assert one_error_line(capsys) == (
        f"error: {path}: column 'Quantity': values that are not a number: 'lots'"
    )


def test_non_numeric_price(home, capsys):
    path = home / "shop.csv"
    frame = uci_frame(UCI_ROWS).astype({"UnitPrice": str})
    frame.loc[1, "UnitPrice"] = "3,39"
    frame.to_csv(path, index=False)
    assert run(home, "--input", str(path)) == 2
    assert "column 'UnitPrice': values that are not a number: '3,39'" in one_error_line(capsys)


def test_unparseable_date(home, capsys):
    path = home / "shop.csv"
    frame = uci_frame(UCI_ROWS)
    frame.loc[0, "InvoiceDate"] = "2010-13-45 08:26:00"
    frame.to_csv(path, index=False)
    assert run(home, "--input", str(path)) == 2
    assert (
        "column 'InvoiceDate': values that are not a date (read as ISO 8601; give"
        " --date-format): '2010-13-45 08:26:00'" in one_error_line(capsys)
    )


def test_unknown_map_source(home, capsys, uci_parquet):
    assert run(home, "--input", str(uci_parquet), "--map", "Cost=unit_price") == 2
    assert "the column map names 'Cost', which is not in the file" in one_error_line(capsys)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--map", "Cost"], "--map expects SOURCE=TARGET, got 'Cost'"),
        (["--as-of", "10/12/2011"], "--as-of expects YYYY-MM-DD, got '10/12/2011'"),
        (["--select", "nothing"], "--select: unknown asset nothing"),
        (["--week", "2011-11-30"], "--week: 2011-11-30 is a Wednesday; weeks start on Monday"),
        (["--week", "2011-11-28:2011-11-21"], "--week: 2011-11-21 is before 2011-11-28"),
        (
            ["--week", "1989-01-02"],
            "--week: 1989-01-02 is before the first week, 1990-01-01",
        ),
        (["--week", "2011-11-28", "--as-of", "2011-12-01"], "--week and --as-of exclude each"),
        (["--select", "rfm_table"], "clean_transactions.parquet does not exist: select"),
    ],
)
def test_bad_arguments(home, capsys, args, message):
    assert run(home, *args) == 2
    assert message in one_error_line(capsys)


def test_cutoffs_sets_how_many_the_backtest_scores_and_must_be_at_least_one(capsys):
    args = build_parser().parse_args(["run", "--cutoffs", "2"])
    config = run_config(args, {"value_backtest", "customer_value"})
    assert config["ops"]["value_backtest"] == {"config": {"cutoff_count": 2}}
    default = build_parser().parse_args(["run"])
    assert "value_backtest" not in run_config(default, {"value_backtest"})["ops"]
    for wrong in ("0", "two"):
        with pytest.raises(SystemExit) as stopped:
            main(["run", "--cutoffs", wrong])
        assert stopped.value.code == 2
        assert f"expects a whole number of at least 1, got '{wrong}'" in capsys.readouterr().err


def test_the_console_script_exits_2_with_one_line(home):
    result = subprocess.run(
        [sys.executable, "-m", "rfm_pipeline.cli", "run", "--input", str(home / "x.parquet")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {home / 'x.parquet'}: file not found"]


def test_without_descriptions_the_category_assets_skip_and_rfm_runs(home, capsys):
    path = home / "plain.parquet"
    uci_frame(UCI_ROWS).drop(columns=["Description"]).to_parquet(path)
    assert run(home, "--input", str(path)) == 0
    assert "materialised customer_segments" in capsys.readouterr().out
    with dg.DagsterInstance.get() as instance:
        reasons = {
            name: instance.get_latest_materialization_event(dg.AssetKey(name))
            .asset_materialization.metadata["skipped"]
            .value
            for name in ("product_categories", "customer_interests", "interest_classifier")
        }
    assert reasons == {
        "product_categories": "skipped: input has no product descriptions",
        "customer_interests": "skipped: no product categories",
        "interest_classifier": "skipped: no product categories",
    }
    assert (home / "warehouse" / "segment_report.html").exists()


def test_select_speaks_dagsters_selection_language(home, capsys, uci_parquet):
    assert run(home, "--input", str(uci_parquet), "--select", "+rfm_table") == 0
    out = capsys.readouterr().out
    built = {line.split()[1] for line in out.splitlines() if line.startswith("materialised")}
    # with what the same steps make beside them: the log's summary and the cleaning's
    made = {"raw_transactions", "raw_summary", "clean_transactions", "cleaning_summary"}
    assert built == {*made, "rfm_table"}
    assert run(home, "--select", "group:rfm") == 0  # from the stored transactions
    out = capsys.readouterr().out
    built = {line.split()[1] for line in out.splitlines() if line.startswith("materialised")}
    assert built == {"rfm_table", "rfm_scores", "rfm_features"}


def test_the_command_leaves_the_process_environment_as_it_found_it(home, uci_parquet, monkeypatch):
    """The warehouse and instance reach the runs as arguments: a later call (or test) in the
    same process never inherits them."""
    monkeypatch.delenv("RFM_PIPELINE_WAREHOUSE", raising=False)
    names = ("RFM_PIPELINE_WAREHOUSE", "DAGSTER_HOME")
    before = {name: os.environ.get(name) for name in names}
    assert run(home, "--input", str(uci_parquet), "--select", "raw_transactions") == 0
    assert (home / "warehouse" / "raw_transactions.parquet").exists()
    assert (home / "dagster_home" / "history").is_dir()  # the runs went to the test's instance
    assert {name: os.environ.get(name) for name in names} == before


def test_reading_options_without_raw_transactions_are_an_error_naming_the_fix(
    home, capsys, uci_parquet
):
    assert run(home, "--input", str(uci_parquet), "--select", "rfm_table") == 2
    assert one_error_line(capsys) == (
        "error: --input only apply when raw_transactions runs: add it to --select (for example"
        " --select +rfm_table), or leave the option out to use the stored raw_transactions"
    )


def test_run_on_spark_writes_the_tables_with_spark(home, capsys, uci_parquet, spark):
    select = ["--select", "raw_transactions,clean_transactions"]
    assert run(home, "--input", str(uci_parquet), "--engine", "spark", *select) == 0
    assert "drop missing customer" in capsys.readouterr().out
    written = home / "warehouse" / "clean_transactions.parquet"
    assert written.is_dir() and any(written.glob("part-*.parquet"))  # Spark's own parts
    assert len(pd.read_parquet(written)) == 4
    with dg.DagsterInstance.get() as instance:  # where the UI shows the run's engine
        event = instance.get_latest_materialization_event(dg.AssetKey("clean_transactions"))
        metadata = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    assert (metadata["engine"], metadata["spark_master"]) == ("spark", "local[2]")
    assert metadata["spark_version"].startswith("4.0.")


def test_a_database_password_never_shows(home, capsys, monkeypatch, postgres_url):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    url = postgres_url.replace("://postgres@", "://postgres:s3cret@")  # trust: any password
    args = ["--input", url, "--table", "no_such_table", "--engine", "postgres"]
    assert run(home, *args, "--select", "raw_transactions") == 2
    line = one_error_line(capsys)
    assert line.endswith("table no_such_table: no such table in the database")
    assert "s3cret" not in line
    assert os.environ["PGPASSWORD"] == "s3cret"  # where libpq finds it
    with dg.DagsterInstance.get() as instance:
        (record,) = instance.get_runs()
        assert "s3cret" not in json.dumps(record.run_config)  # what the UI shows
        assert all("s3cret" not in str(event) for event in instance.all_logs(record.run_id))


def test_the_postgres_engine_needs_a_database(home, capsys, uci_parquet):
    assert run(home, "--input", str(uci_parquet), "--engine", "postgres") == 2
    assert "--engine postgres needs --database" in one_error_line(capsys)


def test_run_on_a_folder_of_exports(home, capsys):
    folder = home / "exports"
    folder.mkdir()
    frame = uci_frame(UCI_ROWS)
    frame.iloc[:3].to_csv(folder / "2010-12-01.csv", index=False)
    frame.iloc[3:].to_csv(folder / "2010-12-02.csv", index=False)
    assert run(home, "--input", str(folder), "--select", "raw_transactions,clean_transactions") == 0
    raw = pd.read_parquet(home / "warehouse" / "raw_transactions.parquet")
    assert sorted(raw["line_no"]) == list(range(len(UCI_ROWS)))
    assert len(pd.read_parquet(home / "warehouse" / "clean_transactions.parquet")) == 4


@pytest.fixture(scope="module")
def known_assets():
    from rfm_pipeline.definitions import defs

    job = defs.resolve_job_def("everything")
    known = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    return defs.resolve_asset_graph(), known


def test_select_reads_downstream_kinds_and_several_clauses(known_assets):
    graph, known = known_assets
    assert resolve_selection("rfm_features+", graph, known) >= {
        "rfm_features",
        "pca_segmentation",
        "umap_segmentation",
        "tsne_segmentation",
        "customer_segments",
        "segment_report",
    }
    assert "rfm_table" not in resolve_selection("rfm_features+", graph, known)
    assert resolve_selection("kind:umap", graph, known) == {
        "umap_segmentation",
        "umap_sweep",
        "new_customer_evaluation",
    }
    both = resolve_selection("raw_transactions, group:rfm", graph, known)
    assert both == {"raw_transactions", "raw_summary", "rfm_table", "rfm_scores", "rfm_features"}


def test_a_selection_that_matches_nothing_is_refused_naming_it(home, capsys, known_assets):
    graph, known = known_assets
    with pytest.raises(UsageError, match="'kind:nothing' selects no asset"):
        resolve_selection("kind:nothing", graph, known)
    assert run(home, "--select", "no_such_asset") == 2
    assert one_error_line(capsys).startswith("error: --select: unknown asset no_such_asset")


def test_a_failure_that_is_not_bad_input_exits_1_with_one_line(home, capsys, uci_parquet):
    from rfm_pipeline.core import rfm

    def broken(*args, **kwargs):
        raise RuntimeError("the disk went away")

    with mock.patch.object(rfm, "rfm_table", broken):
        assert run(home, "--input", str(uci_parquet), "--select", "+rfm_table") == 1
    assert "the disk went away" in one_error_line(capsys)
