"""Cleaning on the bundled data: the study's row loop against `clean_transactions`.

Each side runs in its own process (so peak memory is its own), alternately, several times;
the report gives medians, the speed ratio, peak resident memory and whether outputs agree.
Run: `python -m benchmarks cleaning [--repeats N] [--reference-repeats M]`.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from rfm_pipeline.settings import BUNDLED_INPUT


def peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ours(out: Path) -> dict:
    """`raw_transactions` written once, then the timed cleaning: rules, funnel, checks, write."""
    from upath import UPath

    from rfm_pipeline.core import cleaning
    from rfm_pipeline.core.engine import connect
    from rfm_pipeline.core.ingest import read_transactions
    from rfm_pipeline.core.storage import write_table

    con = connect()
    raw_path = out.with_name("raw_transactions.parquet")
    started = time.perf_counter()
    write_table(read_transactions(con, BUNDLED_INPUT), UPath(raw_path))
    ingest_seconds = time.perf_counter() - started
    started = time.perf_counter()
    rules = cleaning.CleaningRules()
    result = cleaning.clean_transactions(con.read_parquet(raw_path), rules)
    cleaning.check_clean(result.table, result.funnel, rules)
    write_table(result.table, UPath(out))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "ingest_seconds": ingest_seconds, "peak_mib": peak_memory_mib()}


def reference(out: Path) -> dict:
    from benchmarks.study_cleaning import study_clean

    started = time.perf_counter()
    study_clean(str(BUNDLED_INPUT)).to_parquet(out)
    return {"seconds": time.perf_counter() - started, "peak_mib": peak_memory_mib()}


def same_output(ours_path: Path, reference_path: Path) -> bool:
    a = pd.read_parquet(ours_path).sort_values("line_no", ignore_index=True)  # file order
    b = pd.read_parquet(reference_path)
    return bool(
        len(a) == len(b)
        and (a["quantity_canceled"].to_numpy() == b["QuantityCanceled"].to_numpy()).all()
        and ((a["total_price"] - b["TotalPrice"]).abs() < 1e-9).all()
        and (a["invoice_no"].to_numpy() == b["InvoiceNo"].to_numpy()).all()
    )


def measure(side: str, out: Path) -> dict:
    command = [sys.executable, "-m", "benchmarks.cleaning", side, str(out)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(repeats: int = 5, reference_repeats: int = 1) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        ours_out = Path(folder) / "ours" / "clean_transactions.parquet"
        ours_out.parent.mkdir()
        ref_out = Path(folder) / "reference.parquet"
        runs: dict[str, list[dict]] = {"ours": [], "reference": []}
        for i in range(max(repeats, reference_repeats)):
            if i < reference_repeats:
                runs["reference"].append(measure("reference", ref_out))
            if i < repeats:
                runs["ours"].append(measure("ours", ours_out))
        identical = same_output(ours_out, ref_out)
    ours_s = statistics.median(r["seconds"] for r in runs["ours"])
    ref_s = statistics.median(r["seconds"] for r in runs["reference"])
    return {
        "benchmark": "cleaning on the bundled data (541,909 lines)",
        "ours_median_seconds": round(ours_s, 3),
        "ours_ingest_median_seconds": round(
            statistics.median(r["ingest_seconds"] for r in runs["ours"]), 3
        ),
        "reference_median_seconds": round(ref_s, 2),
        "speedup": round(ref_s / ours_s, 1),
        "ours_peak_mib": round(max(r["peak_mib"] for r in runs["ours"])),
        "reference_peak_mib": round(max(r["peak_mib"] for r in runs["reference"])),
        "identical_output": identical,
        "targets": {"ours_seconds_at_most": 1.5, "speedup_at_least": 30},
        "runs": {"ours": len(runs["ours"]), "reference": len(runs["reference"])},
    }


if __name__ == "__main__":
    side, out = sys.argv[1], Path(sys.argv[2])
    print(json.dumps(ours(out) if side == "ours" else reference(out)))
