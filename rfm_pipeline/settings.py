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
