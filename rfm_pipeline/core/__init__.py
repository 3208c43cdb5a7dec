"""The science and the data work of each stage, free of Dagster."""
