"""The transaction stage on Spark as teams run it: a standalone cluster (a master and a worker)
and a Spark Connect server, each started here from the installed pyspark, bound to 127.0.0.1,
and stopped afterwards. Each gives DuckDB's tables, to the line and the cent."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from upath import UPath

from rfm_pipeline.core import engine
from rfm_pipeline.core.ingest import read_log
from rfm_pipeline.core.storage import write_table
from rfm_pipeline.settings import BUNDLED_INPUT
from rfm_pipeline_tests.conftest import (
    UCI_ROWS,
    assert_same,
    stage,
    unavailable,
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Service:
    """A Spark service (a JVM) started from the installed pyspark's scripts."""

    def __init__(self, log: Path, script: str, *arguments: str) -> None:
        home = spark_home()
        environment = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1"}
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(home / "bin" / script), *arguments],
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the script's JVM too, stopped as one group
            )

    def wait_for(self, text: str, seconds: float = 120) -> None:
        """Until the service's log shows `text`; a service that ends or never says it fails."""
        deadline = time.monotonic() + seconds
        while text not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
                unavailable(f"{self.log.stem} did not start: {' | '.join(tail)}")
            time.sleep(0.5)

    def stop(self) -> None:
        """Asked to stop, then killed: a Connect server waits for its open sessions."""
        for sent in (signal.SIGTERM, signal.SIGKILL):
            if self.process.poll() is None:
                os.killpg(self.process.pid, sent)
                try:
                    self.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    continue


def spark_home() -> Path:
    """The installed pyspark, which ships Spark's scripts and jars."""
    import pyspark

    return Path(pyspark.__file__).parent


def connect_jar() -> Path:
    """The Spark Connect server, shipped in pyspark's own jars."""
    return next((spark_home() / "jars").glob("spark-connect_*.jar"))


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """A standalone master with one worker of two cores, and a Spark Connect server in local
    mode: their URLs."""
    if subprocess.run(["java", "-version"], capture_output=True).returncode != 0:
        unavailable("Spark needs Java 17, which is not installed")
    logs = tmp_path_factory.mktemp("spark_logs")
    port, connect = free_port(), free_port()
    master = f"spark://127.0.0.1:{port}"
    started = [
        Service(
            logs / "master.log",
            "spark-class",
            *("org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"),
            *("--port", str(port), "--webui-port", str(free_port())),
        )
    ]
    try:
        started[0].wait_for("I have been elected leader")
        started.append(
            Service(
                logs / "worker.log",
                "spark-class",
                *("org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1"),
                *("--cores", "2", "--memory", "3g", "--webui-port", str(free_port()), master),
            )
        )
        started.append(
            Service(
                logs / "connect.log",
                "spark-submit",
                *("--class", "org.apache.spark.sql.connect.service.SparkConnectServer"),
                *("--master", "local[2]", "--driver-memory", "2g"),
                *("--conf", "spark.connect.grpc.binding.address=127.0.0.1"),
                *("--conf", f"spark.connect.grpc.binding.port={connect}"),
                *("--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.ui.enabled=false"),
                str(connect_jar()),
            )
        )
        started[1].wait_for("Successfully registered with master")
        started[2].wait_for("Spark Connect server started")
        yield {"cluster": master, "connect": f"sc://127.0.0.1:{connect}"}
    finally:
        for service in reversed(started):
            service.stop()


def test_the_bundled_data_through_a_standalone_cluster(services, tmp_path, bundled_on_duckdb):
    """As a team runs it: the command on the cluster's master URL, the log a CSV file (read
    here, then staged in a folder the executors read), the tables written by the executors."""
    log = tmp_path / "online_retail.csv"
    pd.read_parquet(BUNDLED_INPUT).to_csv(log, index=False)
    warehouse, staging = tmp_path / "warehouse", tmp_path / "staging"
    staging.mkdir()
    command = [
        *(str(Path(sys.executable).parent / "rfm-pipeline"), "run", "--input", str(log)),
        *("--engine", "spark", "--spark-master", services["cluster"]),
        *("--spark-staging", str(staging), "--warehouse", str(warehouse)),
        *("--select", "raw_transactions,clean_transactions,rfm_table"),
    ]
    environment = {**os.environ, "DAGSTER_HOME": str(tmp_path), "SPARK_LOCAL_IP": "127.0.0.1"}
    done = subprocess.run(command, env=environment, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "materialised rfm_table                4,334 rows" in done.stdout
    assert list(staging.iterdir()) == []  # the staged tables are removed when the run ends
    clean = pd.read_parquet(warehouse / "clean_transactions.parquet")
    assert any((warehouse / "clean_transactions.parquet").glob("part-*.parquet"))
    rfm = pd.read_parquet(warehouse / "rfm_table.parquet")
    for name, got, order in (("clean", clean, "line_no"), ("rfm", rfm, "customer_id")):
        expected = bundled_on_duckdb[name]
        got = got.sort_values(order, ignore_index=True)[list(expected.columns)]
        assert got.astype(str).equals(expected.astype(str)), name


def test_the_bundled_data_on_spark_connect(services, tmp_path, bundled_on_duckdb):
    con = engine.connect_spark(services["connect"], staging=str(tmp_path))
    assert engine.spark_description(con) == {
        "spark_master": services["connect"],
        "spark_version": con.version,
    }
    assert_same(bundled_on_duckdb, stage(con, BUNDLED_INPUT))


def test_a_remote_session_without_a_shared_staging_location_is_refused(services, spark):
    con = engine.connect_spark(services["connect"])
    with pytest.raises(ValueError, match=r"^Spark at sc://127\.0\.0\.1:\d+ may run its"):
        engine.transfer(pa.table({"a": [1]}).to_reader(), con)
    moved = engine.transfer(pa.table({"a": [1, 2]}).to_reader(), spark)
    assert moved.a.sum().execute() == 3  # a local session stages on this machine


def test_an_object_store_log_reaches_a_remote_session_through_its_staging(
    services, tmp_path, uci_parquet, object_store
):
    """The log is fetched here, so the executors read it from the staging location, not from
    this machine's copy; the table is the one DuckDB reads."""
    object_store.put_file(str(uci_parquet), "/shop/log.parquet")
    con = engine.connect_spark(services["connect"], staging=str(tmp_path))
    got = read_log(con, "memory://shop/log.parquet").table.to_pyarrow().to_pandas()
    expected = read_log(engine.connect(), uci_parquet).table.to_pyarrow().to_pandas()
    assert len(got) == len(UCI_ROWS)
    assert list(tmp_path.glob("rfm_pipeline_staging_*/*.parquet"))  # read from there
    assert got.sort_values("line_no", ignore_index=True).astype(str).equals(expected.astype(str))


def test_a_remote_session_never_writes_a_table_through_this_machine(services, tmp_path):
    con = engine.connect_spark(services["connect"], staging=str(tmp_path))
    table = con.sql("SELECT 1 AS a")
    with pytest.raises(ValueError, match="give a --warehouse folder every host mounts"):
        write_table(table, UPath("memory://warehouse/a.parquet"))
    write_table(table, UPath(tmp_path / "a.parquet"))  # a shared folder: written in place
    assert pd.read_parquet(tmp_path / "a.parquet")["a"].tolist() == [1]
