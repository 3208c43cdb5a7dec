"""customer_value: its backtest on the bundled data, its time warm, and its time at a million
customers.

Backtest: `core.value.backtest` at the monthly cut-offs 2011-06-01 to 2011-09-01 (the asset's
defaults for the bundled data), customer_value beside BG/NBD + Gamma-Gamma: AUC for buying in
the 90 days after each cut-off, R² and mean absolute error of the spend, predicted against
actual total. Warm time: what the asset computes (purchase days, the fit, the forecast of every
customer with its 12-month value) in a fresh process after one untimed fit, so pytensor's
compiled code is on disk. Scale: the bundled clean transactions written N times with their own
customer ids (4,334 customers a copy), then the same work on all of them. Probabilistic fit:
BG/NBD and Gamma-Gamma alone on the bundled histories, twice in a fresh process (the first
compiles pytensor's graphs where its cache has none).
Run: `python -m benchmarks value [--customers N] [--repeats N]`.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks.cleaning import peak_memory_mib
from rfm_pipeline.settings import warehouse_path

AS_OF = dt.date(2011, 12, 10)
CUTOFFS = [dt.date(2011, 6, 1), dt.date(2011, 7, 1), dt.date(2011, 8, 1), dt.date(2011, 9, 1)]


def clean_path() -> Path:
    return Path(f"{warehouse_path()}/clean_transactions.parquet")


def scale_up(copies: int, out: Path) -> None:
    """The bundled clean transactions `copies` times, each copy with its own customer ids."""
    base = pq.read_table(clean_path())
    with pq.ParquetWriter(out, base.schema) as writer:
        for copy in range(copies):
            ids = pc.binary_join_element_wise(base["customer_id"], pa.scalar(f"-{copy}"), "")
            index = base.schema.get_field_index("customer_id")
            writer.write_table(base.set_column(index, "customer_id", ids))


def forecast(source: Path) -> dict:
    """The asset's work on a clean transactions file, timed after one untimed warm-up fit."""
    from rfm_pipeline.core import value
    from rfm_pipeline.core.engine import connect

    con = connect()
    value.fit_value(value.purchase_days(con.read_parquet(clean_path())), AS_OF)  # compile
    started = time.perf_counter()
    days = value.purchase_days(con.read_parquet(source))
    known = value.history(days, AS_OF)
    model = value.fit_value(days, AS_OF, now=known)
    fitted = time.perf_counter()
    table = model.predict(known)
    done = time.perf_counter()
    return {
        "customers": len(table),
        "seconds": round(done - started, 2),
        "fit_seconds": round(fitted - started, 2),
        "forecast_seconds": round(done - fitted, 2),
        "training_rows": model.training_rows,
        "peak_mib": round(peak_memory_mib()),
    }


def probabilistic_fit() -> dict:
    """Seconds of `fit_probabilistic` on the bundled histories at AS_OF: first and second fit."""
    from rfm_pipeline.core import value
    from rfm_pipeline.core.engine import connect

    table = value.history(value.purchase_days(connect().read_parquet(clean_path())), AS_OF)
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        value.fit_probabilistic(table)
        seconds.append(round(time.perf_counter() - started, 2))
    return {"first_seconds": seconds[0], "second_seconds": seconds[1]}


def backtest() -> dict:
    from rfm_pipeline.core import value
    from rfm_pipeline.core.cleaning import CleaningRules
    from rfm_pipeline.core.engine import connect

    con = connect()
    raw = con.read_parquet(f"{warehouse_path()}/raw_transactions.parquet")
    clean = con.read_parquet(clean_path())
    result = value.backtest(raw, clean, CUTOFFS, CleaningRules(), value.ValueSettings())
    rows = result.scores[result.scores["model"].isin([value.MODEL, value.BASELINE])]
    columns = [
        "cutoff",
        "model",
        "auc",
        "r2",
        "mae",
        "predicted_total",
        "actual_total",
        "total_error",
    ]
    return {
        "scores": rows[columns].round(4).to_dict(orient="records"),
        "summary": value.summary(result).round(4).to_dict(orient="records")[:2],
    }


def in_process(*arguments: str) -> dict:
    command = [sys.executable, "-m", "benchmarks.value", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(repeats: int = 1, reference_repeats: int = 0, customers: int = 1_000_000) -> dict:
    """The backtest once; the bundled and the scaled forecast `repeats` times each."""
    report: dict = {"benchmark": "customer_value", "backtest": in_process("backtest")}
    report["probabilistic_fit"] = in_process("probabilistic_fit")
    print(json.dumps(report["backtest"]), flush=True)
    bundled = [in_process("forecast", str(clean_path())) for _ in range(max(repeats, 1))]
    report["bundled"] = sorted(bundled, key=lambda r: r["seconds"])[len(bundled) // 2]
    print(json.dumps(report["bundled"]), flush=True)
    copies = -(-customers // 4_334)
    with tempfile.TemporaryDirectory() as folder:
        scaled = Path(folder) / "clean.parquet"
        scale_up(copies, scaled)
        report["scaled"] = in_process("forecast", str(scaled))
    report["targets"] = {"bundled_seconds_at_most": 10, "million_seconds_at_most": 300}
    return report


if __name__ == "__main__":
    task = sys.argv[1]
    tasks = {"backtest": backtest, "probabilistic_fit": probabilistic_fit}
    print(json.dumps(forecast(Path(sys.argv[2])) if task == "forecast" else tasks[task]()))
