"""Does the default segmentation hold? The bundled data's last week, segmented again with five
seeds of the embeddings (UMAP's and t-SNE's `random_state`): each seed's chosen (embedding,
algorithm, k), the solutions tied with it, the margin and the stability the metadata records.

In a warehouse and Dagster instance of its own: the whole run once, then per seed the three
spaces, the value backtest (which scores their solutions) and `customer_segments`."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

SEEDS = (0, 1, 2, 3, 4)
SPACES = ("pca_segmentation", "umap_segmentation", "tsne_segmentation")
AGAIN = [
    *SPACES,
    "pca_sweep",
    "umap_sweep",
    "tsne_sweep",
    "value_backtest",
    "customer_segments",
    "segment_registry",
]


def run(repeats: int = 1, reference_repeats: int = 0, seeds: tuple[int, ...] = SEEDS) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="rfm_choice_"))
    os.environ["DAGSTER_HOME"] = str(folder / "home")
    from rfm_pipeline.cli import main
    from rfm_pipeline.settings import dagster_home

    dagster_home()
    warehouse = folder / "warehouse"
    assert main(["run", "--warehouse", str(warehouse)]) == 0
    import dagster as dg

    from rfm_pipeline.definitions import defs

    job = defs.resolve_job_def("weekly_segmentation")
    subset = job.get_subset(asset_selection={dg.AssetKey(name) for name in AGAIN})
    week = sorted(p.stem for p in (warehouse / "customer_segments").glob("*.parquet"))[-1]
    choices = []
    with dg.DagsterInstance.get() as instance:
        for seed in seeds:
            started = time.perf_counter()
            config = {"ops": {op: {"config": {"random_state": seed}} for op in SPACES}}
            result = subset.execute_in_process(
                run_config=config, instance=instance, partition_key=week
            )
            meta = {
                key: value.value
                for event in result.get_asset_materialization_events()
                if event.asset_key.to_user_string() == "customer_segments"
                for key, value in event.event_specific_data.materialization.metadata.items()
            }
            choices.append(
                {
                    "seed": seed,
                    "chosen": f"{meta['embedding']}/{meta['algorithm']} k={meta['k']}",
                    "tied": meta.get("tied"),
                    "margin": meta.get("margin"),
                    "stability_ari": meta.get("stability_ari"),
                    "rule": meta["rule"],
                    "seconds": round(time.perf_counter() - started, 1),
                }
            )
            print(choices[-1], flush=True)
    return {
        "benchmark": "choice",
        "week": week,
        "same_choice": len({c["chosen"] for c in choices}) == 1,
        "choices": choices,
    }
