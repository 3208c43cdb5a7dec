"""rfm_pipeline: customer segmentation of a retail transaction log, as Dagster assets."""
