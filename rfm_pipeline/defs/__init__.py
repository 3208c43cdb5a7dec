"""Dagster wiring only: one module per stage (when and with what config it runs), plus the
resources, the IO manager, the loggers and the metadata helpers; loaded as the defs folder."""
