"""A failed run's put-back, as the instance records it: after a step fails, the latest
materialisation of every asset and week describes the file on disk, and a put-back that
fails itself is told in the run and loses nothing. Toy assets on the project's warehouse
resource and IO manager."""

import hashlib
import logging
from pathlib import Path

import dagster as dg
import pandas as pd

from rfm_pipeline.defs.resources import PUT_BACK_AFTER, Warehouse
from rfm_pipeline_tests.conftest import hashes
from rfm_pipeline_tests.defs.conftest import resources

WEEKS = ["2011-11-21", "2011-11-28"]


class Rows(dg.Config):
    rows: int = 3


class Outcome(dg.Config):
    block: bool = False  # first put a file where the weekly table's folder is


@dg.asset
def table(config: Rows) -> dg.Output[pd.DataFrame]:
    frame = pd.DataFrame({"n": range(config.rows)})
    return dg.Output(frame, metadata={"dagster/row_count": len(frame)})


@dg.asset(partitions_def=dg.StaticPartitionsDefinition(WEEKS))
def weekly(config: Rows, table: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    frame = pd.DataFrame({"n": range(config.rows)})
    return dg.Output(frame, metadata={"dagster/row_count": len(frame)})


@dg.asset(partitions_def=dg.StaticPartitionsDefinition(WEEKS), deps=[weekly])
def last_step(config: Outcome, warehouse: Warehouse) -> None:
    if config.block:
        folder = Path(warehouse.path("weekly").path)
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
        folder.write_text("not a folder")
    raise RuntimeError("the last step fails")


def run(
    instance: dg.DagsterInstance,
    warehouse: Path,
    week: str,
    rows: int,
    fail: bool = False,
    block: bool = False,
) -> dg.ExecuteInProcessResult:
    """Materialise the toy tables for `week` with `rows` rows; with `fail`, then a last step
    that fails (with `block`, after putting a file where the weekly table's folder is)."""
    return dg.materialize(
        [table, weekly, last_step] if fail else [table, weekly],
        resources=resources(warehouse),
        run_config={
            "ops": {
                "table": {"config": {"rows": rows}},
                "weekly": {"config": {"rows": rows}},
                **({"last_step": {"config": {"block": block}}} if fail else {}),
            }
        },
        partition_key=week,
        instance=instance,
        raise_on_error=False,
    )


def described(
    instance: dg.DagsterInstance,
) -> dict[tuple[str, str | None], dg.AssetMaterialization]:
    """The latest materialisation of each toy table and week the instance holds."""
    latest = {}
    for name in ("table", "weekly"):
        records = instance.fetch_materializations(dg.AssetKey(name), limit=100).records
        for record in records:  # newest first
            latest.setdefault((name, record.partition_key), record.asset_materialization)
    return latest


def tables_on_disk(warehouse: Path) -> dict[tuple[str, str | None], int]:
    """Each toy table's own file (not the stable copy of the newest week) and its rows."""
    found = {("table", None): warehouse / "table.parquet"}
    found |= {("weekly", week): warehouse / "weekly" / f"{week}.parquet" for week in WEEKS}
    return {key: len(pd.read_parquet(path)) for key, path in found.items() if path.exists()}


def assert_instance_describes_the_files(instance, warehouse: Path) -> None:
    latest = described(instance)
    rows = {key: m.metadata["dagster/row_count"].value for key, m in latest.items()}
    assert rows == tables_on_disk(warehouse)


def test_a_failed_run_leaves_the_instance_describing_the_files_put_back(tmp_path):
    warehouse = tmp_path / "warehouse"
    with dg.instance_for_test() as instance:
        first = run(instance, warehouse, WEEKS[0], rows=3)
        assert first.success
        before = hashes(warehouse)

        # the same week again: both tables replaced, then the last step fails
        again = run(instance, warehouse, WEEKS[0], rows=5, fail=True)
        assert not again.success
        assert hashes(warehouse) == before
        assert_instance_describes_the_files(instance, warehouse)
        latest = described(instance)
        assert latest["table", None].metadata[PUT_BACK_AFTER].value == again.run_id
        assert latest["weekly", WEEKS[0]].tags["dagster/code_version"]  # staleness as before
        warnings = [
            e.user_message
            for e in instance.all_logs(again.run_id)
            if e.level == logging.WARNING and "put back" in e.user_message
        ]
        assert len(warnings) == 1, warnings  # the two tables and the newest week's stable copy
        assert "3 outputs put back" in warnings[0] and "2 assets: table, weekly" in warnings[0]

        # a new week: its file is created, then removed; the instance forgets that week only
        new = run(instance, warehouse, WEEKS[1], rows=7, fail=True)
        assert not new.success
        assert hashes(warehouse) == before
        assert_instance_describes_the_files(instance, warehouse)
        assert instance.get_materialized_partitions(dg.AssetKey("weekly")) == {WEEKS[0]}
        assert not (warehouse / ".previous").exists()


def test_a_put_back_that_fails_is_told_and_the_next_run_finishes_it(tmp_path):
    warehouse = tmp_path / "warehouse"
    with dg.instance_for_test() as instance:
        assert run(instance, warehouse, WEEKS[0], rows=3).success
        before = hashes(warehouse)
        blocked = run(instance, warehouse, WEEKS[0], rows=5, fail=True, block=True)
        assert not blocked.success
        errors = [
            e.user_message for e in instance.all_logs(blocked.run_id) if e.level == logging.ERROR
        ]
        kept = warehouse / ".previous" / blocked.run_id
        told = [
            m
            for m in errors
            if m.startswith(f"putting back the outputs of run {blocked.run_id} failed")
        ]
        assert len(told) == 1 and str(kept) in told[0], errors
        copy = kept / "weekly" / f"{WEEKS[0]}.parquet"
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == before[f"weekly/{WEEKS[0]}.parquet"]

        (warehouse / "weekly").unlink()  # unblocked: the next run puts everything back first
        later = dg.materialize(
            [table],
            resources=resources(warehouse),
            run_config={"ops": {"table": {"config": {"rows": 3}}}},
            instance=instance,
        )
        assert hashes(warehouse) == before
        assert_instance_describes_the_files(instance, warehouse)
        recovered = [
            e.user_message for e in instance.all_logs(later.run_id) if e.level == logging.WARNING
        ]
        assert any(f"run {blocked.run_id} ended without putting" in m for m in recovered)
        assert (
            described(instance)["weekly", WEEKS[0]].metadata[PUT_BACK_AFTER].value == blocked.run_id
        )
