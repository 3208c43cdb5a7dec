import os

if os.environ.get("PYTEST_XDIST_WORKER"):  # each worker one core: `make test` runs two at once
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")

import rfm_pipeline  # noqa: E402, F401  (before numpy: it fixes the numeric targets)
