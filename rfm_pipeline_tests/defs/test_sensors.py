"""new_exports_sensor: one run per new or changed export, none for what it has seen."""

from __future__ import annotations

import dagster as dg

from rfm_pipeline.definitions import defs
from rfm_pipeline.defs.sensors import EXPORTS_ENV, new_exports_sensor
from rfm_pipeline_tests.conftest import UCI_ROWS, uci_frame


def evaluate(cursor: str | None):
    context = dg.build_sensor_context(cursor=cursor, definitions=defs)
    return new_exports_sensor(context), context.cursor


def test_new_and_rewritten_exports_each_start_one_run(tmp_path, monkeypatch):
    monkeypatch.setenv(EXPORTS_ENV, str(tmp_path))
    assert defs.get_sensor_def("new_exports_sensor").default_status == (
        dg.DefaultSensorStatus.STOPPED
    )
    frame = uci_frame(UCI_ROWS)
    frame.iloc[:3].to_csv(tmp_path / "2010-12-01.csv", index=False)
    request, cursor = evaluate(None)
    assert isinstance(request, dg.RunRequest)
    assert request.run_config["ops"]["raw_transactions"]["config"]["path"] == str(tmp_path)
    assert request.tags["new_exports"] == "2010-12-01.csv"
    again, same = evaluate(cursor)
    assert isinstance(again, dg.SkipReason) and same == cursor  # nothing twice

    frame.iloc[3:].to_csv(tmp_path / "2010-12-02.csv", index=False)
    added, cursor = evaluate(cursor)
    assert added.tags["new_exports"] == "2010-12-02.csv"
    assert added.run_key != request.run_key

    rewritten = frame.iloc[3:].assign(Quantity=frame.iloc[3:]["Quantity"] + 1)
    rewritten.to_csv(tmp_path / "2010-12-02.csv", index=False)  # same name, same size
    changed, cursor = evaluate(cursor)
    assert isinstance(changed, dg.RunRequest)
    assert changed.tags["new_exports"] == "2010-12-02.csv"

    (tmp_path / "2010-12-01.csv").unlink()  # a removed export starts nothing
    removed, _ = evaluate(cursor)
    assert isinstance(removed, dg.SkipReason)
    assert removed.skip_message.startswith("no new or changed file among 1 in")


def test_the_run_it_requests_is_one_the_weekly_job_accepts(tmp_path, monkeypatch):
    monkeypatch.setenv(EXPORTS_ENV, str(tmp_path))
    uci_frame(UCI_ROWS).to_csv(tmp_path / "2010-12-01.csv", index=False)
    request, _ = evaluate(None)
    job = defs.resolve_job_def("weekly_segmentation")
    assert request.job_name in (None, job.name)
    dg.validate_run_config(job, request.run_config)  # raises if the job would refuse it
    assert job.partitions_def.has_partition_key(request.partition_key)


def test_without_a_location_the_sensor_says_what_to_set(monkeypatch):
    monkeypatch.delenv(EXPORTS_ENV, raising=False)
    skipped, _ = evaluate(None)
    assert EXPORTS_ENV in skipped.skip_message
