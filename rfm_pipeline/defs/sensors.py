"""Sensors: new exports in the input location start the weekly refresh."""

import datetime as dt
import hashlib
import json
import os

import dagster as dg

from rfm_pipeline.core.errors import InputError
from rfm_pipeline.core.ingest import fingerprints
from rfm_pipeline.core.manifest import some
from rfm_pipeline.core.weeks import week_start
from rfm_pipeline.defs.weeks import weekly_segmentation

EXPORTS_ENV = "RFM_PIPELINE_EXPORTS"
"""The folder (or glob) the shop's till or web store exports into, which the sensor watches."""


@dg.sensor(
    job=weekly_segmentation,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def new_exports_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """When files are added to or changed in `$RFM_PIPELINE_EXPORTS`, refresh the transaction
    assets from the whole location and the current week's segments. The cursor holds every
    file's size and content hash, so a file rewritten under its name is seen and none is
    processed twice."""
    location = os.environ.get(EXPORTS_ENV)
    if not location:
        return dg.SkipReason(f"set {EXPORTS_ENV} to the folder the exports land in")
    try:
        current = fingerprints(location)
    except InputError as error:
        return dg.SkipReason(str(error))
    seen = json.loads(context.cursor) if context.cursor else {}
    new = sorted(name for name, print_ in current.items() if seen.get(name) != print_)
    if not new:
        return dg.SkipReason(f"no new or changed file among {len(current)} in {location}")
    context.update_cursor(json.dumps(current))
    week = week_start(dt.datetime.now(dt.UTC).date()).isoformat()  # the week under way
    state = hashlib.blake2b(json.dumps(current, sort_keys=True).encode(), digest_size=8)
    return dg.RunRequest(
        run_key=f"{week}-{state.hexdigest()}",
        partition_key=week,
        run_config={"ops": {"raw_transactions": {"config": {"path": location}}}},
        tags={"new_exports": some(new, 10)},
    )
