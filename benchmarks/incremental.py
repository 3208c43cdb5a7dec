"""Only what is new: a year of daily exports plus one new day, appended by `raw_transactions`
against the same files read whole again.

The bundled log, scaled (`scale.scale_up`), is split into one CSV export per invoice day (305
files, a year of trading). Setup: `raw_transactions` reads every day but the last (a full read;
its manifest is written). Then the last day lands and, in separate processes, alternately, each
from a copy of that warehouse, the asset runs as a Dagster run does (`dg.materialize`, the
manifest, the engine's Parquet write): ours appends the one new file to the stored log; the
reference runs without the manifest, so it reads all 305 files again. Both tables must be equal.
Run: `python -m benchmarks incremental [--sizes 1,10]`.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.cleaning import peak_memory_mib
from benchmarks.scale import scaled_logs


def materialise(exports: Path, warehouse: Path) -> dict:
    """`raw_transactions` on the exports, in this process; seconds, how it read, peak."""
    import dagster as dg

    from rfm_pipeline.defs.ingest import raw_transactions
    from rfm_pipeline.defs.io_managers import warehouse_io_manager
    from rfm_pipeline.defs.resources import Engine, Warehouse

    resources = {
        "engine": Engine(),
        "warehouse": Warehouse(base_path=str(warehouse)),
        "io_manager": warehouse_io_manager,
    }
    config = {"ops": {"raw_transactions": {"config": {"path": str(exports)}}}}
    started = time.perf_counter()
    result = dg.materialize([raw_transactions], resources=resources, run_config=config)
    seconds = time.perf_counter() - started
    meta = result.asset_materializations_for_node("raw_transactions")[0].metadata
    return {
        "seconds": round(seconds, 2),
        "read": meta["read"].value,
        "lines": meta["dagster/row_count"].value,
        "peak_mib": round(peak_memory_mib()),
    }


def side(exports: Path, warehouse: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.incremental", str(exports), str(warehouse)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def same_log(first: Path, second: Path) -> bool:
    import pandas as pd

    def read(warehouse: Path) -> pd.DataFrame:
        table = pd.read_parquet(warehouse / "raw_transactions.parquet")
        return table.sort_values("line_no", ignore_index=True)

    return read(first).equals(read(second))


def run(repeats: int = 3, reference_repeats: int = 3, sizes: tuple[int, ...] = (1, 10)) -> dict:
    import datetime as dt

    import pandas as pd

    from rfm_pipeline.demo import daily_exports

    rows = []
    for size, folder, source, lines in scaled_logs(sizes):
        days = daily_exports(pd.read_parquet(source), folder / "till", dt.timedelta(0))
        exports = folder / "exports"
        exports.mkdir()
        for day in days[:-1]:
            shutil.copy(day, exports / day.name)
        setup = side(exports, folder / "base")
        shutil.copy(days[-1], exports / days[-1].name)
        ours, reference = [], []
        for _ in range(max(repeats, reference_repeats)):
            for name, runs, keep_manifest in (("ours", ours, True), ("full", reference, False)):
                if len(runs) >= (repeats if name == "ours" else reference_repeats):
                    continue
                warehouse = folder / name
                shutil.rmtree(warehouse, ignore_errors=True)
                shutil.copytree(folder / "base", warehouse)
                if not keep_manifest:
                    (warehouse / "raw_transactions.manifest.json").unlink()
                runs.append(side(exports, warehouse))
        row = {
            "size": size,
            "files": len(days),
            "lines": lines,
            "setup_full_read_of_earlier_days": setup,
            "ours_append_one_day": ours[-1] | {"median_seconds": _median(ours)},
            "full_re_read": reference[-1] | {"median_seconds": _median(reference)},
            "times_faster": round(_median(reference) / _median(ours), 1),
            "same_table": same_log(folder / "ours", folder / "full"),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return {
        "benchmark": "raw_transactions: one new daily export appended vs a full re-read",
        "sizes": rows,
    }


def _median(runs: list[dict]) -> float:
    return round(statistics.median(r["seconds"] for r in runs), 2)


if __name__ == "__main__":
    print(json.dumps(materialise(Path(sys.argv[1]), Path(sys.argv[2]))))
