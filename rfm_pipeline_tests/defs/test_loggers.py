"""The command line's progress logger: a line per step as it starts and ends."""

import dagster as dg

from rfm_pipeline.defs.loggers import progress


def test_each_step_prints_when_it_runs_and_ends(capsys):
    @dg.asset
    def one() -> int:
        return 1

    definitions = dg.Definitions(
        assets=[one], loggers={"progress": progress}, resources={"io_manager": dg.mem_io_manager}
    )
    job = definitions.resolve_implicit_global_asset_job_def()
    assert job.execute_in_process(run_config={"loggers": {"progress": {}}}).success
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "  running  one"
    assert out[1].startswith("  done     one") and out[1].endswith(" s")
