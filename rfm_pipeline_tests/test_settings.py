"""The Dagster instance: in the project's folder, or in PostgreSQL shared by concurrent runs."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from rfm_pipeline.settings import (
    INSTANCE_CONFIG,
    INSTANCE_HEADER,
    POSTGRES_URL_ENV,
    dagster_home,
)
from rfm_pipeline_tests.conftest import UCI_ROWS, uci_frame


def test_the_instance_file_follows_the_environment_but_keeps_a_hand_edited_one(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(POSTGRES_URL_ENV, raising=False)
    config = tmp_path / "home" / "dagster.yaml"
    config.parent.mkdir()
    config.write_text(INSTANCE_CONFIG)  # as an earlier version wrote it, without the header
    dagster_home()
    assert config.read_text().startswith(INSTANCE_HEADER)
    assert "max_concurrent_runs: 1" in config.read_text()
    assert "postgres" not in config.read_text()
    monkeypatch.setenv(POSTGRES_URL_ENV, "postgresql://postgres@127.0.0.1/dagster")
    dagster_home()
    assert "env: DAGSTER_POSTGRES_URL" in config.read_text()
    assert "max_concurrent_runs: 2" in config.read_text()
    edited = config.read_text().removeprefix(INSTANCE_HEADER) + "# mine\n"
    config.write_text(edited)
    monkeypatch.delenv(POSTGRES_URL_ENV)
    dagster_home()
    assert config.read_text() == edited


@pytest.fixture
def instance_database(postgres_url):
    """A database of the test's own for the instance's tables, dropped afterwards."""
    name = f"dagster_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_two_runs_at_once_share_the_instance_in_postgres(instance_database, tmp_path, monkeypatch):
    monkeypatch.setenv(POSTGRES_URL_ENV, instance_database)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    dagster_home()
    with dg.DagsterInstance.get():  # its tables, made once, as the daemon or the UI would
        pass
    log = tmp_path / "shop.parquet"
    uci_frame(UCI_ROWS).to_parquet(log, index=False)
    command = [
        str(Path(sys.executable).parent / "rfm-pipeline"),
        "run",
        "--input",
        str(log),
        "--select",
        "raw_transactions,clean_transactions",
    ]
    runs = [
        subprocess.Popen([*command, "--warehouse", str(tmp_path / f"w{i}")], stderr=subprocess.PIPE)
        for i in (1, 2)
    ]
    for run in runs:
        assert run.wait(timeout=300) == 0, run.stderr.read().decode()[-2000:]
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        finished = instance.get_runs()
        assert [run.status for run in finished] == [dg.DagsterRunStatus.SUCCESS] * 2
        events = instance.fetch_materializations(dg.AssetKey("clean_transactions"), limit=10)
        assert len(events.records) == 2
