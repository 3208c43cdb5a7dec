"""Where the project's files are: the bundled input, the warehouse, the Dagster home."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_INPUT = PROJECT_ROOT / "data" / "online_retail.parquet"
WAREHOUSE_ENV = "RFM_PIPELINE_WAREHOUSE"
NUMBA_CACHE = PROJECT_ROOT / ".numba_cache"
"""Where numba keeps UMAP's compiled functions between runs (`$NUMBA_CACHE_DIR` overrides)."""


def warehouse_path() -> str:
    """The base path of every output: `$RFM_PIPELINE_WAREHOUSE`, else `data/warehouse/`."""
    return os.environ.get(WAREHOUSE_ENV) or str(PROJECT_ROOT / "data" / "warehouse")


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


def dagster_home() -> Path:
    """The project's Dagster instance folder (`$DAGSTER_HOME`, else `.dagster_home/`), created."""
    home = Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_CONFIG)
    return home
