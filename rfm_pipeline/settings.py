"""Where the project's files are (the bundled input, the warehouse, the Dagster home), and the
fixed targets the numeric libraries compile and dispatch for, so that every machine computes
the same figures."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
import warnings
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_INPUT = PROJECT_ROOT / "data" / "online_retail.parquet"
WAREHOUSE_ENV = "RFM_PIPELINE_WAREHOUSE"
NUMBA_CACHE = PROJECT_ROOT / ".numba_cache"
"""Where numba keeps UMAP's compiled functions between runs (`$NUMBA_CACHE_DIR` overrides)."""

AVX512 = "X86_V4 AVX512_ICL AVX512_SPR AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX"
"""numpy's AVX-512 dispatch targets: numpy 2.4's names, then the older ones."""

NUMERIC_TARGETS = {
    # numba compiles umap-learn's fast-math layout for a plain x86-64, not for this CPU (with
    # FMA and wider vectors it rounds otherwise: UMAP moved by up to 12 units, other segments)
    "NUMBA_CPU_NAME": "generic",
    "NUMBA_CPU_FEATURES": "",
    # numpy's AVX-512 loops (exp, log, ...) round otherwise than its AVX2 ones: UMAP's layout
    # differed; its AVX2 and baseline loops gave the same figures
    "NPY_DISABLE_CPU_FEATURES": AVX512,
    # OpenBLAS's Haswell kernels (AVX2 and FMA) on every CPU that has them: its SkylakeX
    # kernels, its own choice on AVX-512 CPUs, gave other PCA coordinates
    "OPENBLAS_CORETYPE": "Haswell",
}
"""Read by numba, numpy and OpenBLAS when they load, so set before any of them is imported."""


def fix_numeric_targets() -> dict[str, str]:
    """Set `NUMERIC_TARGETS` in this process's environment (on x86-64; OpenBLAS's only where
    the CPU has AVX2 and FMA) and return what was set. Warns when numpy or numba was loaded
    before: then this process keeps the targets of its CPU."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return {}
    targets = dict(NUMERIC_TARGETS)
    if not _has_avx2_and_fma():
        del targets["OPENBLAS_CORETYPE"]
    os.environ.update(targets)
    early = [m for m in ("numpy", "numba") if m in sys.modules]
    if early:
        warnings.warn(
            f"{' and '.join(early)} loaded before rfm_pipeline: this process computes with its"
            " CPU's own targets, and its figures may differ from other machines' in the last"
            " digits (import rfm_pipeline first)",
            RuntimeWarning,
            stacklevel=2,
        )
    return targets


def _has_avx2_and_fma() -> bool:
    """Whether this CPU has AVX2 and FMA (Linux's /proc/cpuinfo; False where it cannot tell)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((line.split() for line in cpuinfo if line.startswith("flags")), [])
    except OSError:
        return False
    return {"avx2", "fma"} <= set(flags)


def warehouse_path() -> str:
    """The base path of every output: `$RFM_PIPELINE_WAREHOUSE`, else `data/warehouse/`."""
    return os.environ.get(WAREHOUSE_ENV) or str(PROJECT_ROOT / "data" / "warehouse")


EARLIEST_WEEK = "1990-01-01"
"""The first weekly partition where no run has recorded the data's first week yet: early enough
for the weeks of any shop's log."""

_served: str | None = None


def serve(warehouse: str) -> None:
    """Take the weekly partitions from `warehouse` rather than `warehouse_path()` (the command
    line's `--warehouse`); only before the definitions are loaded."""
    global _served
    _served = warehouse


def first_week() -> str:
    """The first weekly partition: the Monday of the week of the shop's first transaction, as
    the warehouse's `raw_summary.json` records it (every run of `raw_transactions` writes it),
    so that the partitions begin where the data begins; `EARLIEST_WEEK` before any run."""
    from upath import UPath

    from rfm_pipeline.core.weeks import week_start

    summary = UPath(_served or warehouse_path()) / "raw_summary.json"
    try:
        first = dt.date.fromisoformat(json.loads(summary.read_text())["first_invoice_date"][:10])
    except (OSError, ValueError, KeyError):
        return EARLIEST_WEEK
    return week_start(first).isoformat()


INSTANCE_HEADER = "# Written by rfm_pipeline.settings; delete this line to keep your own edits.\n"

INSTANCE_CONFIG = """\
# Default storage in this folder; no usage reports from this project.
telemetry:
  enabled: false
# One run at a time: the runs of a backfill share the warehouse, and each week reads the one
# before it.
concurrency:
  runs:
    max_concurrent_runs: 1
"""

POSTGRES_URL_ENV = "DAGSTER_POSTGRES_URL"

POSTGRES_INSTANCE_CONFIG = """\
# Runs, event logs and schedules in PostgreSQL ($DAGSTER_POSTGRES_URL), shared by the daemon,
# the UI and every run; no usage reports from this project.
telemetry:
  enabled: false
storage:
  postgres:
    postgres_url:
      env: DAGSTER_POSTGRES_URL
# Two runs at a time: a backfill's weeks wait for the week before them where the graph says
# so (segment transitions), and run side by side where it does not.
concurrency:
  runs:
    max_concurrent_runs: 2
"""


def instance_config() -> str:
    """The instance's dagster.yaml: storage in this folder, or in PostgreSQL when
    `$DAGSTER_POSTGRES_URL` is set."""
    body = POSTGRES_INSTANCE_CONFIG if os.environ.get(POSTGRES_URL_ENV) else INSTANCE_CONFIG
    return INSTANCE_HEADER + body


def dagster_home() -> Path:
    """The project's Dagster instance folder (`$DAGSTER_HOME`, else `.dagster_home/`), created,
    with the dagster.yaml of the environment (unless its first line was removed, which marks
    a file edited by hand)."""
    home = Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    text = config.read_text() if config.exists() else ""
    ours = not text or text.startswith(INSTANCE_HEADER) or text == INSTANCE_CONFIG  # or older
    if ours and text != instance_config():
        config.write_text(instance_config())
    return home
