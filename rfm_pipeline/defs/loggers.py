"""A logger for the command line: one line per step as it starts and ends, on stdout."""

import logging
import sys

import dagster as dg


class _StepLines(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        event = (getattr(record, "dagster_meta", None) or {}).get("dagster_event")
        if event is None:
            return
        if event.event_type_value == "STEP_START":
            print(f"  running  {event.step_key}", file=sys.stdout, flush=True)
        elif event.event_type_value == "STEP_SUCCESS":
            seconds = event.event_specific_data.duration_ms / 1000
            print(f"  done     {event.step_key:<28} {seconds:6.1f} s", file=sys.stdout, flush=True)


@dg.logger(description="Prints each step as it starts and ends (used by `rfm-pipeline run`).")
def progress(_init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.getLogger("rfm_pipeline.progress")
    logger.handlers = [_StepLines()]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger
