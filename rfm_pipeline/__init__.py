"""rfm_pipeline: customer segmentation of a retail transaction log, as Dagster assets.

`rfm_pipeline.predict_segments(transactions_df, as_of=...)` assigns new customers a segment
with the classifier saved by the last run.

Importing the package fixes the targets numba, numpy and OpenBLAS compute for
(`settings.NUMERIC_TARGETS`), so the same log gives the same segments on any x86-64 machine.
"""

from rfm_pipeline.settings import fix_numeric_targets

fix_numeric_targets()


def __getattr__(name: str):
    # imported on first use, so `rfm-pipeline --help` and argument errors stay instant
    if name == "predict_segments":
        from rfm_pipeline.core.scoring import predict_segments

        return predict_segments
    raise AttributeError(name)
