"""What the CPU changes, and what the fixed numeric targets cost.

Each space's segmentation (`core.spaces.segment` with the assets' defaults) of the bundled
customers' features (`data/warehouse/rfm_table.parquet`, `make run` first), in a fresh process
per variant: the package as installed (fixed targets), then with the fix switched off and one
library at a time made to compile or dispatch as it would on another CPU. Each space's table and
sweep are hashed and timed; a variant whose hash differs from "this CPU's own targets" would
give other segments on such a machine. Run: `python -m benchmarks targets`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rfm_pipeline.settings import AVX512, warehouse_path

VARIANTS = {
    "fixed targets (as installed)": {},
    "this CPU's own targets": {},
    "numba for a plain x86-64": {"NUMBA_CPU_NAME": "generic"},
    "numba without AVX": {"NUMBA_ENABLE_AVX": "0"},
    "numpy without AVX-512": {"NPY_DISABLE_CPU_FEATURES": AVX512},
    "OpenBLAS's SkylakeX kernels": {"OPENBLAS_CORETYPE": "SkylakeX"},
    "OpenBLAS's Sandybridge kernels": {"OPENBLAS_CORETYPE": "Sandybridge"},
    "one thread": {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
}
"""Environment of each variant; all but the first run with the package's fix switched off."""

SPACES = {
    "pca": {"ks": range(2, 11), "algorithms": ("kmeans", "gmm"), "random_state": 42},
    "umap": {
        "ks": range(3, 9),
        "algorithms": ("kmeans", "gmm", "agglomerative", "hdbscan"),
        "random_state": 42,
        "tie_within": 0.02,
    },
    "tsne": {
        "ks": range(3, 9),
        "algorithms": ("kmeans", "gmm", "agglomerative"),
        "random_state": 100,
        "perplexity": 50.0,
    },
}

CHILD = """
import hashlib, importlib.util, json, sys, time
if sys.argv[1] == "off":  # the package as it was: every library on this CPU's own targets
    spec = importlib.util.spec_from_file_location("rfm_pipeline.settings", sys.argv[2])
    settings = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(settings)
    settings.fix_numeric_targets = lambda: {}
    sys.modules["rfm_pipeline.settings"] = settings
from benchmarks.targets import SPACES  # the package first: it sets its targets before numpy
import pandas as pd
from rfm_pipeline.core.rfm import rfm_features
from rfm_pipeline.core.spaces import segment
features = rfm_features(pd.read_parquet(sys.argv[3])).table
report = {}
for space, options in SPACES.items():
    started = time.perf_counter()
    done = segment(features, space, min_share=0.02, **options)
    seconds = time.perf_counter() - started
    digest = hashlib.sha256(pd.util.hash_pandas_object(done.table).values.tobytes()
                            + done.sweep.scores.to_csv().encode()).hexdigest()[:12]
    report[space] = {"hash": digest, "seconds": round(seconds, 2)}
print(json.dumps(report))
"""


def run(repeats: int = 1, reference_repeats: int = 0) -> dict:
    import rfm_pipeline.settings as settings

    source = f"{warehouse_path()}/rfm_table.parquet"
    avx512 = "avx512f" in Path("/proc/cpuinfo").read_text()
    # this process fixed its own targets on import: the children start from the environment
    # without them, and the first sets them again as it imports the package
    inherited = {k: v for k, v in os.environ.items() if k not in settings.NUMERIC_TARGETS}
    results = {}
    for name, env in VARIANTS.items():
        if "SkylakeX" in name and not avx512:
            continue  # its kernels need AVX-512
        switch = "on" if name.startswith("fixed") else "off"
        command = [sys.executable, "-c", CHILD, switch, settings.__file__, source]
        done = subprocess.run(
            command, capture_output=True, text=True, check=True, env={**inherited, **env}
        )
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        print(name, results[name], flush=True)
    own = results["this CPU's own targets"]
    return {
        "benchmark": "targets",
        "variants": {
            name: {
                space: {**figures, "differs": figures["hash"] != own[space]["hash"]}
                for space, figures in spaces.items()
            }
            for name, spaces in results.items()
        },
    }
