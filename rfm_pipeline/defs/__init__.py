"""Dagster wiring only: one module per asset group, plus resources and the IO manager."""
