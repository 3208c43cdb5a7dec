"""The Definitions object loads, and the assets run under Dagster with their config and checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rfm_pipeline.definitions import ON_ENGINE, defs, project_definitions
from rfm_pipeline.defs.resources import Engine
from rfm_pipeline.settings import EARLIEST_WEEK, PROJECT_ROOT


def test_definitions_load_with_groups_and_the_everything_job():
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    assert specs["raw_transactions"].group_name == "ingest"
    assert specs["clean_transactions"].group_name == "cleaning"
    assert specs["clean_transactions"].kinds == {"duckdb"}
    assert all(spec.code_version for spec in specs.values())
    assert all(spec.description for spec in specs.values())
    job = defs.resolve_job_def("everything")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} >= set(specs)
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert {"no_null_keys", "funnel_adds_up", "canceled_within_quantity"} <= checks


def test_the_transaction_assets_kinds_name_the_engine_they_run_on(monkeypatch):
    monkeypatch.setenv("RFM_PIPELINE_ENGINE", "spark")
    monkeypatch.setenv("RFM_PIPELINE_SPARK_MASTER", "sc://spark.example:15002")
    monkeypatch.setenv("RFM_PIPELINE_SPARK_STAGING", "s3a://bucket/staging")
    deployed = project_definitions(Engine.from_environment())
    assert deployed.resources["engine"].spark_master == "sc://spark.example:15002"
    assert deployed.resources["engine"].spark_staging == "s3a://bucket/staging"
    specs = {spec.key.to_user_string(): spec for spec in deployed.resolve_all_asset_specs()}
    on_spark = {name for name, spec in specs.items() if "spark" in spec.kinds}
    assert on_spark == {
        "raw_transactions",
        "clean_transactions",
        "rfm_table",
        "eda_report",
        "product_categories",
        "customer_interests",
    }
    assert specs["product_categories"].kinds == {"spark", "sklearn"}
    assert not any("duckdb" in spec.kinds or ON_ENGINE in spec.kinds for spec in specs.values())


def dg_command(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The `dg` command line, run in the project as a developer runs it."""
    command = [str(Path(sys.executable).with_name("dg")), *args]
    return subprocess.run(
        command, cwd=PROJECT_ROOT, env={**os.environ, **env}, capture_output=True, text=True
    )


def test_dg_checks_and_lists_the_definitions(tmp_path):
    env = {"DAGSTER_HOME": str(tmp_path)}
    checked = dg_command("check", "defs", env=env)
    assert checked.returncode == 0, checked.stderr[-2000:]
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr
    listed = dg_command("list", "defs", "--json", env=env)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assets = {a["asset_key"] for a in json.loads(listed.stdout)["assets"]}
    expected = {s.key.to_user_string() for s in defs.resolve_all_asset_specs()}
    assert assets == expected


def test_dg_launches_one_asset_for_one_week_on_a_materialised_warehouse(graph, tmp_path):
    env = {"DAGSTER_HOME": str(tmp_path), "RFM_PIPELINE_WAREHOUSE": str(graph.warehouse)}
    launched = dg_command("launch", "--assets", "rfm_table", "--partition", "2011-11-21", env=env)
    assert launched.returncode == 0, launched.stderr[-2000:]
    table = graph.table("rfm_table", week="2011-11-21")
    assert set(table["as_of"].astype(str)) == {"2011-11-28"}


def first_partition(warehouse: Path) -> str:
    """The first weekly partition the definitions hold when they serve `warehouse`."""
    code = "from rfm_pipeline.defs.weeks import weeks; print(weeks.get_first_partition_key())"
    env = {**os.environ, "RFM_PIPELINE_WAREHOUSE": str(warehouse)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_the_weeks_begin_where_the_warehouses_data_begins(graph, tmp_path):
    # the graph's shop first bought on Wednesday 2010-12-01: its week is that of Monday 11-29
    assert first_partition(graph.warehouse) == "2010-11-29"
    assert first_partition(tmp_path) == EARLIEST_WEEK  # no run yet: any log's weeks fit
