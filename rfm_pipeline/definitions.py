"""The one Definitions object: everything in the defs folder (assets, checks, jobs, schedules,
resources), loaded as `dg` loads a project."""

from pathlib import Path

import dagster as dg

defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
